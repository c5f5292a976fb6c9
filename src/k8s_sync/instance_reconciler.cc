#include "k8s_sync/instance_reconciler.h"

#include <algorithm>
#include <utility>

#include <absl/time/clock.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "k8s_sync/json_access.h"
#include "k8s_sync/mirror.h"
#include "projections/naming.h"

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;

constexpr char kInstanceApiVersion[] = "platform.chatcli.io/v1alpha1";
constexpr char kDefaultRepository[] = "ghcr.io/diillson/chatcli";
constexpr char kWatchConfigKey[] = "watch-config.yaml";
constexpr char kWatchConfigDir[] = "/etc/chatcli/watch";
constexpr char kTlsDir[] = "/etc/chatcli/tls";
constexpr char kRbacGroup[] = "rbac.authorization.k8s.io";

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

absl::Status Invalid(const InstanceSpec& spec, const std::string& what) {
  return absl::InvalidArgumentError(
      fmt::format("Instance {}/{}: {}", spec.namespace_name, spec.name, what));
}

// An optional string field: "" when absent; an error when present with another type.
absl::Status ReadString(const InstanceSpec& spec, const Json& obj, const char* key,
                        const std::string& field, std::string* out) {
  const Json& v = At(obj, key);
  if (v.is_null()) {
    return absl::OkStatus();
  }
  if (!v.is_string()) {
    return Invalid(spec, fmt::format("{} must be a string", field));
  }
  if (!v.get<std::string>().empty()) {
    *out = v.get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status ReadInt(const InstanceSpec& spec, const Json& obj, const char* key,
                     const std::string& field, int64_t min, int64_t max, int32_t* out) {
  const Json& v = At(obj, key);
  if (v.is_null()) {
    return absl::OkStatus();
  }
  if (!v.is_number_integer()) {
    return Invalid(spec, fmt::format("{} must be an integer", field));
  }
  const int64_t n = v.get<int64_t>();
  if (n < min || n > max) {
    return Invalid(spec, fmt::format("{} is {}, outside [{}, {}]", field, n, min, max));
  }
  *out = static_cast<int32_t>(n);
  return absl::OkStatus();
}

absl::Status ReadBool(const InstanceSpec& spec, const Json& obj, const char* key,
                      const std::string& field, bool* out) {
  const Json& v = At(obj, key);
  if (v.is_null()) {
    return absl::OkStatus();
  }
  if (!v.is_boolean()) {
    return Invalid(spec, fmt::format("{} must be a boolean", field));
  }
  *out = v.get<bool>();
  return absl::OkStatus();
}

absl::Status ReadObject(const InstanceSpec& spec, const Json& obj, const char* key,
                        const std::string& field, const Json** out) {
  static const Json kEmpty = Json::object();
  const Json& v = At(obj, key);
  if (v.is_null()) {
    *out = &kEmpty;
    return absl::OkStatus();
  }
  if (!v.is_object()) {
    return Invalid(spec, fmt::format("{} must be an object", field));
  }
  *out = &v;
  return absl::OkStatus();
}

absl::Status CheckSecretName(const InstanceSpec& spec, const std::string& name,
                             const std::string& field) {
  if (!name.empty() && !projections::IsDns1123Subdomain(name)) {
    return Invalid(spec, fmt::format("{} \"{}\" is not a valid Secret name", field, name));
  }
  return absl::OkStatus();
}

absl::Status ParseTargets(const Json& watcher, InstanceSpec& spec) {
  const Json& targets = At(watcher, "targets");
  if (!targets.is_null() && !targets.is_array()) {
    return Invalid(spec, "spec.watcher.targets must be a list");
  }
  if (targets.is_array()) {
    for (size_t i = 0; i < targets.size(); ++i) {
      const Json& t = targets[i];
      const std::string field = fmt::format("spec.watcher.targets[{}]", i);
      if (!t.is_object()) {
        return Invalid(spec, field + " must be an object");
      }
      WatchTarget target;
      std::string deployment;
      AIOPS_RETURN_IF_ERROR(ReadString(spec, t, "name", field + ".name", &target.name));
      AIOPS_RETURN_IF_ERROR(ReadString(spec, t, "deployment", field + ".deployment", &deployment));
      if (target.name.empty()) {
        target.name = deployment;  // the deprecated alias
      }
      if (target.name.empty()) {
        return Invalid(spec, field + " needs a name (or the deprecated deployment)");
      }
      AIOPS_RETURN_IF_ERROR(ReadString(spec, t, "kind", field + ".kind", &target.kind));
      static const std::set<std::string> kKinds = {"Deployment", "StatefulSet", "DaemonSet", "Job",
                                                   "CronJob"};
      if (kKinds.count(target.kind) == 0) {
        return Invalid(spec, fmt::format("{}.kind \"{}\" is not one of Deployment, StatefulSet, "
                                         "DaemonSet, Job, CronJob",
                                         field, target.kind));
      }
      AIOPS_RETURN_IF_ERROR(
          ReadString(spec, t, "namespace", field + ".namespace", &target.namespace_name));
      if (target.namespace_name.empty()) {
        target.namespace_name = spec.namespace_name;
      }
      if (!projections::IsDns1123Label(target.namespace_name)) {
        return Invalid(spec, fmt::format("{}.namespace \"{}\" is not a valid namespace name", field,
                                         target.namespace_name));
      }
      AIOPS_RETURN_IF_ERROR(
          ReadInt(spec, t, "metricsPort", field + ".metricsPort", 0, 65535, &target.metrics_port));
      AIOPS_RETURN_IF_ERROR(
          ReadString(spec, t, "metricsPath", field + ".metricsPath", &target.metrics_path));
      const Json& filter = At(t, "metricsFilter");
      if (!filter.is_null() && !filter.is_array()) {
        return Invalid(spec, field + ".metricsFilter must be a list of strings");
      }
      if (filter.is_array()) {
        for (const Json& f : filter) {
          if (!f.is_string()) {
            return Invalid(spec, field + ".metricsFilter must be a list of strings");
          }
          target.metrics_filter.push_back(f.get<std::string>());
        }
      }
      spec.targets.push_back(std::move(target));
    }
  }
  // The legacy single target.
  std::string deployment;
  std::string ns;
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, watcher, "deployment", "spec.watcher.deployment", &deployment));
  AIOPS_RETURN_IF_ERROR(ReadString(spec, watcher, "namespace", "spec.watcher.namespace", &ns));
  if (spec.targets.empty() && !deployment.empty()) {
    WatchTarget target;
    target.name = deployment;
    target.namespace_name = ns.empty() ? spec.namespace_name : ns;
    if (!projections::IsDns1123Label(target.namespace_name)) {
      return Invalid(spec,
                     fmt::format("spec.watcher.namespace \"{}\" is not a valid namespace name",
                                 target.namespace_name));
    }
    spec.targets.push_back(std::move(target));
  }
  return absl::OkStatus();
}

