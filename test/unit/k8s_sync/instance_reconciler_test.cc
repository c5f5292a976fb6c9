// The pure desired-state builders of the Instance reconciler: Instance JSON -> validated spec ->
// the objects to apply, the config hash and the status.
#include "k8s_sync/instance_reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s_sync/yaml_json.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The seed's sample Instance, as the API server returns it.
Json Sample() {
  return {{"apiVersion", "platform.chatcli.io/v1alpha1"},
          {"kind", "Instance"},
          {"metadata",
           {{"name", "chatcli-prod"}, {"namespace", "ops"}, {"uid", "uid-1"}, {"generation", 3}}},
          {"spec",
           {{"provider", "CLAUDEAI"},
            {"replicas", 1},
            {"apiKeys", {{"name", "chatcli-api-keys"}}},
            {"server",
             {{"port", 50051},
              {"tls", {{"enabled", true}, {"secretName", "chatcli-tls"}}},
              {"token", {{"name", "chatcli-server-token"}, {"key", "token"}}}}},
            {"watcher",
             {{"enabled", true},
              {"interval", "30s"},
              {"targets",
               {{{"deployment", "api-gateway"}, {"namespace", "production"}, {"metricsPort", 9090}},
                {{"deployment", "worker"}, {"namespace", "batch"}},
                {{"name", "local"}, {"namespace", "ops"}}}}}}}}};
}

InstanceSpec Spec(const Json& instance = Sample()) {
  absl::StatusOr<InstanceSpec> spec = ParseInstanceSpec(instance);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : InstanceSpec{};
}

const DesiredObject* Find(const DesiredState& state, const std::string& kind, const std::string& ns,
                          const std::string& name) {
  for (const DesiredObject& o : state.objects) {
    if (o.kind == kind && o.namespace_name == ns && o.name == name) {
      return &o;
    }
  }
  return nullptr;
}

std::string InvalidMessage(Json instance) {
  absl::StatusOr<InstanceSpec> spec = ParseInstanceSpec(instance);
  EXPECT_FALSE(spec.ok());
  if (spec.ok()) {
    return "";
  }
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, spec.status().code());
  return std::string(spec.status().message());
}

TEST(InstanceSpecTest, FillsTheCrdDefaults) {
  Json minimal = {{"metadata", {{"name", "c"}, {"namespace", "ns"}}},
                  {"spec", {{"provider", "OPENAI"}}}};
  const InstanceSpec spec = Spec(minimal);
  EXPECT_EQ(1, spec.replicas);
  EXPECT_EQ("ghcr.io/diillson/chatcli:latest", spec.image);
  EXPECT_EQ("IfNotPresent", spec.pull_policy);
  EXPECT_EQ(50051, spec.port);
  EXPECT_EQ(9090, spec.metrics_port);
  EXPECT_FALSE(spec.tls_enabled);
  EXPECT_TRUE(spec.token_secret.empty());
  EXPECT_FALSE(spec.watcher_enabled);
  EXPECT_TRUE(spec.targets.empty());
  EXPECT_FALSE(spec.persistence_enabled);

  absl::StatusOr<InstanceSpec> tagged = ParseInstanceSpec(minimal, "v1.2.3");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ("ghcr.io/diillson/chatcli:v1.2.3", tagged->image);
}

TEST(InstanceSpecTest, ReadsTargetsAndTheLegacySingleTarget) {
  const InstanceSpec spec = Spec();
  ASSERT_EQ(3u, spec.targets.size());
  EXPECT_EQ("api-gateway", spec.targets[0].name);  // the deprecated `deployment` alias
  EXPECT_EQ("production", spec.targets[0].namespace_name);
  EXPECT_EQ(9090, spec.targets[0].metrics_port);
  EXPECT_EQ("Deployment", spec.targets[1].kind);

  Json legacy = Sample();
  legacy["spec"]["watcher"] = {{"enabled", true}, {"deployment", "web"}};
  const InstanceSpec one = Spec(legacy);
  ASSERT_EQ(1u, one.targets.size());
  EXPECT_EQ("web", one.targets[0].name);
  EXPECT_EQ("ops", one.targets[0].namespace_name);  // the Instance's namespace
}

