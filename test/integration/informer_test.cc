// The informer against a real API server started with a 1 s etcd compaction interval and no watch
// cache, so that an old resourceVersion is really compacted away (410 Gone): the cache follows
// every change, survives an API server restart, and relists after 410 without losing a change.
#include "k8s_sync/informer.h"

#include <fstream>
#include <sstream>
#include <vector>

#include <absl/time/clock.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/cluster_helpers.h"
#include "support/control_plane_environment.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

const testing::ControlPlaneInfo& Cp() { return testing::ControlPlaneEnvironment::Get().Info(); }

std::unique_ptr<KubeClient> Client() { return testing::AdminKubeClient(Cp()); }

using testing::Eventually;

struct Recorder {
  absl::Mutex mu;
  std::vector<std::string> events;
  void Add(const std::string& type, const Json& object) {
    absl::MutexLock lock(&mu);
    events.push_back(type + " " + object["metadata"]["name"].get<std::string>());
  }
  bool Has(const std::string& e) {
    absl::MutexLock lock(&mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  }
  std::vector<std::string> Snapshot() {
    absl::MutexLock lock(&mu);
    return events;
  }
};

Json ConfigMap(const std::string& name, const std::string& value) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"v", value}}}};
}

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = Client();
    ns_ = std::string("inf-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(ns_.begin(), ns_.end(), ns_.begin(), [](unsigned char c) {
      return std::isalnum(c) != 0 ? static_cast<char>(std::tolower(c)) : '-';
    });
    ns_ = ns_.substr(0, 50);
    ASSERT_TRUE(
        client_
            ->Create("/api/v1/namespaces",
                     {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns_}}}})
            .ok());
  }
  std::string Collection() const { return "/api/v1/namespaces/" + ns_ + "/configmaps"; }

  std::unique_ptr<KubeClient> client_;
  std::string ns_;
};

TEST_F(InformerTest, CacheFollowsCreatesUpdatesAndDeletes) {
  ASSERT_TRUE(client_->Create(Collection(), ConfigMap("before", "0")).ok());
  Recorder seen;
  Informer informer(*client_, {Collection()},
                    [&](const std::string& t, const Json& o) { seen.Add(t, o); });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(20)));
  EXPECT_TRUE(seen.Has("ADDED before"));
  for (const char* name : {"a", "b", "c"}) {
    ASSERT_TRUE(client_->Create(Collection(), ConfigMap(name, "1")).ok());
  }
  ASSERT_TRUE(
      client_->Patch(Collection() + "/b", {{"data", {{"v", "2"}}}}, "application/merge-patch+json")
          .ok());
  ASSERT_TRUE(client_->Delete(Collection() + "/c").ok());
  ASSERT_TRUE(Eventually([&] { return seen.Has("DELETED c"); }, absl::Seconds(20)));
  EXPECT_THAT(seen.Snapshot(), ::testing::ElementsAre("ADDED before", "ADDED a", "ADDED b",
                                                      "ADDED c", "MODIFIED b", "DELETED c"));
  EXPECT_EQ(3U, informer.List().size());
  std::vector<std::string> visited;  // ForEach: the same objects, in key order, in place
  informer.ForEach([&](const Json& o) {
    visited.push_back(o["metadata"]["name"].get<std::string>() + "=" +
                      o["data"]["v"].get<std::string>());
  });
  EXPECT_THAT(visited, ::testing::ElementsAre("a=1", "b=2", "before=0"));
  ASSERT_TRUE(informer.Get(ns_ + "/b").has_value());
  EXPECT_EQ("2", (*informer.Get(ns_ + "/b"))["data"]["v"]);
  EXPECT_FALSE(informer.Get(ns_ + "/c").has_value());
  informer.Stop();
}