Json CommonLabels(const InstanceSpec& spec) {
  return {{kLabelAppName, "chatcli"},
          {kLabelAppInstance, LabelValue(spec.name)},
          {kLabelManagedBy, kManagedByValue},
          {kLabelInstance, LabelValue(spec.name)},
          {kLabelInstanceNamespace, LabelValue(spec.namespace_name)}};
}

Json SelectorLabels(const InstanceSpec& spec) {
  return {{kLabelAppName, "chatcli"}, {kLabelAppInstance, LabelValue(spec.name)}};
}

Json OwnerReferences(const InstanceSpec& spec) {
  return Json::array({{{"apiVersion", kInstanceApiVersion},
                       {"kind", "Instance"},
                       {"name", spec.name},
                       {"uid", spec.uid},
                       {"controller", true},
                       {"blockOwnerDeletion", true}}});
}

DesiredObject Object(const InstanceSpec& spec, const char* api_version, const char* kind,
                     const char* plural, const std::string& ns, const std::string& name) {
  DesiredObject d;
  d.api_version = api_version;
  d.kind = kind;
  d.plural = plural;
  d.namespace_name = ns;
  d.name = name;
  d.object = {{"apiVersion", api_version},
              {"kind", kind},
              {"metadata",
               {{"name", name},
                {"namespace", ns},
                {"labels", CommonLabels(spec)},
                {"annotations", {{kAnnotationInstance, spec.namespace_name + "/" + spec.name}}}}}};
  // Owner references cannot cross namespaces: objects in other namespaces are swept by label.
  if (ns == spec.namespace_name && !spec.uid.empty()) {
    d.object["metadata"]["ownerReferences"] = OwnerReferences(spec);
  }
  return d;
}

std::string WatcherName(const InstanceSpec& spec, const std::string& ns) {
  return ns == spec.namespace_name
             ? projections::Dns1123Name(spec.name + "-watcher")
             : projections::Dns1123Name(spec.namespace_name + "-" + spec.name + "-watcher");
}

// What the watcher reads in `ns`: the pods, events and services of its targets, the pods' logs
// when it keeps log lines (maxLogLines > 0), and the workload kinds of the targets in that
// namespace with what owns their pods (a Deployment's ReplicaSets, a CronJob's Jobs). The
// operator's own ClusterRole holds every one of these rules, so the API server's escalation
// check lets it grant them without `bind` or `escalate` (docs/deployment.md, "RBAC").
Json WatcherRules(const InstanceSpec& spec, const std::string& ns) {
  const Json verbs = {"get", "list", "watch"};
  std::set<std::string> apps;
  std::set<std::string> batch;
  for (const WatchTarget& t : spec.targets) {
    if (t.namespace_name != ns) {
      continue;
    }
    if (t.kind == "Deployment") {
      apps.insert({"deployments", "replicasets"});
    } else if (t.kind == "StatefulSet") {
      apps.insert("statefulsets");
    } else if (t.kind == "DaemonSet") {
      apps.insert("daemonsets");
    } else if (t.kind == "Job") {
      batch.insert("jobs");
    } else if (t.kind == "CronJob") {
      batch.insert({"cronjobs", "jobs"});
    }
  }
  Json rules = Json::array(
      {{{"apiGroups", {""}}, {"resources", {"pods", "events", "services"}}, {"verbs", verbs}}});
  if (spec.watch_max_log_lines > 0) {
    rules.push_back({{"apiGroups", {""}}, {"resources", {"pods/log"}}, {"verbs", {"get"}}});
  }
  if (!apps.empty()) {
    rules.push_back({{"apiGroups", {"apps"}}, {"resources", apps}, {"verbs", verbs}});
  }
  if (!batch.empty()) {
    rules.push_back({{"apiGroups", {"batch"}}, {"resources", batch}, {"verbs", verbs}});
  }
  return rules;
}

