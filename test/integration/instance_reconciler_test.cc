// The Instance reconciler and the Instance/Secret lookups on the real control plane
// (kube-apiserver + etcd + kube-controller-manager, whose garbage collector follows owner
// references; the kubelet stand-in makes pods ready): every object with its owner reference,
// idempotence, the headless switch, config-hash rolls, the sweep of removed objects, status from
// the Deployment, the background loop, and the Secret lookups with their errors.
#include "k8s_sync/instance_reconciler.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <absl/time/clock.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s_sync/instance_config.h"
#include "k8s_sync/json_access.h"
#include "k8s_sync/yaml_json.h"
#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"
#include "support/subprocess.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<KubeClient> Client() {
  KubeConfig config;
  config.server = Cp().server;
  config.ca_pem = ReadAll(Cp().ca_file);
  config.token = Cp().token;
  KubeClientOptions options;
  options.qps = 0;
  return *KubeClient::Create(config, options);
}

absl::Status Standin(const std::vector<std::string>& args) {
  return testing::RunKubeletStandin(Cp(), AIOPS_SOURCE_DIR, args);
}

using testing::Eventually;

std::string B64(const std::string& s) {
  static const char* kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t n = (static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16) |
                       (static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8) |
                       static_cast<unsigned char>(s[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) {
      out.push_back(kChars[(n >> shift) & 63]);
    }
  }
  if (i < s.size()) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(s[i])) << 16;
    if (i + 1 < s.size()) {
      n |= static_cast<uint32_t>(static_cast<unsigned char>(s[i + 1])) << 8;
    }
    out.push_back(kChars[(n >> 18) & 63]);
    out.push_back(kChars[(n >> 12) & 63]);
    out.push_back(i + 1 < s.size() ? kChars[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

class InstanceReconcilerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::unique_ptr<KubeClient> client = Client();
    for (const auto& entry :
         fs::directory_iterator(std::string(AIOPS_SOURCE_DIR) + "/deploy/crd/bases")) {
      auto crd = YamlToJson(ReadAll(entry.path().string()));
      ASSERT_TRUE(crd.ok());
      const std::string name = (*crd)["metadata"]["name"];
      ASSERT_TRUE(client
                      ->Apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name,
                              *crd, "test")
                      .ok());
    }
    auto done = testing::ControlPlaneEnvironment::Get().Kubectl(
        {"wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"});
    ASSERT_TRUE(done.ok() && done->exit_code == 0);
  }

  void SetUp() override {
    client_ = Client();
    ++counter_;
    ns_ = fmt::format("inst-{}", counter_);
    other_ = fmt::format("inst-{}-b", counter_);
    for (const std::string& ns : {ns_, other_}) {
      ASSERT_TRUE(
          client_
              ->Create("/api/v1/namespaces",
                       {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}})
              .ok());
    }
  }

  InstanceReconciler::Options Options() {
    InstanceReconciler::Options options;
    options.clock = &clock_;
    return options;
  }

  // The seed's sample, with a target in the Instance's namespace and one in another.
  Json Instance(const std::string& name = "chatcli") const {
    return {{"apiVersion", "platform.chatcli.io/v1alpha1"},
            {"kind", "Instance"},
            {"metadata", {{"name", name}, {"namespace", ns_}}},
            {"spec",
             {{"provider", "CLAUDEAI"},
              {"replicas", 1},
              {"apiKeys", {{"name", "chatcli-api-keys"}}},
              {"server",
               {{"port", 50051},
                {"tls", {{"enabled", true}, {"secretName", "chatcli-tls"}}},
                {"token", {{"name", "chatcli-server-token"}, {"key", "token"}}}}},
              {"persistence", {{"enabled", true}, {"size", "2Gi"}}},
              {"watcher",
               {{"enabled", true},
                {"interval", "30s"},
                {"targets",
                 {{{"deployment", "api-gateway"}, {"namespace", ns_}, {"metricsPort", 9090}},
                  {{"deployment", "worker"}, {"namespace", other_}}}}}}}}};
  }

  std::string InstancePath(const std::string& name = "chatcli") const {
    return fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/instances/{}", ns_, name);
  }
  std::string Path(const std::string& api, const std::string& ns, const std::string& plural,
                   const std::string& name) const {
    return fmt::format("{}/namespaces/{}/{}/{}", api, ns, plural, name);
  }

  void CreateSecret(const std::string& name, std::map<std::string, std::string> data) {
    Json encoded = Json::object();
    for (const auto& [k, v] : data) {
      encoded[k] = B64(v);
    }
    ASSERT_TRUE(client_
                    ->Create(fmt::format("/api/v1/namespaces/{}/secrets", ns_),
                             {{"apiVersion", "v1"},
                              {"kind", "Secret"},
                              {"metadata", {{"name", name}}},
                              {"data", encoded}})
                    .ok());
  }
  void CreateSecrets() {
    CreateSecret("chatcli-api-keys", {{"ANTHROPIC_API_KEY", "sk-ant-test\n"}});
    CreateSecret("chatcli-server-token", {{"token", "s3cret-token\n"}});
    CreateSecret("chatcli-tls", {{"tls.crt", "CERT"}, {"tls.key", "KEY"}, {"ca.crt", "CA PEM"}});
  }

  Json Create(const Json& instance) {
    absl::StatusOr<Json> created = client_->Create(
        fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/instances", ns_), instance);
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : Json();
  }
  void PatchSpec(const Json& patch, const std::string& name = "chatcli") {
    ASSERT_TRUE(
        client_->Patch(InstancePath(name), {{"spec", patch}}, "application/merge-patch+json").ok());
  }
  Json Get(const std::string& path) {
    absl::StatusOr<Json> got = client_->Get(path);
    EXPECT_TRUE(got.ok()) << path << ": " << got.status();
    return got.ok() ? *got : Json();
  }
  bool Exists(const std::string& path) {
    absl::StatusOr<Json> got = client_->Get(path);
    return got.ok() && At(At(*got, "metadata"), "deletionTimestamp").is_null();
  }
  // resourceVersion (generation for the Deployment, whose status the controller keeps writing)
  // of every object of the Instance.
  std::map<std::string, std::string> Versions() {
    std::map<std::string, std::string> out;
    for (const std::string& path :
         {Path("/api/v1", ns_, "serviceaccounts", "chatcli"),
          Path("/api/v1", ns_, "configmaps", "chatcli"),
          Path("/api/v1", ns_, "configmaps", "chatcli-watch-config"),
          Path("/api/v1", ns_, "services", "chatcli"),
          Path("/api/v1", ns_, "persistentvolumeclaims", "chatcli-sessions"),
          Path("/apis/rbac.authorization.k8s.io/v1", ns_, "roles", "chatcli-watcher"),
          Path("/apis/rbac.authorization.k8s.io/v1", ns_, "rolebindings", "chatcli-watcher"),
          Path("/apis/rbac.authorization.k8s.io/v1", other_, "roles", ns_ + "-chatcli-watcher"),
          Path("/apis/rbac.authorization.k8s.io/v1", other_, "rolebindings",
               ns_ + "-chatcli-watcher"),
          InstancePath()}) {
      out[path] = Get(path)["metadata"].value("resourceVersion", "");
    }
    const Json d = Get(Path("/apis/apps/v1", ns_, "deployments", "chatcli"));
    out["deployment generation"] = std::to_string(IntAt(At(d, "metadata"), "generation"));
    return out;
  }
  std::string TemplateHash() {
    const Json d = Get(Path("/apis/apps/v1", ns_, "deployments", "chatcli"));
    return StrAt(At(At(At(At(d, "spec"), "template"), "metadata"), "annotations"),
                 kAnnotationConfigHash);
  }
  Json Condition(const Json& instance, const std::string& type) {
    for (const Json& c : At(At(instance, "status"), "conditions")) {
      if (StrAt(c, "type") == type) {
        return c;
      }
    }
    return Json();
  }

  static inline int counter_ = 0;
  std::unique_ptr<KubeClient> client_;
  std::string ns_;
  std::string other_;
  common::FakeClock clock_{absl::FromUnixSeconds(1'771'276'354)};
  int submitted_ = 0;
  v1::Event last_submitted_;
  InstanceReconciler::Submit submit_ = [this](v1::Event e) -> absl::StatusOr<uint64_t> {
    ++submitted_;
    last_submitted_ = std::move(e);
    return 1;
  };
};

TEST_F(InstanceReconcilerTest, CreatesEveryObjectWithOwnerReferences) {
  CreateSecrets();
  const Json created = Create(Instance());
  const std::string uid = created["metadata"]["uid"];
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());

  auto owned = [&](const std::string& path) {
    const Json o = Get(path);
    const Json& refs = At(At(o, "metadata"), "ownerReferences");
    ASSERT_TRUE(refs.is_array() && refs.size() == 1) << path << " " << o.dump();
    EXPECT_EQ("Instance", refs[0]["kind"]);
    EXPECT_EQ("chatcli", refs[0]["name"]);
    EXPECT_EQ(uid, refs[0]["uid"]);
    EXPECT_EQ(true, refs[0]["controller"]);
    EXPECT_EQ(true, refs[0]["blockOwnerDeletion"]);
    EXPECT_EQ("chatcli-aiops", o["metadata"]["labels"][kLabelManagedBy]);
  };
  owned(Path("/api/v1", ns_, "serviceaccounts", "chatcli"));
  owned(Path("/api/v1", ns_, "configmaps", "chatcli"));
  owned(Path("/api/v1", ns_, "configmaps", "chatcli-watch-config"));
  owned(Path("/api/v1", ns_, "services", "chatcli"));
  owned(Path("/api/v1", ns_, "persistentvolumeclaims", "chatcli-sessions"));
  owned(Path("/apis/rbac.authorization.k8s.io/v1", ns_, "roles", "chatcli-watcher"));
  owned(Path("/apis/rbac.authorization.k8s.io/v1", ns_, "rolebindings", "chatcli-watcher"));
  owned(Path("/apis/apps/v1", ns_, "deployments", "chatcli"));

  // The other target namespace: a Role and binding for the Instance's ServiceAccount, found by
  // label (owner references cannot cross namespaces).
  const Json foreign = Get(
      Path("/apis/rbac.authorization.k8s.io/v1", other_, "rolebindings", ns_ + "-chatcli-watcher"));
  EXPECT_FALSE(At(foreign["metadata"], "ownerReferences").is_array());
  EXPECT_EQ(ns_ + "/chatcli", foreign["metadata"]["annotations"][kAnnotationInstance]);
  EXPECT_EQ("chatcli", foreign["subjects"][0]["name"]);
  EXPECT_EQ(ns_, foreign["subjects"][0]["namespace"]);

  const Json env = Get(Path("/api/v1", ns_, "configmaps", "chatcli"));
  EXPECT_EQ("CLAUDEAI", env["data"]["LLM_PROVIDER"]);
  const Json watch = Get(Path("/api/v1", ns_, "configmaps", "chatcli-watch-config"));
  EXPECT_THAT(watch["data"]["watch-config.yaml"].get<std::string>(),
              HasSubstr("namespace: \"" + other_ + "\""));
  const Json service = Get(Path("/api/v1", ns_, "services", "chatcli"));
  EXPECT_NE("None", service["spec"]["clusterIP"]);
  EXPECT_FALSE(StrAt(service["spec"], "clusterIP").empty());

  const Json d = Get(Path("/apis/apps/v1", ns_, "deployments", "chatcli"));
  const Json& c = d["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ("ghcr.io/diillson/chatcli:latest", c["image"]);
  EXPECT_EQ("chatcli-server-token", c["env"][1]["valueFrom"]["secretKeyRef"]["name"]);
  EXPECT_EQ("chatcli-api-keys", c["envFrom"][1]["secretRef"]["name"]);
  EXPECT_EQ("grpc", c["readinessProbe"]["tcpSocket"]["port"]);
  EXPECT_EQ(16u, TemplateHash().size());

  const Json instance = Get(InstancePath());
  EXPECT_EQ(instance["metadata"]["generation"], instance["status"]["observedGeneration"]);
  EXPECT_EQ(TemplateHash(), instance["status"]["configHash"]);
  EXPECT_EQ(false, instance["status"]["ready"]);
  EXPECT_EQ("DeploymentNotReady", Condition(instance, "Available")["reason"]);
  EXPECT_EQ("True", Condition(instance, "Progressing")["status"]);
  // The first generation was observed and recorded in the log.
  EXPECT_EQ(1u, reconciler.stats().generations_observed);
  ASSERT_EQ(1, submitted_);
  EXPECT_EQ(instance["metadata"]["generation"].get<int64_t>(),
            last_submitted_.instance_spec_observed().generation());
  EXPECT_EQ(instance["metadata"]["uid"], last_submitted_.instance_spec_observed().uid());
}

TEST_F(InstanceReconcilerTest, SecondReconcileChangesNothing) {
  CreateSecrets();
  Create(Instance());
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  // Let kube-controller-manager settle the Deployment's status (its pods stay pending without a
  // kubelet), and let the Instance's status follow it once.
  const std::string deployment = Path("/apis/apps/v1", ns_, "deployments", "chatcli");
  ASSERT_TRUE(Eventually(
      [&] {
        const Json d = Get(deployment);
        return IntAt(At(d, "status"), "observedGeneration") == 1 &&
               IntAt(At(d, "status"), "updatedReplicas") == 1;
      },
      absl::Seconds(30)));
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const auto before = Versions();
  const InstanceReconciler::Stats first = reconciler.stats();
  clock_.Advance(absl::Minutes(5));  // later condition times must not be written either
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_EQ(before, Versions());
  EXPECT_EQ(first.status_writes, reconciler.stats().status_writes);
  EXPECT_EQ(1u, reconciler.stats().generations_observed);  // no new generation
  EXPECT_EQ(0u, reconciler.stats().deletes);
}

TEST_F(InstanceReconcilerTest, ScalingSwitchesTheServiceBetweenClusterIpAndHeadless) {
  CreateSecrets();
  Create(Instance());
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const std::string service_path = Path("/api/v1", ns_, "services", "chatcli");
  const Json first = Get(service_path);
  const std::string hash = TemplateHash();

  PatchSpec({{"replicas", 3}});
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const Json headless = Get(service_path);
  EXPECT_EQ("None", headless["spec"]["clusterIP"]);
  EXPECT_NE(first["metadata"]["uid"], headless["metadata"]["uid"]);  // recreated
  EXPECT_EQ(3, Get(Path("/apis/apps/v1", ns_, "deployments", "chatcli"))["spec"]["replicas"]);
  EXPECT_EQ(hash, TemplateHash());  // scaling does not roll the pods
  EXPECT_EQ(1u, reconciler.stats().service_recreations);
  EXPECT_EQ(2u, reconciler.stats().generations_observed);

  PatchSpec({{"replicas", 1}});
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const Json back = Get(service_path);
  EXPECT_NE("None", back["spec"]["clusterIP"]);
  EXPECT_FALSE(StrAt(back["spec"], "clusterIP").empty());
  EXPECT_NE(headless["metadata"]["uid"], back["metadata"]["uid"]);
  EXPECT_EQ(2u, reconciler.stats().service_recreations);
}

TEST_F(InstanceReconcilerTest, ConfigAndSecretChangesRollThePods) {
  CreateSecrets();
  Create(Instance());
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const std::string h1 = TemplateHash();

  PatchSpec({{"model", "claude-sonnet-4"}});
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_EQ("claude-sonnet-4",
            Get(Path("/api/v1", ns_, "configmaps", "chatcli"))["data"]["LLM_MODEL"]);
  const std::string h2 = TemplateHash();
  EXPECT_NE(h1, h2);
  EXPECT_EQ(h2, Get(InstancePath())["status"]["configHash"]);

  // A rotated token (a Secret the reconciler reads but does not own).
  ASSERT_TRUE(client_
                  ->Patch(Path("/api/v1", ns_, "secrets", "chatcli-server-token"),
                          {{"data", {{"token", B64("rotated")}}}}, "application/merge-patch+json")
                  .ok());
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_NE(h2, TemplateHash());
}

TEST_F(InstanceReconcilerTest, ObjectsLeavingTheDesiredSetAreDeleted) {
  CreateSecrets();
  Create(Instance());
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const std::string foreign_role =
      Path("/apis/rbac.authorization.k8s.io/v1", other_, "roles", ns_ + "-chatcli-watcher");
  const std::string foreign_binding =
      Path("/apis/rbac.authorization.k8s.io/v1", other_, "rolebindings", ns_ + "-chatcli-watcher");
  ASSERT_TRUE(Exists(foreign_role));

  // The target in the other namespace goes: so do its Role and RoleBinding.
  PatchSpec({{"watcher", {{"targets", {{{"deployment", "api-gateway"}, {"namespace", ns_}}}}}}});
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_FALSE(Exists(foreign_role));
  EXPECT_FALSE(Exists(foreign_binding));
  EXPECT_TRUE(Exists(Path("/apis/rbac.authorization.k8s.io/v1", ns_, "roles", "chatcli-watcher")));
  EXPECT_THAT(
      Get(Path("/api/v1", ns_, "configmaps", "chatcli-watch-config"))["data"]["watch-config.yaml"]
          .get<std::string>(),
      ::testing::Not(HasSubstr(other_)));

  // The watcher and persistence are switched off.
  PatchSpec({{"watcher", {{"enabled", false}}}, {"persistence", {{"enabled", false}}}});
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_FALSE(Exists(Path("/api/v1", ns_, "configmaps", "chatcli-watch-config")));
  EXPECT_FALSE(Exists(Path("/apis/rbac.authorization.k8s.io/v1", ns_, "roles", "chatcli-watcher")));
  EXPECT_FALSE(
      Exists(Path("/apis/rbac.authorization.k8s.io/v1", ns_, "rolebindings", "chatcli-watcher")));
  EXPECT_FALSE(Exists(Path("/api/v1", ns_, "persistentvolumeclaims", "chatcli-sessions")));
  EXPECT_TRUE(Exists(Path("/apis/apps/v1", ns_, "deployments", "chatcli")));
  // The pods no longer mount the watch config.
  const Json d = Get(Path("/apis/apps/v1", ns_, "deployments", "chatcli"));
  for (const Json& v : d["spec"]["template"]["spec"]["volumes"]) {
    EXPECT_NE("watch-config", v["name"]);
    EXPECT_NE("sessions", v["name"]);
  }
  // An object of the same kind that is not ours is never touched.
  ASSERT_TRUE(client_
                  ->Create(fmt::format("/api/v1/namespaces/{}/configmaps", ns_),
                           {{"apiVersion", "v1"},
                            {"kind", "ConfigMap"},
                            {"metadata", {{"name", "chatcli-watch-config-mine"}}}})
                  .ok());
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_TRUE(Exists(Path("/api/v1", ns_, "configmaps", "chatcli-watch-config-mine")));
}

TEST_F(InstanceReconcilerTest, StatusFollowsTheDeploymentsReadyPods) {
  CreateSecrets();
  Create(Instance());
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  EXPECT_EQ(false, Get(InstancePath())["status"]["ready"]);

  // No kubelet runs: the stand-in binds the pods and reports them ready.
  ASSERT_TRUE(Standin({"node"}).ok());
  const std::string deployment = Path("/apis/apps/v1", ns_, "deployments", "chatcli");
  ASSERT_TRUE(Eventually(
      [&] {
        EXPECT_TRUE(Standin({"run", ns_, "app.kubernetes.io/instance=chatcli"}).ok());
        return IntAt(At(Get(deployment), "status"), "readyReplicas") == 1;
      },
      absl::Seconds(60)));
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  const Json instance = Get(InstancePath());
  EXPECT_EQ(true, instance["status"]["ready"]);
  EXPECT_EQ(1, instance["status"]["readyReplicas"]);
  EXPECT_EQ(1, instance["status"]["replicas"]);
  const Json available = Condition(instance, "Available");
  EXPECT_EQ("True", available["status"]);
  EXPECT_EQ("DeploymentReady", available["reason"]);
  EXPECT_EQ("2026-02-16T21:13:34Z", available["lastTransitionTime"]);
  EXPECT_EQ("RolloutComplete", Condition(instance, "Progressing")["reason"]);

  // `kubectl get inst` prints the Ready column from the status.
  auto table = testing::ControlPlaneEnvironment::Get().Kubectl({"get", "inst", "-n", ns_});
  ASSERT_TRUE(table.ok());
  EXPECT_THAT(table->out, HasSubstr("true"));
}

TEST_F(InstanceReconcilerTest, MissingSecretsAndInvalidSpecsAreReportedInStatus) {
  Create(Instance());  // no Secrets yet
  InstanceReconciler reconciler(*client_, Options(), submit_);
  ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  Json progressing = Condition(Get(InstancePath()), "Progressing");
  EXPECT_EQ("False", progressing["status"]);
  EXPECT_EQ("SecretNotFound", progressing["reason"]);
  EXPECT_THAT(progressing["message"].get<std::string>(),
              HasSubstr("Secret " + ns_ + "/chatcli-tls (spec.server.tls.secretName) not found"));
  EXPECT_TRUE(Exists(Path("/apis/apps/v1", ns_, "deployments", "chatcli")));

  // The CRD accepts TLS without a secretName; the reconciler does not.
  PatchSpec({{"server", {{"tls", {{"secretName", nullptr}}}}}});
  absl::Status bad = reconciler.Reconcile(ns_, "chatcli");
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, bad.code());
  progressing = Condition(Get(InstancePath()), "Progressing");
  EXPECT_EQ("InvalidSpec", progressing["reason"]);
  EXPECT_THAT(progressing["message"].get<std::string>(), HasSubstr("spec.server.tls.secretName"));
}

TEST_F(InstanceReconcilerTest, BackgroundLoopReconcilesAndCleansUpAfterDeletion) {
  CreateSecrets();
  InstanceReconciler::Options options = Options();
  options.namespace_name = ns_;
  InstanceReconciler reconciler(*client_, options, submit_);
  reconciler.Start();
  ASSERT_TRUE(reconciler.WaitForSync(absl::Seconds(30)));
  Create(Instance());
  const std::string deployment = Path("/apis/apps/v1", ns_, "deployments", "chatcli");
  const std::string foreign_role =
      Path("/apis/rbac.authorization.k8s.io/v1", other_, "roles", ns_ + "-chatcli-watcher");
  ASSERT_TRUE(
      Eventually([&] { return Exists(deployment) && Exists(foreign_role); }, absl::Seconds(30)));
  ASSERT_TRUE(Eventually(
      [&] { return IntAt(At(Get(InstancePath()), "status"), "observedGeneration") == 1; },
      absl::Seconds(30)));

  // A spec change reaches the cluster through the watch.
  PatchSpec({{"replicas", 2}});
  ASSERT_TRUE(Eventually(
      [&] {
        absl::StatusOr<Json> s = client_->Get(Path("/api/v1", ns_, "services", "chatcli"));
        return s.ok() && StrAt(At(*s, "spec"), "clusterIP") == "None";
      },
      absl::Seconds(30)));

  // Someone deletes an owned object: it comes back.
  ASSERT_TRUE(client_->Delete(Path("/api/v1", ns_, "configmaps", "chatcli")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(Path("/api/v1", ns_, "configmaps", "chatcli")); },
                         absl::Seconds(30)));

  // The Instance goes: the garbage collector takes the owned objects, the sweep the others.
  ASSERT_TRUE(client_->Delete(InstancePath()).ok());
  EXPECT_TRUE(Eventually([&] { return !Exists(foreign_role); }, absl::Seconds(30)));
  EXPECT_TRUE(Eventually([&] { return !Exists(deployment); }, absl::Seconds(60)));
  EXPECT_TRUE(reconciler.WaitIdle(absl::Seconds(30)));
  reconciler.Stop();
  EXPECT_EQ(static_cast<int>(reconciler.stats().generations_observed), submitted_);
}

