// An informer (DESIGN.md §7): keeps a local cache of one kind of object in sync with the API
// server by list + watch from the list's resourceVersion, with bookmarks. A watch the server
// ends cleanly is resumed from the last resourceVersion; 410 Gone (history compacted) relists;
// connection errors (an API server restart) are retried with back-off, relisting after repeated
// failures. Every change reaches the handler once, in order, as ADDED, MODIFIED or DELETED;
// a relist reports what changed while the watch was down. The handler runs on the informer's
// thread and must not block for long. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/edge_health.h"
#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

class Informer {
 public:
  struct Options {
    std::string path;  // list path, e.g. "/apis/apps/v1/namespaces/ns/deployments"
    absl::Duration watch_timeout = absl::Minutes(5);  // the server ends each watch by then
    absl::Duration retry_backoff = absl::Milliseconds(500);
    absl::Duration max_backoff = absl::Seconds(10);
    int failures_before_relist = 3;
    // Called after every list (the first and each relist), once the handler has seen what the
    // list changed, with the key (ObjectKey) of every object listed, sorted: lets a user find
    // what it holds that the cluster no longer has, which no DELETED reports when the object
    // went away before this informer's first list.
    std::function<void(const std::vector<std::string>& keys)> on_list = nullptr;
    // The name its health is reported under (common/edge_health.h; default "watch " + path):
    // a failed list or watch is a failure (a Forbidden one is said as an error naming the
    // missing permission), a list or a cleanly ended watch a success.
    std::string edge_name = "";
    common::Clock* clock = nullptr;  // for the health reports' timing (default: system clock)
  };
  using Handler = std::function<void(const std::string& type, const nlohmann::json& object)>;

  // `client` must outlive the informer.
  Informer(KubeClient& client, Options options, Handler handler);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;
  Informer(Informer&&) = delete;
  Informer& operator=(Informer&&) = delete;

  void Start();
  void Stop();  // returns promptly: the running watch is cancelled
  // True once the first list is in the cache.
  bool WaitForSync(absl::Duration timeout) const;

  // The cached object "namespace/name" (or "name" for cluster-scoped kinds).
  std::optional<nlohmann::json> Get(const std::string& key) const;
  std::vector<nlohmann::json> List() const;
  // Calls `visit` on every cached object in key order, under the cache's lock and without a
  // copy (List copies every object). `visit` must be quick and must not call this informer.
  void ForEach(const std::function<void(const nlohmann::json& object)>& visit) const;

  // Counters since Start() (cheap; also what metrics read). A watch the server ends cleanly
  // (timeoutSeconds) counts in clean_watch_ends and is followed by a watch, not a list.
  struct Stats {
    int lists = 0;
    int watches = 0;
    int clean_watch_ends = 0;
    int bookmarks = 0;  // BOOKMARK events: each moves resource_version() forward
    int gone = 0;
    int errors = 0;
  };
  Stats stats() const;
  // The resourceVersion the next watch starts from (the last list, event or bookmark).
  std::string resource_version() const;
  const common::EdgeHealth& health() const { return health_; }

  // Makes the next watch start from `rv` (to provoke 410 Gone in tests).
  void SetResourceVersionForTest(const std::string& rv);

 private:
  void Run();
  absl::Status Relist();
  absl::Status WatchOnce();
  void Apply(const std::string& type, const nlohmann::json& object);

  KubeClient& client_;
  const Options options_;
  const Handler handler_;
  WatchHandle watch_handle_;
  common::EdgeHealth health_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::map<std::string, nlohmann::json> cache_ ABSL_GUARDED_BY(mu_);
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

// "namespace/name", or "name" for cluster-scoped objects.
std::string ObjectKey(const nlohmann::json& object);

}  // namespace aiops::k8s_sync
