// The REST client against the real control plane: every way to configure it (kubeconfig files,
// inline data, contexts, in-cluster service account with a rotating token, exec plugin),
// classified errors with actionable messages, CRDs installed from deploy/, server-side apply,
// the status subresource and watches.
#include "k8s_sync/kube_client.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <absl/strings/escaping.h>
#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s_sync/kube_config.h"
#include "k8s_sync/leader_election.h"
#include "k8s_sync/yaml_json.h"
#include "support/control_plane_environment.h"
#include "support/subprocess.h"
#include "support/tcp_relay.h"
#include "support/test_dir.h"

namespace aiops::k8s_sync {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;
namespace fs = std::filesystem;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<KubeClient> MustClient(const KubeConfig& config) {
  auto client = KubeClient::Create(config);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

KubeConfig TokenConfig(const std::string& token) {
  KubeConfig config;
  config.server = Cp().server;
  config.ca_pem = ReadAll(Cp().ca_file);
  config.token = token;
  config.user = "test";
  return config;
}

template <typename F>
bool Eventually(F condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  return condition();
}

TEST(KubeClientTest, LoadsTheKubeconfigAndItsContexts) {
  for (const char* context : {"", "aiops-cert"}) {
    auto config = LoadKubeConfig({Cp().kubeconfig}, context);
    ASSERT_TRUE(config.ok()) << config.status();
    auto client = MustClient(*config);
    auto version = client->Get("/version");
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_THAT(version->value("gitVersion", ""), ::testing::StartsWith("v1."));
    auto review = client->Create(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        Json{{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}});
    ASSERT_TRUE(review.ok()) << review.status();
    EXPECT_EQ(std::string(context).empty() ? "aiops-test" : "aiops-admin",
              (*review)["status"]["userInfo"]["username"]);
  }
}

TEST(KubeClientTest, InlineCertificateDataAndTheKubeconfigListWork) {
  const std::string dir = testing::FreshTestDir("inline-kubeconfig");
  const std::string inline_config = fmt::format(
      R"(apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: {}
    certificate-authority-data: {}
users:
- name: u
  user:
    client-certificate-data: {}
    client-key-data: {}
contexts:
- name: ctx
  context: {{cluster: c, user: u, namespace: kube-system}}
current-context: ctx
)",
      Cp().server, absl::Base64Escape(ReadAll(Cp().ca_file)),
      absl::Base64Escape(ReadAll(Cp().client_cert_file)),
      absl::Base64Escape(ReadAll(Cp().client_key_file)));
  std::ofstream(dir + "/inline.yaml") << inline_config;
  // The first file of the list wins: its current context is the inline one.
  auto config = LoadKubeConfig({dir + "/missing.yaml", dir + "/inline.yaml", Cp().kubeconfig});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ("ctx", config->context);
  EXPECT_EQ("kube-system", config->namespace_name);
  auto client = MustClient(*config);
  auto pods = client->Get("/api/v1/namespaces/kube-system/pods");
  EXPECT_TRUE(pods.ok()) << pods.status();
  fs::remove_all(dir);
}

TEST(KubeClientTest, ConfigurationMistakesAreNamed) {
  EXPECT_THAT(std::string(ParseKubeConfig("clusters: [", "/").status().message()),
              HasSubstr("invalid YAML at line"));
  EXPECT_THAT(std::string(LoadKubeConfig({Cp().kubeconfig}, "nope").status().message()),
              HasSubstr("no context named 'nope'"));
  KubeConfig bad = TokenConfig("x");
  bad.ca_pem = "not a certificate";
  EXPECT_THAT(std::string(KubeClient::Create(bad).status().message()),
              HasSubstr("certificate authority data is not valid PEM"));
  bad = TokenConfig("x");
  bad.server = "ftp://example";
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, KubeClient::Create(bad).status().code());
}

