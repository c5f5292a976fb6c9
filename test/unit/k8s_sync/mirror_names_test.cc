// The names and label values the CR mirror writes (DESIGN.md §7): label values from
// k8s_sync::LabelValue and object names from projections::Dns1123Name are at most 63 characters of
// the characters Kubernetes accepts, deterministic, left alone when already valid, and given a hash
// suffix when shortened, so two long names differing only at the end stay distinct.
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "k8s_sync/mirror.h"
#include "projections/naming.h"

namespace aiops::k8s_sync {
namespace {

// Kubernetes' own patterns (apimachinery validation: qualifiedNameFmt for label values, which
// may also be empty, and dns1123LabelFmt for names).
bool IsLabelValue(const std::string& v) {
  static const std::regex kLabel("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
  return v.size() <= 63 && std::regex_match(v, kLabel);
}
bool IsDns1123Label(const std::string& v) {
  static const std::regex kName("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return v.size() <= 63 && std::regex_match(v, kName);
}
bool EndsWithHashSuffix(const std::string& v) {
  static const std::regex kSuffix("(.*-)?[0-9a-f]{8}");
  return std::regex_match(v, kSuffix);
}

TEST(LabelValueTest, ValidValuesAreKeptAsTheyAre) {
  for (const std::string& v : std::vector<std::string>{"", "oom_kill", "critical", "a", "v1.2-rc_3",
                                                       std::string(63, 'z'), "0123456789abcdef"}) {
    EXPECT_EQ(v, LabelValue(v));
  }
}

TEST(LabelValueTest, LongValuesAreCutToSixtyThreeWithAHashSuffix) {
  const std::string raw = std::string(60, 'x') + "-service-oom_kill-1771276354";
  const std::string v = LabelValue(raw);
  EXPECT_LE(v.size(), 63U);
  EXPECT_TRUE(IsLabelValue(v)) << v;
  EXPECT_TRUE(EndsWithHashSuffix(v)) << v;
  EXPECT_EQ(raw.substr(0, 10), v.substr(0, 10));  // still readable
  EXPECT_EQ(v, LabelValue(raw));                  // deterministic
  EXPECT_EQ(63U, LabelValue(std::string(64, 'z')).size());
}

TEST(LabelValueTest, LongValuesDifferingOnlyAtTheEndStayDistinct) {
  const std::string prefix(80, 'a');
  const std::string a = LabelValue(prefix + "-1");
  const std::string b = LabelValue(prefix + "-2");
  EXPECT_NE(a, b);
  EXPECT_TRUE(IsLabelValue(a)) << a;
  EXPECT_TRUE(IsLabelValue(b)) << b;
  // The same at exactly one character over the limit.
  EXPECT_NE(LabelValue(std::string(63, 'q') + "1"), LabelValue(std::string(63, 'q') + "2"));
}

TEST(LabelValueTest, InvalidCharactersAndEdgesAreCleanedWithAHashSuffix) {
  for (const std::string& raw :
       std::vector<std::string>{"api gateway", "ns/name", "-leading", "trailing.", "__", "é", "-",
                                "a:b", std::string(100, '/')}) {
    const std::string v = LabelValue(raw);
    EXPECT_TRUE(IsLabelValue(v)) << "'" << raw << "' gave '" << v << "'";
    EXPECT_FALSE(v.empty()) << raw;
    EXPECT_TRUE(EndsWithHashSuffix(v)) << v;
    EXPECT_EQ(v, LabelValue(raw));
  }
  // Values that clean to the same text stay distinct.
  EXPECT_NE(LabelValue("a b"), LabelValue("a/b"));
  EXPECT_NE(LabelValue("-abc"), LabelValue("abc"));
}

TEST(Dns1123NameTest, NamesAreValidAtMostSixtyThreeAndDeterministic) {
  for (const std::string& raw :
       std::vector<std::string>{"api", "API_Gateway", "a..b", std::string(60, 'x') + "-service",
                                std::string(200, 'Y'), "--x--", "ns/name:1"}) {
    const std::string n = projections::Dns1123Name(raw);
    EXPECT_TRUE(IsDns1123Label(n)) << "'" << raw << "' gave '" << n << "'";
    EXPECT_EQ(n, projections::Dns1123Name(raw));
  }
  EXPECT_EQ("api-gateway", projections::Dns1123Name("api-gateway"));
}

TEST(Dns1123NameTest, LongNamesGetAHashSuffixAndStayDistinct) {
  const std::string prefix(70, 'd');
  const std::string a = projections::Dns1123Name(prefix + "-oom-kill-1");
  const std::string b = projections::Dns1123Name(prefix + "-oom-kill-2");
  EXPECT_EQ(63U, a.size());
  EXPECT_NE(a, b);
  EXPECT_TRUE(EndsWithHashSuffix(a)) << a;
  EXPECT_TRUE(IsDns1123Label(a)) << a;
  // The mirror's insight name: an issue name at the limit plus "-insight".
  const std::string issue(63, 'i');
  EXPECT_TRUE(IsDns1123Label(projections::Dns1123Name(issue + "-insight")));
}

}  // namespace
}  // namespace aiops::k8s_sync
