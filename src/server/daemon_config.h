// The configuration of `aiops run` (docs/operations.md): a JSON file, authoritative for the
// pipeline settings and the analyzer choice, overridden by flags for the process settings.
// Unknown keys and wrong types are errors naming the key, so a typo never silently falls back
// to a default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <absl/status/statusor.h>
#include <absl/time/time.h>

#include "aiops/v1/config.pb.h"
#include "k8s_sync/detectors.h"
#include "server/analysis/chatcli_analyzer.h"

namespace aiops::server {

struct DaemonConfig {
  std::string cluster_id = "local";
  std::string data_dir = "/var/lib/chatcli-aiops";
  std::string grpc_listen = "0.0.0.0:50051";  // "" disables gRPC
  std::string http_listen = "0.0.0.0:8080";   // "" disables HTTP
  std::string auth_token_file;                // bearer token for gRPC and the webhook
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
    std::string instance;            // "namespace/name" of a ChatCLI Instance (chatcli provider)
    std::string chatcli_target;      // explicit gRPC target instead of an Instance
    bool chatcli_tls = false;        // with chatcli_target
    std::string chatcli_ca_file;     // PEM roots for chatcli_tls ("" : the system roots)
    std::string chatcli_token_file;  // bearer token sent to chatcli_target ("" : none)
    int64_t token_budget_per_incident = 200'000;
  } analyzer;

  struct Bridge {
    std::string instance;    // "namespace/name"; or
    std::string target;      // an explicit gRPC target; neither: the bridge is off
    bool tls = false;        // with target: TLS ...
    std::string ca_file;     // ... trusting these PEM roots ("" : the system roots)
    std::string token_file;  // bearer token sent to target ("" : none)
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
// Where `text` stops being JSON ("at line L, column C: ..."), or "" when it is JSON.
std::string JsonSyntaxError(const std::string& text);
// Sets the pipeline's cluster id from `config.cluster_id` and refreshes `pipeline_json` (after
// a flag changed the cluster id).
void RefreshPipeline(DaemonConfig& config);
// kNotFound when the file cannot be read; otherwise as ParseDaemonConfig.
absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path);
// The same for the text of the file at `path` (named in errors), already read.
absl::StatusOr<DaemonConfig> LoadDaemonConfigText(const std::string& path, const std::string& text);
// The whole file at `path`; kNotFound "cannot read <what> <path>".
absl::StatusOr<std::string> ReadConfigFile(const std::string& path, std::string_view what);

// The connection to an explicit ChatCLI server (analyzer.chatcliTarget or chatcliBridge.target):
// the target, TLS on or off, the CA file's PEM roots and the token file's token, read now.
// `keys` names the configuration keys in errors: {target, tls, caFile, tokenFile} as written in
// the file, e.g. {"analyzer.chatcliTarget", "analyzer.chatcliTls", ...}. kNotFound /
// kPermissionDenied for an unreadable file, kInvalidArgument for an empty token file or a CA
// file holding no PEM certificate, each naming the key and the path.
struct ChatCliConnectionKeys {
  const char* target;
  const char* tls;
  const char* ca_file;
  const char* token_file;
};
absl::StatusOr<analysis::ChatCliOptions> ChatCliConnection(const std::string& target, bool tls,
                                                           const std::string& ca_file,
                                                           const std::string& token_file,
                                                           const ChatCliConnectionKeys& keys);
inline constexpr ChatCliConnectionKeys kAnalyzerChatCliKeys = {
    "analyzer.chatcliTarget", "analyzer.chatcliTls", "analyzer.chatcliCaFile",
    "analyzer.chatcliTokenFile"};
inline constexpr ChatCliConnectionKeys kBridgeChatCliKeys = {
    "chatcliBridge.target", "chatcliBridge.tls", "chatcliBridge.caFile", "chatcliBridge.tokenFile"};

}  // namespace aiops::server