TEST(KubeClientTest, WrongCredentialsAndWrongCaGiveActionableErrors) {
  auto wrong_token = MustClient(TokenConfig("not-a-token"));
  auto r = wrong_token->Get("/api/v1/namespaces");
  EXPECT_TRUE(IsKubeUnauthorized(r.status())) << r.status();
  EXPECT_EQ(absl::StatusCode::kUnauthenticated, r.status().code());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("rejected the credentials"));

  auto viewer = MustClient(TokenConfig(Cp().viewer_token));
  r = viewer->Get("/api/v1/namespaces/kube-system/secrets");
  EXPECT_TRUE(IsKubeForbidden(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("aiops-viewer"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Role/ClusterRole"));

  // A CA that did not sign the API server's certificate.
  const std::string dir = testing::FreshTestDir("other-ca");
  auto made =
      testing::RunProcess({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/k.pem",
                           "-out", dir + "/ca.pem", "-days", "1", "-subj", "/CN=someone-else"});
  ASSERT_TRUE(made.ok() && made->exit_code == 0);
  KubeConfig other = TokenConfig(Cp().token);
  other.ca_pem = ReadAll(dir + "/ca.pem");
  auto untrusted = MustClient(other);
  r = untrusted->Get("/version");
  EXPECT_EQ(absl::StatusCode::kUnavailable, r.status().code());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("is not trusted"));
  fs::remove_all(dir);

  KubeConfig down = TokenConfig(Cp().token);
  down.server = "https://127.0.0.1:1";
  KubeClientOptions fast;
  fast.max_attempts = 2;
  fast.initial_backoff = absl::Milliseconds(10);
  auto unreachable = KubeClient::Create(down, fast);
  ASSERT_TRUE(unreachable.ok());
  r = (*unreachable)->Get("/version");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("cannot connect"));
}

// The explain paths of a CRD schema's objects that have fields: "issues", "issues.spec",
// "issues.spec.resource", ..., array items under the array's name (kubectl explain descends
// into them).
void ExplainPaths(const Json& schema, const std::string& path, std::vector<std::string>& out) {
  const Json& object = schema.contains("items") ? schema["items"] : schema;
  if (!object.contains("properties")) {
    return;
  }
  out.push_back(path);
  for (const auto& [name, property] : object["properties"].items()) {
    if (name != "metadata") {  // the standard ObjectMeta
      ExplainPaths(property, path + "." + name, out);
    }
  }
}