TEST(InstanceSpecTest, RejectsBadSpecsNamingTheField) {
  Json j = Sample();
  j["spec"].erase("provider");
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.provider is required"));

  j = Sample();
  j["spec"]["server"]["tls"].erase("secretName");
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.server.tls.secretName"));

  j = Sample();
  j["spec"]["replicas"] = "three";
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.replicas must be an integer"));

  j = Sample();
  j["spec"]["replicas"] = -1;
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.replicas is -1"));

  j = Sample();
  j["spec"]["server"]["port"] = 70000;
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.server.port is 70000"));

  j = Sample();
  j["spec"]["server"]["metricsPort"] = 50051;
  EXPECT_THAT(InvalidMessage(j), HasSubstr("metricsPort equals"));

  j = Sample();
  j["spec"]["watcher"]["targets"][1]["kind"] = "Pod";
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.watcher.targets[1].kind \"Pod\""));

  j = Sample();
  j["spec"]["watcher"]["targets"][0]["namespace"] = "../kube-system";
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.watcher.targets[0].namespace"));

  j = Sample();
  j["spec"]["watcher"]["targets"][2].erase("name");
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.watcher.targets[2] needs a name"));

  j = Sample();
  j["spec"]["apiKeys"]["name"] = "Bad/Name";
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.apiKeys.name \"Bad/Name\""));

  j = Sample();
  j["spec"]["extraEnv"] = {{{"value", "x"}}};
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.extraEnv[0] needs a name"));

  j = Sample();
  j["spec"]["image"] = {{"pullPolicy", "Sometimes"}};
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec.image.pullPolicy"));

  j = Sample();
  j.erase("spec");
  EXPECT_THAT(InvalidMessage(j), HasSubstr("spec is missing"));
}

TEST(DesiredStateTest, HasEveryObjectOfTheSeedTableInApplyOrder) {
  const DesiredState state = BuildDesiredState(Spec(), {});
  std::vector<std::string> ids;
  for (const DesiredObject& o : state.objects) {
    ids.push_back(o.kind + " " + o.namespace_name + "/" + o.name);
  }
  EXPECT_THAT(
      ids, ElementsAre("ServiceAccount ops/chatcli-prod", "Role batch/ops-chatcli-prod-watcher",
                       "Role ops/chatcli-prod-watcher", "Role production/ops-chatcli-prod-watcher",
                       "RoleBinding batch/ops-chatcli-prod-watcher",
                       "RoleBinding ops/chatcli-prod-watcher",
                       "RoleBinding production/ops-chatcli-prod-watcher",
                       "ConfigMap ops/chatcli-prod", "ConfigMap ops/chatcli-prod-watch-config",
                       "Service ops/chatcli-prod", "Deployment ops/chatcli-prod"));
  EXPECT_FALSE(state.headless);
  EXPECT_EQ(16u, state.config_hash.size());
}

TEST(DesiredStateTest, OwnerReferencesOnlyInTheInstanceNamespace) {
  const DesiredState state = BuildDesiredState(Spec(), {});
  for (const DesiredObject& o : state.objects) {
    const Json& meta = o.object["metadata"];
    EXPECT_EQ("ops/chatcli-prod", meta["annotations"][kAnnotationInstance]) << o.name;
    EXPECT_EQ("chatcli-aiops", meta["labels"][kLabelManagedBy]);
    EXPECT_EQ("chatcli-prod", meta["labels"][kLabelInstance]);
    EXPECT_EQ("ops", meta["labels"][kLabelInstanceNamespace]);
    if (o.namespace_name == "ops") {
      ASSERT_TRUE(meta.contains("ownerReferences")) << o.kind << " " << o.name;
      const Json& ref = meta["ownerReferences"][0];
      EXPECT_EQ("Instance", ref["kind"]);
      EXPECT_EQ("chatcli-prod", ref["name"]);
      EXPECT_EQ("uid-1", ref["uid"]);
      EXPECT_EQ(true, ref["controller"]);
      EXPECT_EQ(true, ref["blockOwnerDeletion"]);
    } else {
      EXPECT_FALSE(meta.contains("ownerReferences")) << o.kind << " " << o.name;
    }
  }
}