Json Deployment(const InstanceSpec& spec, const std::string& config_hash, DesiredObject& d) {
  Json args = {"--port", std::to_string(spec.port)};
  if (spec.metrics_port > 0) {
    args.push_back("--metrics-port");
    args.push_back(std::to_string(spec.metrics_port));
  }
  args.push_back("--provider");
  args.push_back(spec.provider);
  if (!spec.model.empty()) {
    args.push_back("--model");
    args.push_back(spec.model);
  }
  if (spec.tls_enabled) {
    for (const char* flag : {"--tls-cert", "--tls-key"}) {
      args.push_back(flag);
      args.push_back(
          fmt::format("{}/{}", kTlsDir, std::string(flag) == "--tls-cert" ? "tls.crt" : "tls.key"));
    }
  }
  const bool watching = spec.watcher_enabled && !spec.targets.empty();
  if (watching) {
    args.push_back("--watch-config");
    args.push_back(fmt::format("{}/{}", kWatchConfigDir, kWatchConfigKey));
  }

  // Built-in variables first; spec.extraEnv replaces one of the same name (a list keyed by name
  // may not repeat a name under server-side apply).
  Json env = Json::array({{{"name", "HOME"}, {"value", "/home/chatcli"}}});
  if (!spec.token_secret.empty()) {
    // Not optional: a server configured for a token must not start without one.
    env.push_back({{"name", "CHATCLI_SERVER_TOKEN"},
                   {"valueFrom",
                    {{"secretKeyRef", {{"name", spec.token_secret}, {"key", spec.token_key}}}}}});
  }
  if (spec.extra_env.is_array()) {
    for (const Json& e : spec.extra_env) {
      const std::string name = StrAt(e, "name");
      auto same = std::find_if(env.begin(), env.end(),
                               [&](const Json& have) { return StrAt(have, "name") == name; });
      if (same != env.end()) {
        *same = e;
      } else {
        env.push_back(e);
      }
    }
  }
  Json env_from = Json::array({{{"configMapRef", {{"name", spec.name}}}}});
  if (!spec.api_keys_secret.empty()) {
    env_from.push_back({{"secretRef", {{"name", spec.api_keys_secret}, {"optional", true}}}});
  }

  Json ports = Json::array({{{"name", "grpc"}, {"containerPort", spec.port}, {"protocol", "TCP"}}});
  if (spec.metrics_port > 0) {
    ports.push_back(
        {{"name", "metrics"}, {"containerPort", spec.metrics_port}, {"protocol", "TCP"}});
  }
  Json mounts = Json::array({{{"name", "tmp"}, {"mountPath", "/tmp"}},
                             {{"name", "data"}, {"mountPath", "/home/chatcli/.chatcli"}}});
  Json volumes = Json::array({{{"name", "tmp"}, {"emptyDir", {{"sizeLimit", "100Mi"}}}},
                              {{"name", "data"}, {"emptyDir", {{"sizeLimit", "200Mi"}}}}});
  if (spec.persistence_enabled) {
    mounts.push_back({{"name", "sessions"}, {"mountPath", "/home/chatcli/.chatcli/sessions"}});
    volumes.push_back({{"name", "sessions"},
                       {"persistentVolumeClaim", {{"claimName", spec.name + "-sessions"}}}});
  }
  if (spec.tls_enabled) {
    mounts.push_back({{"name", "tls"}, {"mountPath", kTlsDir}, {"readOnly", true}});
    volumes.push_back({{"name", "tls"}, {"secret", {{"secretName", spec.tls_secret}}}});
  }
  if (watching) {
    mounts.push_back(
        {{"name", "watch-config"}, {"mountPath", kWatchConfigDir}, {"readOnly", true}});
    volumes.push_back(
        {{"name", "watch-config"}, {"configMap", {{"name", spec.name + "-watch-config"}}}});
  }

  // The ChatCLI server speaks gRPC without the standard health service, so the probes check
  // that the gRPC port accepts connections.
  Json container = {
      {"name", "chatcli"},
      {"image", spec.image},
      {"imagePullPolicy", spec.pull_policy},
      {"command", {"chatcli", "server"}},
      {"args", args},
      {"ports", ports},
      {"env", env},
      {"envFrom", env_from},
      {"volumeMounts", mounts},
      {"readinessProbe",
       {{"tcpSocket", {{"port", "grpc"}}}, {"periodSeconds", 10}, {"failureThreshold", 3}}},
      {"livenessProbe",
       {{"tcpSocket", {{"port", "grpc"}}},
        {"initialDelaySeconds", 15},
        {"periodSeconds", 20},
        {"failureThreshold", 3}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"capabilities", {{"drop", {"ALL"}}}}}}};
  if (spec.resources.is_object() && !spec.resources.empty()) {
    container["resources"] = spec.resources;
  }
  const Json security_context = spec.security_context.is_object() && !spec.security_context.empty()
                                    ? spec.security_context
                                    : Json{{"runAsNonRoot", true},
                                           {"runAsUser", 1000},
                                           {"seccompProfile", {{"type", "RuntimeDefault"}}}};
  d.object["spec"] = {
      {"replicas", spec.replicas},
      {"selector", {{"matchLabels", SelectorLabels(spec)}}},
      {"template",
       {{"metadata",
         {{"labels", CommonLabels(spec)}, {"annotations", {{kAnnotationConfigHash, config_hash}}}}},
        {"spec",
         {{"serviceAccountName", spec.name},
          {"securityContext", security_context},
          {"containers", Json::array({container})},
          {"volumes", volumes}}}}}};
  return d.object;
}

}  // namespace

std::string DesiredObject::CollectionPath() const {
  const std::string prefix = api_version == "v1" ? "/api/v1" : "/apis/" + api_version;
  return fmt::format("{}/namespaces/{}/{}", prefix, namespace_name, plural);
}