TEST(KubeClientTest, InstallsTheCrdsAndAppliesCustomResourcesWithStatus) {
  auto client = MustClient(TokenConfig(Cp().token));
  for (const auto& entry :
       fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
    auto crd = YamlToJson(ReadAll(entry.path().string()));
    ASSERT_TRUE(crd.ok()) << entry.path() << ": " << crd.status();
    const std::string name = (*crd)["metadata"]["name"];
    auto applied = client->Apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name,
                                 *crd, "chatcli-aiops");
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_TRUE(Eventually(
        [&] {
          auto got = client->Get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name);
          if (!got.ok()) {
            return false;
          }
          for (const Json& c : (*got)["status"].value("conditions", Json::array())) {
            if (c.value("type", "") == "Established" && c.value("status", "") == "True") {
              return true;
            }
          }
          return false;
        },
        absl::Seconds(30)))
        << name;
  }
  ASSERT_TRUE(
      client
          ->Create("/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "shop"}}}})
          .ok());
  const std::string path = "/apis/platform.chatcli.io/v1alpha1/namespaces/shop/issues/api-oom-1";
  const Json issue = {
      {"apiVersion", "platform.chatcli.io/v1alpha1"},
      {"kind", "Issue"},
      {"metadata",
       {{"name", "api-oom-1"}, {"labels", {{"platform.chatcli.io/signal", "oom_kill"}}}}},
      {"spec",
       {{"severity", "critical"},
        {"source", "detector"},
        {"signalType", "oom_kill"},
        {"description", "OOM on api"},
        {"riskScore", 80},
        {"resource", {{"kind", "Deployment"}, {"name", "api"}, {"namespace", "shop"}}}}}};
  // Bring the resource into existence with the API server briefly not serving it yet.
  ASSERT_TRUE(Eventually([&] { return client->Apply(path, issue, "chatcli-aiops").ok(); },
                         absl::Seconds(20)));
  auto status = client->Apply(
      path + "/status",
      {{"apiVersion", "platform.chatcli.io/v1alpha1"},
       {"kind", "Issue"},
       {"metadata", {{"name", "api-oom-1"}}},
       {"status",
        {{"state", "Analyzing"}, {"remediationAttempts", 0}, {"maxRemediationAttempts", 3}}}},
      "chatcli-aiops");
  ASSERT_TRUE(status.ok()) << status.status();
  auto got = client->Get(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ("Analyzing", (*got)["status"]["state"]);
  EXPECT_EQ(80, (*got)["spec"]["riskScore"]);

  // The schema refuses what the seed's enums do not allow.
  Json bad = issue;
  bad["metadata"]["name"] = "bad";
  bad["spec"]["severity"] = "catastrophic";
  auto refused = client->Apply("/apis/platform.chatcli.io/v1alpha1/namespaces/shop/issues/bad", bad,
                               "chatcli-aiops");
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, refused.status().code()) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("catastrophic"));

  // kubectl shows the printer columns.
  auto table = testing::ControlPlaneEnvironment::Get().Kubectl({"get", "iss", "-n", "shop"});
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(table->out, HasSubstr("SEVERITY"));
  EXPECT_THAT(table->out, HasSubstr("STATE"));
  EXPECT_THAT(table->out, HasSubstr("RESOURCE"));
  EXPECT_THAT(table->out, HasSubstr("RISK"));
  EXPECT_THAT(table->out, ::testing::ContainsRegex("api-oom-1 +critical +Analyzing +api +80"));

  // kubectl shows every kind's printer columns, in the CRD's order: one sample of each kind in
  // the namespace (kubectl prints no table for an empty list), then `kubectl get <short name>`.
  std::vector<std::string> short_names;
  for (const auto& entry :
       fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
    auto crd = YamlToJson(ReadAll(entry.path().string()));
    ASSERT_TRUE(crd.ok()) << crd.status();
    const Json& names = (*crd)["spec"]["names"];
    const std::string kind = names["kind"];
    SCOPED_TRACE(kind);
    std::string lower = kind;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto sample = YamlToJson(ReadAll(std::string(AIOPS_SOURCE_DIR) +
                                     "/deploy/samples/platform_v1alpha1_" + lower + ".yaml"));
    ASSERT_TRUE(sample.ok()) << sample.status();
    (*sample)["metadata"]["namespace"] = "shop";
    const std::string sample_name = (*sample)["metadata"]["name"];
    auto applied_sample =
        client->Apply(fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/shop/{}/{}",
                                  names["plural"].get<std::string>(), sample_name),
                      *sample, "chatcli-aiops");
    ASSERT_TRUE(applied_sample.ok()) << applied_sample.status();
    std::string header = "^NAME";
    for (const Json& column : (*crd)["spec"]["versions"][0]["additionalPrinterColumns"]) {
      std::string title = column["name"];
      std::transform(title.begin(), title.end(), title.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      header += " +" + title;
    }
    header += " *\n";
    const std::string short_name = names["shortNames"][0];
    short_names.push_back(short_name);
    auto printed =
        testing::ControlPlaneEnvironment::Get().Kubectl({"get", short_name, "-n", "shop"});
    ASSERT_TRUE(printed.ok()) << printed.status();
    EXPECT_THAT(printed->out, ::testing::ContainsRegex(header)) << printed->out << printed->err;
    EXPECT_THAT(printed->out, HasSubstr(sample_name));
  }
  EXPECT_THAT(short_names,
              ::testing::UnorderedElementsAre("inst", "anom", "iss", "ai", "rp", "rb"));

  // kubectl explain describes every field (docs for people at the cluster; the unit test
  // crd_schema_test.cc checks the files, this that the API server publishes them).
  for (const auto& entry :
       fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
    auto crd = YamlToJson(ReadAll(entry.path().string()));
    ASSERT_TRUE(crd.ok()) << crd.status();
    std::vector<std::string> fields;
    ExplainPaths((*crd)["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
                 (*crd)["spec"]["names"]["plural"].get<std::string>(), fields);
    EXPECT_GE(fields.size(), 3U) << entry.path();
    for (const std::string& field : fields) {
      auto explained = testing::ControlPlaneEnvironment::Get().Kubectl(
          {"explain", field, "--api-version=platform.chatcli.io/v1alpha1"});
      ASSERT_TRUE(explained.ok()) << explained.status();
      EXPECT_EQ(0, explained->exit_code) << field << ": " << explained->err;
      EXPECT_THAT(explained->out, HasSubstr("FIELDS:")) << field;
      EXPECT_THAT(explained->out, ::testing::Not(HasSubstr("<no description>"))) << explained->out;
    }
  }
}

