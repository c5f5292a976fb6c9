#include "k8s_sync/kube_config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <absl/strings/escaping.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "k8s_sync/yaml_json.h"

namespace aiops::k8s_sync {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// Field accessors that never throw: kubeconfigs are outside input and may have any shape.
std::string Str(const Json& obj, const char* key, const std::string& fallback = "") {
  if (!obj.is_object()) {
    return fallback;
  }
  const auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

bool Bool(const Json& obj, const char* key) {
  if (!obj.is_object()) {
    return false;
  }
  const auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() && it->get<bool>();
}

Json List(const Json& obj, const char* key) {
  if (!obj.is_object()) {
    return Json::array();
  }
  const auto it = obj.find(key);
  return it != obj.end() && it->is_array() ? *it : Json::array();
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(fmt::format("cannot read {} {}", what, path));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute() || base_dir.empty()) {
    return path;
  }
  return (fs::path(base_dir) / path).string();
}

// The named entry of a kubeconfig list (clusters, users, contexts), or null.
const Json* Named(const Json& list, const std::string& name, const char* inner) {
  if (!list.is_array()) {
    return nullptr;
  }
  for (const Json& item : list) {
    if (item.is_object() && Str(item, "name") == name && item.contains(inner) &&
        item[inner].is_object()) {
      return &item[inner];
    }
  }
  return nullptr;
}

// PEM from `<field>-data` (base64) or `<field>` (a file).
absl::StatusOr<std::string> PemField(const Json& obj, const std::string& field,
                                     const std::string& base_dir, const std::string& where) {
  if (const auto it = obj.find(field + "-data"); it != obj.end() && it->is_string()) {
    std::string decoded;
    if (!absl::Base64Unescape(it->get<std::string>(), &decoded)) {
      return absl::InvalidArgumentError(
          fmt::format("{}: {}-data is not valid base64", where, field));
    }
    return decoded;
  }
  if (const auto it = obj.find(field); it != obj.end() && it->is_string()) {
    return ReadFile(Resolve(it->get<std::string>(), base_dir), fmt::format("{} {}", where, field));
  }
  return std::string();
}

// Merges the list `key` of `from` into `into`, first occurrence of a name winning.
void MergeNamed(Json& into, const Json& from, const char* key) {
  if (!from.contains(key) || !from[key].is_array()) {
    return;
  }
  if (!into.contains(key) || !into[key].is_array()) {
    into[key] = Json::array();
  }
  for (const Json& item : from[key]) {
    const std::string name = Str(item, "name");
    bool seen = false;
    for (const Json& existing : into[key]) {
      seen = seen || Str(existing, "name") == name;
    }
    if (!seen) {
      Json copy = item;
      copy["__base_dir"] = Str(from, "__base_dir");
      into[key].push_back(copy);
    }
  }
}

absl::StatusOr<KubeConfig> FromMerged(const Json& merged, const std::string& wanted_context) {
  const std::string context_name =
      wanted_context.empty() ? Str(merged, "current-context") : wanted_context;
  if (context_name.empty()) {
    return absl::InvalidArgumentError("kubeconfig has no current-context and none was given");
  }
  const Json contexts = List(merged, "contexts");
  const Json* context = Named(contexts, context_name, "context");
  if (context == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("kubeconfig has no context named '{}'", context_name));
  }
  const std::string cluster_name = Str(*context, "cluster");
  const std::string user_name = Str(*context, "user");
  const Json clusters = List(merged, "clusters");
  const Json users = List(merged, "users");
  const Json* cluster = Named(clusters, cluster_name, "cluster");
  if (cluster == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("kubeconfig context '{}' names cluster '{}', which is not defined",
                    context_name, cluster_name));
  }
  KubeConfig config;
  config.context = context_name;
  config.user = user_name;
  config.namespace_name = Str(*context, "namespace", "default");
  config.server = Str(*cluster, "server");
  if (config.server.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("kubeconfig cluster '{}' has no server", cluster_name));
  }
  std::string cluster_dir;
  for (const Json& c : clusters) {
    if (Str(c, "name") == cluster_name) {
      cluster_dir = Str(c, "__base_dir");
      break;
    }
  }
  absl::StatusOr<std::string> ca = PemField(*cluster, "certificate-authority", cluster_dir,
                                            fmt::format("kubeconfig cluster '{}'", cluster_name));
  if (!ca.ok()) {
    return ca.status();
  }
  config.ca_pem = *ca;
  config.insecure_skip_tls_verify = Bool(*cluster, "insecure-skip-tls-verify");
  if (const auto it = cluster->find("tls-server-name"); it != cluster->end()) {
    if (!it->is_string() || it->get<std::string>().find_first_of(" \t\r\n/") != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format(
          "kubeconfig cluster '{}': tls-server-name must be a host name or IP address (got {})",
          cluster_name, it->dump()));
    }
    config.tls_server_name = it->get<std::string>();
  }
  if (user_name.empty()) {
    return config;
  }
  const Json* user = Named(users, user_name, "user");
  if (user == nullptr) {
    return absl::InvalidArgumentError(fmt::format(
        "kubeconfig context '{}' names user '{}', which is not defined", context_name, user_name));
  }
  std::string user_dir;
  for (const Json& u : users) {
    if (Str(u, "name") == user_name) {
      user_dir = Str(u, "__base_dir");
      break;
    }
  }
  const std::string where = fmt::format("kubeconfig user '{}'", user_name);
  config.token = Str(*user, "token");
  config.token_file = Resolve(Str(*user, "tokenFile"), user_dir);
  absl::StatusOr<std::string> cert = PemField(*user, "client-certificate", user_dir, where);
  absl::StatusOr<std::string> key = PemField(*user, "client-key", user_dir, where);
  if (!cert.ok()) {
    return cert.status();
  }
  if (!key.ok()) {
    return key.status();
  }
  if (cert->empty() != key->empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: a client certificate needs both a certificate and a key", where));
  }
  config.client_cert_pem = *cert;
  config.client_key_pem = *key;
  if (const auto it = user->find("exec"); it != user->end() && it->is_object()) {
    ExecPlugin exec;
    exec.command = Str(*it, "command");
    if (exec.command.empty()) {
      return absl::InvalidArgumentError(fmt::format("{}: exec has no command", where));
    }
    if (exec.command.find('/') != std::string::npos) {
      exec.command = Resolve(exec.command, user_dir);
    }
    for (const Json& a : List(*it, "args")) {
      exec.args.push_back(a.is_string() ? a.get<std::string>() : a.dump());
    }
    for (const Json& e : List(*it, "env")) {
      exec.env[Str(e, "name")] = Str(e, "value");
    }
    exec.api_version = Str(*it, "apiVersion", exec.api_version);
    config.exec = exec;
  }
  if (user->contains("username") || user->contains("auth-provider")) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: basic auth and auth-provider are not supported; use a token, a client certificate "
        "or an exec plugin",
        where));
  }
  return config;
}

}  // namespace

