// Finding a ChatCLI server and the provider API keys from an Instance (DESIGN.md §5; upstream
// §1.1, §2.1): the Instance's address, port, TLS CA (ca.crt of spec.server.tls.secretName), token
// (spec.server.token) and provider/model; and the keys of the Secret named by spec.apiKeys.
// Reads through the Kubernetes client; holds no state. Depends on k8s_sync only (the server's
// analyzer maps InstanceEndpoint onto its own ChatCliInstance).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <absl/status/statusor.h>

#include "k8s_sync/kube_client.h"

namespace aiops::k8s_sync {

// The same fields as analysis::ChatCliInstance.
struct InstanceEndpoint {
  std::string name;
  std::string namespace_name;
  int32_t port = 50051;
  bool tls_enabled = false;
  std::string ca_pem;    // ca.crt of the TLS Secret; "" when the Secret has none (system roots)
  std::string token;     // the token Secret's value, surrounding whitespace removed; "" if none
  std::string provider;  // spec.provider / spec.model
  std::string model;
};

// The keys read from the spec.apiKeys Secret.
inline constexpr char kAnthropicApiKey[] = "ANTHROPIC_API_KEY";
inline constexpr char kOpenAiApiKey[] = "OPENAI_API_KEY";

// Instance `namespace_name/name` and the Secrets it names. Errors (each names the Instance and,
// where it applies, the Secret, key and spec field):
//   kNotFound            the Instance, its TLS Secret or its token Secret does not exist, or the
//                        token Secret lacks the key (spec.server.token.key, default "token");
//   kFailedPrecondition  the token value is empty; TLS is enabled without a secretName;
//   kInvalidArgument     a Secret value is not valid base64, or the spec is malformed;
//   others               from the API server (kUnavailable: retry).
absl::StatusOr<InstanceEndpoint> LookupInstanceEndpoint(KubeClient& client,
                                                        const std::string& namespace_name,
                                                        const std::string& name);

// `ref` is "namespace/name", or "" for the first ready Instance of the cluster (by namespace,
// then name; kNotFound when none is ready). kInvalidArgument for a malformed ref.
absl::StatusOr<InstanceEndpoint> LookupInstanceEndpoint(KubeClient& client, const std::string& ref);

// The provider keys (ANTHROPIC_API_KEY, OPENAI_API_KEY; those present) of the Secret named by
// spec.apiKeys.name of Instance `namespace_name/name`. kFailedPrecondition when the Instance
// names no Secret; kNotFound when the Instance or Secret does not exist or the Secret holds
// neither key.
absl::StatusOr<std::map<std::string, std::string>> LookupInstanceApiKeys(
    KubeClient& client, const std::string& namespace_name, const std::string& name);

}  // namespace aiops::k8s_sync