absl::StatusOr<InstanceSpec> ParseInstanceSpec(const Json& instance,
                                               const std::string& default_image_tag) {
  InstanceSpec spec;
  const Json& meta = At(instance, "metadata");
  spec.name = StrAt(meta, "name");
  spec.namespace_name = StrAt(meta, "namespace");
  spec.uid = StrAt(meta, "uid");
  spec.generation = IntAt(meta, "generation");
  if (!projections::IsDns1123Label(spec.name) ||
      !projections::IsDns1123Label(spec.namespace_name)) {
    return absl::InvalidArgumentError(fmt::format(
        "Instance \"{}/{}\": metadata.namespace and metadata.name must be DNS-1123 labels",
        spec.namespace_name, spec.name));
  }
  const Json& s = At(instance, "spec");
  if (!s.is_object()) {
    return Invalid(spec, "spec is missing");
  }
  AIOPS_RETURN_IF_ERROR(ReadString(spec, s, "provider", "spec.provider", &spec.provider));
  if (spec.provider.empty()) {
    return Invalid(spec, "spec.provider is required");
  }
  AIOPS_RETURN_IF_ERROR(ReadString(spec, s, "model", "spec.model", &spec.model));
  AIOPS_RETURN_IF_ERROR(ReadInt(spec, s, "replicas", "spec.replicas", 0, 1000, &spec.replicas));

  const Json* image = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "image", "spec.image", &image));
  std::string repository = kDefaultRepository;
  std::string tag = default_image_tag.empty() ? "latest" : default_image_tag;
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *image, "repository", "spec.image.repository", &repository));
  AIOPS_RETURN_IF_ERROR(ReadString(spec, *image, "tag", "spec.image.tag", &tag));
  spec.image = repository + ":" + tag;
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *image, "pullPolicy", "spec.image.pullPolicy", &spec.pull_policy));
  if (spec.pull_policy != "Always" && spec.pull_policy != "IfNotPresent" &&
      spec.pull_policy != "Never") {
    return Invalid(spec, fmt::format("spec.image.pullPolicy \"{}\" is not one of Always, "
                                     "IfNotPresent, Never",
                                     spec.pull_policy));
  }

  const Json* server = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "server", "spec.server", &server));
  AIOPS_RETURN_IF_ERROR(ReadInt(spec, *server, "port", "spec.server.port", 1, 65535, &spec.port));
  AIOPS_RETURN_IF_ERROR(ReadInt(spec, *server, "metricsPort", "spec.server.metricsPort", 0, 65535,
                                &spec.metrics_port));
  if (spec.metrics_port == spec.port) {
    return Invalid(spec,
                   fmt::format("spec.server.metricsPort equals spec.server.port ({})", spec.port));
  }
  const Json* tls = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, *server, "tls", "spec.server.tls", &tls));
  AIOPS_RETURN_IF_ERROR(
      ReadBool(spec, *tls, "enabled", "spec.server.tls.enabled", &spec.tls_enabled));
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *tls, "secretName", "spec.server.tls.secretName", &spec.tls_secret));
  if (spec.tls_enabled && spec.tls_secret.empty()) {
    return Invalid(spec, "spec.server.tls.secretName is required when spec.server.tls.enabled");
  }
  if (!spec.tls_enabled) {
    spec.tls_secret.clear();
  }
  AIOPS_RETURN_IF_ERROR(CheckSecretName(spec, spec.tls_secret, "spec.server.tls.secretName"));
  const Json* token = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, *server, "token", "spec.server.token", &token));
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *token, "name", "spec.server.token.name", &spec.token_secret));
  AIOPS_RETURN_IF_ERROR(ReadString(spec, *token, "key", "spec.server.token.key", &spec.token_key));
  AIOPS_RETURN_IF_ERROR(CheckSecretName(spec, spec.token_secret, "spec.server.token.name"));

  const Json* api_keys = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "apiKeys", "spec.apiKeys", &api_keys));
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *api_keys, "name", "spec.apiKeys.name", &spec.api_keys_secret));
  AIOPS_RETURN_IF_ERROR(CheckSecretName(spec, spec.api_keys_secret, "spec.apiKeys.name"));

  const Json* watcher = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "watcher", "spec.watcher", &watcher));
  AIOPS_RETURN_IF_ERROR(
      ReadBool(spec, *watcher, "enabled", "spec.watcher.enabled", &spec.watcher_enabled));
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *watcher, "interval", "spec.watcher.interval", &spec.watch_interval));
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *watcher, "window", "spec.watcher.window", &spec.watch_window));
  AIOPS_RETURN_IF_ERROR(ReadInt(spec, *watcher, "maxLogLines", "spec.watcher.maxLogLines", 0,
                                1'000'000, &spec.watch_max_log_lines));
  AIOPS_RETURN_IF_ERROR(ReadInt(spec, *watcher, "maxContextChars", "spec.watcher.maxContextChars",
                                0, 100'000'000, &spec.watch_max_context_chars));
  AIOPS_RETURN_IF_ERROR(ParseTargets(*watcher, spec));

  const Json* resources = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "resources", "spec.resources", &resources));
  spec.resources = *resources;
  const Json* security = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "securityContext", "spec.securityContext", &security));
  spec.security_context = *security;
  const Json& extra_env = At(s, "extraEnv");
  if (!extra_env.is_null()) {
    if (!extra_env.is_array()) {
      return Invalid(spec, "spec.extraEnv must be a list");
    }
    for (size_t i = 0; i < extra_env.size(); ++i) {
      if (StrAt(extra_env[i], "name").empty() || !At(extra_env[i], "name").is_string()) {
        return Invalid(spec, fmt::format("spec.extraEnv[{}] needs a name", i));
      }
    }
    spec.extra_env = extra_env;
  }

  const Json* persistence = nullptr;
  AIOPS_RETURN_IF_ERROR(ReadObject(spec, s, "persistence", "spec.persistence", &persistence));
  AIOPS_RETURN_IF_ERROR(ReadBool(spec, *persistence, "enabled", "spec.persistence.enabled",
                                 &spec.persistence_enabled));
  AIOPS_RETURN_IF_ERROR(
      ReadString(spec, *persistence, "size", "spec.persistence.size", &spec.persistence_size));
  AIOPS_RETURN_IF_ERROR(ReadString(spec, *persistence, "storageClassName",
                                   "spec.persistence.storageClassName", &spec.storage_class));
  return spec;
}

Json EnvConfigData(const InstanceSpec& spec) {
  Json data = {{"LLM_PROVIDER", spec.provider}, {"CHATCLI_SERVER_PORT", std::to_string(spec.port)}};
  if (!spec.model.empty()) {
    data["LLM_MODEL"] = spec.model;
  }
  if (spec.watcher_enabled) {
    data["CHATCLI_WATCH_INTERVAL"] = spec.watch_interval;
    data["CHATCLI_WATCH_WINDOW"] = spec.watch_window;
    data["CHATCLI_WATCH_MAX_LOG_LINES"] = std::to_string(spec.watch_max_log_lines);
    data["CHATCLI_WATCH_MAX_CONTEXT_CHARS"] = std::to_string(spec.watch_max_context_chars);
  }
  return data;
}

std::string WatchConfigYaml(const InstanceSpec& spec) {
  if (!spec.watcher_enabled || spec.targets.empty()) {
    return "";
  }
  // JSON strings are valid YAML double-quoted scalars: names cannot break the document.
  auto q = [](const std::string& s) { return Json(s).dump(); };
  std::string out;
  out += fmt::format("interval: {}\n", q(spec.watch_interval));
  out += fmt::format("window: {}\n", q(spec.watch_window));
  out += fmt::format("maxLogLines: {}\n", spec.watch_max_log_lines);
  out += fmt::format("maxContextChars: {}\n", spec.watch_max_context_chars);
  out += "targets:\n";
  for (const WatchTarget& t : spec.targets) {
    out += fmt::format("  - deployment: {}\n", q(t.name));
    out += fmt::format("    kind: {}\n", q(t.kind));
    out += fmt::format("    namespace: {}\n", q(t.namespace_name));
    if (t.metrics_port > 0) {
      out += fmt::format("    metricsPort: {}\n", t.metrics_port);
    }
    if (!t.metrics_path.empty()) {
      out += fmt::format("    metricsPath: {}\n", q(t.metrics_path));
    }
    if (!t.metrics_filter.empty()) {
      out += "    metricsFilter:\n";
      for (const std::string& f : t.metrics_filter) {
        out += fmt::format("      - {}\n", q(f));
      }
    }
  }
  return out;
}

