#include "server/daemon_config.h"

#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fmt_absl.h"
#include "server/metrics.h"

namespace aiops::server {
namespace {

using ::testing::HasSubstr;

TEST(DaemonConfigTest, EmptyObjectGivesTheEmbeddedDefaults) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig("{}");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ("local", c->cluster_id);
  EXPECT_EQ("/var/lib/chatcli-aiops", c->data_dir);
  EXPECT_EQ("builtin", c->analyzer.provider);
  EXPECT_TRUE(c->leader_election.enabled);
  EXPECT_TRUE(c->watcher.targets.empty());
  EXPECT_EQ("local", c->pipeline.cluster_id());
  EXPECT_THAT(c->pipeline_json, HasSubstr("\"clusterId\":\"local\""));
}

TEST(DaemonConfigTest, ReadsEverySection) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(R"({
    "clusterId": "prod-eu", "dataDir": "/data", "grpcListen": "127.0.0.1:1", "httpListen": "",
    "leaderElection": {"enabled": false, "namespace": "ops", "leaseName": "l"},
    "watcher": {"targets": [{"namespace": "shop", "deployment": "checkout"}, {"namespace": "b"}],
                "restartsMin": 5, "restartWindowSeconds": 60, "recheckSeconds": 7},
    "analyzer": {"provider": "openai", "model": "m", "baseUrl": "http://127.0.0.1:11434"},
    "chatcliBridge": {"target": "127.0.0.1:50051", "intervalSeconds": 10},
    "kubeClient": {"qps": 50, "burst": 100, "mirrorQps": 0.5, "mirrorBurst": 2},
    "pipeline": {"dryRun": {"global": true}}
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ("prod-eu", c->pipeline.cluster_id());
  EXPECT_EQ("", c->http_listen);
  EXPECT_FALSE(c->leader_election.enabled);
  EXPECT_EQ("ops", c->leader_election.namespace_name);
  ASSERT_EQ(2U, c->watcher.targets.size());
  EXPECT_EQ("checkout", c->watcher.targets[0].deployment);
  EXPECT_EQ("", c->watcher.targets[1].deployment);
  EXPECT_EQ(5, c->watcher.restarts_min);
  EXPECT_EQ(absl::Seconds(60), c->watcher.restart_window);
  EXPECT_EQ(absl::Seconds(7), c->watcher.recheck_interval);
  EXPECT_EQ("openai", c->analyzer.provider);
  EXPECT_EQ(absl::Seconds(10), c->chatcli_bridge.interval);
  EXPECT_TRUE(c->pipeline.dry_run().global());
  EXPECT_EQ(50, c->kube_client.qps);
  EXPECT_EQ(100, c->kube_client.burst);
  EXPECT_EQ(0.5, c->kube_client.mirror_qps);
  EXPECT_EQ(2, c->kube_client.mirror_burst);
}

TEST(DaemonConfigTest, ErrorsNameTheKey) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& k : std::vector<Case>{
           {"[", "not valid JSON"},
           {"{\n  \"clusterId\": \"a\",\n  \"dataDir\": tmp\n}",
            "not valid JSON: at line 3, column 15: syntax error"},
           {"[]", "must be an object"},
           {R"({"clusterID": "x"})", "unknown key \"clusterID\""},
           {R"({"dataDir": 3})", "\"dataDir\" must be a string"},
           {R"({"leaderElection": {"enabled": "yes"}})", "\"leaderElection.enabled\""},
           // The API server would refuse the Lease and the replica would wait for ever.
           {R"({"leaderElection": {"leaseName": "Chatcli_Leader"}})",
            "\"leaderElection.leaseName\" 'Chatcli_Leader' is not a valid Kubernetes object name"},
           {R"({"leaderElection": {"leaseName": "leader-"}})", "is not a valid Kubernetes"},
           {R"({"leaderElection": {"leaseName": ""}})", "is not a valid Kubernetes"},
           {R"({"leaderElection": {"namespace": "ops.team"}})",
            "\"leaderElection.namespace\" 'ops.team' is not a valid namespace name"},
           {R"({"watcher": {"targets": [{"deployment": "x"}]}})",
            "\"watcher.targets[0].namespace\" is required"},
           {R"({"watcher": {"restartsMin": 0}})", "\"watcher.restartsMin\" must be a positive"},
           {R"({"watcher": {"targets": {}}})", "\"watcher.targets\" must be an array"},
           {R"({"analyzer": {"provider": "gpt"}})", "\"analyzer.provider\" must be builtin"},
           {R"({"analyzer": {"provider": "chatcli"}})", "needs \"analyzer.instance\""},
           {R"({"analyzer": {"instance": "noslash"}})", "must be namespace/name"},
           {R"({"tlsCertFile": "a"})", "go together"},
           {R"({"kubeClient": {"qps": -1}})", "\"kubeClient.qps\" must be a number of at least 0"},
           {R"({"kubeClient": {"mirrorQps": "fast"}})",
            "\"kubeClient.mirrorQps\" must be a number"},
           {R"({"kubeClient": {"burst": 0}})", "\"kubeClient.burst\" must be a positive"},
           {R"({"kubeClient": {"mirrorBurst": 1000001}})", "must be at most 100000"},
           {R"({"kubeClient": {"QPS": 1}})", "unknown key \"kubeClient.QPS\""},
           {R"({"logLevel": "loud"})", "\"logLevel\" must be"},
           {R"({"pipeline": {"riskCap": -1}})", "\"pipeline\":"},
           {R"({"pipeline": {"nope": 1}})", "\"pipeline\":"},
           {R"({"analyzer": {"chatcliTarget": "h:1", "chatcliTls": "yes"}})",
            "\"analyzer.chatcliTls\" must be true or false"},
           {R"({"analyzer": {"chatcliTarget": "h:1", "chatcliCaFile": "/ca.crt"}})",
            "\"analyzer.chatcliCaFile\" needs \"analyzer.chatcliTls\": true"},
           {R"({"analyzer": {"instance": "a/b", "chatcliTokenFile": "/t"}})",
            "\"analyzer.chatcliTokenFile\" applies only with \"analyzer.chatcliTarget\""},
           {R"({"analyzer": {"chatcliTokenFile": 7}})",
            "\"analyzer.chatcliTokenFile\" must be a string"},
           {R"({"chatcliBridge": {"target": "h:1", "tls": 1}})",
            "\"chatcliBridge.tls\" must be true or false"},
           {R"({"chatcliBridge": {"target": "h:1", "caFile": "/ca.crt"}})",
            "\"chatcliBridge.caFile\" needs \"chatcliBridge.tls\": true"},
           {R"({"chatcliBridge": {"instance": "a/b", "tls": true}})",
            "\"chatcliBridge.tls\" applies only with \"chatcliBridge.target\""},
           {R"({"chatcliBridge": {"instance": "a/b", "target": "h:1"}})", "exclude each other"},
           {R"({"chatcliBridge": {"target": "h:1", "tlsCaFile": "/x"}})",
            "unknown key \"chatcliBridge.tlsCaFile\""},
       }) {
    absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(k.json);
    ASSERT_FALSE(c.ok()) << k.json;
    EXPECT_EQ(absl::StatusCode::kInvalidArgument, c.status().code()) << k.json;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(k.message)) << k.json;
  }
}

