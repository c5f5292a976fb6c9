// The configuration of `aiops run` (docs/operations.md): a JSON file, authoritative for the
// pipeline settings and the analyzer choice, overridden by flags for the process settings.
// Unknown keys and wrong types are errors naming the key, so a typo never silently falls back
// to a default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include "aiops/v1/config.pb.h"
#include "k8s_sync/detectors.h"

namespace aiops::server {

struct DaemonConfig {
  std::string cluster_id = "local";
  std::string data_dir = "/var/lib/chatcli-aiops";
  std::string grpc_listen = "0.0.0.0:50051";  // "" disables gRPC
  std::string http_listen = "0.0.0.0:8080";  // "" disables HTTP
  std::string auth_token_file;               // bearer token for gRPC and the webhook
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string kubeconfig;  // "" : in-cluster when in a pod, else $KUBECONFIG / ~/.kube/config
  std::string log_level = "info";

  struct LeaderElection {
    bool enabled = true;
    std::string namespace_name;  // "" : $POD_NAMESPACE, else "default"
    std::string lease_name = "chatcli-aiops-leader";
  } leader_election;

  k8s_sync::DetectorConfig watcher;

  struct Analyzer {
    std::string provider = "builtin";  // builtin | chatcli | anthropic | openai
    std::string model;
    std::string base_url;
    std::string instance;        // "namespace/name" of a ChatCLI Instance (chatcli provider)
    std::string chatcli_target;  // explicit gRPC target instead of an Instance
    bool chatcli_tls = false;    // with chatcli_target
    int64_t token_budget_per_incident = 200'000;
  } analyzer;

  struct Bridge {
    std::string instance;  // "namespace/name"; or
    std::string target;    // an explicit gRPC target; neither: the bridge is off
    absl::Duration interval = absl::Seconds(30);
  } chatcli_bridge;

  // Client-side rate limits of the Kubernetes clients: one for the effectors, detectors and
  // reconciler, one for the CR mirror (a bulk writer: after a storm it has thousands of CRs to
  // write). The Lease client keeps the defaults.
  struct KubeClient {
    double qps = 20;  // sustained requests per second; 0: unlimited
    int64_t burst = 40;
    double mirror_qps = 20;
    int64_t mirror_burst = 40;
  } kube_client;

  bool reconcile_instances = true;
  absl::Duration mirror_retention = absl::Hours(24 * 7);

  v1::PipelineConfig pipeline;  // defaults overlaid with the file's "pipeline" object
  std::string pipeline_json;    // the effective pipeline configuration, for ConfigChanged
};

// The defaults, with `pipeline` = DefaultPipelineConfig().
DaemonConfig DefaultDaemonConfig();
// kInvalidArgument naming the key for malformed JSON, unknown keys, wrong types or bad values.
absl::StatusOr<DaemonConfig> ParseDaemonConfig(const std::string& json);
// Sets the pipeline's cluster id from `config.cluster_id` and refreshes `pipeline_json` (after
// a flag changed the cluster id).
void RefreshPipeline(DaemonConfig& config);
// kNotFound when the file cannot be read; otherwise as ParseDaemonConfig.
absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path);

}  // namespace aiops::server
