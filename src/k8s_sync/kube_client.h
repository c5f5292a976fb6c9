// A Kubernetes REST client on cpp-httplib + OpenSSL + nlohmann/json (DESIGN.md §7,
// reference/k8s-control-plane.md §2): JSON requests, server-side apply, the status
// subresource, streaming watches. Client-side rate limit (token bucket), retries with
// exponential back-off on 429 (honouring Retry-After), 5xx and connection errors for idempotent
// requests, and errors a person can act on, classified by IsNotFound/IsConflict/IsGone/...
// Credentials are resolved per request: a token file is re-read when it changes (bound service
// account tokens rotate) and an exec plugin's credential (a token, or a client certificate and
// key) is cached until it expires.
// Thread-safe: unary requests share one keep-alive connection; each watch has its own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <absl/base/thread_annotations.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/edge_health.h"
#include "k8s_sync/kube_config.h"

namespace aiops::k8s_sync {

struct KubeClientOptions {
  double qps = 20;  // sustained requests per second (0: unlimited)
  int burst = 40;
  // Attempts per call for retryable failures: 429 (any method; waits Retry-After, capped at
  // max_backoff), 503 (any method), other 5xx but 501 and transport failures (time-out, reset)
  // for idempotent methods only (all but POST: a create is not repeated once it may have reached
  // the server), a refused connection (any method: nothing was sent). TLS verification
  // failures and other HTTP errors are not retried.
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration request_timeout = absl::Seconds(30);
  std::string user_agent = "chatcli-aiops";
  common::Clock* clock = nullptr;  // defaults to the system clock; must outlive the client
  // Waits for the rate limit and between attempts (default: absl::SleepFor). A test injects one
  // that advances a FakeClock, so the limiter and the back-off run without wall time.
  std::function<void(absl::Duration)> sleep;
  // Called after every attempt with the method (GET, POST, PUT, PATCH, DELETE, WATCH) and the
  // HTTP status (0: no response). For metrics; must be thread-safe and quick.
  std::function<void(const std::string& method, int status)> on_response;
  // The name this client's health is reported under (common/edge_health.h): a failed attempt
  // (no answer, a 5xx, a 401) is a failure, any other answer a success. Unique per process.
  std::string edge_name = "apiserver";
};

// How a failed request is classified (besides its absl code, from the Status reason that the
// client attaches as a payload). Named IsKube* to stay clear of absl::IsNotFound and friends.
bool IsKubeNotFound(const absl::Status& s);
bool IsKubeConflict(const absl::Status& s);       // 409 on update: re-read and retry
bool IsKubeAlreadyExists(const absl::Status& s);  // 409 on create
bool IsKubeGone(const absl::Status& s);           // 410: the resourceVersion is too old, relist
bool IsKubeForbidden(const absl::Status& s);
bool IsKubeUnauthorized(const absl::Status& s);
bool IsKubeInvalid(const absl::Status& s);  // 400/422: the request itself is wrong
// A failure that repeating the same request cannot fix (Forbidden, Unauthorized, Invalid): a
// person must change RBAC, credentials or configuration.
bool IsKubePermanent(const absl::Status& s);

// Lets another thread end a running watch at once (its connection is shut down); the watch then
// returns kCancelled. Thread-safe.
class WatchHandle {
 public:
  void Cancel();
  bool cancelled() const;

