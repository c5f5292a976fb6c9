// Proves the test control plane is a real Kubernetes: CRDs, custom objects with list and watch,
// the controller manager reconciling Deployments, and authentication and authorization.
#include <algorithm>
#include <filesystem>
#include <string>
#include <thread>

#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>
#include <absl/time/clock.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/control_plane_environment.h"
#include "support/kube_test_client.h"
#include "support/subprocess.h"
#include <signal.h>
#include <unistd.h>

namespace aiops::testing {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kCrd[] = R"(
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: probes.harness.aiops.test
spec:
  group: harness.aiops.test
  scope: Namespaced
  names: {plural: probes, singular: probe, kind: Probe, shortNames: [prb]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              message: {type: string}
)";

const ControlPlaneInfo& Cp() { return ControlPlaneEnvironment::Get().Info(); }

Json Probe(const std::string& name, const std::string& message) {
  return {{"apiVersion", "harness.aiops.test/v1"},
          {"kind", "Probe"},
          {"metadata", {{"name", name}}},
          {"spec", {{"message", message}}}};
}

// Polls `condition` every 250 ms until it holds or `timeout` passes.
template <typename F>
bool Eventually(F condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  return condition();
}

TEST(ControlPlaneTest, ServesThePinnedVersionToServerAndKubectl) {
  KubeTestClient client(Cp(), KubeTestClient::Auth::kToken);
  auto version = client.Get("/version");
  ASSERT_TRUE(version.ok()) << version.status();
  ASSERT_EQ(200, version->status) << version->body;
  const std::string server_version = version->json.value("gitVersion", "");
  EXPECT_THAT(server_version, ::testing::StartsWith("v1."));

  auto kubectl = ControlPlaneEnvironment::Get().Kubectl({"version", "-o", "json"});
  ASSERT_TRUE(kubectl.ok()) << kubectl.status();
  ASSERT_EQ(0, kubectl->exit_code) << kubectl->err;
  const Json v = Json::parse(kubectl->out, nullptr, false);
  ASSERT_FALSE(v.is_discarded()) << kubectl->out;
  EXPECT_EQ(server_version, v["clientVersion"]["gitVersion"]);
  EXPECT_EQ(server_version, v["serverVersion"]["gitVersion"]);
}

TEST(ControlPlaneTest, AppliesACrdThenCreatesListsAndWatchesCustomObjects) {
  ControlPlane& cp = ControlPlaneEnvironment::Get();
  auto applied = cp.Kubectl({"apply", "-f", "-"}, kCrd);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_EQ(0, applied->exit_code) << applied->err;
  auto established = cp.Kubectl(
      {"wait", "--for=condition=Established", "--timeout=60s", "crd/probes.harness.aiops.test"});
  ASSERT_TRUE(established.ok()) << established.status();
  ASSERT_EQ(0, established->exit_code) << established->err;

  KubeTestClient client(Cp(), KubeTestClient::Auth::kToken);
  const std::string collection = "/apis/harness.aiops.test/v1/namespaces/default/probes";
  // The new resource can take a moment to be served after Established.
  ASSERT_TRUE(Eventually(
      [&] {
        auto r = client.Post(collection, Probe("first", "hello"));
        return r.ok() && r->status == 201;
      },
      absl::Seconds(30)));

  auto list = client.Get(collection);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(200, list->status) << list->body;
  ASSERT_EQ(1U, list->json["items"].size());
  EXPECT_EQ("hello", list->json["items"][0]["spec"]["message"]);
  const std::string list_rv = list->json["metadata"]["resourceVersion"];

  auto second = client.Post(collection, Probe("second", "world"));
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(201, second->status) << second->body;
  auto deleted = client.Delete(collection + "/first");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  ASSERT_EQ(200, deleted->status) << deleted->body;

  // A watch from the list's resourceVersion replays exactly what happened after the list.
  std::vector<std::string> seen;
  auto watched = client.Watch(
      absl::StrCat(collection, "?watch=1&allowWatchBookmarks=true&resourceVersion=", list_rv),
      [&](const Json& event) {
        const std::string type = event.value("type", "");
        if (type != "BOOKMARK") {
          seen.push_back(absl::StrCat(type, " ", event["object"]["metadata"].value("name", "")));
        }
        return seen.size() < 2;
      },
      absl::Seconds(30));
  ASSERT_TRUE(watched.ok()) << watched.status();
  EXPECT_THAT(seen, ::testing::ElementsAre("ADDED second", "DELETED first"));

  // kubectl sees the custom object under its short name.
  auto get = cp.Kubectl({"get", "prb", "-o", "name"});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ("probe.harness.aiops.test/second\n", get->out) << get->err;
}

TEST(ControlPlaneTest, ControllerManagerCreatesReplicaSetAndPodsForADeployment) {
  KubeTestClient client(Cp(), KubeTestClient::Auth::kClientCert);
  auto ns = client.Post(
      "/api/v1/namespaces",
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "rollout"}}}});
  ASSERT_TRUE(ns.ok()) << ns.status();
  ASSERT_EQ(201, ns->status) << ns->body;

  const Json deployment = {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", {{"name", "web"}}},
      {"spec",
       {{"replicas", 2},
        {"selector", {{"matchLabels", {{"app", "web"}}}}},
        {"template",
         {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec", {{"containers", {{{"name", "web"}, {"image", "nginx:1.27"}}}}}}}}}}};
  auto created = client.Post("/apis/apps/v1/namespaces/rollout/deployments", deployment);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(201, created->status) << created->body;
  const std::string deployment_uid = created->json["metadata"]["uid"];

  std::string replicaset;
  ASSERT_TRUE(Eventually(
      [&] {
        auto rs = client.Get("/apis/apps/v1/namespaces/rollout/replicasets");
        if (!rs.ok() || rs->status != 200) {
          return false;
        }
        for (const Json& item : rs->json["items"]) {
          for (const Json& owner : item["metadata"].value("ownerReferences", Json::array())) {
            if (owner.value("uid", "") == deployment_uid && owner.value("controller", false)) {
              replicaset = item["metadata"]["name"];
              return true;
            }
          }
        }
        return false;
      },
      absl::Seconds(60)))
      << "kube-controller-manager created no ReplicaSet for the Deployment";

  size_t pods_owned = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        auto pods = client.Get("/api/v1/namespaces/rollout/pods?labelSelector=app%3Dweb");
        if (!pods.ok() || pods->status != 200) {
          return false;
        }
        pods_owned = 0;
        for (const Json& pod : pods->json["items"]) {
          for (const Json& owner : pod["metadata"].value("ownerReferences", Json::array())) {
            pods_owned += owner.value("name", "") == replicaset ? 1U : 0U;
          }
        }
        return pods_owned == 2;
      },
      absl::Seconds(60)))
      << "pods owned by " << replicaset << ": " << pods_owned;
}

TEST(ControlPlaneTest, WrongTokenIsRejectedWith401AndAClearStatus) {
  KubeTestClient client(Cp(), std::string("not-a-valid-token"));
  auto r = client.Get("/api/v1/namespaces");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(401, r->status);
  EXPECT_EQ("Status", r->json.value("kind", ""));
  EXPECT_EQ("Unauthorized", r->json.value("reason", ""));
  EXPECT_EQ(401, r->json.value("code", 0));

  // kubectl turns the same answer into an actionable message.
  ControlPlane& cp = ControlPlaneEnvironment::Get();
  auto kubectl = cp.Kubectl({"--token=not-a-valid-token", "get", "namespaces"});
  ASSERT_TRUE(kubectl.ok()) << kubectl.status();
  EXPECT_NE(0, kubectl->exit_code);
  EXPECT_THAT(kubectl->err, HasSubstr("You must be logged in to the server"));
}

TEST(ControlPlaneTest, RbacForbidsTheViewerAndAdmitsTokenAndCertificateAdmins) {
  KubeTestClient viewer(Cp(), KubeTestClient::Auth::kViewerToken);
  auto forbidden = viewer.Get("/api/v1/namespaces/kube-system/secrets");
  ASSERT_TRUE(forbidden.ok()) << forbidden.status();
  EXPECT_EQ(403, forbidden->status);
  EXPECT_THAT(forbidden->json.value("message", ""), HasSubstr("aiops-viewer"));

  for (auto auth : {KubeTestClient::Auth::kToken, KubeTestClient::Auth::kClientCert}) {
    KubeTestClient admin(Cp(), auth);
    auto ok = admin.Get("/api/v1/namespaces/kube-system/secrets");
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(200, ok->status) << ok->body;
  }

  // Anonymous requests get only the public health endpoints.
  KubeTestClient anonymous(Cp(), KubeTestClient::Auth::kNone);
  auto readyz = anonymous.Get("/readyz");
  ASSERT_TRUE(readyz.ok()) << readyz.status();
  EXPECT_EQ(200, readyz->status);
}

TEST(ControlPlaneTest, ApiServerRestartKeepsDataAndPort) {
  KubeTestClient client(Cp(), KubeTestClient::Auth::kToken);
  auto cm = client.Post("/api/v1/namespaces/default/configmaps",
                        {{"apiVersion", "v1"},
                         {"kind", "ConfigMap"},
                         {"metadata", {{"name", "survives-restart"}}},
                         {"data", {{"k", "v"}}}});
  ASSERT_TRUE(cm.ok()) << cm.status();
  ASSERT_EQ(201, cm->status) << cm->body;

  ASSERT_TRUE(ControlPlaneEnvironment::Get().RestartApiServer().ok());

  auto after = client.Get("/api/v1/namespaces/default/configmaps/survives-restart");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(200, after->status);
  EXPECT_EQ("v", after->json["data"]["k"]);
}

// A test process that dies without cleaning up (abort, kill -9) must leak no control-plane
// process: the script's watchdog stops them when the owner disappears.
TEST(ControlPlaneTest, WatchdogStopsEverythingWhenTheOwnerIsKilled) {
  const std::string dir =
      std::filesystem::temp_directory_path() / absl::StrCat("aiops-orphan-", getpid());
  // The owner is a detached `sleep`; the shell prints its PID once the control plane is up.
  auto run =
      RunProcess({"bash", "-c",
                  absl::StrCat("sleep 600 >/dev/null 2>&1 & owner=$!; bash '", ControlPlaneScript(),
                               "' start --no-controller-manager --dir '", dir,
                               "' --owner-pid $owner >/dev/null && echo $owner")});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(0, run->exit_code) << run->err;
  int owner = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(run->out), &owner)) << run->out;

  auto processes_using_dir = [&] {
    auto pgrep = RunProcess({"pgrep", "-f", "--", dir});
    return pgrep.ok() ? pgrep->out : std::string("pgrep failed");
  };
  // etcd, kube-apiserver and the watchdog run with the folder on their command lines.
  const std::string before = processes_using_dir();
  ASSERT_GE(std::count(before.begin(), before.end(), '\n'), 3) << before;

  ASSERT_EQ(0, kill(owner, SIGKILL));
  EXPECT_TRUE(Eventually([&] { return processes_using_dir().empty(); }, absl::Seconds(30)))
      << "still running: " << processes_using_dir();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace aiops::testing