std::string ConfigHash(const InstanceSpec& spec, const SecretVersions& secrets) {
  auto version = [](const std::string& name, const std::string& rv) {
    return name.empty() ? std::string() : name + "@" + (rv.empty() ? "absent" : rv);
  };
  const Json input = {{"env", EnvConfigData(spec)},
                      {"watch", WatchConfigYaml(spec)},
                      {"apiKeys", version(spec.api_keys_secret, secrets.api_keys)},
                      {"token", version(spec.token_secret, secrets.token)},
                      {"tls", version(spec.tls_secret, secrets.tls)}};
  return common::Sha256Hex(input.dump()).substr(0, 16);
}

DesiredState BuildDesiredState(const InstanceSpec& spec, const SecretVersions& secrets) {
  DesiredState state;
  state.config_hash = ConfigHash(spec, secrets);
  state.headless = spec.replicas > 1;
  const std::string& ns = spec.namespace_name;

  state.objects.push_back(Object(spec, "v1", "ServiceAccount", "serviceaccounts", ns, spec.name));

  if (spec.watcher_enabled && !spec.targets.empty()) {
    std::set<std::string> namespaces;
    for (const WatchTarget& t : spec.targets) {
      namespaces.insert(t.namespace_name);
    }
    // One Role + RoleBinding per target namespace: the watcher reads those namespaces only.
    for (const std::string& target_ns : namespaces) {
      DesiredObject role = Object(spec, "rbac.authorization.k8s.io/v1", "Role", "roles", target_ns,
                                  WatcherName(spec, target_ns));
      role.object["rules"] = WatcherRules(spec, target_ns);
      state.objects.push_back(std::move(role));
    }
    for (const std::string& target_ns : namespaces) {
      DesiredObject binding = Object(spec, "rbac.authorization.k8s.io/v1", "RoleBinding",
                                     "rolebindings", target_ns, WatcherName(spec, target_ns));
      binding.object["roleRef"] = {
          {"apiGroup", kRbacGroup}, {"kind", "Role"}, {"name", WatcherName(spec, target_ns)}};
      binding.object["subjects"] = Json::array(
          {{{"kind", "ServiceAccount"}, {"name", spec.name}, {"namespace", spec.namespace_name}}});
      state.objects.push_back(std::move(binding));
    }
  }

  DesiredObject env = Object(spec, "v1", "ConfigMap", "configmaps", ns, spec.name);
  env.object["data"] = EnvConfigData(spec);
  state.objects.push_back(std::move(env));

  const std::string watch_yaml = WatchConfigYaml(spec);
  if (!watch_yaml.empty()) {
    DesiredObject watch =
        Object(spec, "v1", "ConfigMap", "configmaps", ns, spec.name + "-watch-config");
    watch.object["data"] = {{kWatchConfigKey, watch_yaml}};
    state.objects.push_back(std::move(watch));
  }

  if (spec.persistence_enabled) {
    DesiredObject pvc = Object(spec, "v1", "PersistentVolumeClaim", "persistentvolumeclaims", ns,
                               spec.name + "-sessions");
    pvc.object["spec"] = {{"accessModes", {"ReadWriteOnce"}},
                          {"resources", {{"requests", {{"storage", spec.persistence_size}}}}}};
    if (!spec.storage_class.empty()) {
      pvc.object["spec"]["storageClassName"] = spec.storage_class;
    }
    pvc.create_only = true;  // a claim's spec is immutable once bound
    state.objects.push_back(std::move(pvc));
  }

  DesiredObject service = Object(spec, "v1", "Service", "services", ns, spec.name);
  Json service_ports = Json::array(
      {{{"name", "grpc"}, {"port", spec.port}, {"targetPort", "grpc"}, {"protocol", "TCP"}}});
  if (spec.metrics_port > 0) {
    service_ports.push_back({{"name", "metrics"},
                             {"port", spec.metrics_port},
                             {"targetPort", "metrics"},
                             {"protocol", "TCP"}});
  }
  service.object["spec"] = {
      {"type", "ClusterIP"}, {"selector", SelectorLabels(spec)}, {"ports", service_ports}};
  if (state.headless) {
    service.object["spec"]["clusterIP"] = "None";
  }
  state.objects.push_back(std::move(service));

  DesiredObject deployment = Object(spec, "apps/v1", "Deployment", "deployments", ns, spec.name);
  Deployment(spec, state.config_hash, deployment);
  state.objects.push_back(std::move(deployment));
  return state;
}

Json BuildInstanceStatus(const InstanceSpec& spec, const std::string& config_hash,
                         const Json& deployment, const Json& previous_status, absl::Time now,
                         const std::string& problem_reason, const std::string& problem) {
  const Json& ds = At(deployment, "status");
  const int64_t replicas = IntAt(ds, "replicas");
  const int64_t ready_replicas = IntAt(ds, "readyReplicas");
  const int64_t updated = IntAt(ds, "updatedReplicas");
  const int64_t available = IntAt(ds, "availableReplicas");
  const int64_t desired = spec.replicas;
  const bool ready = ready_replicas > 0 && ready_replicas >= desired;

  struct Condition {
    const char* type;
    bool status;
    std::string reason;
    std::string message;
  };
  std::vector<Condition> conditions;
  if (ready) {
    conditions.push_back({"Available", true, "DeploymentReady",
                          fmt::format("{}/{} replicas ready", ready_replicas, desired)});
  } else {
    conditions.push_back({"Available", false, "DeploymentNotReady",
                          deployment.is_null()
                              ? "the Deployment does not exist yet"
                              : fmt::format("{}/{} replicas ready", ready_replicas, desired)});
  }
  if (!problem.empty()) {
    conditions.push_back({"Progressing", false, problem_reason, problem});
  } else if (deployment.is_null()) {
    conditions.push_back({"Progressing", true, "RolloutInProgress", "creating the Deployment"});
  } else {
    const bool caught_up =
        IntAt(ds, "observedGeneration") >= IntAt(At(deployment, "metadata"), "generation");
    const bool done =
        caught_up && updated >= desired && replicas <= desired && available >= desired;
    if (done) {
      conditions.push_back({"Progressing", false, "RolloutComplete",
                            fmt::format("{} replicas updated and available", desired)});
    } else {
      conditions.push_back(
          {"Progressing", true, "RolloutInProgress",
           fmt::format("updated {}/{}, available {}/{}", updated, desired, available, desired)});
    }
  }

  Json out_conditions = Json::array();
  const Json& previous = At(previous_status, "conditions");
  for (const Condition& c : conditions) {
    const std::string status = c.status ? "True" : "False";
    std::string since = Rfc3339(now);
    if (previous.is_array()) {
      for (const Json& p : previous) {
        if (StrAt(p, "type") == c.type && StrAt(p, "status") == status &&
            !StrAt(p, "lastTransitionTime").empty()) {
          since = StrAt(p, "lastTransitionTime");
        }
      }
    }
    out_conditions.push_back({{"type", c.type},
                              {"status", status},
                              {"reason", c.reason},
                              {"message", c.message},
                              {"lastTransitionTime", since},
                              {"observedGeneration", spec.generation}});
  }
  return {{"ready", ready},
          {"replicas", replicas},
          {"readyReplicas", ready_replicas},
          {"observedGeneration", spec.generation},
          {"configHash", config_hash},
          {"conditions", out_conditions}};
}