TEST(DaemonConfigTest, ExplicitChatCliServersTakeTlsACaAndATokenFile) {
  absl::StatusOr<DaemonConfig> c = ParseDaemonConfig(R"({
    "analyzer": {"provider": "chatcli", "chatcliTarget": "chatcli.ops:50051", "chatcliTls": true,
                 "chatcliCaFile": "/etc/chatcli/ca.crt",
                 "chatcliTokenFile": "/etc/chatcli/token"},
    "chatcliBridge": {"target": "watcher.ops:50051", "tls": true, "caFile": "/ca.pem",
                      "tokenFile": "/token"}
  })");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->analyzer.chatcli_tls);
  EXPECT_EQ("/etc/chatcli/ca.crt", c->analyzer.chatcli_ca_file);
  EXPECT_EQ("/etc/chatcli/token", c->analyzer.chatcli_token_file);
  EXPECT_TRUE(c->chatcli_bridge.tls);
  EXPECT_EQ("/ca.pem", c->chatcli_bridge.ca_file);
  EXPECT_EQ("/token", c->chatcli_bridge.token_file);

  absl::StatusOr<DaemonConfig> plain = ParseDaemonConfig(
      R"({"chatcliBridge": {"target": "watcher.ops:50051", "tokenFile": "/token"}})");
  ASSERT_TRUE(plain.ok()) << plain.status();  // a token over plaintext (in-cluster)
  EXPECT_FALSE(plain->chatcli_bridge.tls);
}

