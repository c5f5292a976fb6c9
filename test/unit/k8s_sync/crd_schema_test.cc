// The CRDs of deploy/crd/bases read back with the project's YAML reader: every field of every
// schema carries a description (what `kubectl explain` shows), and the printer columns point at
// declared fields, the Issue list showing the affected resource. The CRDs against a real API
// server and kubectl: test/integration/kube_client_test.cc.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "k8s_sync/json_access.h"
#include "k8s_sync/yaml_json.h"

namespace aiops::k8s_sync {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Crd {
  std::string file;
  Json object;
};

std::string KindOf(const Crd& crd) { return StrAt(At(At(crd.object, "spec"), "names"), "kind"); }

const Json& VersionsOf(const Crd& crd) {
  static const Json kNone = Json::array();
  const Json& versions = At(At(crd.object, "spec"), "versions");
  return versions.is_array() ? versions : kNone;
}

const Json& ColumnsOf(const Json& version) {
  static const Json kNone = Json::array();
  const Json& columns = At(version, "additionalPrinterColumns");
  return columns.is_array() ? columns : kNone;
}

std::vector<Crd> ReadCrds() {
  std::vector<Crd> crds;
  for (const auto& entry :
       fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
    if (entry.path().extension() != ".yaml") {
      continue;
    }
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<Json> crd = YamlToJson(text.str());
    EXPECT_TRUE(crd.ok()) << entry.path() << ": " << crd.status();
    if (crd.ok()) {
      crds.push_back({entry.path().filename().string(), *std::move(crd)});
    }
  }
  std::sort(crds.begin(), crds.end(), [](const Crd& a, const Crd& b) { return a.file < b.file; });
  return crds;
}

bool HasDescription(const Json& schema) {
  return StrAt(schema, "description").find_first_not_of(" \t\n") != std::string::npos;
}

// Every schema under `schema` (itself, its properties, items and additionalProperties, at any
// depth), by JSON path: ".spec.actions[].params{}" for the values of a map. The root's metadata
// is the exception: the API server refuses a CRD whose metadata schema says more than name and
// generateName (its description is ObjectMeta's).
void Walk(const Json& schema, const std::string& path, std::vector<std::string>& visited,
          std::vector<std::string>& undescribed) {
  if (!schema.is_object()) {
    return;
  }
  visited.push_back(path);
  if (!HasDescription(schema) && path != ".metadata") {
    undescribed.push_back(path);
  }
  // A property may be called "description" itself: only the keys below hold sub-schemas.
  const Json& properties = At(schema, "properties");
  if (properties.is_object()) {
    for (const auto& [name, property] : properties.items()) {
      Walk(property, path + "." + name, visited, undescribed);
    }
  }
  Walk(At(schema, "items"), path + "[]", visited, undescribed);
  Walk(At(schema, "additionalProperties"), path + "{}", visited, undescribed);
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) {
    out += "  " + line + "\n";
  }
  return out;
}

const Json& SchemaOf(const Json& version) { return At(At(version, "schema"), "openAPIV3Schema"); }

TEST(CrdSchemaTest, TheSixKindsAreRead) {
  std::vector<std::string> kinds;
  for (const Crd& crd : ReadCrds()) {
    kinds.push_back(KindOf(crd));
    EXPECT_EQ("platform.chatcli.io", StrAt(At(crd.object, "spec"), "group")) << crd.file;
    EXPECT_FALSE(VersionsOf(crd).empty()) << crd.file;
    for (const Json& version : VersionsOf(crd)) {
      EXPECT_TRUE(SchemaOf(version).is_object()) << crd.file << " " << StrAt(version, "name");
    }
  }
  EXPECT_THAT(kinds, ::testing::UnorderedElementsAre("AIInsight", "Anomaly", "Instance", "Issue",
                                                     "RemediationPlan", "Runbook"));
}

// "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything
// other than name and generateName".
TEST(CrdSchemaTest, TheRootMetadataIsLeftToTheApiServer) {
  for (const Crd& crd : ReadCrds()) {
    for (const Json& version : VersionsOf(crd)) {
      const Json& metadata = At(At(SchemaOf(version), "properties"), "metadata");
      EXPECT_EQ(Json({{"type", "object"}}), metadata) << crd.file << " " << StrAt(version, "name");
    }
  }
}

