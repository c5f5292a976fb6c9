// Build identity of this binary: semantic version and the git revision it was built from.
#pragma once

#include <string_view>

namespace aiops::common {

std::string_view Version();      // e.g. "0.1.0"
std::string_view GitRevision();  // `git describe --always --dirty` at configure time
// Versions of the libraries linked in (for `aiops --version` and bug reports).
std::string_view LinkedLibraries();

}  // namespace aiops::common