// Each target namespace's Role grants the kinds of the targets in that namespace, so a
// StatefulSet, DaemonSet, Job or CronJob target can be read by the watcher; pods/log only when
// the watcher keeps log lines.
TEST(DesiredStateTest, WatcherRoleGrantsTheKindsOfItsNamespacesTargets) {
  Json j = Sample();
  j["spec"]["watcher"]["targets"] = Json::parse(R"([
    {"name": "db", "kind": "StatefulSet", "namespace": "production"},
    {"name": "agent", "kind": "DaemonSet", "namespace": "production"},
    {"name": "nightly", "kind": "CronJob", "namespace": "batch"},
    {"name": "once", "kind": "Job", "namespace": "batch"}])");
  const DesiredState state = BuildDesiredState(Spec(j), {});
  auto rules = [&](const std::string& ns) {
    const DesiredObject* role = Find(state, "Role", ns, "ops-chatcli-prod-watcher");
    EXPECT_NE(nullptr, role) << ns;
    return role != nullptr ? role->object["rules"] : Json();
  };
  const Json read = {"get", "list", "watch"};
  const Json common = {
      {"apiGroups", {""}}, {"resources", {"pods", "events", "services"}}, {"verbs", read}};
  const Json logs = {{"apiGroups", {""}}, {"resources", {"pods/log"}}, {"verbs", {"get"}}};
  EXPECT_EQ(Json::array({common,
                         logs,
                         {{"apiGroups", {"apps"}},
                          {"resources", {"daemonsets", "statefulsets"}},
                          {"verbs", read}}}),
            rules("production"));
  EXPECT_EQ(Json::array(
                {common,
                 logs,
                 {{"apiGroups", {"batch"}}, {"resources", {"cronjobs", "jobs"}}, {"verbs", read}}}),
            rules("batch"));

  j["spec"]["watcher"]["maxLogLines"] = 0;
  const DesiredState no_logs = BuildDesiredState(Spec(j), {});
  const DesiredObject* role = Find(no_logs, "Role", "batch", "ops-chatcli-prod-watcher");
  ASSERT_NE(nullptr, role);
  for (const Json& rule : role->object["rules"]) {
    EXPECT_NE(Json({"pods/log"}), rule["resources"]);
  }
}

TEST(DesiredStateTest, WatcherRoleReadsOnlyAndIsBoundToTheInstanceServiceAccount) {
  const DesiredState state = BuildDesiredState(Spec(), {});
  const DesiredObject* role = Find(state, "Role", "production", "ops-chatcli-prod-watcher");
  ASSERT_NE(nullptr, role);
  // Read-only, and only what a Deployment target needs: its pods, their logs, the
  // Deployment and its ReplicaSets.
  EXPECT_EQ(Json::parse(R"([
    {"apiGroups": [""], "resources": ["pods", "events", "services"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"],
     "verbs": ["get", "list", "watch"]}])"),
            role->object["rules"]);
  const DesiredObject* binding =
      Find(state, "RoleBinding", "production", "ops-chatcli-prod-watcher");
  ASSERT_NE(nullptr, binding);
  EXPECT_EQ("Role", binding->object["roleRef"]["kind"]);
  EXPECT_EQ("ops-chatcli-prod-watcher", binding->object["roleRef"]["name"]);
  EXPECT_EQ(
      Json::array({{{"kind", "ServiceAccount"}, {"name", "chatcli-prod"}, {"namespace", "ops"}}}),
      binding->object["subjects"]);

  Json no_watcher = Sample();
  no_watcher["spec"]["watcher"]["enabled"] = false;
  const DesiredState quiet = BuildDesiredState(Spec(no_watcher), {});
  for (const DesiredObject& o : quiet.objects) {
    EXPECT_NE("Role", o.kind);
    EXPECT_NE("chatcli-prod-watch-config", o.name);
  }
}