TEST(KubeClientTest, ErrorsAreClassified) {
  auto client = MustClient(TokenConfig(Cp().token));
  auto missing = client->Get("/api/v1/namespaces/default/configmaps/none");
  EXPECT_TRUE(IsKubeNotFound(missing.status())) << missing.status();
  const Json cm = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", "classified"}}},
                   {"data", {{"k", "1"}}}};
  auto created = client->Create("/api/v1/namespaces/default/configmaps", cm);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(
      IsKubeAlreadyExists(client->Create("/api/v1/namespaces/default/configmaps", cm).status()));
  Json stale = *created;
  stale["data"]["k"] = "2";
  ASSERT_TRUE(client->Replace("/api/v1/namespaces/default/configmaps/classified", stale).ok());
  stale["data"]["k"] = "3";  // still carries the first resourceVersion
  auto conflict = client->Replace("/api/v1/namespaces/default/configmaps/classified", stale);
  EXPECT_TRUE(IsKubeConflict(conflict.status())) << conflict.status();
  EXPECT_EQ(absl::StatusCode::kAborted, conflict.status().code());
  auto patched = client->Patch("/api/v1/namespaces/default/configmaps/classified",
                               {{"data", {{"k", "4"}}}}, "application/merge-patch+json");
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ("4", (*patched)["data"]["k"]);
  EXPECT_TRUE(client->Delete("/api/v1/namespaces/default/configmaps/classified").ok());
}

TEST(KubeClientTest, WatchesFromAResourceVersion) {
  auto client = MustClient(TokenConfig(Cp().token));
  auto list = client->Get("/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(list.ok());
  const std::string rv = (*list)["metadata"]["resourceVersion"];
  for (const char* name : {"w1", "w2"}) {
    ASSERT_TRUE(
        client
            ->Create("/api/v1/namespaces/default/configmaps",
                     {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}})
            .ok());
  }
  std::vector<std::string> seen;
  const absl::Status watched = client->Watch(
      "/api/v1/namespaces/default/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=" +
          rv,
      [&](const Json& event) {
        if (event.value("type", "") == "ADDED") {
          seen.push_back(event["object"]["metadata"]["name"]);
        }
        return seen.size() < 2;
      },
      absl::Seconds(20));
  EXPECT_TRUE(watched.ok()) << watched;
  EXPECT_THAT(seen, ::testing::ElementsAre("w1", "w2"));
}

