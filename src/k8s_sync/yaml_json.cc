#include "k8s_sync/yaml_json.h"

#include <string>

#include <fmt/format.h>

#include <yaml-cpp/yaml.h>

namespace aiops::k8s_sync {
namespace {

nlohmann::json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  // A quoted scalar ("1", 'true') has the tag "!": it is a string whatever it looks like.
  if (node.Tag() == "!") {
    return text;
  }
  if (text == "null" || text == "~" || text.empty()) {
    return text.empty() && node.Tag() == "?" ? nlohmann::json(nullptr) : nlohmann::json(text);
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  int64_t i = 0;
  if (YAML::convert<int64_t>::decode(node, i) && text.find_first_of(".eE") == std::string::npos) {
    return i;
  }
  double d = 0;
  if (text.find_first_of("0123456789") != std::string::npos &&
      YAML::convert<double>::decode(node, d)) {
    return d;
  }
  return text;
}

nlohmann::json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      nlohmann::json array = nlohmann::json::array();
      for (const YAML::Node& item : node) {
        array.push_back(ToJson(item));
      }
      return array;
    }
    case YAML::NodeType::Map: {
      nlohmann::json object = nlohmann::json::object();
      for (const auto& kv : node) {
        object[kv.first.as<std::string>()] = ToJson(kv.second);
      }
      return object;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(std::string_view yaml) {
  try {
    std::vector<nlohmann::json> out;
    for (const YAML::Node& doc : YAML::LoadAll(std::string(yaml))) {
      if (!doc.IsNull()) {
        out.push_back(ToJson(doc));
      }
    }
    return out;
  } catch (const YAML::Exception& e) {
    // The only place yaml-cpp's exceptions are caught: they become a status here.
    return absl::InvalidArgumentError(fmt::format("invalid YAML at line {}, column {}: {}",
                                                  e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

absl::StatusOr<nlohmann::json> YamlToJson(std::string_view yaml) {
  absl::StatusOr<std::vector<nlohmann::json>> docs = YamlDocumentsToJson(yaml);
  if (!docs.ok()) {
    return docs.status();
  }
  if (docs->size() > 1) {
    return absl::InvalidArgumentError(
        fmt::format("expected one YAML document, found {}", docs->size()));
  }
  return docs->empty() ? nlohmann::json::object() : docs->front();
}

}  // namespace aiops::k8s_sync