 private:
  friend class KubeClient;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  void* client_ ABSL_GUARDED_BY(mu_) = nullptr;  // the running watch's httplib client
};

class KubeClient {
 public:
  // kInvalidArgument for an unusable configuration (bad PEM data, non-https server without
  // the insecure flag is allowed only for http:// test servers).
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(const KubeConfig& config,
                                                            KubeClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;
  KubeClient(KubeClient&&) = delete;
  KubeClient& operator=(KubeClient&&) = delete;

  // `path` is the API path with query, e.g. "/apis/apps/v1/namespaces/ns/deployments/web".
  // `budget` (every call but Watch) bounds the whole call on the client's clock: rate-limit wait,
  // every attempt (each attempt's connect and read time-outs are cut to what is left) and the
  // back-off between them. When it runs out the call returns kDeadlineExceeded naming the server.
  // Without one a call may take max_attempts request time-outs plus back-off.
  absl::StatusOr<nlohmann::json> Get(const std::string& path,
                                     absl::Duration budget = absl::InfiniteDuration());
  absl::StatusOr<nlohmann::json> Create(const std::string& collection_path,
                                        const nlohmann::json& object,
                                        absl::Duration budget = absl::InfiniteDuration());
  absl::StatusOr<nlohmann::json> Replace(const std::string& path, const nlohmann::json& object,
                                         absl::Duration budget = absl::InfiniteDuration());
  // `content_type`: application/merge-patch+json, application/json-patch+json or
  // application/strategic-merge-patch+json.
  absl::StatusOr<nlohmann::json> Patch(const std::string& path, const nlohmann::json& patch,
                                       const std::string& content_type,
                                       absl::Duration budget = absl::InfiniteDuration());
  // Server-side apply of `object` (apiVersion, kind and metadata.name required) as
  // `field_manager`; `force` takes ownership of conflicting fields.
  absl::StatusOr<nlohmann::json> Apply(const std::string& path, const nlohmann::json& object,
                                       const std::string& field_manager, bool force = true,
                                       absl::Duration budget = absl::InfiniteDuration());
  absl::StatusOr<nlohmann::json> Delete(const std::string& path,
                                        absl::Duration budget = absl::InfiniteDuration());

  // Streams a watch (`path` must carry watch=1 and may carry resourceVersion,
  // allowWatchBookmarks, timeoutSeconds): `on_event` gets each event object ({"type",
  // "object"}) until it returns false or the server ends the watch. A clean end is OK; an ERROR
  // event carrying a 410 Status and an HTTP 410 are IsGone errors.
  absl::Status Watch(const std::string& path,
                     const std::function<bool(const nlohmann::json& event)>& on_event,
                     absl::Duration timeout, WatchHandle* handle = nullptr);

  const KubeConfig& config() const { return config_; }
  // Whether the API server answers (see KubeClientOptions::edge_name).
  const common::EdgeHealth& health() const { return health_; }

 private:
  class Transport;
  // A parsed client certificate and key (from an exec plugin's ExecCredential).
  class ClientIdentity;
  // What one request authenticates with: a bearer token (may be empty) and, when an exec
  // plugin supplied one, a client certificate that replaces the kubeconfig's.
  struct Credential {
    std::string token;
    std::shared_ptr<const ClientIdentity> identity;
  };

  KubeClient(KubeConfig config, KubeClientOptions options);
  absl::StatusOr<nlohmann::json> Request(const std::string& method, const std::string& path,
                                         const std::string& body, const std::string& content_type,
                                         bool idempotent,
                                         absl::Duration budget = absl::InfiniteDuration());
  absl::StatusOr<Credential> CurrentCredential();
  // Takes a token from the bucket, waiting for one; false (nothing taken) when the wait would
  // end after `deadline`.
  bool Throttle(absl::Time deadline = absl::InfiniteFuture());
  void Sleep(absl::Duration d) const;

  const KubeConfig config_;
  const KubeClientOptions options_;
  common::Clock& clock_;
  std::unique_ptr<Transport> transport_;
  common::EdgeHealth health_;

  absl::Mutex bucket_mu_;
  double tokens_ ABSL_GUARDED_BY(bucket_mu_) = 0;
  absl::Time refilled_at_ ABSL_GUARDED_BY(bucket_mu_);

  absl::Mutex credential_mu_;
  std::string file_token_ ABSL_GUARDED_BY(credential_mu_);
  absl::Time file_token_read_at_ ABSL_GUARDED_BY(credential_mu_) = absl::InfinitePast();
  Credential exec_credential_ ABSL_GUARDED_BY(credential_mu_);
  absl::Time exec_token_expires_ ABSL_GUARDED_BY(credential_mu_) = absl::InfinitePast();
};

}  // namespace aiops::k8s_sync