std::string TokenFor(KubeClient& admin, const std::string& sa) {
  admin
      .Create("/api/v1/namespaces/default/serviceaccounts",
              {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", sa}}}})
      .IgnoreError();  // why: it may exist from an earlier call
  auto token = admin.Create("/api/v1/namespaces/default/serviceaccounts/" + sa + "/token",
                            {{"apiVersion", "authentication.k8s.io/v1"},
                             {"kind", "TokenRequest"},
                             {"spec", {{"expirationSeconds", 3600}}}});
  EXPECT_TRUE(token.ok()) << token.status();
  return token.ok() ? (*token)["status"].value("token", "") : "";
}

std::string WhoAmI(KubeClient& client) {
  auto review =
      client.Create("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}});
  return review.ok() ? (*review)["status"]["userInfo"].value("username", "")
                     : std::string(review.status().message());
}

TEST(KubeClientTest, InClusterConfigReReadsARotatedToken) {
  auto admin = MustClient(TokenConfig(Cp().token));
  const std::string dir = testing::FreshTestDir("in-cluster");
  InClusterPaths paths{dir + "/token", dir + "/ca.crt", dir + "/namespace"};
  std::ofstream(paths.token) << TokenFor(*admin, "operator-a");
  std::ofstream(paths.ca) << ReadAll(Cp().ca_file);
  std::ofstream(paths.namespace_file) << "aiops-system\n";
  setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);  // NOLINT(concurrency-mt-unsafe)
  setenv("KUBERNETES_SERVICE_PORT", std::to_string(Cp().port).c_str(), 1);  // NOLINT
  auto config = InClusterConfig(paths);
  unsetenv("KUBERNETES_SERVICE_HOST");  // NOLINT(concurrency-mt-unsafe)
  unsetenv("KUBERNETES_SERVICE_PORT");  // NOLINT(concurrency-mt-unsafe)
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ("aiops-system", config->namespace_name);
  auto client = MustClient(*config);
  EXPECT_EQ("system:serviceaccount:default:operator-a", WhoAmI(*client));
  // The kubelet rotates the projected token file: the next request carries the new token.
  std::ofstream(paths.token, std::ios::trunc) << TokenFor(*admin, "operator-b");
  fs::last_write_time(paths.token, fs::file_time_type::clock::now() + std::chrono::seconds(5));
  EXPECT_EQ("system:serviceaccount:default:operator-b", WhoAmI(*client));
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition, InClusterConfig(paths).status().code());
  fs::remove_all(dir);
}

TEST(KubeClientTest, ExecPluginSuppliesTheToken) {
  const std::string dir = testing::FreshTestDir("exec-plugin");
  std::ofstream(dir + "/plugin.sh") << "#!/bin/sh\n"
                                       "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                                       "\"kind\":\"ExecCredential\",\"status\":{\"token\":\""
                                    << Cp().token << "\"}}'\n";
  fs::permissions(dir + "/plugin.sh", fs::perms::owner_all);
  std::ofstream(dir + "/broken.sh") << "#!/bin/sh\necho nonsense\n";
  fs::permissions(dir + "/broken.sh", fs::perms::owner_all);
  const std::string kubeconfig = fmt::format(R"(apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{}", certificate-authority: "{}"}}}}]
users:
- name: plugin
  user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh}}}}
- name: broken
  user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: ./broken.sh}}}}
contexts:
- {{name: good, context: {{cluster: c, user: plugin}}}}
- {{name: bad, context: {{cluster: c, user: broken}}}}
current-context: good
)",
                                             Cp().server, Cp().ca_file);
  std::ofstream(dir + "/config") << kubeconfig;
  auto good = LoadKubeConfig({dir + "/config"});
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ("aiops-test", WhoAmI(*MustClient(*good)));
  auto bad = LoadKubeConfig({dir + "/config"}, "bad");
  ASSERT_TRUE(bad.ok());
  auto r = MustClient(*bad)->Get("/version");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("did not print an ExecCredential"));
  fs::remove_all(dir);
}

// An exec plugin may answer with a client certificate and key instead of a token
// (ExecCredential status.clientCertificateData/clientKeyData): the API server then sees the
// certificate's user. A plugin printing only half of the pair gets a clear error.
TEST(KubeClientTest, ExecPluginSuppliesAClientCertificate) {
  const std::string dir = testing::FreshTestDir("exec-cert");
  auto credential = [](const Json& status) {
    return Json{{"apiVersion", "client.authentication.k8s.io/v1"},
                {"kind", "ExecCredential"},
                {"status", status}}
        .dump();
  };
  std::ofstream(dir + "/cert.json")
      << credential({{"clientCertificateData", ReadAll(Cp().client_cert_file)},
                     {"clientKeyData", ReadAll(Cp().client_key_file)}});
  std::ofstream(dir + "/half.json")
      << credential({{"clientCertificateData", ReadAll(Cp().client_cert_file)}});
  for (const char* name : {"cert", "half"}) {
    const std::string script = fmt::format("{}/{}.sh", dir, name);
    std::ofstream(script) << fmt::format("#!/bin/sh\ncat '{}/{}.json'\n", dir, name);
    fs::permissions(script, fs::perms::owner_all);
  }
  const std::string kubeconfig = fmt::format(R"(apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{}", certificate-authority: "{}"}}}}]