// Owner references, proved by the garbage collector alone: the Instance is deleted while no
// reconciler runs, so nothing but kube-controller-manager can remove the objects of its
// namespace. The objects in the other target namespace carry no owner reference (they cannot
// cross namespaces): they stay until a reconciler starts and its start-up sweep finds them.
TEST_F(InstanceReconcilerTest, GarbageCollectorTakesOwnedObjectsAndStartupSweepTheRest) {
  CreateSecrets();
  Create(Instance());
  {
    InstanceReconciler reconciler(*client_, Options(), submit_);
    ASSERT_TRUE(reconciler.Reconcile(ns_, "chatcli").ok());
  }
  const std::vector<std::string> owned = {
      Path("/apis/apps/v1", ns_, "deployments", "chatcli"),
      Path("/api/v1", ns_, "services", "chatcli"),
      Path("/api/v1", ns_, "configmaps", "chatcli"),
      Path("/api/v1", ns_, "configmaps", "chatcli-watch-config"),
      Path("/api/v1", ns_, "serviceaccounts", "chatcli"),
      Path("/api/v1", ns_, "persistentvolumeclaims", "chatcli-sessions"),
      Path("/apis/rbac.authorization.k8s.io/v1", ns_, "roles", "chatcli-watcher"),
      Path("/apis/rbac.authorization.k8s.io/v1", ns_, "rolebindings", "chatcli-watcher")};
  const std::vector<std::string> foreign = {
      Path("/apis/rbac.authorization.k8s.io/v1", other_, "roles", ns_ + "-chatcli-watcher"),
      Path("/apis/rbac.authorization.k8s.io/v1", other_, "rolebindings", ns_ + "-chatcli-watcher")};
  for (const std::string& path : owned) {
    ASSERT_TRUE(Exists(path)) << path;
  }
  for (const std::string& path : foreign) {
    ASSERT_TRUE(Exists(path)) << path;
  }

  ASSERT_TRUE(client_->Delete(InstancePath()).ok());
  ASSERT_TRUE(Eventually([&] { return !Exists(InstancePath()); }, absl::Seconds(30)));
  auto remaining = [&] {
    std::vector<std::string> left;
    for (const std::string& path : owned) {
      if (Exists(path)) {
        left.push_back(path);
      }
    }
    return left;
  };
  EXPECT_TRUE(Eventually([&] { return remaining().empty(); }, absl::Seconds(90)))
      << "not garbage-collected after the Instance was deleted: "
      << fmt::format("{}", fmt::join(remaining(), ", "));
  // The collector has finished with this owner; what it cannot reach is still there.
  for (const std::string& path : foreign) {
    EXPECT_TRUE(Exists(path)) << path << " has no owner reference and no reconciler ran";
  }

  InstanceReconciler::Options options = Options();
  options.namespace_name = ns_;
  InstanceReconciler reconciler(*client_, options, submit_);
  reconciler.Start();
  ASSERT_TRUE(reconciler.WaitForSync(absl::Seconds(30)));
  for (const std::string& path : foreign) {
    EXPECT_TRUE(Eventually([&] { return !Exists(path); }, absl::Seconds(30)))
        << path << " was not removed by the start-up sweep";
  }
  EXPECT_TRUE(reconciler.WaitIdle(absl::Seconds(30)));
  reconciler.Stop();
  EXPECT_GE(reconciler.stats().deletes, foreign.size());
}

