// The pipeline configuration as people write it: a JSON object in protobuf's JSON mapping of
// aiops.v1.PipelineConfig (field names as in config.proto, e.g. "dryRun": {"global": true}),
// overlaid on the defaults of DESIGN.md §5. A list given in the file replaces the default list.
#pragma once

#include <string>

#include <absl/status/statusor.h>

#include "aiops/v1/config.pb.h"

namespace aiops::server {

// kInvalidArgument naming the problem (unknown field, wrong type, out-of-range value).
absl::StatusOr<v1::PipelineConfig> ParsePipelineConfig(const std::string& json);
// kNotFound when the file cannot be read; otherwise as ParsePipelineConfig.
absl::StatusOr<v1::PipelineConfig> LoadPipelineConfig(const std::string& path);
// The same for the text of the file at `path` (named in errors), already read.
absl::StatusOr<v1::PipelineConfig> LoadPipelineConfigText(const std::string& path,
                                                          const std::string& text);

}  // namespace aiops::server
