// Kubeconfig parsing of the cluster's tls-server-name (the name the server certificate is
// checked against instead of the server URL's host). The TLS behaviour itself is tested on the
// real API server (test/integration/kube_client_test.cc).
#include "k8s_sync/kube_config.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fmt_absl.h"

namespace aiops::k8s_sync {
namespace {

using ::testing::HasSubstr;

std::string Kubeconfig(const std::string& cluster_extra) {
  return fmt::format(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://10.1.2.3:6443
    insecure-skip-tls-verify: false
{}
contexts:
- name: dev
  context:
    cluster: c1
    user: u1
users:
- name: u1
  user:
    token: abc
)",
                     cluster_extra);
}

TEST(KubeConfigTest, ReadsTheClustersTlsServerName) {
  absl::StatusOr<KubeConfig> config =
      ParseKubeConfig(Kubeconfig("    tls-server-name: kubernetes.default.svc"), "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ("kubernetes.default.svc", config->tls_server_name);
  EXPECT_EQ("https://10.1.2.3:6443", config->server);  // the connection still goes there
}

TEST(KubeConfigTest, AnIpAddressIsAValidTlsServerName) {
  for (const char* name : {"10.0.0.1", "::1"}) {
    absl::StatusOr<KubeConfig> config =
        ParseKubeConfig(Kubeconfig(fmt::format("    tls-server-name: \"{}\"", name)), "/");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(name, config->tls_server_name);
  }
}

TEST(KubeConfigTest, WithoutTlsServerNameTheUrlHostIsUsed) {
  absl::StatusOr<KubeConfig> config = ParseKubeConfig(Kubeconfig(""), "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ("", config->tls_server_name);
}

TEST(KubeConfigTest, AMalformedTlsServerNameIsNamed) {
  for (const char* bad :
       {"    tls-server-name: 42", "    tls-server-name: [a, b]",
        "    tls-server-name: \"api server\"", "    tls-server-name: https://api.example.com"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<KubeConfig> config = ParseKubeConfig(Kubeconfig(bad), "/");
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(absl::StatusCode::kInvalidArgument, config.status().code());
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("cluster 'c1'"));
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("tls-server-name"));
  }
}

}  // namespace
}  // namespace aiops::k8s_sync