// --- Instance and Secret lookups -----------------------------------------------------------

TEST_F(InstanceReconcilerTest, LooksUpTheEndpointWithCaAndToken) {
  CreateSecrets();
  Create(Instance());
  absl::StatusOr<InstanceEndpoint> endpoint = LookupInstanceEndpoint(*client_, ns_, "chatcli");
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ("chatcli", endpoint->name);
  EXPECT_EQ(ns_, endpoint->namespace_name);
  EXPECT_EQ(50051, endpoint->port);
  EXPECT_TRUE(endpoint->tls_enabled);
  EXPECT_EQ("CA PEM", endpoint->ca_pem);
  EXPECT_EQ("s3cret-token", endpoint->token);  // trailing newline removed
  EXPECT_EQ("CLAUDEAI", endpoint->provider);

  absl::StatusOr<InstanceEndpoint> by_ref = LookupInstanceEndpoint(*client_, ns_ + "/chatcli");
  ASSERT_TRUE(by_ref.ok());
  EXPECT_EQ("s3cret-token", by_ref->token);
  EXPECT_EQ(absl::StatusCode::kInvalidArgument,
            LookupInstanceEndpoint(*client_, "no-slash").status().code());

  absl::StatusOr<std::map<std::string, std::string>> keys =
      LookupInstanceApiKeys(*client_, ns_, "chatcli");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((std::map<std::string, std::string>{{"ANTHROPIC_API_KEY", "sk-ant-test"}}), *keys);
}