std::optional<v1::Event> InstanceSpecEvent(const InstanceSpec& spec, const Json& instance,
                                           absl::Time now) {
  v1::Event event;
  event.set_logical_time_ms(absl::ToUnixMillis(now));
  event.set_producer("instance-reconciler");
  event.set_ignorable(true);  // an audit record: readers that do not know it may skip it
  v1::InstanceSpecObserved* o = event.mutable_instance_spec_observed();
  o->set_namespace_(spec.namespace_name);
  o->set_name(spec.name);
  o->set_uid(spec.uid);
  o->set_generation(spec.generation);
  const Json* s = instance.is_object() && instance.contains("spec") ? &instance["spec"] : nullptr;
  o->set_spec_json(s != nullptr ? s->dump() : "{}");
  o->set_spec_sha256(common::Sha256Hex(o->spec_json()));
  return event;
}

// ---------------------------------------------------------------------------------------------
// The reconciler

namespace {

struct OwnedKind {
  const char* api_version;
  const char* kind;
  const char* plural;
};

constexpr OwnedKind kOwnedKinds[] = {
    {"v1", "ServiceAccount", "serviceaccounts"},
    {"rbac.authorization.k8s.io/v1", "Role", "roles"},
    {"rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"},
    {"v1", "ConfigMap", "configmaps"},
    {"v1", "PersistentVolumeClaim", "persistentvolumeclaims"},
    {"v1", "Service", "services"},
    {"apps/v1", "Deployment", "deployments"},
};

std::string ClusterCollection(const OwnedKind& k) {
  const std::string prefix =
      std::string(k.api_version) == "v1" ? "/api/v1" : std::string("/apis/") + k.api_version;
  return fmt::format("{}/{}", prefix, k.plural);
}

std::string ObjectId(const std::string& kind, const std::string& ns, const std::string& name) {
  return fmt::format("{}/{}/{}", kind, ns, name);
}

std::string InstancePath(const std::string& ns, const std::string& name) {
  return fmt::format("/apis/platform.chatcli.io/v1alpha1/namespaces/{}/instances/{}", ns, name);
}

}  // namespace

InstanceReconciler::InstanceReconciler(KubeClient& client, Options options, Submit submit)
    : client_(client),
      options_(std::move(options)),
      submit_(std::move(submit)),
      clock_(options_.clock != nullptr ? *options_.clock : common::SystemClock::Get()) {}

InstanceReconciler::~InstanceReconciler() { Stop(); }

void InstanceReconciler::Count(uint64_t Stats::*field, uint64_t n) {
  absl::MutexLock lock(&mu_);
  stats_.*field += n;
}

InstanceReconciler::Stats InstanceReconciler::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void InstanceReconciler::Enqueue(const std::string& key) {
  absl::MutexLock lock(&mu_);
  queue_.insert(key);
}

void InstanceReconciler::Start() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) {
      return;
    }
    started_ = true;
    stopping_ = false;
  }
  const std::string scope =
      options_.namespace_name.empty() ? "" : "/namespaces/" + options_.namespace_name;
  auto instances = std::make_unique<Informer>(
      client_,
      Informer::Options{fmt::format("/apis/platform.chatcli.io/v1alpha1{}/instances", scope)},
      [this](const std::string& type, const Json& instance) {
        const std::string key = ObjectKey(instance);
        const Json& meta = At(instance, "metadata");
        const int64_t generation = IntAt(meta, "generation");
        absl::MutexLock lock(&mu_);
        // Status-only changes (our own writes among them) leave the desired set unchanged.
        auto seen = seen_generation_.find(key);
        const bool changed = seen == seen_generation_.end() || seen->second != generation ||
                             !At(meta, "deletionTimestamp").is_null();
        if (type == "DELETED") {
          seen_generation_.erase(key);
        } else {
          seen_generation_[key] = generation;
        }
        if (type != "MODIFIED" || changed) {
          queue_.insert(key);
        }
      });
  instances_ = instances.get();
  informers_.push_back(std::move(instances));
  const std::string selector =
      "?labelSelector=" + QueryEscape(fmt::format("{}={}", kLabelManagedBy, kManagedByValue));
  for (const OwnedKind& kind : kOwnedKinds) {
    informers_.push_back(std::make_unique<Informer>(
        client_, Informer::Options{ClusterCollection(kind) + selector},
        [this](const std::string& /*type*/, const Json& object) { OnOwnedObject(object); }));
  }
  for (auto& informer : informers_) {
    informer->Start();
  }
  worker_ = std::thread([this] { Work(); });
}

void InstanceReconciler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      return;
    }
    stopping_ = true;
  }
  if (worker_.joinable()) {
    worker_.join();
  }
  for (auto& informer : informers_) {
    informer->Stop();
  }
  informers_.clear();
  instances_ = nullptr;
  absl::MutexLock lock(&mu_);
  started_ = false;
}

bool InstanceReconciler::WaitForSync(absl::Duration timeout) const {
  for (const auto& informer : informers_) {
    if (!informer->WaitForSync(timeout)) {
      return false;
    }
  }
  return true;
}

