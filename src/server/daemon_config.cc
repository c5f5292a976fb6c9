#include "server/daemon_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "common/fmt_absl.h"
#include "common/status_macros.h"
#include "projections/naming.h"
#include "server/api/grpc_server.h"
#include "server/pipeline_config.h"

namespace aiops::server {
namespace {

using Json = nlohmann::json;

// Reads the keys of one JSON object, rejecting unknown keys and wrong types by their path.
class ObjectReader {
 public:
  ObjectReader(const Json& object, std::string path) : object_(object), path_(std::move(path)) {}

  absl::Status Check(const std::set<std::string>& known) const {
    if (!object_.is_object()) {
      return absl::InvalidArgumentError(fmt::format("{} must be an object", Where("")));
    }
    for (const auto& [key, value] : object_.items()) {
      if (known.count(key) == 0) {
        return absl::InvalidArgumentError(fmt::format("unknown key {}", Where(key)));
      }
    }
    return absl::OkStatus();
  }
  absl::Status String(const char* key, std::string& out) const {
    auto it = object_.find(key);
    if (it == object_.end()) {
      return absl::OkStatus();
    }
    if (!it->is_string()) {
      return absl::InvalidArgumentError(fmt::format("{} must be a string", Where(key)));
    }
    out = it->get<std::string>();
    return absl::OkStatus();
  }
  absl::Status Bool(const char* key, bool& out) const {
    auto it = object_.find(key);
    if (it == object_.end()) {
      return absl::OkStatus();
    }
    if (!it->is_boolean()) {
      return absl::InvalidArgumentError(fmt::format("{} must be true or false", Where(key)));
    }
    out = it->get<bool>();
    return absl::OkStatus();
  }
  // A positive integer (0 allowed when `allow_zero`).
  absl::Status Int(const char* key, int64_t& out, bool allow_zero = false) const {
    auto it = object_.find(key);
    if (it == object_.end()) {
      return absl::OkStatus();
    }
    if (!it->is_number_integer() || it->get<int64_t>() < (allow_zero ? 0 : 1)) {
      return absl::InvalidArgumentError(fmt::format("{} must be a {} integer", Where(key),
                                                    allow_zero ? "non-negative" : "positive"));
    }
    out = it->get<int64_t>();
    return absl::OkStatus();
  }
  // A number of at least 0 (an integer or not).
  absl::Status NonNegative(const char* key, double& out) const {
    auto it = object_.find(key);
    if (it == object_.end()) {
      return absl::OkStatus();
    }
    if (!it->is_number() || it->get<double>() < 0) {
      return absl::InvalidArgumentError(
          fmt::format("{} must be a number of at least 0", Where(key)));
    }
    out = it->get<double>();
    return absl::OkStatus();
  }
  absl::Status Seconds(const char* key, absl::Duration& out) const {
    int64_t seconds = -1;
    absl::Status s = Int(key, seconds);
    if (s.ok() && seconds > 0) {
      out = absl::Seconds(seconds);
    }
    return s;
  }
  const Json* Child(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  std::string Where(const std::string& key) const {
    return key.empty() ? (path_.empty() ? "the configuration" : fmt::format("\"{}\"", path_))
                       : fmt::format("\"{}{}\"", path_.empty() ? "" : path_ + ".", key);
  }

 private:
  const Json& object_;
  std::string path_;
};

#define AIOPS_CFG(expr)       \
  do {                        \
    absl::Status _s = (expr); \
    if (!_s.ok()) return _s;  \
  } while (false)

// The TLS and token keys of an explicit ChatCLI server apply only with its target (an Instance
// brings its own), and a CA only with TLS.
absl::Status CheckConnection(const std::string& target, bool tls, const std::string& ca_file,
                             const std::string& token_file, const ChatCliConnectionKeys& keys) {
  if (target.empty() && (tls || !ca_file.empty() || !token_file.empty())) {
    return absl::InvalidArgumentError(fmt::format(
        "\"{}\" applies only with \"{}\" (an Instance brings its own TLS and token)",
        tls ? keys.tls : (!ca_file.empty() ? keys.ca_file : keys.token_file), keys.target));
  }
  if (!ca_file.empty() && !tls) {
    return absl::InvalidArgumentError(
        fmt::format("\"{}\" needs \"{}\": true", keys.ca_file, keys.tls));
  }
  return absl::OkStatus();
}

absl::Status ParseLeaderElection(const Json& j, DaemonConfig::LeaderElection& out) {
  ObjectReader r(j, "leaderElection");
  AIOPS_CFG(r.Check({"enabled", "namespace", "leaseName"}));
  AIOPS_CFG(r.Bool("enabled", out.enabled));
  AIOPS_CFG(r.String("namespace", out.namespace_name));
  AIOPS_CFG(r.String("leaseName", out.lease_name));
  // The API server would refuse to create such a Lease, and the replica would wait for ever.
  if (!projections::IsDns1123Subdomain(out.lease_name)) {
    return absl::InvalidArgumentError(fmt::format(
        "\"leaderElection.leaseName\" '{}' is not a valid Kubernetes object name (lower-case "
        "letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253)",
        out.lease_name));
  }
  if (!out.namespace_name.empty() && !projections::IsDns1123Label(out.namespace_name)) {
    return absl::InvalidArgumentError(fmt::format(
        "\"leaderElection.namespace\" '{}' is not a valid namespace name (lower-case letters, "
        "digits and '-', at most 63)",
        out.namespace_name));
  }
  return absl::OkStatus();
}

absl::Status ParseKubeClient(const Json& j, DaemonConfig::KubeClient& out) {
  ObjectReader r(j, "kubeClient");
  AIOPS_CFG(r.Check({"qps", "burst", "mirrorQps", "mirrorBurst"}));
  AIOPS_CFG(r.NonNegative("qps", out.qps));
  AIOPS_CFG(r.Int("burst", out.burst));
  AIOPS_CFG(r.NonNegative("mirrorQps", out.mirror_qps));
  AIOPS_CFG(r.Int("mirrorBurst", out.mirror_burst));
  constexpr int64_t kMaxBurst = 100'000;
  if (out.burst > kMaxBurst || out.mirror_burst > kMaxBurst) {
    return absl::InvalidArgumentError(fmt::format(
        "\"kubeClient.burst\" and \"kubeClient.mirrorBurst\" must be at most {}", kMaxBurst));
  }
  return absl::OkStatus();
}

absl::Status ParseWatcher(const Json& j, k8s_sync::DetectorConfig& out) {
  ObjectReader r(j, "watcher");
  AIOPS_CFG(r.Check({"targets", "restartsMin", "crashLoopRestartsMin", "restartWindowSeconds",
                     "notReadySeconds", "unavailableSeconds", "recheckSeconds"}));
  int64_t restarts = out.restarts_min;
  AIOPS_CFG(r.Int("restartsMin", restarts));
  int64_t crashloop_restarts = out.crashloop_restarts_min;
  AIOPS_CFG(r.Int("crashLoopRestartsMin", crashloop_restarts));
  out.restarts_min = static_cast<int>(restarts);
  out.crashloop_restarts_min = static_cast<int>(crashloop_restarts);
  AIOPS_CFG(r.Seconds("restartWindowSeconds", out.restart_window));
  AIOPS_CFG(r.Seconds("notReadySeconds", out.not_ready_after));
  AIOPS_CFG(r.Seconds("unavailableSeconds", out.unavailable_after));
  AIOPS_CFG(r.Seconds("recheckSeconds", out.recheck_interval));
  if (const Json* targets = r.Child("targets")) {
    if (!targets->is_array()) {
      return absl::InvalidArgumentError("\"watcher.targets\" must be an array");
    }
    out.targets.clear();
    for (size_t i = 0; i < targets->size(); ++i) {
      ObjectReader t((*targets)[i], fmt::format("watcher.targets[{}]", i));
      AIOPS_CFG(t.Check({"namespace", "deployment"}));
      k8s_sync::DetectorTarget target;
      AIOPS_CFG(t.String("namespace", target.namespace_name));
      AIOPS_CFG(t.String("deployment", target.deployment));
      if (target.namespace_name.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("\"watcher.targets[{}].namespace\" is required", i));
      }
      out.targets.push_back(std::move(target));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseAnalyzer(const Json& j, DaemonConfig::Analyzer& out) {
  ObjectReader r(j, "analyzer");
  AIOPS_CFG(r.Check({"provider", "model", "baseUrl", "instance", "chatcliTarget", "chatcliTls",
                     "chatcliCaFile", "chatcliTokenFile", "tokenBudgetPerIncident"}));
  AIOPS_CFG(r.String("provider", out.provider));
  AIOPS_CFG(r.String("model", out.model));
  AIOPS_CFG(r.String("baseUrl", out.base_url));
  AIOPS_CFG(r.String("instance", out.instance));
  AIOPS_CFG(r.String("chatcliTarget", out.chatcli_target));
  AIOPS_CFG(r.Bool("chatcliTls", out.chatcli_tls));
  AIOPS_CFG(r.String("chatcliCaFile", out.chatcli_ca_file));
  AIOPS_CFG(r.String("chatcliTokenFile", out.chatcli_token_file));
  AIOPS_CFG(r.Int("tokenBudgetPerIncident", out.token_budget_per_incident, true));
  static const std::set<std::string> kProviders = {"builtin", "chatcli", "anthropic", "openai"};
  if (kProviders.count(out.provider) == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "\"analyzer.provider\" must be builtin, chatcli, anthropic or openai (got \"{}\")",
        out.provider));
  }
  if (out.provider == "chatcli" && out.instance.empty() && out.chatcli_target.empty()) {
    return absl::InvalidArgumentError(
        "\"analyzer.provider\" chatcli needs \"analyzer.instance\" (namespace/name) or "
        "\"analyzer.chatcliTarget\"");
  }
  if (!out.instance.empty() && out.instance.find('/') == std::string::npos) {
    return absl::InvalidArgumentError(
        fmt::format("\"analyzer.instance\" must be namespace/name (got \"{}\")", out.instance));
  }
  return CheckConnection(out.chatcli_target, out.chatcli_tls, out.chatcli_ca_file,
                         out.chatcli_token_file, kAnalyzerChatCliKeys);
}

absl::Status ParseBridge(const Json& j, DaemonConfig::Bridge& out) {
  ObjectReader r(j, "chatcliBridge");
  AIOPS_CFG(r.Check({"instance", "target", "tls", "caFile", "tokenFile", "intervalSeconds"}));
  AIOPS_CFG(r.String("instance", out.instance));
  AIOPS_CFG(r.String("target", out.target));
  AIOPS_CFG(r.Bool("tls", out.tls));
  AIOPS_CFG(r.String("caFile", out.ca_file));
  AIOPS_CFG(r.String("tokenFile", out.token_file));
  AIOPS_CFG(r.Seconds("intervalSeconds", out.interval));
  if (!out.instance.empty() && out.instance.find('/') == std::string::npos) {
    return absl::InvalidArgumentError(fmt::format(
        "\"chatcliBridge.instance\" must be namespace/name (got \"{}\")", out.instance));
  }
  if (!out.instance.empty() && !out.target.empty()) {
    return absl::InvalidArgumentError(
        "\"chatcliBridge.instance\" and \"chatcliBridge.target\" exclude each other");
  }
  return CheckConnection(out.target, out.tls, out.ca_file, out.token_file, kBridgeChatCliKeys);
}

absl::Status SetPipeline(DaemonConfig& config, const std::string& json) {
  absl::StatusOr<v1::PipelineConfig> pipeline = ParsePipelineConfig(json);
  if (!pipeline.ok()) {
    return absl::InvalidArgumentError(fmt::format("\"pipeline\": {}", pipeline.status().message()));
  }
  config.pipeline = *std::move(pipeline);
  RefreshPipeline(config);
  return absl::OkStatus();
}

}  // namespace

void RefreshPipeline(DaemonConfig& config) {
  config.pipeline.set_cluster_id(config.cluster_id);
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(config.pipeline, &out, options);
  config.pipeline_json = std::move(out);
}

namespace {

// Where a JSON text stops being JSON, for a person: "at line L, column C: <what>". nlohmann's
// exceptions are not used (CONVENTIONS.md §2.3): its SAX interface reports the error instead.
class SyntaxErrorSax final : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool /*val*/) override { return true; }
  bool number_integer(number_integer_t /*val*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*val*/) override { return true; }
  bool number_float(number_float_t /*val*/, const string_t& /*s*/) override { return true; }
  bool string(string_t& /*val*/) override { return true; }
  bool binary(binary_t& /*val*/) override { return true; }
  bool start_object(std::size_t /*elements*/) override { return true; }
  bool key(string_t& /*val*/) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t /*elements*/) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    message = ex.what();
    return false;
  }
  std::string message;
};

}  // namespace

