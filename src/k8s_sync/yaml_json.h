// YAML documents (kubeconfigs, manifests) as nlohmann::json values, through yaml-cpp.
// Scalars keep YAML 1.1 core types: integers, floats, booleans and null become JSON numbers,
// booleans and null; quoted scalars stay strings. yaml-cpp exceptions never escape.
#pragma once

#include <string_view>
#include <vector>

#include <absl/status/statusor.h>
#include <nlohmann/json.hpp>

namespace aiops::k8s_sync {

// kInvalidArgument with the line and column of a syntax error.
absl::StatusOr<nlohmann::json> YamlToJson(std::string_view yaml);
// Every document of a multi-document stream (`---` separated), empty documents skipped.
absl::StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(std::string_view yaml);

}  // namespace aiops::k8s_sync
