// `aiops replay --dir DIR [--until SEQ] [--verify] [--what-if CONFIG.json] [--json]`: rebuilds
// the pipeline state from a log (read-only, so beside a running operator), audits every
// recorded decision against this binary (--verify) or shows where another configuration would
// decide differently (--what-if). Progress goes to stderr on long logs.
#pragma once

#include <ostream>
#include <span>
#include <string_view>

namespace aiops::server {

// kExitOk, kExitFailure (the log could not be read, or --verify found a divergence) or
// kExitUsage.
int RunReplayCommand(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace aiops::server