std::string JsonSyntaxError(const std::string& text) {
  SyntaxErrorSax sax;
  if (Json::sax_parse(text, &sax, nlohmann::detail::input_format_t::json, /*strict=*/true)) {
    return "";
  }
  // "[json.exception.parse_error.101] parse error at line 3, column 5: syntax error while
  // parsing object - ...": the part from "at line" on.
  const size_t at = sax.message.find("at line");
  return at == std::string::npos ? sax.message : sax.message.substr(at);
}

DaemonConfig DefaultDaemonConfig() {
  DaemonConfig config;
  (void)SetPipeline(config, "{}");
  return config;
}

absl::StatusOr<DaemonConfig> ParseDaemonConfig(const std::string& text) {
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        fmt::format("the configuration is not valid JSON: {}", JsonSyntaxError(text)));
  }
  DaemonConfig config = DefaultDaemonConfig();
  ObjectReader r(j, "");
  AIOPS_CFG(r.Check({"clusterId", "dataDir", "grpcListen", "httpListen", "authTokenFile",
                     "tlsCertFile", "tlsKeyFile", "kubeconfig", "logLevel", "leaderElection",
                     "watcher", "analyzer", "chatcliBridge", "kubeClient", "reconcileInstances",
                     "mirrorRetentionSeconds", "pipeline"}));
  AIOPS_CFG(r.String("clusterId", config.cluster_id));
  AIOPS_CFG(r.String("dataDir", config.data_dir));
  AIOPS_CFG(r.String("grpcListen", config.grpc_listen));
  AIOPS_CFG(r.String("httpListen", config.http_listen));
  AIOPS_CFG(r.String("authTokenFile", config.auth_token_file));
  AIOPS_CFG(r.String("tlsCertFile", config.tls_cert_file));
  AIOPS_CFG(r.String("tlsKeyFile", config.tls_key_file));
  AIOPS_CFG(r.String("kubeconfig", config.kubeconfig));
  AIOPS_CFG(r.String("logLevel", config.log_level));
  AIOPS_CFG(r.Bool("reconcileInstances", config.reconcile_instances));
  AIOPS_CFG(r.Seconds("mirrorRetentionSeconds", config.mirror_retention));
  if (config.cluster_id.empty()) {
    return absl::InvalidArgumentError("\"clusterId\" must not be empty");
  }
  if (config.data_dir.empty()) {
    return absl::InvalidArgumentError("\"dataDir\" must not be empty");
  }
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return absl::InvalidArgumentError("\"tlsCertFile\" and \"tlsKeyFile\" go together");
  }
  static const std::set<std::string> kLevels = {"debug", "info", "warn", "error"};
  if (kLevels.count(config.log_level) == 0) {
    return absl::InvalidArgumentError(fmt::format(
        "\"logLevel\" must be debug, info, warn or error (got \"{}\")", config.log_level));
  }
  if (const Json* c = r.Child("leaderElection")) {
    AIOPS_CFG(ParseLeaderElection(*c, config.leader_election));
  }
  if (const Json* c = r.Child("watcher")) {
    AIOPS_CFG(ParseWatcher(*c, config.watcher));
  }
  if (const Json* c = r.Child("analyzer")) {
    AIOPS_CFG(ParseAnalyzer(*c, config.analyzer));
  }
  if (const Json* c = r.Child("kubeClient")) {
    AIOPS_CFG(ParseKubeClient(*c, config.kube_client));
  }
  if (const Json* c = r.Child("chatcliBridge")) {
    AIOPS_CFG(ParseBridge(*c, config.chatcli_bridge));
  }
  const Json* pipeline = r.Child("pipeline");
  AIOPS_CFG(SetPipeline(config, pipeline != nullptr ? pipeline->dump() : "{}"));
  return config;
}