absl::StatusOr<KubeConfig> ParseKubeConfig(const std::string& yaml, const std::string& base_dir,
                                           const std::string& context) {
  absl::StatusOr<Json> doc = YamlToJson(yaml);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(fmt::format("kubeconfig: {}", doc.status().message()));
  }
  if (!doc->is_object()) {
    return absl::InvalidArgumentError("kubeconfig is not a YAML mapping");
  }
  Json merged = Json::object();
  (*doc)["__base_dir"] = base_dir;
  for (const char* key : {"clusters", "users", "contexts"}) {
    MergeNamed(merged, *doc, key);
  }
  merged["current-context"] = Str(*doc, "current-context");
  return FromMerged(merged, context);
}

absl::StatusOr<KubeConfig> LoadKubeConfig(const std::vector<std::string>& paths_in,
                                          const std::string& context) {
  std::vector<std::string> paths = paths_in;
  if (paths.empty()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once at start-up, before threads
    if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
      std::stringstream list(env);
      for (std::string p; std::getline(list, p, ':');) {
        if (!p.empty()) {
          paths.push_back(p);
        }
      }
    } else if (const char* home = std::getenv("HOME")) {  // NOLINT(concurrency-mt-unsafe)
      paths.push_back(fmt::format("{}/.kube/config", home));
    }
  }
  Json merged = Json::object();
  std::string current;
  int read = 0;
  for (const std::string& path : paths) {
    std::ifstream in(path);
    if (!in) {
      continue;  // client-go skips missing files in the list
    }
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<Json> doc = YamlToJson(text.str());
    if (!doc.ok()) {
      return absl::InvalidArgumentError(fmt::format("{}: {}", path, doc.status().message()));
    }
    if (!doc->is_object()) {
      return absl::InvalidArgumentError(fmt::format("{}: not a YAML mapping", path));
    }
    ++read;
    (*doc)["__base_dir"] = fs::path(path).parent_path().string();
    for (const char* key : {"clusters", "users", "contexts"}) {
      MergeNamed(merged, *doc, key);
    }
    if (current.empty()) {
      current = Str(*doc, "current-context");
    }
  }
  if (read == 0) {
    return absl::InvalidArgumentError(
        fmt::format("no kubeconfig found (looked at: {}); set KUBECONFIG or pass --kubeconfig",
                    fmt::join(paths, ", ")));
  }
  merged["current-context"] = current;
  absl::StatusOr<KubeConfig> config = FromMerged(merged, context);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        fmt::format("{} ({})", config.status().message(), fmt::join(paths, ":")));
  }
  return config;
}

absl::StatusOr<KubeConfig> InClusterConfig(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");  // NOLINT(concurrency-mt-unsafe)
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");  // NOLINT(concurrency-mt-unsafe)
  if (host == nullptr || port == nullptr || *host == '\0' || *port == '\0') {
    return absl::FailedPreconditionError(
        "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both "
        "be set");
  }
  KubeConfig config;
  const std::string h = host;
  config.server = h.find(':') != std::string::npos ? fmt::format("https://[{}]:{}", h, port)
                                                   : fmt::format("https://{}:{}", h, port);
  config.token_file = paths.token;
  if (!fs::exists(paths.token)) {
    return absl::FailedPreconditionError(
        fmt::format("in-cluster service-account token {} is missing", paths.token));
  }
  absl::StatusOr<std::string> ca = ReadFile(paths.ca, "in-cluster CA");
  if (!ca.ok()) {
    return ca.status();
  }
  config.ca_pem = *ca;
  if (absl::StatusOr<std::string> ns = ReadFile(paths.namespace_file, "namespace"); ns.ok()) {
    std::string trimmed = *ns;
    while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) {
      trimmed.pop_back();
    }
    if (!trimmed.empty()) {
      config.namespace_name = trimmed;
    }
  }
  config.user = "service-account";
  return config;
}

absl::StatusOr<KubeConfig> DefaultKubeConfig() {
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {  // NOLINT(concurrency-mt-unsafe)
    return InClusterConfig();
  }
  return LoadKubeConfig();
}

}  // namespace aiops::k8s_sync
