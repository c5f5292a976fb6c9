#include "k8s_sync/instance_config.h"

#include <algorithm>
#include <optional>
#include <vector>

#include <absl/strings/ascii.h>
#include <absl/strings/escaping.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/status_macros.h"
#include "k8s_sync/instance_reconciler.h"
#include "k8s_sync/json_access.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

absl::StatusOr<Json> GetInstance(KubeClient& client, const std::string& ns,
                                 const std::string& name) {
  absl::StatusOr<Json> instance = client.Get(
      fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/instances/{}", ns, name));
  if (!instance.ok() && IsKubeNotFound(instance.status())) {
    return absl::NotFoundError(fmt::format("Instance {}/{} not found", ns, name));
  }
  return instance;
}

absl::StatusOr<Json> GetSecret(KubeClient& client, const std::string& ns, const std::string& name,
                               const std::string& role) {
  absl::StatusOr<Json> secret =
      client.Get(fmt::format("/api/v1/namespaces/{}/secrets/{}", ns, name));
  if (!secret.ok() && IsKubeNotFound(secret.status())) {
    return absl::NotFoundError(fmt::format("{} Secret {}/{} not found", role, ns, name));
  }
  if (!secret.ok()) {
    return absl::Status(secret.status().code(), fmt::format("reading {} Secret {}/{}: {}", role, ns,
                                                            name, secret.status().message()));
  }
  return secret;
}

// The decoded value of `key` in a Secret's data, or nullopt when the key is absent.
absl::StatusOr<std::optional<std::string>> SecretValue(const Json& secret, const std::string& key,
                                                       const std::string& where) {
  const Json& value = At(At(secret, "data"), key.c_str());
  if (!value.is_string()) {
    return std::optional<std::string>();
  }
  std::string decoded;
  if (!absl::Base64Unescape(value.get<std::string>(), &decoded)) {
    return absl::InvalidArgumentError(
        fmt::format("key \"{}\" of {} is not valid base64", key, where));
  }
  return std::optional<std::string>(std::move(decoded));
}

}  // namespace

absl::StatusOr<InstanceEndpoint> LookupInstanceEndpoint(KubeClient& client,
                                                        const std::string& namespace_name,
                                                        const std::string& name) {
  AIOPS_ASSIGN_OR_RETURN(Json instance, GetInstance(client, namespace_name, name));
  AIOPS_ASSIGN_OR_RETURN(InstanceSpec spec, ParseInstanceSpec(instance));
  InstanceEndpoint endpoint;
  endpoint.name = spec.name;
  endpoint.namespace_name = spec.namespace_name;
  endpoint.port = spec.port;
  endpoint.tls_enabled = spec.tls_enabled;
  endpoint.provider = spec.provider;
  endpoint.model = spec.model;
  const std::string who = fmt::format("Instance {}/{}", namespace_name, name);
  if (spec.tls_enabled) {
    AIOPS_ASSIGN_OR_RETURN(Json tls,
                           GetSecret(client, namespace_name, spec.tls_secret,
                                     fmt::format("TLS (spec.server.tls.secretName of {})", who)));
    // ca.crt is optional (seed: "tls.crt, tls.key, ca.crt (optional)"): without it the client
    // verifies the server against the system roots.
    AIOPS_ASSIGN_OR_RETURN(
        std::optional<std::string> ca,
        SecretValue(tls, "ca.crt",
                    fmt::format("TLS Secret {}/{}", namespace_name, spec.tls_secret)));
    endpoint.ca_pem = ca.value_or("");
  }
  if (!spec.token_secret.empty()) {
    const std::string where = fmt::format("token Secret {}/{}", namespace_name, spec.token_secret);
    AIOPS_ASSIGN_OR_RETURN(Json secret,
                           GetSecret(client, namespace_name, spec.token_secret,
                                     fmt::format("token (spec.server.token.name of {})", who)));
    AIOPS_ASSIGN_OR_RETURN(std::optional<std::string> token,
                           SecretValue(secret, spec.token_key, where));
    if (!token.has_value()) {
      return absl::NotFoundError(fmt::format("{} has no key \"{}\" (spec.server.token.key of {})",
                                             where, spec.token_key, who));
    }
    endpoint.token = std::string(absl::StripAsciiWhitespace(*token));
    if (endpoint.token.empty()) {
      return absl::FailedPreconditionError(
          fmt::format("key \"{}\" of {} is empty", spec.token_key, where));
    }
  }
  return endpoint;
}

absl::StatusOr<InstanceEndpoint> LookupInstanceEndpoint(KubeClient& client,
                                                        const std::string& ref) {
  if (!ref.empty()) {
    const size_t slash = ref.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == ref.size() ||
        ref.find('/', slash + 1) != std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("Instance reference \"{}\" is not namespace/name", ref));
    }
    return LookupInstanceEndpoint(client, ref.substr(0, slash), ref.substr(slash + 1));
  }
  AIOPS_ASSIGN_OR_RETURN(Json list, client.Get("/apis/platform.chatcli.io/v1alpha1/instances"));
  std::vector<std::pair<std::string, std::string>> ready;
  const Json& items = At(list, "items");
  if (items.is_array()) {
    for (const Json& item : items) {
      const Json& flag = At(At(item, "status"), "ready");
      if (flag.is_boolean() && flag.get<bool>()) {
        ready.emplace_back(StrAt(At(item, "metadata"), "namespace"),
                           StrAt(At(item, "metadata"), "name"));
      }
    }
  }
  if (ready.empty()) {
    return absl::NotFoundError("no ready Instance in the cluster");
  }
  std::sort(ready.begin(), ready.end());
  return LookupInstanceEndpoint(client, ready.front().first, ready.front().second);
}

absl::StatusOr<std::map<std::string, std::string>> LookupInstanceApiKeys(
    KubeClient& client, const std::string& namespace_name, const std::string& name) {
  AIOPS_ASSIGN_OR_RETURN(Json instance, GetInstance(client, namespace_name, name));
  const std::string secret_name = StrAt(At(At(instance, "spec"), "apiKeys"), "name");
  const std::string who = fmt::format("Instance {}/{}", namespace_name, name);
  if (secret_name.empty()) {
    return absl::FailedPreconditionError(fmt::format("{} names no spec.apiKeys Secret", who));
  }
  AIOPS_ASSIGN_OR_RETURN(Json secret,
                         GetSecret(client, namespace_name, secret_name,
                                   fmt::format("API-key (spec.apiKeys.name of {})", who)));
  const std::string where = fmt::format("API-key Secret {}/{}", namespace_name, secret_name);
  std::map<std::string, std::string> keys;
  for (const char* key : {kAnthropicApiKey, kOpenAiApiKey}) {
    AIOPS_ASSIGN_OR_RETURN(std::optional<std::string> value, SecretValue(secret, key, where));
    if (value.has_value()) {
      std::string trimmed(absl::StripAsciiWhitespace(*value));
      if (!trimmed.empty()) {
        keys[key] = std::move(trimmed);
      }
    }
  }
  if (keys.empty()) {
    return absl::NotFoundError(
        fmt::format("{} has neither {} nor {}", where, kAnthropicApiKey, kOpenAiApiKey));
  }
  return keys;
}

}  // namespace aiops::k8s_sync