users:
- name: cert
  user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: ./cert.sh}}}}
- name: half
  user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: ./half.sh}}}}
contexts:
- {{name: cert, context: {{cluster: c, user: cert}}}}
- {{name: half, context: {{cluster: c, user: half}}}}
current-context: cert
)",
                                             Cp().server, Cp().ca_file);
  std::ofstream(dir + "/config") << kubeconfig;
  auto config = LoadKubeConfig({dir + "/config"});
  ASSERT_TRUE(config.ok()) << config.status();
  auto client = MustClient(*config);
  EXPECT_EQ("aiops-admin", WhoAmI(*client));  // the certificate's CN, not a token's user
  // A watch authenticates the same way.
  absl::Status watched = client->Watch(
      "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
      [](const Json&) { return false; }, absl::Seconds(10));
  EXPECT_TRUE(watched.ok()) << watched;
  auto half = LoadKubeConfig({dir + "/config"}, "half");
  ASSERT_TRUE(half.ok());
  auto r = MustClient(*half)->Get("/version");
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, r.status().code()) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("clientKeyData"));
  fs::remove_all(dir);
}

LeaderElector::Options FastLease(const std::string& identity, const std::string& lease) {
  LeaderElector::Options options;
  options.lease_name = lease;
  options.identity = identity;
  options.lease_duration = absl::Seconds(3);
  options.renew_deadline = absl::Seconds(2);
  options.retry_period = absl::Milliseconds(250);
  return options;
}

struct Transitions {
  absl::Mutex mu;
  int started = 0;
  int stopped = 0;
  LeaderElector::Callbacks Callbacks() {
    return {[this] {
              absl::MutexLock lock(&mu);
              ++started;
            },
            [this] {
              absl::MutexLock lock(&mu);
              ++stopped;
            }};
  }
  int Started() {
    absl::MutexLock lock(&mu);
    return started;
  }
  int Stopped() {
    absl::MutexLock lock(&mu);
    return stopped;
  }
};

TEST(LeaderElectionTest, OneLeaderAtATimeAndFailoverWhenTheLeaderDies) {
  auto client_a = MustClient(TokenConfig(Cp().token));
  auto client_b = MustClient(TokenConfig(Cp().token));
  Transitions ta;
  Transitions tb;
  LeaderElector a(*client_a, FastLease("a", "failover"), ta.Callbacks());
  LeaderElector b(*client_b, FastLease("b", "failover"), tb.Callbacks());
  a.Start();
  ASSERT_TRUE(a.WaitForLeadership(absl::Seconds(10)));
  b.Start();
  EXPECT_FALSE(b.WaitForLeadership(absl::Seconds(2)));  // a keeps renewing
  a.AbandonForTest();                                   // crashed: no release, no more renewals
  ASSERT_TRUE(b.WaitForLeadership(absl::Seconds(15)));
  EXPECT_EQ(1, tb.Started());
  auto lease = client_b->Get("/apis/coordination.k8s.io/v1/namespaces/default/leases/failover");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ("b", (*lease)["spec"]["holderIdentity"]);
  EXPECT_GE((*lease)["spec"]["leaseTransitions"].get<int>(), 1);
  b.Stop();
  EXPECT_EQ(1, tb.Stopped());
}

