#include "k8s_sync/informer.h"

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "k8s_sync/json_access.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

}  // namespace

std::string ObjectKey(const Json& object) {
  const std::string ns = StrAt(At(object, "metadata"), "namespace");
  const std::string name = StrAt(At(object, "metadata"), "name");
  return ns.empty() ? name : ns + "/" + name;
}

Informer::Informer(KubeClient& client, Options options, Handler handler)
    : client_(client),
      options_(std::move(options)),
      handler_(std::move(handler)),
      health_(options_.edge_name.empty() ? "watch " + options_.path : options_.edge_name,
              common::EdgeHealth::Options{.component = "informer", .clock = options_.clock}) {}

Informer::~Informer() { Stop(); }

void Informer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Informer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  watch_handle_.Cancel();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool Informer::WaitForSync(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto synced = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return synced_; };
  return mu_.AwaitWithTimeout(absl::Condition(&synced), timeout);
}

std::optional<Json> Informer::Get(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? std::nullopt : std::optional<Json>(it->second);
}

std::vector<Json> Informer::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<Json> out;
  out.reserve(cache_.size());
  for (const auto& [key, object] : cache_) {
    out.push_back(object);
  }
  return out;
}

void Informer::ForEach(const std::function<void(const Json& object)>& visit) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [key, object] : cache_) {
    visit(object);
  }
}

Informer::Stats Informer::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::string Informer::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

void Informer::SetResourceVersionForTest(const std::string& rv) {
  absl::MutexLock lock(&mu_);
  resource_version_ = rv;
}

void Informer::Apply(const std::string& type, const Json& object) {
  const std::string key = ObjectKey(object);
  {
    absl::MutexLock lock(&mu_);
    if (type == "DELETED") {
      cache_.erase(key);
    } else {
      cache_[key] = object;
    }
    const std::string rv = StrAt(At(object, "metadata"), "resourceVersion");
    if (!rv.empty()) {
      resource_version_ = rv;
    }
  }
  handler_(type, object);
}

absl::Status Informer::Relist() {
  absl::StatusOr<Json> list = client_.Get(options_.path);
  if (!list.ok()) {
    return list.status();
  }
  std::map<std::string, Json> fresh;
  if (list->contains("items") && (*list)["items"].is_array()) {
    for (const Json& item : (*list)["items"]) {
      fresh[ObjectKey(item)] = item;
    }
  }
  // Report what changed since the cache was last right, then swap the cache.
  std::vector<std::pair<std::string, Json>> changes;
  std::vector<std::string> listed;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, object] : cache_) {
      if (fresh.count(key) == 0) {
        changes.emplace_back("DELETED", object);
      }
    }
    for (const auto& [key, object] : fresh) {
      auto old = cache_.find(key);
      if (old == cache_.end()) {
        changes.emplace_back("ADDED", object);
      } else if (StrAt(At(old->second, "metadata"), "resourceVersion") !=
                 StrAt(At(object, "metadata"), "resourceVersion")) {
        changes.emplace_back("MODIFIED", object);
      }
    }
    if (options_.on_list) {  // the keys are copied only for someone who asked for them
      listed.reserve(fresh.size());
      for (const auto& entry : fresh) {
        listed.push_back(entry.first);  // sorted: the map's order
      }
    }
    cache_ = std::move(fresh);
    resource_version_ = StrAt(At(*list, "metadata"), "resourceVersion");
    ++stats_.lists;
  }
  for (const auto& [type, object] : changes) {
    handler_(type, object);
  }
  if (options_.on_list) {
    options_.on_list(listed);
  }
  absl::MutexLock lock(&mu_);
  synced_ = true;
  return absl::OkStatus();
}

absl::Status Informer::WatchOnce() {
  std::string rv;
  {
    absl::MutexLock lock(&mu_);
    rv = resource_version_;
    ++stats_.watches;
  }
  const std::string path =
      fmt::format("{}{}watch=1&allowWatchBookmarks=true&timeoutSeconds={}&resourceVersion={}",
                  options_.path, options_.path.find('?') == std::string::npos ? "?" : "&",
                  absl::ToInt64Seconds(options_.watch_timeout), rv);
  return client_.Watch(
      path,
      [&](const Json& event) {
        const std::string type = event.contains("type") && event["type"].is_string()
                                     ? event["type"].get<std::string>()
                                     : "";
        const Json& object = event.contains("object") ? event["object"] : Json::object();
        if (type == "BOOKMARK") {
          absl::MutexLock lock(&mu_);
          ++stats_.bookmarks;
          const std::string bookmark = StrAt(At(object, "metadata"), "resourceVersion");
          if (!bookmark.empty()) {
            resource_version_ = bookmark;
          }
        } else if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
          Apply(type, object);
        }
        return true;
      },
      options_.watch_timeout + absl::Seconds(30), &watch_handle_);
}

void Informer::Run() {
  bool need_list = true;
  int failures = 0;
  absl::Duration backoff = options_.retry_backoff;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        return;
      }
    }
    const bool listing = need_list;
    absl::Status status = listing ? Relist() : WatchOnce();
    if (status.ok()) {
      health_.Success();
      if (!listing) {
        absl::MutexLock lock(&mu_);
        ++stats_.clean_watch_ends;
      }
      need_list = false;
      failures = 0;
      backoff = options_.retry_backoff;
      continue;  // a clean end of a watch: resume from the last resourceVersion
    }
    if (status.code() == absl::StatusCode::kCancelled) {
      return;
    }
    absl::MutexLock lock(&mu_);
    if (IsKubeGone(status)) {
      ++stats_.gone;
      need_list = true;  // history compacted: the cache may have missed changes
      continue;
    }
    ++stats_.errors;
    health_.Failure(status, IsKubePermanent(status));
    if (++failures >= options_.failures_before_relist) {
      need_list = true;
    }
    // Back off, but wake at once when stopped.
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace aiops::k8s_sync