TEST_F(InstanceReconcilerTest, LookupErrorsNameTheMissingInstanceSecretOrKey) {
  absl::StatusOr<InstanceEndpoint> none = LookupInstanceEndpoint(*client_, ns_, "nope");
  EXPECT_EQ(absl::StatusCode::kNotFound, none.status().code());
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("Instance " + ns_ + "/nope"));

  Create(Instance());
  absl::StatusOr<InstanceEndpoint> no_tls = LookupInstanceEndpoint(*client_, ns_, "chatcli");
  EXPECT_EQ(absl::StatusCode::kNotFound, no_tls.status().code());
  EXPECT_THAT(std::string(no_tls.status().message()),
              HasSubstr("Secret " + ns_ + "/chatcli-tls not found"));
  EXPECT_THAT(std::string(no_tls.status().message()), HasSubstr("spec.server.tls.secretName"));

  CreateSecret("chatcli-tls", {{"tls.crt", "CERT"}, {"tls.key", "KEY"}});  // no ca.crt
  absl::StatusOr<InstanceEndpoint> no_token = LookupInstanceEndpoint(*client_, ns_, "chatcli");
  EXPECT_EQ(absl::StatusCode::kNotFound, no_token.status().code());
  EXPECT_THAT(std::string(no_token.status().message()),
              HasSubstr("Secret " + ns_ + "/chatcli-server-token not found"));

  CreateSecret("chatcli-server-token", {{"other", "x"}});
  absl::StatusOr<InstanceEndpoint> no_key = LookupInstanceEndpoint(*client_, ns_, "chatcli");
  EXPECT_EQ(absl::StatusCode::kNotFound, no_key.status().code());
  EXPECT_THAT(std::string(no_key.status().message()),
              HasSubstr("token Secret " + ns_ + "/chatcli-server-token has no key \"token\""));

  ASSERT_TRUE(client_
                  ->Patch(Path("/api/v1", ns_, "secrets", "chatcli-server-token"),
                          {{"data", {{"token", B64("t")}}}}, "application/merge-patch+json")
                  .ok());
  absl::StatusOr<InstanceEndpoint> ok = LookupInstanceEndpoint(*client_, ns_, "chatcli");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ("", ok->ca_pem);  // ca.crt is optional: the system roots verify the server

  absl::StatusOr<std::map<std::string, std::string>> no_keys_secret =
      LookupInstanceApiKeys(*client_, ns_, "chatcli");
  EXPECT_EQ(absl::StatusCode::kNotFound, no_keys_secret.status().code());
  EXPECT_THAT(std::string(no_keys_secret.status().message()),
              HasSubstr("Secret " + ns_ + "/chatcli-api-keys not found"));
  CreateSecret("chatcli-api-keys", {{"UNRELATED", "x"}});
  absl::StatusOr<std::map<std::string, std::string>> no_keys =
      LookupInstanceApiKeys(*client_, ns_, "chatcli");
  EXPECT_EQ(absl::StatusCode::kNotFound, no_keys.status().code());
  EXPECT_THAT(std::string(no_keys.status().message()),
              HasSubstr("has neither ANTHROPIC_API_KEY nor OPENAI_API_KEY"));

  PatchSpec({{"apiKeys", nullptr}});
  EXPECT_EQ(absl::StatusCode::kFailedPrecondition,
            LookupInstanceApiKeys(*client_, ns_, "chatcli").status().code());
}

TEST_F(InstanceReconcilerTest, EmptyRefPicksTheFirstReadyInstance) {
  // A namespace that sorts before every other test's (one of them has a ready Instance).
  ns_ = "aaa-ready";
  ASSERT_TRUE(
      client_
          ->Create("/api/v1/namespaces",
                   {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
          .ok());
  CreateSecrets();
  Create(Instance("b-server"));
  Create(Instance("a-server"));
  for (const char* name : {"a-server", "b-server"}) {
    ASSERT_TRUE(client_
                    ->Patch(InstancePath(name) + "/status",
                            {{"status", {{"ready", std::string(name) == "b-server"}}}},
                            "application/merge-patch+json")
                    .ok());
  }
  absl::StatusOr<InstanceEndpoint> picked = LookupInstanceEndpoint(*client_, "");
  ASSERT_TRUE(picked.ok()) << picked.status();
  EXPECT_EQ("b-server", picked->name);
  EXPECT_EQ(ns_, picked->namespace_name);
}

}  // namespace
}  // namespace aiops::k8s_sync