TEST(LeaderElectionTest, AGracefulStopHandsOverWithoutWaitingForExpiry) {
  auto client = MustClient(TokenConfig(Cp().token));
  Transitions ta;
  Transitions tb;
  LeaderElector::Options slow_a = FastLease("a", "handover");
  slow_a.lease_duration = absl::Minutes(5);  // only a release lets b in quickly
  LeaderElector::Options slow_b = FastLease("b", "handover");
  slow_b.lease_duration = absl::Minutes(5);
  LeaderElector a(*client, slow_a, ta.Callbacks());
  LeaderElector b(*client, slow_b, tb.Callbacks());
  a.Start();
  ASSERT_TRUE(a.WaitForLeadership(absl::Seconds(10)));
  b.Start();
  a.Stop();
  EXPECT_EQ(1, ta.Stopped());
  EXPECT_TRUE(b.WaitForLeadership(absl::Seconds(15)));
}

TEST(LeaderElectionTest, StepsDownWhenItCannotRenewAndComesBack) {
  auto client = MustClient(TokenConfig(Cp().token));
  Transitions t;
  LeaderElector a(*client, FastLease("solo", "renewal"), t.Callbacks());
  a.Start();
  ASSERT_TRUE(a.WaitForLeadership(absl::Seconds(10)));
  // The API server is away for longer than the renew deadline.
  ASSERT_TRUE(testing::ControlPlaneEnvironment::Get().RestartApiServer().ok());
  EXPECT_TRUE(Eventually([&] { return t.Stopped() >= 1; }, absl::Seconds(10)));
  EXPECT_TRUE(a.WaitForLeadership(absl::Seconds(30)));
  EXPECT_GE(t.Started(), 2);
  a.Stop();
}

// The relay (support/tcp_relay.h) gives an address that reaches the real API server but is not
// in its certificate (which names 127.0.0.1, localhost, kubernetes.* and 10.0.0.1).
using testing::TcpRelay;

// kubeconfig tls-server-name: the API server reached through 127.0.0.2 (not in its certificate)
// is rejected as before, and accepted when tls-server-name names what the certificate carries;
// the name, not the URL's host, is what the certificate is checked against.
TEST(KubeClientTest, TlsServerNameIsWhatTheServerCertificateIsCheckedAgainst) {
  TcpRelay relay(Cp().host, Cp().port);
  ASSERT_TRUE(relay.Start("127.0.0.2"));
  const std::string relayed = fmt::format("https://127.0.0.2:{}", relay.port());

  KubeConfig config = TokenConfig(Cp().token);
  config.server = relayed;
  auto r = MustClient(config)->Get("/version");
  ASSERT_FALSE(r.ok()) << "the API server certificate should not be valid for 127.0.0.2";
  EXPECT_EQ(absl::StatusCode::kUnavailable, r.status().code());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("is not trusted"));

  // A DNS name and an IP address of the certificate's subjectAltName.
  for (const char* name : {"kubernetes.default.svc", "localhost", "10.0.0.1"}) {
    SCOPED_TRACE(name);
    config.tls_server_name = name;
    auto client = MustClient(config);
    r = client->Get("/version");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_THAT(r->value("gitVersion", ""), ::testing::StartsWith("v1."));
    r = client->Get("/api/v1/namespaces/default");  // the keep-alive connection is reused
    ASSERT_TRUE(r.ok()) << r.status();
    int events = 0;
    const absl::Status watched = client->Watch(
        "/api/v1/namespaces?watch=1&timeoutSeconds=5",
        [&](const Json&) {
          ++events;
          return false;
        },
        absl::Seconds(20));
    EXPECT_TRUE(watched.ok()) << watched;
    EXPECT_EQ(1, events);
  }

  // The URL's host (127.0.0.1) is in the certificate, but a tls-server-name that is not wins.
  config = TokenConfig(Cp().token);
  config.tls_server_name = "elsewhere.example";
  r = MustClient(config)->Get("/version");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(absl::StatusCode::kUnavailable, r.status().code());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tls-server-name 'elsewhere.example'"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("hostname mismatch"));
  config.tls_server_name = "10.9.9.9";
  r = MustClient(config)->Get("/version");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("IP address mismatch"));

  // The right name does not excuse a certificate the configured CA did not sign.
  const std::string dir = testing::FreshTestDir("tls-server-name");
  auto made =
      testing::RunProcess({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", dir + "/k.pem",
                           "-out", dir + "/ca.pem", "-days", "1", "-subj", "/CN=someone-else"});
  ASSERT_TRUE(made.ok() && made->exit_code == 0);
  config = TokenConfig(Cp().token);
  config.server = relayed;
  config.tls_server_name = "kubernetes";
  config.ca_pem = ReadAll(dir + "/ca.pem");
  r = MustClient(config)->Get("/version");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("local issuer certificate"));

  // End to end from a kubeconfig file.
  std::ofstream(dir + "/kubeconfig") << fmt::format(R"(apiVersion: v1
kind: Config
current-context: relayed
clusters:
- name: relayed
  cluster:
    server: {}
    certificate-authority: {}
    tls-server-name: kubernetes.default
contexts:
- name: relayed
  context:
    cluster: relayed
    user: test
users:
- name: test
  user:
    token: {}
)",
                                                    relayed, Cp().ca_file, Cp().token);
  absl::StatusOr<KubeConfig> loaded = LoadKubeConfig({dir + "/kubeconfig"});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ("kubernetes.default", loaded->tls_server_name);
  r = MustClient(*loaded)->Get("/api/v1/namespaces/default");
  EXPECT_TRUE(r.ok()) << r.status();
  fs::remove_all(dir);
}