TEST(CrdSchemaTest, EveryFieldHasADescription) {
  std::vector<std::string> undescribed;
  size_t fields = 0;
  for (const Crd& crd : ReadCrds()) {
    for (const Json& version : VersionsOf(crd)) {
      const std::string where = crd.file + " " + StrAt(version, "name") + " openAPIV3Schema";
      std::vector<std::string> visited;
      std::vector<std::string> missing;
      Walk(SchemaOf(version), "", visited, missing);
      fields += visited.size();
      for (const std::string& path : missing) {
        undescribed.push_back(where + (path.empty() ? " (the root)" : " " + path));
      }
      // The walk reaches nested objects, array items and map values, not only the top.
      if (KindOf(crd) == "Issue") {
        EXPECT_THAT(visited, ::testing::IsSupersetOf({".spec.resource.name", ".status.anomalies[]",
                                                      ".status.conditions[].reason"}));
      }
      if (KindOf(crd) == "RemediationPlan") {
        EXPECT_THAT(visited, ::testing::Contains(".spec.actions[].params{}"));
      }
    }
  }
  EXPECT_GT(fields, 150U);
  EXPECT_TRUE(undescribed.empty()) << undescribed.size()
                                   << " schema fields have no description (kubectl explain "
                                      "shows <no description> for them):\n"
                                   << Joined(undescribed);
}

// Whether the schema declares every step of a printer column's path (".spec.resource.name").
// metadata is the standard ObjectMeta, which the CRDs do not spell out.
bool Declared(const Json& schema, const std::string& json_path) {
  if (json_path.empty() || json_path[0] != '.') {
    return false;
  }
  const Json* at = &schema;
  size_t start = 1;
  while (start <= json_path.size()) {
    size_t dot = json_path.find('.', start);
    if (dot == std::string::npos) {
      dot = json_path.size();
    }
    const std::string name = json_path.substr(start, dot - start);
    if (at == &schema && name == "metadata") {
      return true;
    }
    const Json& next = At(At(*at, "properties"), name.c_str());
    if (!next.is_object()) {
      return false;
    }
    at = &next;
    start = dot + 1;
  }
  return true;
}

TEST(CrdSchemaTest, PrinterColumnsPointAtDeclaredFields) {
  for (const Crd& crd : ReadCrds()) {
    for (const Json& version : VersionsOf(crd)) {
      for (const Json& column : ColumnsOf(version)) {
        const std::string path = StrAt(column, "jsonPath");
        EXPECT_TRUE(Declared(SchemaOf(version), path))
            << crd.file << ": printer column " << StrAt(column, "name") << " reads '" << path
            << "', which the schema does not declare";
      }
    }
  }
}

TEST(CrdSchemaTest, TheIssueListShowsTheAffectedResource) {
  bool found = false;
  for (const Crd& crd : ReadCrds()) {
    if (KindOf(crd) != "Issue") {
      continue;
    }
    found = true;
    for (const Json& version : VersionsOf(crd)) {
      std::vector<std::string> names;
      const Json* resource = nullptr;
      for (const Json& column : ColumnsOf(version)) {
        names.push_back(StrAt(column, "name"));
        if (StrAt(column, "name") == "Resource") {
          resource = &column;
        }
      }
      // kubectl get issues: NAME SEVERITY STATE RESOURCE RISK AGE.
      EXPECT_THAT(names, ::testing::ElementsAre("Severity", "State", "Resource", "Risk", "Age"));
      ASSERT_NE(nullptr, resource) << "the Issue CRD has no Resource printer column";
      EXPECT_EQ("string", StrAt(*resource, "type"));
      EXPECT_EQ(".spec.resource.name", StrAt(*resource, "jsonPath"));
    }
  }
  EXPECT_TRUE(found) << "no Issue CRD in deploy/crd/bases";
}

}  // namespace
}  // namespace aiops::k8s_sync