TEST(DesiredStateTest, DeploymentRunsTheServerWithSecretsTlsAndWatchConfig) {
  const DesiredState state = BuildDesiredState(Spec(), {});
  const DesiredObject* d = Find(state, "Deployment", "ops", "chatcli-prod");
  ASSERT_NE(nullptr, d);
  EXPECT_EQ("/apis/apps/v1/namespaces/ops/deployments/chatcli-prod", d->Path());
  const Json& spec = d->object["spec"];
  EXPECT_EQ(1, spec["replicas"]);
  EXPECT_EQ(state.config_hash, spec["template"]["metadata"]["annotations"][kAnnotationConfigHash]);
  // The selector is a subset of the pod labels.
  for (const auto& [k, v] : spec["selector"]["matchLabels"].items()) {
    EXPECT_EQ(v, spec["template"]["metadata"]["labels"][k]) << k;
  }
  const Json& pod = spec["template"]["spec"];
  EXPECT_EQ("chatcli-prod", pod["serviceAccountName"]);
  EXPECT_EQ(true, pod["securityContext"]["runAsNonRoot"]);
  const Json& c = pod["containers"][0];
  EXPECT_EQ("ghcr.io/diillson/chatcli:latest", c["image"]);
  std::vector<std::string> args = c["args"].get<std::vector<std::string>>();
  EXPECT_THAT(args, ElementsAre("--port", "50051", "--metrics-port", "9090", "--provider",
                                "CLAUDEAI", "--tls-cert", "/etc/chatcli/tls/tls.crt", "--tls-key",
                                "/etc/chatcli/tls/tls.key", "--watch-config",
                                "/etc/chatcli/watch/watch-config.yaml"));
  EXPECT_EQ("grpc", c["ports"][0]["name"]);
  EXPECT_EQ(50051, c["ports"][0]["containerPort"]);
  EXPECT_EQ("grpc", c["readinessProbe"]["tcpSocket"]["port"]);
  EXPECT_EQ("grpc", c["livenessProbe"]["tcpSocket"]["port"]);
  EXPECT_EQ(Json({{"configMapRef", {{"name", "chatcli-prod"}}}}), c["envFrom"][0]);
  EXPECT_EQ(Json({{"secretRef", {{"name", "chatcli-api-keys"}, {"optional", true}}}}),
            c["envFrom"][1]);
  EXPECT_EQ(Json({{"name", "CHATCLI_SERVER_TOKEN"},
                  {"valueFrom",
                   {{"secretKeyRef", {{"name", "chatcli-server-token"}, {"key", "token"}}}}}}),
            c["env"][1]);
  Json volumes = Json::object();
  for (const Json& v : pod["volumes"]) {
    volumes[v["name"].get<std::string>()] = v;
  }
  EXPECT_EQ("chatcli-tls", volumes["tls"]["secret"]["secretName"]);
  EXPECT_EQ("chatcli-prod-watch-config", volumes["watch-config"]["configMap"]["name"]);
  EXPECT_FALSE(volumes.contains("sessions"));
  EXPECT_FALSE(c.contains("resources"));
}

TEST(DesiredStateTest, ResourcesExtraEnvAndPersistence) {
  Json j = Sample();
  j["spec"]["resources"] = {{"limits", {{"memory", "512Mi"}}}};
  j["spec"]["extraEnv"] = {{{"name", "HOME"}, {"value", "/data"}}, {{"name", "X"}, {"value", "1"}}};
  j["spec"]["persistence"] = {{"enabled", true}, {"size", "5Gi"}, {"storageClassName", "fast"}};
  const DesiredState state = BuildDesiredState(Spec(j), {});
  const Json& pod =
      Find(state, "Deployment", "ops", "chatcli-prod")->object["spec"]["template"]["spec"];
  const Json& c = pod["containers"][0];
  EXPECT_EQ("512Mi", c["resources"]["limits"]["memory"]);
  // extraEnv replaces a built-in variable of the same name instead of repeating the name.
  EXPECT_EQ(Json({{"name", "HOME"}, {"value", "/data"}}), c["env"][0]);
  EXPECT_EQ(3u, c["env"].size());
  EXPECT_EQ("X", c["env"][2]["name"]);
  const DesiredObject* pvc = Find(state, "PersistentVolumeClaim", "ops", "chatcli-prod-sessions");
  ASSERT_NE(nullptr, pvc);
  EXPECT_TRUE(pvc->create_only);
  EXPECT_EQ("5Gi", pvc->object["spec"]["resources"]["requests"]["storage"]);
  EXPECT_EQ("fast", pvc->object["spec"]["storageClassName"]);
  bool mounted = false;
  for (const Json& m : c["volumeMounts"]) {
    mounted |= m["name"] == "sessions";
  }
  EXPECT_TRUE(mounted);
}