// A create whose connection is refused (the API server restarting) sent nothing, so it is
// retried like a read; one that may have reached the server is not (see kube_client.cc).
TEST(KubeClientTest, ACreateIsRetriedWhileTheConnectionIsRefused) {
  int port = 0;
  {
    TcpRelay probe(Cp().host, Cp().port);  // an ephemeral port nothing listens on once closed
    ASSERT_TRUE(probe.Start("127.0.0.1"));
    port = probe.port();
  }
  KubeConfig config = TokenConfig(Cp().token);
  config.server = fmt::format("https://127.0.0.1:{}", port);
  KubeClientOptions options;
  options.initial_backoff = absl::Milliseconds(300);
  auto client = KubeClient::Create(config, options);
  ASSERT_TRUE(client.ok()) << client.status();
  TcpRelay relay(Cp().host, Cp().port);
  std::thread later([&] {
    absl::SleepFor(absl::Milliseconds(400));
    EXPECT_TRUE(relay.Start("127.0.0.1", port));
  });
  const std::string name = "refused-then-created";
  auto created =
      (*client)->Create("/api/v1/namespaces/default/configmaps", {{"apiVersion", "v1"},
                                                                  {"kind", "ConfigMap"},
                                                                  {"metadata", {{"name", name}}},
                                                                  {"data", {{"k", "v"}}}});
  later.join();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(name, (*created)["metadata"]["name"]);
  EXPECT_TRUE((*client)->Delete("/api/v1/namespaces/default/configmaps/" + name).ok());
}

// An API server that accepts connections and never answers must not keep a leader past its renew
// deadline: each renewal is cut off at the deadline, whatever the client's own time-outs (30 s per
// attempt, 4 attempts here) would allow.
TEST(LeaderElectionTest, StepsDownByTheRenewDeadlineWhenTheApiServerHangs) {
  TcpRelay relay(Cp().host, Cp().port);
  ASSERT_TRUE(relay.Start("127.0.0.1"));
  KubeConfig config = TokenConfig(Cp().token);
  config.server = fmt::format("https://127.0.0.1:{}", relay.port());
  auto client = MustClient(config);
  Transitions t;
  const LeaderElector::Options options = FastLease("hung", "hung-api-server");
  LeaderElector a(*client, options, t.Callbacks());
  a.Start();
  ASSERT_TRUE(a.WaitForLeadership(absl::Seconds(10)));
  relay.GoSilent();
  // A generous bound: three renew deadlines (the unbounded client would take minutes).
  EXPECT_TRUE(Eventually([&] { return t.Stopped() >= 1; }, 3 * options.renew_deadline))
      << "still leader " << (3 * options.renew_deadline) << " after the API server went silent";
  EXPECT_FALSE(a.IsLeader());
  a.Stop();
}

}  // namespace
}  // namespace aiops::k8s_sync
