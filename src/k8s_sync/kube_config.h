// Where and how to reach the Kubernetes API server: from kubeconfig files (the KUBECONFIG list,
// merged first-wins as client-go does) or from the in-cluster service account. Reads files only
// while loading; credentials that change (token files, exec plugins) are resolved per request by
// credentials.h. Thread-compatible.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>

namespace aiops::k8s_sync {

// A client.authentication.k8s.io exec credential plugin.
struct ExecPlugin {
  std::string command;  // absolute, relative to the kubeconfig's folder, or looked up in PATH
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string api_version = "client.authentication.k8s.io/v1";
};

struct KubeConfig {
  std::string server;  // https://host:port
  std::string ca_pem;  // empty: the system trust store
  bool insecure_skip_tls_verify = false;
  // clusters[].cluster.tls-server-name: the name the server certificate must carry, checked
  // instead of the host of `server` and sent as SNI (an IP address is matched against the
  // certificate's IP SANs and sent without SNI). For a server reached through an address that
  // is not in its certificate (a tunnel, a port-forward, a load balancer's IP).
  std::string tls_server_name;
  std::string token;       // static bearer token
  std::string token_file;  // re-read when it changes (bound service-account tokens rotate)
  std::string client_cert_pem;
  std::string client_key_pem;
  std::optional<ExecPlugin> exec;
  std::string namespace_name = "default";
  std::string context;  // the kubeconfig context used (empty in-cluster)
  std::string user;     // the kubeconfig user name, for messages
};

// Loads `paths` (the KUBECONFIG list; empty: $KUBECONFIG, else ~/.kube/config) and resolves
// `context` (empty: current-context). kInvalidArgument naming the file and field for anything
// malformed or missing (unknown context, cluster without server, unreadable CA file).
absl::StatusOr<KubeConfig> LoadKubeConfig(const std::vector<std::string>& paths = {},
                                          const std::string& context = "");
// The same from kubeconfig text (`base_dir` resolves relative file paths).
absl::StatusOr<KubeConfig> ParseKubeConfig(const std::string& yaml, const std::string& base_dir,
                                           const std::string& context = "");

// Where a pod finds its service account (overridable for tests).
struct InClusterPaths {
  std::string token = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT (both required) and the mounted service
// account. kFailedPrecondition when not running in a cluster.
absl::StatusOr<KubeConfig> InClusterConfig(const InClusterPaths& paths = {});

// In-cluster when KUBERNETES_SERVICE_HOST is set, else the kubeconfig.
absl::StatusOr<KubeConfig> DefaultKubeConfig();

}  // namespace aiops::k8s_sync