bool InstanceReconciler::HasWork() const { return stopping_ || !queue_.empty(); }

bool InstanceReconciler::Idle() const { return queue_.empty() && !busy_; }

bool InstanceReconciler::WaitIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(this, &InstanceReconciler::Idle), timeout);
}

void InstanceReconciler::OnOwnedObject(const Json& object) {
  const Json& meta = At(object, "metadata");
  const std::string key = StrAt(At(meta, "annotations"), kAnnotationInstance);
  const size_t slash = key.find('/');
  if (slash == std::string::npos) {
    return;  // not written by this reconciler
  }
  if (!options_.namespace_name.empty() && key.substr(0, slash) != options_.namespace_name) {
    return;  // an Instance outside this reconciler's namespace
  }
  Enqueue(key);
}

void InstanceReconciler::Work() {
  absl::Time next_resync = absl::Now() + options_.resync_period;
  for (;;) {
    if (absl::Now() >= next_resync) {
      // Outside mu_: the informer takes its own lock.
      std::vector<Json> all = instances_->List();
      absl::MutexLock lock(&mu_);
      for (const Json& instance : all) {
        queue_.insert(ObjectKey(instance));
      }
      next_resync = absl::Now() + options_.resync_period;
    }
    std::string key;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      absl::Time wake = next_resync;
      for (auto it = retry_at_.begin(); it != retry_at_.end();) {
        if (it->second <= now) {
          queue_.insert(it->first);
          it = retry_at_.erase(it);
        } else {
          wake = std::min(wake, it->second);
          ++it;
        }
      }
      if (queue_.empty()) {
        mu_.AwaitWithDeadline(absl::Condition(this, &InstanceReconciler::HasWork), wake);
      }
      if (stopping_) {
        return;
      }
      if (queue_.empty()) {
        continue;
      }
      key = *queue_.begin();
      queue_.erase(queue_.begin());
      retry_at_.erase(key);
      busy_ = true;
    }
    const size_t slash = key.find('/');
    absl::Status status = slash == std::string::npos
                              ? absl::InvalidArgumentError("bad key " + key)
                              : Reconcile(key.substr(0, slash), key.substr(slash + 1));
    absl::ReleasableMutexLock lock(&mu_);
    busy_ = false;
    if (status.ok() || status.code() == absl::StatusCode::kInvalidArgument) {
      failures_.erase(key);
      continue;
    }
    const int n = ++failures_[key];
    absl::Duration backoff = options_.initial_backoff;
    for (int i = 1; i < n && backoff < options_.max_backoff; ++i) {
      backoff *= 2;
    }
    backoff = std::min(backoff, options_.max_backoff);
    retry_at_[key] = absl::Now() + backoff;
    if (options_.on_error) {
      lock.Release();
      options_.on_error(key, status, backoff);
    }
  }
}

absl::Status InstanceReconciler::Reconcile(const std::string& namespace_name,
                                           const std::string& name) {
  Count(&Stats::reconciles);
  absl::StatusOr<Json> instance = client_.Get(InstancePath(namespace_name, name));
  absl::Status status;
  if (!instance.ok() && IsKubeNotFound(instance.status())) {
    // Gone: an empty desired set. Objects in its own namespace also go with the garbage
    // collector (owner references); those in other namespaces only go here.
    status = Sweep(namespace_name, name, {});
  } else if (!instance.ok()) {
    status = instance.status();
  } else if (!At(At(*instance, "metadata"), "deletionTimestamp").is_null()) {
    status = absl::OkStatus();  // being deleted: the DELETED event sweeps
  } else {
    status = ReconcileInstance(*instance);
  }
  if (!status.ok()) {
    Count(&Stats::failures);
  }
  return status;
}

absl::Status InstanceReconciler::ReconcileInstance(const Json& instance) {
  const absl::StatusOr<InstanceSpec> parsed =
      ParseInstanceSpec(instance, options_.default_image_tag);
  if (!parsed.ok()) {
    // A bad spec is reported where the user looks and waits for the next generation.
    InstanceSpec minimal;
    const Json& meta = At(instance, "metadata");
    minimal.name = StrAt(meta, "name");
    minimal.namespace_name = StrAt(meta, "namespace");
    minimal.generation = IntAt(meta, "generation");
    absl::StatusOr<Json> deployment = client_.Get(fmt::format(
        "/apis/apps/v1/namespaces/{}/deployments/{}", minimal.namespace_name, minimal.name));
    const Json status =
        BuildInstanceStatus(minimal, StrAt(At(instance, "status"), "configHash"),
                            deployment.ok() ? *deployment : Json(), At(instance, "status"),
                            clock_.Now(), "InvalidSpec", std::string(parsed.status().message()));
    AIOPS_RETURN_IF_ERROR(WriteStatus(instance, status));
    return parsed.status();
  }
  const InstanceSpec& spec = *parsed;

  // The Secrets the pods use enter the config hash through their resourceVersions.
  SecretVersions versions;
  std::vector<std::string> missing;
  auto read_secret = [&](const std::string& secret, const char* field,
                         std::string* rv) -> absl::Status {
    if (secret.empty()) {
      return absl::OkStatus();
    }
    absl::StatusOr<Json> got =
        client_.Get(fmt::format("/api/v1/namespaces/{}/secrets/{}", spec.namespace_name, secret));
    if (got.ok()) {
      *rv = StrAt(At(*got, "metadata"), "resourceVersion");
      return absl::OkStatus();
    }
    if (IsKubeNotFound(got.status())) {
      missing.push_back(
          fmt::format("Secret {}/{} ({}) not found", spec.namespace_name, secret, field));
      return absl::OkStatus();
    }
    return got.status();
  };
  AIOPS_RETURN_IF_ERROR(read_secret(spec.api_keys_secret, "spec.apiKeys.name", &versions.api_keys));
  AIOPS_RETURN_IF_ERROR(read_secret(spec.token_secret, "spec.server.token.name", &versions.token));
  AIOPS_RETURN_IF_ERROR(read_secret(spec.tls_secret, "spec.server.tls.secretName", &versions.tls));

  const DesiredState desired = BuildDesiredState(spec, versions);
  const Json& previous_status = At(instance, "status");

  // A generation not yet in status.observedGeneration is a spec change to record (once: the
  // status write below moves observedGeneration on only after the event was submitted).
  if (IntAt(previous_status, "observedGeneration") != spec.generation) {
    Count(&Stats::generations_observed);
    std::optional<v1::Event> event = InstanceSpecEvent(spec, instance, clock_.Now());
    if (event.has_value() && submit_) {
      absl::StatusOr<uint64_t> appended = submit_(*std::move(event));
      if (!appended.ok()) {
        return appended.status();
      }
      Count(&Stats::events_submitted);
    }
  }

  Json deployment;
  absl::Status applied = absl::OkStatus();
  std::set<std::string> keep;
  for (const DesiredObject& object : desired.objects) {
    keep.insert(ObjectId(object.kind, object.namespace_name, object.name));
  }
  for (const DesiredObject& object : desired.objects) {
    if (object.kind == "Service") {
      applied = EnsureServiceShape(object, desired.headless);
      if (!applied.ok()) {
        break;
      }
    }
    Json live;
    applied = ApplyObject(object, &live);
    if (!applied.ok()) {
      applied = absl::Status(applied.code(),
                             fmt::format("{} {}/{}: {}", object.kind, object.namespace_name,
                                         object.name, applied.message()));
      break;
    }
    if (object.kind == "Deployment") {
      deployment = std::move(live);
    }
  }
  if (applied.ok()) {
    applied = Sweep(spec.namespace_name, spec.name, keep);
  }

  std::string reason;
  std::string problem;
  if (!applied.ok()) {
    reason = "ReconcileFailed";
    problem = std::string(applied.message());
  } else if (!missing.empty()) {
    reason = "SecretNotFound";
    for (const std::string& m : missing) {
      problem += (problem.empty() ? "" : "; ") + m;
    }
  }
  const Json status = BuildInstanceStatus(spec, desired.config_hash, deployment, previous_status,
                                          clock_.Now(), reason, problem);
  absl::Status written = WriteStatus(instance, status);
  AIOPS_RETURN_IF_ERROR(applied);
  return written;
}

