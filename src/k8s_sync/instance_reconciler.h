// The Instance reconciler (DESIGN.md §7; seed §"Resources Created per Instance", §"gRPC Load
// Balancing"; upstream §4): for each platform.chatcli.io Instance it keeps the ChatCLI server's
// Deployment, Service (headless when replicas > 1), env and watch-config ConfigMaps,
// ServiceAccount, watcher Role + RoleBinding per target namespace and optional sessions PVC in
// the cluster with server-side apply (field manager chatcli-aiops), and writes the Instance's
// status through the status subresource. Level-based: each reconcile computes the whole desired
// set from the Instance and deletes labelled objects outside it. The pure desired-state builders
// are exposed for unit tests. Depends on the Kubernetes client and the event proto only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>
#include <nlohmann/json.hpp>

#include "aiops/v1/events.pb.h"
#include "common/clock.h"
#include "k8s_sync/informer.h"
#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

// Labels on every object the reconciler writes: the first two select the pods; managed-by is
// the informers' selector; the last two (label-safe values) select an Instance's objects for
// the sweep, and the annotation carries the exact "namespace/name" of the owning Instance.
inline constexpr char kLabelAppName[] = "app.kubernetes.io/name";
inline constexpr char kLabelAppInstance[] = "app.kubernetes.io/instance";
inline constexpr char kLabelManagedBy[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "chatcli-aiops";
inline constexpr char kLabelInstance[] = "platform.chatcli.io/instance";
inline constexpr char kLabelInstanceNamespace[] = "platform.chatcli.io/instance-namespace";
inline constexpr char kAnnotationInstance[] = "platform.chatcli.io/instance";
// On the pod template (and status.configHash): rolls the pods when the env or watch ConfigMap,
// or a referenced Secret (API keys, token, TLS) changes.
inline constexpr char kAnnotationConfigHash[] = "platform.chatcli.io/config-hash";

// One target of the ChatCLI watcher (spec.watcher.targets[], or the legacy single
// spec.watcher.deployment/namespace).
struct WatchTarget {
  std::string name;
  std::string kind = "Deployment";
  std::string namespace_name;
  int32_t metrics_port = 0;  // 0: none
  std::string metrics_path;
  std::vector<std::string> metrics_filter;
};

// An Instance's spec with the CRD's defaults filled in and validated.
struct InstanceSpec {
  std::string name;
  std::string namespace_name;
  std::string uid;
  int64_t generation = 0;
  std::string provider;
  std::string model;
  int32_t replicas = 1;
  std::string image;  // repository:tag
  std::string pull_policy = "IfNotPresent";
  int32_t port = 50051;
  int32_t metrics_port = 9090;  // 0: no metrics port
  bool tls_enabled = false;
  std::string tls_secret;
  std::string token_secret;  // "" when the server runs without a token
  std::string token_key = "token";
  std::string api_keys_secret;
  bool watcher_enabled = false;
  std::string watch_interval = "30s";
  std::string watch_window = "2h";
  int32_t watch_max_log_lines = 100;
  int32_t watch_max_context_chars = 32000;
  std::vector<WatchTarget> targets;
  nlohmann::json resources;         // core ResourceRequirements, or null
  nlohmann::json security_context;  // PodSecurityContext, or null (the default is used)
  nlohmann::json extra_env;         // array of EnvVar, or null
  bool persistence_enabled = false;
  std::string persistence_size = "1Gi";
  std::string storage_class;
};

// Reads and validates an Instance object (JSON from the API server). `default_image_tag` is used
// when spec.image.tag is empty. kInvalidArgument naming the field that is wrong.
absl::StatusOr<InstanceSpec> ParseInstanceSpec(const nlohmann::json& instance,
                                               const std::string& default_image_tag = "latest");

// The resourceVersions of the Secrets an Instance names ("" when absent or not named); they
// enter the config hash.
struct SecretVersions {
  std::string api_keys;
  std::string token;
  std::string tls;
};

// One object of the desired set.
struct DesiredObject {
  std::string api_version;  // "v1", "apps/v1", "rbac.authorization.k8s.io/v1"
  std::string kind;
  std::string plural;  // "deployments"
  std::string namespace_name;
  std::string name;
  nlohmann::json object;     // the apply body
  bool create_only = false;  // created when missing, never updated (the sessions PVC)
  // Collection path, e.g. "/apis/apps/v1/namespaces/ns/deployments".
  std::string CollectionPath() const;
  std::string Path() const { return CollectionPath() + "/" + name; }
};

struct DesiredState {
  std::string config_hash;  // 16 hex
  bool headless = false;    // the Service has clusterIP None (replicas > 1)
  // In apply order: ServiceAccount, Roles, RoleBindings, ConfigMaps, PVC, Service, Deployment.
  std::vector<DesiredObject> objects;
};

// The env ConfigMap's data (LLM_PROVIDER, LLM_MODEL, CHATCLI_SERVER_PORT, watcher settings).
nlohmann::json EnvConfigData(const InstanceSpec& spec);
// The watch-config YAML (key watch-config.yaml of <name>-watch-config); "" without targets.
std::string WatchConfigYaml(const InstanceSpec& spec);
// First 16 hex of SHA-256 over the env data, the watch YAML and the Secret versions.
std::string ConfigHash(const InstanceSpec& spec, const SecretVersions& secrets);
// The whole desired set of an Instance.
DesiredState BuildDesiredState(const InstanceSpec& spec, const SecretVersions& secrets);

// The Instance status from the live Deployment (null when it does not exist yet), keeping each
// condition's lastTransitionTime from `previous_status` while its status is unchanged so that a
// repeated reconcile writes nothing. `problem` (empty when none) is the reason the last
// reconcile could not finish, shown in the Progressing condition with reason `problem_reason`.
nlohmann::json BuildInstanceStatus(const InstanceSpec& spec, const std::string& config_hash,
                                   const nlohmann::json& deployment,
                                   const nlohmann::json& previous_status, absl::Time now,
                                   const std::string& problem_reason = "",
                                   const std::string& problem = "");

// The event recorded when a new generation of an Instance's spec is observed: an ignorable
// InstanceSpecObserved audit record (docs/instance.md). Always a value today; optional so that
// a spec that needs no record can return none.
std::optional<v1::Event> InstanceSpecEvent(const InstanceSpec& spec, const nlohmann::json& instance,
                                           absl::Time now);

class InstanceReconciler {
 public:
  using Submit = std::function<absl::StatusOr<uint64_t>(v1::Event)>;

  struct Options {
    std::string namespace_name;  // Instances of this namespace only; "" for the whole cluster
    std::string default_image_tag = "latest";
    // Every Instance is reconciled again this often: referenced Secrets are read, not watched
    // (the operator keeps no cache of the cluster's Secrets), so a rotated Secret rolls the pods
    // within this period.
    absl::Duration resync_period = absl::Seconds(60);
    absl::Duration initial_backoff = absl::Seconds(1);  // a failed reconcile is retried
    absl::Duration max_backoff = absl::Seconds(60);
    common::Clock* clock = nullptr;  // condition times; defaults to the system clock
    // Called on the worker thread when a queued reconcile fails (the daemon logs it); the
    // Instance is retried after `retry_in`.
    std::function<void(const std::string& key, const absl::Status& status, absl::Duration retry_in)>
        on_error;
  };
  struct Stats {
    uint64_t reconciles = 0;
    uint64_t failures = 0;
    uint64_t applies = 0;
    uint64_t deletes = 0;
    uint64_t service_recreations = 0;
    uint64_t status_writes = 0;
    uint64_t generations_observed = 0;  // new spec generations seen
    uint64_t events_submitted = 0;
  };

  // `client` must outlive the reconciler. `submit` (may be empty) appends an event to the log.
  InstanceReconciler(KubeClient& client, Options options, Submit submit);
  ~InstanceReconciler();
  InstanceReconciler(const InstanceReconciler&) = delete;
  InstanceReconciler& operator=(const InstanceReconciler&) = delete;
  InstanceReconciler(InstanceReconciler&&) = delete;
  InstanceReconciler& operator=(InstanceReconciler&&) = delete;

  // Starts the informers (Instances and the labelled objects of every owned kind) and the worker
  // thread that reconciles queued Instances one at a time.
  void Start();
  // Stops the worker and the informers; returns promptly. Idempotent.
  void Stop();
  bool WaitForSync(absl::Duration timeout) const;
  // Blocks until the queue is empty and no reconcile runs (tests).
  bool WaitIdle(absl::Duration timeout) const;

  // One synchronous reconcile of Instance `namespace_name/name`, whether or not Start ran. An
  // Instance that no longer exists has an empty desired set: its labelled objects are deleted
  // (those in other namespaces have no owner reference for the garbage collector). Errors of the
  // API server are returned (kUnavailable and friends: the worker retries with back-off). An
  // invalid spec is reported in the Instance's status (Progressing False, reason InvalidSpec) and
  // returned as kInvalidArgument, which the worker does not retry: the next generation is queued
  // by the watch.
  absl::Status Reconcile(const std::string& namespace_name, const std::string& name);

  // Queues "namespace/name" for the worker.
  void Enqueue(const std::string& key);

  Stats stats() const;

 private:
  absl::Status ReconcileInstance(const nlohmann::json& instance);
  absl::Status ApplyObject(const DesiredObject& desired, nlohmann::json* live);
  absl::Status EnsureServiceShape(const DesiredObject& service, bool headless);
  absl::Status Sweep(const std::string& namespace_name, const std::string& name,
                     const std::set<std::string>& keep);
  absl::Status WriteStatus(const nlohmann::json& instance, const nlohmann::json& status);
  void OnOwnedObject(const nlohmann::json& object);
  void Work();
  void Count(uint64_t Stats::*field, uint64_t n = 1);
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  KubeClient& client_;
  const Options options_;
  const Submit submit_;
  common::Clock& clock_;

  std::vector<std::unique_ptr<Informer>> informers_;
  Informer* instances_ = nullptr;  // one of informers_
  std::thread worker_;

  mutable absl::Mutex mu_;
  std::set<std::string> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> retry_at_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> seen_generation_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aiops::k8s_sync