TEST(DesiredStateTest, ServiceIsHeadlessAboveOneReplica) {
  Json j = Sample();
  const DesiredState single = BuildDesiredState(Spec(j), {});
  const DesiredObject* one = Find(single, "Service", "ops", "chatcli-prod");
  ASSERT_NE(nullptr, one);
  EXPECT_FALSE(one->object["spec"].contains("clusterIP"));
  EXPECT_EQ("grpc", one->object["spec"]["ports"][0]["targetPort"]);
  EXPECT_EQ(50051, one->object["spec"]["ports"][0]["port"]);
  EXPECT_EQ(9090, one->object["spec"]["ports"][1]["port"]);

  j["spec"]["replicas"] = 3;
  const DesiredState three = BuildDesiredState(Spec(j), {});
  EXPECT_TRUE(three.headless);
  EXPECT_EQ("None", Find(three, "Service", "ops", "chatcli-prod")->object["spec"]["clusterIP"]);

  j["spec"]["server"]["metricsPort"] = 0;  // no metrics port at all
  const DesiredState bare = BuildDesiredState(Spec(j), {});
  EXPECT_EQ(1u, Find(bare, "Service", "ops", "chatcli-prod")->object["spec"]["ports"].size());
}

TEST(DesiredStateTest, ConfigHashFollowsConfigAndSecretsButNotReplicas) {
  const SecretVersions v1 = {"10", "11", "12"};
  const std::string base = ConfigHash(Spec(), v1);
  EXPECT_EQ(base, ConfigHash(Spec(), v1));  // deterministic

  Json scaled = Sample();
  scaled["spec"]["replicas"] = 5;
  EXPECT_EQ(base, ConfigHash(Spec(scaled), v1));  // scaling must not roll the pods

  Json model = Sample();
  model["spec"]["model"] = "claude-sonnet";
  EXPECT_NE(base, ConfigHash(Spec(model), v1));  // env ConfigMap

  Json target = Sample();
  target["spec"]["watcher"]["targets"][0]["metricsPath"] = "/m";
  EXPECT_NE(base, ConfigHash(Spec(target), v1));  // watch ConfigMap

  EXPECT_NE(base, ConfigHash(Spec(), {"13", "11", "12"}));  // API keys rotated
  EXPECT_NE(base, ConfigHash(Spec(), {"10", "14", "12"}));  // token rotated
  EXPECT_NE(base, ConfigHash(Spec(), {"10", "11", "15"}));  // certificate renewed
  EXPECT_NE(base, ConfigHash(Spec(), {"10", "11", ""}));    // TLS Secret deleted
}

TEST(DesiredStateTest, EnvConfigMapCarriesProviderPortAndWatcherSettings) {
  const Json data = EnvConfigData(Spec());
  EXPECT_EQ("CLAUDEAI", data["LLM_PROVIDER"]);
  EXPECT_EQ("50051", data["CHATCLI_SERVER_PORT"]);
  EXPECT_EQ("30s", data["CHATCLI_WATCH_INTERVAL"]);
  EXPECT_FALSE(data.contains("LLM_MODEL"));
  for (const auto& [k, v] : data.items()) {
    EXPECT_TRUE(v.is_string()) << k;  // ConfigMap data holds strings only
  }
}

TEST(DesiredStateTest, WatchConfigYamlRoundTripsEvenWithAwkwardValues) {
  Json j = Sample();
  j["spec"]["watcher"]["targets"][0]["metricsFilter"] = {"http_*", "a: \"b\"\n#c"};
  j["spec"]["watcher"]["targets"][0]["metricsPath"] = "/metrics";
  const std::string yaml = WatchConfigYaml(Spec(j));
  absl::StatusOr<Json> parsed = YamlToJson(yaml);
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << yaml;
  EXPECT_EQ("30s", (*parsed)["interval"]);
  EXPECT_EQ("2h", (*parsed)["window"]);
  EXPECT_EQ(100, (*parsed)["maxLogLines"]);
  ASSERT_EQ(3u, (*parsed)["targets"].size());
  const Json& t0 = (*parsed)["targets"][0];
  EXPECT_EQ("api-gateway", t0["deployment"]);
  EXPECT_EQ("Deployment", t0["kind"]);
  EXPECT_EQ("production", t0["namespace"]);
  EXPECT_EQ(9090, t0["metricsPort"]);
  EXPECT_EQ("/metrics", t0["metricsPath"]);
  EXPECT_EQ(Json({"http_*", "a: \"b\"\n#c"}), t0["metricsFilter"]);
  EXPECT_FALSE((*parsed)["targets"][1].contains("metricsPort"));
}