absl::StatusOr<std::string> ReadConfigFile(const std::string& path, std::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(fmt::format("cannot read {} {}", what, path));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  AIOPS_ASSIGN_OR_RETURN(const std::string text, ReadConfigFile(path, "the configuration file"));
  return LoadDaemonConfigText(path, text);
}

absl::StatusOr<DaemonConfig> LoadDaemonConfigText(const std::string& path,
                                                  const std::string& text) {
  absl::StatusOr<DaemonConfig> config = ParseDaemonConfig(text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(fmt::format("{}: {}", path, config.status().message()));
  }
  return config;
}

absl::StatusOr<analysis::ChatCliOptions> ChatCliConnection(const std::string& target, bool tls,
                                                           const std::string& ca_file,
                                                           const std::string& token_file,
                                                           const ChatCliConnectionKeys& keys) {
  analysis::ChatCliOptions options;
  options.target = target;
  options.tls = tls;
  if (!ca_file.empty()) {
    std::ifstream in(ca_file, std::ios::binary);
    if (!in) {
      const int error = errno;
      const std::string message = fmt::format("\"{}\": cannot read the CA file '{}': {}",
                                              keys.ca_file, ca_file, std::strerror(error));
      return error == EACCES ? absl::PermissionDeniedError(message) : absl::NotFoundError(message);
    }
    std::stringstream pem;
    pem << in.rdbuf();
    options.ca_pem = pem.str();
    if (options.ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("\"{}\": the CA file '{}' holds no PEM certificate", keys.ca_file, ca_file));
    }
  }
  if (!token_file.empty()) {
    absl::StatusOr<std::string> token = api::ReadTokenFile(token_file);
    if (!token.ok()) {
      return absl::Status(token.status().code(),
                          fmt::format("\"{}\": {}", keys.token_file, token.status().message()));
    }
    options.token = *std::move(token);
  }
  return options;
}

#undef AIOPS_CFG

}  // namespace aiops::server