TEST(DaemonConfigTest, ChatCliConnectionReadsTheFilesAndNamesTheKeyOfABadOne) {
  const std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& content) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << content;
    return path;
  };
  const std::string ca =
      write("ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const std::string token = write("token", "  s3cret\n");
  absl::StatusOr<analysis::ChatCliOptions> options =
      ChatCliConnection("watcher.ops:50051", true, ca, token, kBridgeChatCliKeys);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ("watcher.ops:50051", options->target);
  EXPECT_TRUE(options->tls);
  EXPECT_THAT(options->ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_EQ("s3cret", options->token);

  options = ChatCliConnection("h:1", false, "", "", kAnalyzerChatCliKeys);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_FALSE(options->tls);  // what the key says, not ChatCliOptions' default
  EXPECT_TRUE(options->token.empty());

  options = ChatCliConnection("h:1", true, dir + "/missing.crt", "", kAnalyzerChatCliKeys);
  EXPECT_EQ(absl::StatusCode::kNotFound, options.status().code());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("\"analyzer.chatcliCaFile\""));
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("missing.crt"));

  options = ChatCliConnection("h:1", true, write("not-pem", "hello"), "", kBridgeChatCliKeys);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, options.status().code());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("\"chatcliBridge.caFile\""));
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("no PEM certificate"));

  options = ChatCliConnection("h:1", false, "", write("empty-token", "\n"), kBridgeChatCliKeys);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, options.status().code());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("\"chatcliBridge.tokenFile\""));
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("empty"));

  options = ChatCliConnection("h:1", false, "", dir + "/no-token", kAnalyzerChatCliKeys);
  EXPECT_EQ(absl::StatusCode::kNotFound, options.status().code());
  EXPECT_THAT(std::string(options.status().message()), HasSubstr("\"analyzer.chatcliTokenFile\""));
}

TEST(DaemonConfigTest, MissingFileIsNotFoundAndNamesThePath) {
  absl::StatusOr<DaemonConfig> c = LoadDaemonConfig("/nonexistent/aiops.json");
  ASSERT_EQ(absl::StatusCode::kNotFound, c.status().code());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("/nonexistent/aiops.json"));
}

TEST(DaemonConfigTest, RefreshPipelineFollowsTheClusterId) {
  DaemonConfig c = DefaultDaemonConfig();
  c.cluster_id = "other";
  RefreshPipeline(c);
  EXPECT_EQ("other", c.pipeline.cluster_id());
  EXPECT_THAT(c.pipeline_json, HasSubstr("\"clusterId\":\"other\""));
}

TEST(MetricsTest, RendersTheTextFormatInStableOrder) {
  Metrics m;
  m.DeclareCounter("b_total", "B things.");
  m.DeclareGauge("a", "A level.");
  m.DeclareHistogram("lat_seconds", "Latency.", {0.1, 1});
  m.Add("b_total", {{"type", "x"}});
  m.Add("b_total", {{"type", "x"}}, 2);
  m.Add("b_total", {{"type", "q\"uote"}});
  m.Set("a", {}, 7);
  m.Observe("lat_seconds", {{"p", "builtin"}}, 0.05);
  m.Observe("lat_seconds", {{"p", "builtin"}}, 0.5);
  m.Observe("lat_seconds", {{"p", "builtin"}}, 5);
  EXPECT_EQ(3, m.Value("b_total", {{"type", "x"}}));
  EXPECT_EQ(
      "# HELP a A level.\n# TYPE a gauge\na 7\n"
      "# HELP b_total B things.\n# TYPE b_total counter\n"
      "b_total{type=\"q\\\"uote\"} 1\nb_total{type=\"x\"} 3\n"
      "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
      "lat_seconds_bucket{p=\"builtin\",le=\"0.1\"} 1\n"
      "lat_seconds_bucket{p=\"builtin\",le=\"1\"} 2\n"
      "lat_seconds_bucket{p=\"builtin\",le=\"+Inf\"} 3\n"
      "lat_seconds_sum{p=\"builtin\"} 5.55\nlat_seconds_count{p=\"builtin\"} 3\n",
      m.Render());
  m.SetAll("a", {{{{"state", "Resolved"}}, 2}});
  EXPECT_EQ(0, m.Value("a", {}));
  EXPECT_EQ(2, m.Value("a", {{"state", "Resolved"}}));
}

}  // namespace
}  // namespace aiops::server