absl::Status InstanceReconciler::ApplyObject(const DesiredObject& desired, Json* live) {
  if (desired.create_only) {
    absl::StatusOr<Json> existing = client_.Get(desired.Path());
    if (existing.ok()) {
      *live = *std::move(existing);
      return absl::OkStatus();
    }
    if (!IsKubeNotFound(existing.status())) {
      return existing.status();
    }
    absl::StatusOr<Json> created = client_.Create(desired.CollectionPath(), desired.object);
    Count(&Stats::applies);
    if (!created.ok() && !IsKubeAlreadyExists(created.status())) {
      return created.status();
    }
    if (created.ok()) {
      *live = *std::move(created);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<Json> applied = client_.Apply(desired.Path(), desired.object, kFieldManager);
  Count(&Stats::applies);
  if (!applied.ok()) {
    return applied.status();
  }
  *live = *std::move(applied);
  return absl::OkStatus();
}

absl::Status InstanceReconciler::EnsureServiceShape(const DesiredObject& service, bool headless) {
  absl::StatusOr<Json> existing = client_.Get(service.Path());
  if (!existing.ok()) {
    return IsKubeNotFound(existing.status()) ? absl::OkStatus() : existing.status();
  }
  const bool is_headless = StrAt(At(*existing, "spec"), "clusterIP") == "None";
  if (is_headless == headless) {
    return absl::OkStatus();
  }
  // spec.clusterIP is immutable: switching between a virtual IP and headless needs a new Service.
  absl::StatusOr<Json> deleted = client_.Delete(service.Path());
  if (!deleted.ok() && !IsKubeNotFound(deleted.status())) {
    return deleted.status();
  }
  Count(&Stats::service_recreations);
  return absl::OkStatus();
}

absl::Status InstanceReconciler::Sweep(const std::string& namespace_name, const std::string& name,
                                       const std::set<std::string>& keep) {
  const std::string want = namespace_name + "/" + name;
  const std::string selector = QueryEscape(
      fmt::format("{}={},{}={},{}={}", kLabelManagedBy, kManagedByValue, kLabelInstance,
                  LabelValue(name), kLabelInstanceNamespace, LabelValue(namespace_name)));
  for (const OwnedKind& kind : kOwnedKinds) {
    AIOPS_ASSIGN_OR_RETURN(Json list,
                           client_.Get(ClusterCollection(kind) + "?labelSelector=" + selector));
    const Json& items = At(list, "items");
    if (!items.is_array()) {
      continue;
    }
    for (const Json& item : items) {
      const Json& meta = At(item, "metadata");
      // Labels may be shortened with a hash; the annotation names the Instance exactly.
      if (StrAt(At(meta, "annotations"), kAnnotationInstance) != want ||
          !At(meta, "deletionTimestamp").is_null()) {
        continue;
      }
      const std::string ns = StrAt(meta, "namespace");
      const std::string object_name = StrAt(meta, "name");
      if (keep.count(ObjectId(kind.kind, ns, object_name)) > 0) {
        continue;
      }
      DesiredObject gone;
      gone.api_version = kind.api_version;
      gone.plural = kind.plural;
      gone.namespace_name = ns;
      gone.name = object_name;
      absl::StatusOr<Json> deleted = client_.Delete(gone.Path());
      if (!deleted.ok() && !IsKubeNotFound(deleted.status())) {
        return deleted.status();
      }
      Count(&Stats::deletes);
    }
  }
  return absl::OkStatus();
}

absl::Status InstanceReconciler::WriteStatus(const Json& instance, const Json& status) {
  if (At(instance, "status") == status) {
    return absl::OkStatus();  // unchanged: a repeated reconcile writes nothing
  }
  const Json& meta = At(instance, "metadata");
  const Json body = {{"apiVersion", kInstanceApiVersion},
                     {"kind", "Instance"},
                     {"metadata", {{"name", StrAt(meta, "name")}}},
                     {"status", status}};
  absl::StatusOr<Json> written = client_.Apply(
      InstancePath(StrAt(meta, "namespace"), StrAt(meta, "name")) + "/status", body, kFieldManager);
  if (!written.ok()) {
    return written.status();
  }
  Count(&Stats::status_writes);
  return absl::OkStatus();
}

}  // namespace aiops::k8s_sync