// The informer asks the server to end each watch after timeoutSeconds (1 s here): each clean end
// is followed by a new watch from the last resourceVersion, never by a relist, and no change is
// missed across the gaps.
TEST_F(InformerTest, ACleanWatchEndIsReWatchedWithoutARelist) {
  Recorder seen;
  Informer::Options options{Collection()};
  options.watch_timeout = absl::Seconds(1);
  Informer informer(*client_, options,
                    [&](const std::string& t, const Json& o) { seen.Add(t, o); });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(20)));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client_->Create(Collection(), ConfigMap("w" + std::to_string(i), "1")).ok());
    ASSERT_TRUE(
        Eventually([&] { return informer.stats().clean_watch_ends > i; }, absl::Seconds(30)))
        << "watches " << informer.stats().watches;
  }
  ASSERT_TRUE(Eventually([&] { return seen.Has("ADDED w2"); }, absl::Seconds(20)));
  const Informer::Stats stats = informer.stats();
  EXPECT_EQ(1, stats.lists);
  EXPECT_GE(stats.watches, 4);
  EXPECT_EQ(0, stats.errors);
  EXPECT_EQ(0, stats.gone);
  EXPECT_THAT(seen.Snapshot(), ::testing::ElementsAre("ADDED w0", "ADDED w1", "ADDED w2"));
  informer.Stop();
}

TEST_F(InformerTest, RelistsAfterGoneWithoutLosingAChange) {
  Recorder seen;
  Informer::Options options{Collection()};
  options.watch_timeout = absl::Seconds(2);  // watches end often: a chance to inject a stale RV
  absl::Mutex lists_mu;
  std::vector<std::vector<std::string>> lists;  // the keys of each list, as on_list saw them
  options.on_list = [&](const std::vector<std::string>& keys) {
    absl::MutexLock lock(&lists_mu);
    lists.push_back(keys);
  };
  Informer informer(*client_, options,
                    [&](const std::string& t, const Json& o) { seen.Add(t, o); });
  ASSERT_TRUE(client_->Create(Collection(), ConfigMap("kept", "1")).ok());
  ASSERT_TRUE(client_->Create(Collection(), ConfigMap("doomed", "1")).ok());
  auto list = client_->Get(Collection());
  ASSERT_TRUE(list.ok());
  const std::string stale = (*list)["metadata"]["resourceVersion"];
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(20)));
  // Make history after `stale`, then let etcd compact it away.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_
                    ->Patch(Collection() + "/kept", {{"data", {{"v", std::to_string(i)}}}},
                            "application/merge-patch+json")
                    .ok());
  }
  absl::SleepFor(absl::Seconds(3));
  informer.SetResourceVersionForTest(stale);
  // The next watch starts from the compacted version: 410, relist.
  ASSERT_TRUE(Eventually([&] { return informer.stats().gone >= 1; }, absl::Seconds(30)))
      << "lists " << informer.stats().lists << " watches " << informer.stats().watches;
  ASSERT_TRUE(client_->Delete(Collection() + "/doomed").ok());
  ASSERT_TRUE(Eventually([&] { return seen.Has("DELETED doomed"); }, absl::Seconds(20)));
  EXPECT_GE(informer.stats().lists, 2);
  EXPECT_EQ("4", (*informer.Get(ns_ + "/kept"))["data"]["v"]);
  informer.Stop();
  // on_list saw every list (the first and the relist after 410), with every key, sorted.
  absl::MutexLock lock(&lists_mu);
  EXPECT_EQ(static_cast<size_t>(informer.stats().lists), lists.size());
  ASSERT_FALSE(lists.empty());
  EXPECT_THAT(lists[0], ::testing::ElementsAre(ns_ + "/doomed", ns_ + "/kept"));
}

TEST_F(InformerTest, SurvivesAnApiServerRestart) {
  Recorder seen;
  Informer informer(*client_, {Collection()},
                    [&](const std::string& t, const Json& o) { seen.Add(t, o); });
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(absl::Seconds(20)));
  ASSERT_TRUE(testing::ControlPlaneEnvironment::Get().RestartApiServer().ok());
  const absl::StatusOr<Json> created =
      client_->Create(Collection(), ConfigMap("after-restart", "1"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(Eventually([&] { return seen.Has("ADDED after-restart"); }, absl::Seconds(60)))
      << "errors " << informer.stats().errors;
  EXPECT_GE(informer.stats().watches, 2);
  const absl::Time before_stop = absl::Now();
  informer.Stop();
  EXPECT_LT(absl::Now() - before_stop, absl::Minutes(1));  // cancelled, not awaited (5 min)
}

}  // namespace
}  // namespace aiops::k8s_sync

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  aiops::testing::ControlPlaneOptions options;
  options.apiserver_args = {"--etcd-compaction-interval=1s", "--watch-cache=false"};
  options.controller_manager = false;
  ::testing::AddGlobalTestEnvironment(new aiops::testing::ControlPlaneEnvironment(options));
  return RUN_ALL_TESTS();
}
