// Kubeconfig parsing: the cluster's tls-server-name (the name the server certificate is checked
// against instead of the server URL's host), insecure-skip-tls-verify, tokenFile, and the
// KUBECONFIG list. The TLS behaviour itself is tested on the real API server
// (test/integration/kube_client_test.cc) and on a local TLS server (kube_client_unit_test.cc).
#include "k8s_sync/kube_config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fmt_absl.h"
#include <unistd.h>

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

// KUBECONFIG is a ':'-separated list merged as kubectl does: the first file to define a cluster,
// user or context (by name) or a current-context wins; missing files are skipped.
TEST(KubeConfigTest, TheKubeconfigEnvironmentListIsMergedFirstFileWins) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / fmt::format("kubeconfig-list-{}", getpid());
  std::filesystem::create_directories(dir);
  // The first file names the cluster and user, but no current-context.
  std::ofstream(dir / "first") << R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://first.example:6443"}
users:
- name: u
  user: {token: first-token}
)";
  // The second redefines both, adds a context and a cluster of its own, and sets the context.
  std::ofstream(dir / "second") << R"(apiVersion: v1
kind: Config
current-context: from-second
clusters:
- name: c
  cluster: {server: "https://second.example:6443"}
- name: only-second
  cluster: {server: "https://only-second.example:6443"}
users:
- name: u
  user: {token: second-token}
contexts:
- name: from-second
  context: {cluster: c, user: u, namespace: team}
- name: other
  context: {cluster: only-second, user: u}
)";
  // A third sets another current-context: too late, the second's stands.
  std::ofstream(dir / "third") << R"(apiVersion: v1
kind: Config
current-context: other
)";
  const std::string list = fmt::format("{0}/missing:{0}/first:{0}/second:{0}/third", dir.string());
  ASSERT_EQ(0, setenv("KUBECONFIG", list.c_str(), 1));  // NOLINT(concurrency-mt-unsafe)
  absl::StatusOr<KubeConfig> config = LoadKubeConfig();
  absl::StatusOr<KubeConfig> other = LoadKubeConfig({}, "other");
  unsetenv("KUBECONFIG");  // NOLINT(concurrency-mt-unsafe)
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ("from-second", config->context);
  EXPECT_EQ("https://first.example:6443", config->server);
  EXPECT_EQ("first-token", config->token);
  EXPECT_EQ("team", config->namespace_name);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ("https://only-second.example:6443", other->server);
  std::filesystem::remove_all(dir);
}

TEST(KubeConfigTest, AnEmptyKubeconfigListNamesWhatItLookedAt) {
  ASSERT_EQ(0, setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1));  // NOLINT
  absl::StatusOr<KubeConfig> config = LoadKubeConfig();
  unsetenv("KUBECONFIG");  // NOLINT(concurrency-mt-unsafe)
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, config.status().code());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/nonexistent/a, /nonexistent/b"));
}

TEST(KubeConfigTest, ReadsInsecureSkipTlsVerifyAndTokenFile) {
  const std::string yaml = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c
  cluster: {server: "https://10.1.2.3:6443", insecure-skip-tls-verify: true}
contexts:
- name: dev
  context: {cluster: c, user: u}
users:
- name: u
  user: {tokenFile: secrets/token}
)";
  absl::StatusOr<KubeConfig> config = ParseKubeConfig(yaml, "/etc/kube");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ("/etc/kube/secrets/token", config->token_file);
  EXPECT_EQ("", config->token);
}

}  // namespace
}  // namespace aiops::k8s_sync