TEST(InstanceStatusTest, ReadyWhenEnoughReplicasAreReady) {
  const InstanceSpec spec = Spec();
  const absl::Time now = absl::FromUnixSeconds(1'771'276'354);
  Json deployment = {{"metadata", {{"generation", 2}}},
                     {"status",
                      {{"observedGeneration", 2},
                       {"replicas", 1},
                       {"readyReplicas", 1},
                       {"updatedReplicas", 1},
                       {"availableReplicas", 1}}}};
  Json status = BuildInstanceStatus(spec, "abc", deployment, Json(), now);
  EXPECT_EQ(true, status["ready"]);
  EXPECT_EQ(1, status["replicas"]);
  EXPECT_EQ(1, status["readyReplicas"]);
  EXPECT_EQ(3, status["observedGeneration"]);
  EXPECT_EQ("abc", status["configHash"]);
  EXPECT_EQ("Available", status["conditions"][0]["type"]);
  EXPECT_EQ("True", status["conditions"][0]["status"]);
  EXPECT_EQ("DeploymentReady", status["conditions"][0]["reason"]);
  EXPECT_EQ("2026-02-16T21:12:34Z", status["conditions"][0]["lastTransitionTime"]);
  EXPECT_EQ("Progressing", status["conditions"][1]["type"]);
  EXPECT_EQ("False", status["conditions"][1]["status"]);
  EXPECT_EQ("RolloutComplete", status["conditions"][1]["reason"]);

  // The same facts later keep the transition times: the status is byte-for-byte unchanged.
  EXPECT_EQ(status, BuildInstanceStatus(spec, "abc", deployment, status, now + absl::Hours(1)));

  // A pod stops being ready: Available flips, with a new transition time.
  deployment["status"]["readyReplicas"] = 0;
  deployment["status"]["availableReplicas"] = 0;
  Json later = BuildInstanceStatus(spec, "abc", deployment, status, now + absl::Hours(1));
  EXPECT_EQ(false, later["ready"]);
  EXPECT_EQ("DeploymentNotReady", later["conditions"][0]["reason"]);
  EXPECT_EQ("2026-02-16T22:12:34Z", later["conditions"][0]["lastTransitionTime"]);
  EXPECT_EQ("RolloutInProgress", later["conditions"][1]["reason"]);
}

TEST(InstanceStatusTest, ZeroReplicasIsNeverReadyAndProblemsShowInProgressing) {
  Json j = Sample();
  j["spec"]["replicas"] = 0;
  const InstanceSpec spec = Spec(j);
  Json deployment = {{"metadata", {{"generation", 1}}}, {"status", {{"observedGeneration", 1}}}};
  Json status = BuildInstanceStatus(spec, "h", deployment, Json(), absl::UnixEpoch());
  EXPECT_EQ(false, status["ready"]);

  Json failed = BuildInstanceStatus(Spec(), "h", Json(), Json(), absl::UnixEpoch(),
                                    "SecretNotFound", "Secret ops/chatcli-tls not found");
  EXPECT_EQ("the Deployment does not exist yet", failed["conditions"][0]["message"]);
  EXPECT_EQ("False", failed["conditions"][1]["status"]);
  EXPECT_EQ("SecretNotFound", failed["conditions"][1]["reason"]);
  EXPECT_EQ("Secret ops/chatcli-tls not found", failed["conditions"][1]["message"]);
}

TEST(InstanceSpecEventTest, RecordsTheGenerationAndSpecAsAnIgnorableAuditEvent) {
  const std::optional<v1::Event> e =
      InstanceSpecEvent(Spec(), Sample(), absl::FromUnixSeconds(1'700'000'000));
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->ignorable());
  EXPECT_EQ(1'700'000'000'000, e->logical_time_ms());
  const v1::InstanceSpecObserved& o = e->instance_spec_observed();
  EXPECT_EQ(Spec().name, o.name());
  EXPECT_EQ(Spec().namespace_name, o.namespace_());
  EXPECT_EQ(Spec().generation, o.generation());
  EXPECT_EQ(Sample()["spec"].dump(), o.spec_json());
  EXPECT_EQ(64U, o.spec_sha256().size());
}

}  // namespace
}  // namespace aiops::k8s_sync
