#include "k8s_sync/kube_client.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>

#include <absl/strings/cord.h>
#include <fmt/format.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/fmt_absl.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace aiops::k8s_sync {
namespace {

using Json = nlohmann::json;
constexpr char kReasonPayload[] = "aiops.k8s/reason";

bool HasReason(const absl::Status& s, std::string_view reason) {
  const auto payload = s.GetPayload(kReasonPayload);
  return payload.has_value() && std::string(*payload) == reason;
}

absl::Status WithReason(absl::Status s, const std::string& reason) {
  s.SetPayload(kReasonPayload, absl::Cord(reason));
  return s;
}

// Classifies an API error response into an absl status whose message says what to do.
absl::Status ApiError(const std::string& method, const std::string& path, int code,
                      const std::string& body, const KubeConfig& config) {
  const Json status = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto field = [&](const char* key) {
    return status.is_object() && status.contains(key) && status[key].is_string()
               ? status[key].get<std::string>()
               : std::string();
  };
  const std::string reason = field("reason");
  std::string message = field("message");
  if (message.empty()) {
    message = body.substr(0, 300);
  }
  const std::string what = fmt::format("{} {}: HTTP {}", method, path, code);
  switch (code) {
    case 400:
    case 422:
      return WithReason(absl::InvalidArgumentError(fmt::format("{}: {}", what, message)),
                        reason.empty() ? "Invalid" : reason);
    case 401:
      return WithReason(
          absl::UnauthenticatedError(
              fmt::format("{}: the API server rejected the credentials of user '{}' (token, client "
                          "certificate or exec plugin): {}",
                          what, config.user, message)),
          "Unauthorized");
    case 403:
      return WithReason(absl::PermissionDeniedError(fmt::format(
                            "{}: forbidden: {} (grant the operator's service account this verb "
                            "and resource in its Role/ClusterRole)",
                            what, message)),
                        "Forbidden");
    case 404:
      return WithReason(absl::NotFoundError(fmt::format("{}: {}", what, message)), "NotFound");
    case 409:
      if (reason == "AlreadyExists") {
        return WithReason(absl::AlreadyExistsError(fmt::format("{}: {}", what, message)),
                          "AlreadyExists");
      }
      return WithReason(absl::AbortedError(fmt::format(
                            "{}: conflict: {} (re-read the object and retry)", what, message)),
                        "Conflict");
    case 410:
      return WithReason(
          absl::FailedPreconditionError(
              fmt::format("{}: gone: {} (the resourceVersion is too old: relist)", what, message)),
          "Gone");
    case 429:
      return WithReason(absl::ResourceExhaustedError(fmt::format(
                            "{}: the API server is throttling requests: {}", what, message)),
                        "TooManyRequests");
    default:
      if (code >= 500) {
        return WithReason(absl::UnavailableError(fmt::format("{}: {}", what, message)),
                          reason.empty() ? "ServerError" : reason);
      }
      return absl::UnknownError(fmt::format("{}: {}", what, message));
  }
}

// Why OpenSSL rejected the server certificate during the last handshake on this thread (set by
// the verify callback of tls-server-name connections, read once by TransportError).
thread_local std::string last_verify_error;

absl::Status TransportError(httplib::Error error, const KubeConfig& config,
                            const std::string& method, const std::string& path,
                            absl::Duration read_timeout) {
  const std::string verify_error = std::exchange(last_verify_error, std::string());
  if (error == httplib::Error::SSLConnection && !config.tls_server_name.empty()) {
    return absl::UnavailableError(fmt::format(
        "{} {}: TLS handshake with {} failed{}: the server certificate must be signed by the "
        "configured CA and valid for tls-server-name '{}' (kubeconfig cluster)",
        method, path, config.server, verify_error.empty() ? "" : fmt::format(" ({})", verify_error),
        config.tls_server_name));
  }
  switch (error) {
    case httplib::Error::SSLServerVerification:
      return absl::UnavailableError(fmt::format(
          "{} {}: the certificate of {} is not trusted: check certificate-authority(-data) in "
          "the kubeconfig (or the service account's ca.crt)",
          method, path, config.server));
    case httplib::Error::SSLConnection:
      return absl::UnavailableError(fmt::format(
          "{} {}: TLS handshake with {} failed (wrong CA, client certificate, or not a TLS "
          "endpoint)",
          method, path, config.server));
    case httplib::Error::Connection:
      return absl::UnavailableError(
          fmt::format("{} {}: cannot connect to {}: is the API server running and reachable?",
                      method, path, config.server));
    case httplib::Error::Read:
      return absl::UnavailableError(fmt::format(
          "{} {}: no answer from {} within the request time-out of {} (or the connection was "
          "closed): is the API server overloaded or unreachable?",
          method, path, config.server, absl::FormatDuration(read_timeout)));
    default:
      return absl::UnavailableError(
          fmt::format("{} {}: {} ({})", method, path, httplib::to_string(error), config.server));
  }
}

struct ParsedServer {
  bool https = true;
  std::string host;
  int port = 443;
};

absl::StatusOr<ParsedServer> ParseServer(const std::string& server) {
  ParsedServer out;
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    out.https = false;
    out.port = 80;
    rest = server.substr(7);
  } else {
    return absl::InvalidArgumentError(fmt::format(
        "server '{}' must start with https:// (or http:// for a local test server)", server));
  }
  rest = rest.substr(0, rest.find('/'));
  size_t colon = rest.rfind(':');
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const size_t close = rest.find(']');
    out.host = rest.substr(1, close - 1);
    colon = rest.find(':', close);
  } else {
    out.host = rest.substr(0, colon);
  }
  if (colon != std::string::npos) {
    out.port = std::atoi(rest.c_str() + colon + 1);
  }
  if (out.host.empty() || out.port <= 0) {
    return absl::InvalidArgumentError(fmt::format("server '{}' has no usable host:port", server));
  }
  return out;
}

struct PemDeleter {
  void operator()(X509* x) const { X509_free(x); }
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  void operator()(BIO* b) const { BIO_free(b); }
};

bool IsIpAddress(const std::string& name) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, name.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, name.c_str(), buffer) == 1;
}

// The SSL_CTX slot holding the tls-server-name of the connections made from it.
int ServerNameIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// httplib sends the URL's host as SNI; a tls-server-name replaces it when the handshake starts,
// before the ClientHello is written (as client-go does with tls.Config.ServerName; no SNI for an
// IP address, which RFC 6066 does not allow).
void SetServerNameAtHandshakeStart(const SSL* ssl, int where, int /*ret*/) {
  if ((where & SSL_CB_HANDSHAKE_START) == 0) {
    return;
  }
  const auto* name =
      static_cast<const std::string*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ServerNameIndex()));
  if (name == nullptr) {
    return;
  }
  // OpenSSL passes its own (mutable) connection as const to info callbacks.
  SSL* mutable_ssl = const_cast<SSL*>(ssl);
  // SSL_set_tlsext_host_name spelled out (the macro's cast does not parenthesize its argument).
  void* host = IsIpAddress(*name) ? nullptr : const_cast<char*>(name->c_str());
  SSL_ctrl(mutable_ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, host);
}

int RecordVerifyFailure(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok == 0) {
    last_verify_error = X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
  }
  return preverify_ok;
}

// What an exec credential plugin printed (client.authentication.k8s.io ExecCredential status).
struct ExecOutput {
  std::string token;
  std::string client_cert_pem;  // clientCertificateData
  std::string client_key_pem;   // clientKeyData
  absl::Time expires = absl::InfiniteFuture();
};

// Runs an exec credential plugin and returns its token or client certificate, and the expiry.
absl::StatusOr<ExecOutput> RunExecPlugin(const ExecPlugin& exec) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError("exec plugin: pipe failed");
  }
  std::vector<std::string> args = {exec.command};
  args.insert(args.end(), exec.args.begin(), exec.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : exec.env) {
    env_strings.push_back(k + "=" + v);
  }
  env_strings.push_back(fmt::format(
      R"(KUBERNETES_EXEC_INFO={{"apiVersion":"{}","kind":"ExecCredential","spec":{{"interactive":false}}}})",
      exec.api_version));
  std::vector<char*> envp;
  for (std::string& s : env_strings) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, exec.command.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return absl::FailedPreconditionError(
        fmt::format("exec credential plugin '{}' cannot be started: {}", exec.command,
                    std::error_code(rc, std::generic_category()).message()));
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::FailedPreconditionError(
        fmt::format("exec credential plugin '{}' failed (status {})", exec.command, status));
  }
  const Json cred = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  const Json no_status = Json::object();
  const Json& cred_status =
      cred.is_object() && cred.contains("status") && cred["status"].is_object() ? cred["status"]
                                                                                : no_status;
  auto text = [&](const char* key) {
    return cred_status.contains(key) && cred_status[key].is_string()
               ? cred_status[key].get<std::string>()
               : std::string();
  };
  ExecOutput result;
  result.token = text("token");
  result.client_cert_pem = text("clientCertificateData");
  result.client_key_pem = text("clientKeyData");
  if (result.client_cert_pem.empty() != result.client_key_pem.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "exec credential plugin '{}' printed only one of status.clientCertificateData and "
        "status.clientKeyData: both are needed",
        exec.command));
  }
  if (result.token.empty() && result.client_cert_pem.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "exec credential plugin '{}' did not print an ExecCredential with status.token or "
        "status.clientCertificateData and status.clientKeyData",
        exec.command));
  }
  absl::Time expires = absl::InfiniteFuture();
  const std::string expiry =
      cred_status.contains("expirationTimestamp") && cred_status["expirationTimestamp"].is_string()
          ? cred_status["expirationTimestamp"].get<std::string>()
          : std::string();
  if (!expiry.empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, expiry, &expires, &error)) {
      return absl::InvalidArgumentError(
          fmt::format("exec credential plugin '{}': bad expirationTimestamp '{}': {}", exec.command,
                      expiry, error));
    }
  }
  result.expires = expires;
  return result;
}

}  // namespace

bool IsKubeNotFound(const absl::Status& s) { return HasReason(s, "NotFound"); }
bool IsKubeConflict(const absl::Status& s) { return HasReason(s, "Conflict"); }
bool IsKubeAlreadyExists(const absl::Status& s) { return HasReason(s, "AlreadyExists"); }
bool IsKubeGone(const absl::Status& s) { return HasReason(s, "Gone") || HasReason(s, "Expired"); }
bool IsKubeForbidden(const absl::Status& s) { return HasReason(s, "Forbidden"); }
bool IsKubeUnauthorized(const absl::Status& s) { return HasReason(s, "Unauthorized"); }
bool IsKubeInvalid(const absl::Status& s) {
  return absl::IsInvalidArgument(s) && s.GetPayload(kReasonPayload).has_value();
}
bool IsKubePermanent(const absl::Status& s) {
  return IsKubeForbidden(s) || IsKubeUnauthorized(s) || IsKubeInvalid(s);
}

class KubeClient::ClientIdentity {
 public:
  // kInvalidArgument when either PEM block does not parse.
  static absl::StatusOr<std::shared_ptr<const ClientIdentity>> Parse(const std::string& cert_pem,
                                                                     const std::string& key_pem) {
    auto identity = std::make_shared<ClientIdentity>();
    std::unique_ptr<BIO, PemDeleter> cert_bio(
        BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
    std::unique_ptr<BIO, PemDeleter> key_bio(
        BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    identity->cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    identity->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (identity->cert == nullptr || identity->key == nullptr) {
      return absl::InvalidArgumentError("the client certificate or key is not valid PEM");
    }
    return identity;
  }

  std::unique_ptr<X509, PemDeleter> cert;
  std::unique_ptr<EVP_PKEY, PemDeleter> key;
};

// Builds httplib clients for the configured server, TLS material parsed once.
class KubeClient::Transport {
 public:
  static absl::StatusOr<std::unique_ptr<Transport>> Create(const KubeConfig& config,
                                                           const KubeClientOptions& options) {
    auto t = std::unique_ptr<Transport>(new Transport(config, options));
    absl::StatusOr<ParsedServer> server = ParseServer(config.server);
    if (!server.ok()) {
      return server.status();
    }
    t->server_ = *server;
    if (!config.client_cert_pem.empty()) {
      absl::StatusOr<std::shared_ptr<const ClientIdentity>> identity =
          ClientIdentity::Parse(config.client_cert_pem, config.client_key_pem);
      if (!identity.ok()) {
        return absl::InvalidArgumentError(
            fmt::format("kubeconfig user '{}': {}", config.user, identity.status().message()));
      }
      t->identity_ = *std::move(identity);
    }
    if (!config.ca_pem.empty()) {
      // Checked once here so that a bad CA is a configuration error, not a request error.
      X509_STORE* store = t->MakeStore();
      if (store == nullptr) {
        return absl::InvalidArgumentError(
            "the certificate authority data is not valid PEM (certificate-authority(-data))");
      }
      X509_STORE_free(store);
    }
    return t;
  }

  // `identity` (may be null) replaces the kubeconfig's client certificate; OpenSSL takes its
  // own references, so it need not outlive the client.
  std::unique_ptr<httplib::ClientImpl> NewClient(absl::Duration read_timeout,
                                                 const ClientIdentity* identity) const {
    std::unique_ptr<httplib::ClientImpl> client;
    if (server_.https) {
      if (identity == nullptr) {
        identity = identity_.get();
      }
      X509* cert = identity != nullptr ? identity->cert.get() : nullptr;
      EVP_PKEY* key = identity != nullptr ? identity->key.get() : nullptr;
      auto ssl = cert != nullptr
                     ? std::make_unique<httplib::SSLClient>(server_.host, server_.port, cert, key)
                     : std::make_unique<httplib::SSLClient>(server_.host, server_.port);
      if (!config_.ca_pem.empty()) {
        ssl->set_ca_cert_store(MakeStore());  // the SSL context takes ownership
      }
      ssl->enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
      if (!config_.tls_server_name.empty()) {
        UseTlsServerName(*ssl);
      }
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(server_.host, server_.port);
    }
    client->set_connection_timeout(
        static_cast<time_t>(absl::ToInt64Seconds(options_.connect_timeout)),
        static_cast<time_t>(absl::ToInt64Microseconds(options_.connect_timeout) % 1'000'000));
    client->set_read_timeout(
        static_cast<time_t>(absl::ToInt64Seconds(read_timeout)),
        static_cast<time_t>(absl::ToInt64Microseconds(read_timeout) % 1'000'000));
    client->set_write_timeout(static_cast<time_t>(absl::ToInt64Seconds(options_.request_timeout)),
                              0);
    client->set_keep_alive(true);
    // httplib writes headers and body separately; without TCP_NODELAY the body waits for the
    // server's delayed ACK (~40 ms per request with a body, measured by bench/mirror_bench).
    client->set_tcp_nodelay(true);
    return client;
  }

 private:
  Transport(const KubeConfig& config, const KubeClientOptions& options)
      : config_(config), options_(options) {}

  // httplib checks the certificate against the host it connects to. With a tls-server-name,
  // OpenSSL checks it during the handshake instead (SSL_VERIFY_PEER: chain to the configured CA,
  // or the system store, and the name, with X509_VERIFY_PARAM), and httplib's own check is off.
  void UseTlsServerName(httplib::SSLClient& ssl) const {
    SSL_CTX* ctx = ssl.ssl_context();
    SSL_CTX_set_ex_data(ctx, ServerNameIndex(), const_cast<std::string*>(&config_.tls_server_name));
    SSL_CTX_set_info_callback(ctx, SetServerNameAtHandshakeStart);
    if (config_.insecure_skip_tls_verify) {
      return;
    }
    ssl.enable_server_certificate_verification(false);
    if (config_.ca_pem.empty()) {
      SSL_CTX_set_default_verify_paths(ctx);
    }
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    if (IsIpAddress(config_.tls_server_name)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, config_.tls_server_name.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, config_.tls_server_name.c_str(),
                                  config_.tls_server_name.size());
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, RecordVerifyFailure);
  }

  X509_STORE* MakeStore() const {
    std::unique_ptr<BIO, PemDeleter> bio(
        BIO_new_mem_buf(config_.ca_pem.data(), static_cast<int>(config_.ca_pem.size())));
    X509_STORE* store = X509_STORE_new();
    int added = 0;
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      added += X509_STORE_add_cert(store, cert) == 1 ? 1 : 0;
      X509_free(cert);
    }
    if (added == 0) {
      X509_STORE_free(store);
      return nullptr;
    }
    return store;
  }

  const KubeConfig config_;
  const KubeClientOptions options_;
  ParsedServer server_;
  std::shared_ptr<const ClientIdentity> identity_;  // the kubeconfig's client certificate

 public:
  absl::Mutex mu;
  std::unique_ptr<httplib::ClientImpl> shared ABSL_GUARDED_BY(mu);
  // The exec plugin's certificate `shared` was built with: a new one needs a new connection.
  std::shared_ptr<const ClientIdentity> shared_identity ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(const KubeConfig& config,
                                                               KubeClientOptions options) {
  // OpenSSL writes to sockets without MSG_NOSIGNAL: a peer that closed a connection (an API
  // server restarting, a watch it ended) would kill the process with SIGPIPE. As gRPC does,
  // ignore it once for the process; the write then fails with EPIPE and is handled as an error.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  std::unique_ptr<KubeClient> client(new KubeClient(config, options));
  absl::StatusOr<std::unique_ptr<Transport>> transport = Transport::Create(config, options);
  if (!transport.ok()) {
    return transport.status();
  }
  client->transport_ = *std::move(transport);
  return client;
}

KubeClient::KubeClient(KubeConfig config, KubeClientOptions options)
    : config_(std::move(config)),
      options_(options),
      clock_(options.clock != nullptr ? *options.clock : common::SystemClock::Get()),
      health_(options.edge_name,
              common::EdgeHealth::Options{.component = "kube", .clock = &clock_}) {
  absl::MutexLock lock(&bucket_mu_);
  tokens_ = options_.burst;
  refilled_at_ = clock_.Now();
}

KubeClient::~KubeClient() = default;

void KubeClient::Sleep(absl::Duration d) const {
  if (options_.sleep) {
    options_.sleep(d);
  } else {
    absl::SleepFor(d);
  }
}

bool KubeClient::Throttle(absl::Time deadline) {
  if (options_.qps <= 0) {
    return true;
  }
  for (;;) {
    absl::Duration wait;
    {
      absl::MutexLock lock(&bucket_mu_);
      const absl::Time now = clock_.Now();
      tokens_ = std::min<double>(
          options_.burst, tokens_ + absl::ToDoubleSeconds(now - refilled_at_) * options_.qps);
      refilled_at_ = now;
      if (tokens_ >= 1) {
        tokens_ -= 1;
        return true;
      }
      wait = absl::Seconds((1 - tokens_) / options_.qps);
      if (now + wait > deadline) {
        return false;
      }
    }
    Sleep(wait);
  }
}

absl::StatusOr<KubeClient::Credential> KubeClient::CurrentCredential() {
  absl::MutexLock lock(&credential_mu_);
  if (config_.exec.has_value()) {
    if (clock_.Now() >= exec_token_expires_) {
      absl::StatusOr<ExecOutput> out = RunExecPlugin(*config_.exec);
      if (!out.ok()) {
        return out.status();
      }
      Credential fresh;
      fresh.token = out->token;
      if (!out->client_cert_pem.empty()) {
        absl::StatusOr<std::shared_ptr<const ClientIdentity>> identity =
            ClientIdentity::Parse(out->client_cert_pem, out->client_key_pem);
        if (!identity.ok()) {
          return absl::InvalidArgumentError(fmt::format(
              "exec credential plugin '{}': status.clientCertificateData/clientKeyData: "
              "{}",
              config_.exec->command, identity.status().message()));
        }
        fresh.identity = *std::move(identity);
      }
      exec_credential_ = std::move(fresh);
      // Renew a little early so that a request never carries an expiring credential.
      exec_token_expires_ = out->expires - absl::Seconds(10);
    }
    return exec_credential_;
  }
  Credential credential;
  if (!config_.token_file.empty()) {
    // Re-read a rotated token: at most once a second, and only when the file changed.
    std::error_code ec;
    const auto mtime = std::filesystem::last_write_time(config_.token_file, ec);
    const absl::Time seen =
        ec ? absl::InfinitePast() : absl::FromChrono(std::chrono::file_clock::to_sys(mtime));
    if (file_token_.empty() || seen > file_token_read_at_) {
      std::ifstream in(config_.token_file);
      std::stringstream s;
      s << in.rdbuf();
      std::string token = s.str();
      while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
        token.pop_back();
      }
      if (token.empty()) {
        return absl::UnauthenticatedError(
            fmt::format("token file {} is missing or empty", config_.token_file));
      }
      file_token_ = token;
      file_token_read_at_ = seen;
    }
    credential.token = file_token_;
    return credential;
  }
  credential.token = config_.token;
  return credential;
}

absl::StatusOr<Json> KubeClient::Request(const std::string& method, const std::string& path,
                                         const std::string& body, const std::string& content_type,
                                         bool idempotent, absl::Duration budget) {
  const bool bounded = budget != absl::InfiniteDuration();
  const absl::Time deadline = bounded ? clock_.Now() + budget : absl::InfiniteFuture();
  int attempts = 0;
  absl::Status last;
  // The call's budget ran out: say so, with the last failure if there was one.
  auto out_of_time = [&] {
    return absl::DeadlineExceededError(fmt::format(
        "{} {}: no answer from {} within the call's time budget of {} ({} attempt(s){}{})", method,
        path, config_.server, absl::FormatDuration(budget), attempts,
        last.ok() ? "" : "; last: ", last.ok() ? "" : last.message()));
  };
  absl::Duration backoff = options_.initial_backoff;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (!Throttle(deadline)) {
      return out_of_time();
    }
    absl::StatusOr<Credential> credential = CurrentCredential();
    if (!credential.ok()) {
      return credential.status();
    }
    const absl::Duration left = deadline - clock_.Now();
    if (left <= absl::ZeroDuration()) {
      return out_of_time();
    }
    // Each attempt waits at most for what is left of the budget, so that a server that accepts
    // the connection and never answers cannot hold the caller past it.
    const absl::Duration read_timeout = std::min(options_.request_timeout, left);
    const absl::Duration connect_timeout = std::min(options_.connect_timeout, left);
    httplib::Headers headers = {{"Accept", "application/json"},
                                {"User-Agent", options_.user_agent}};
    if (!credential->token.empty()) {
      headers.emplace("Authorization", "Bearer " + credential->token);
    }
    ++attempts;
    std::optional<httplib::Result> sent;
    {
      // One request at a time on the shared keep-alive connection; released before any sleep.
      absl::MutexLock transport_lock(&transport_->mu);
      if (transport_->shared == nullptr || transport_->shared_identity != credential->identity) {
        transport_->shared =
            transport_->NewClient(options_.request_timeout, credential->identity.get());
        transport_->shared_identity = credential->identity;
      }
      httplib::ClientImpl& client = *transport_->shared;
      // httplib applies these to each request, the kept-alive connection included.
      client.set_read_timeout(
          static_cast<time_t>(absl::ToInt64Seconds(read_timeout)),
          static_cast<time_t>(absl::ToInt64Microseconds(read_timeout) % 1'000'000));
      client.set_write_timeout(
          static_cast<time_t>(absl::ToInt64Seconds(read_timeout)),
          static_cast<time_t>(absl::ToInt64Microseconds(read_timeout) % 1'000'000));
      client.set_connection_timeout(
          static_cast<time_t>(absl::ToInt64Seconds(connect_timeout)),
          static_cast<time_t>(absl::ToInt64Microseconds(connect_timeout) % 1'000'000));
      sent.emplace(
          method == "GET"     ? client.Get(path.c_str(), headers)
          : method == "POST"  ? client.Post(path.c_str(), headers, body, content_type.c_str())
          : method == "PUT"   ? client.Put(path.c_str(), headers, body, content_type.c_str())
          : method == "PATCH" ? client.Patch(path.c_str(), headers, body, content_type.c_str())
                              : client.Delete(path.c_str(), headers));
      if (!*sent) {
        transport_->shared.reset();  // a broken connection is not reused
      }
    }
    const httplib::Result& result = *sent;
    if (options_.on_response) {
      options_.on_response(method, result ? result->status : 0);
    }
    absl::Duration retry_after = backoff;
    if (!result) {
      last = TransportError(result.error(), config_, method, path, read_timeout);
      health_.Failure(last);
      const bool verification = result.error() == httplib::Error::SSLServerVerification ||
                                result.error() == httplib::Error::SSLConnection;
      // A refused or unreachable connection sent nothing, so even a create is safe to repeat;
      // any later failure may have reached the server, and only idempotent requests retry.
      const bool nothing_sent = result.error() == httplib::Error::Connection;
      if (verification || !(idempotent || nothing_sent)) {
        return bounded && clock_.Now() >= deadline ? out_of_time() : last;
      }
    } else if (result->status >= 200 && result->status < 300) {
      health_.Success();
      if (result->body.empty()) {
        return Json::object();
      }
      Json parsed = Json::parse(result->body, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        return absl::DataLossError(
            fmt::format("{} {}: the API server answered with invalid JSON", method, path));
      }
      return parsed;
    } else {
      last = ApiError(method, path, result->status, result->body, config_);
      if (result->status >= 500 || result->status == 401) {
        health_.Failure(last, /*permanent=*/result->status == 401);
      } else {
        health_.Success();  // the server answered; the request's own error is the caller's
      }
      if (result->status == 401 && config_.exec.has_value()) {
        absl::MutexLock lock(&credential_mu_);
        // The plugin's credential may have been revoked early: run it again next time.
        exec_token_expires_ = absl::InfinitePast();
      }
      const bool retryable = result->status == 429 ||
                             (result->status >= 500 && result->status != 501 && idempotent) ||
                             (result->status == 503);
      if (!retryable) {
        return last;
      }
      if (result->has_header("Retry-After")) {
        retry_after =
            absl::Seconds(std::max(0, std::atoi(result->get_header_value("Retry-After").c_str())));
      }
    }
    if (attempt < options_.max_attempts) {
      const absl::Duration wait = std::min(retry_after, options_.max_backoff);
      if (clock_.Now() + wait >= deadline) {
        return out_of_time();
      }
      Sleep(wait);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
  return bounded && clock_.Now() >= deadline ? out_of_time() : last;
}

absl::StatusOr<Json> KubeClient::Get(const std::string& path, absl::Duration budget) {
  return Request("GET", path, "", "", true, budget);
}

absl::StatusOr<Json> KubeClient::Create(const std::string& collection_path, const Json& object,
                                        absl::Duration budget) {
  return Request("POST", collection_path, object.dump(), "application/json", false, budget);
}

absl::StatusOr<Json> KubeClient::Replace(const std::string& path, const Json& object,
                                         absl::Duration budget) {
  return Request("PUT", path, object.dump(), "application/json", true, budget);
}

absl::StatusOr<Json> KubeClient::Patch(const std::string& path, const Json& patch,
                                       const std::string& content_type, absl::Duration budget) {
  return Request("PATCH", path, patch.dump(), content_type, true, budget);
}

absl::StatusOr<Json> KubeClient::Apply(const std::string& path, const Json& object,
                                       const std::string& field_manager, bool force,
                                       absl::Duration budget) {
  const std::string query =
      fmt::format("{}fieldManager={}{}", path.find('?') == std::string::npos ? "?" : "&",
                  field_manager, force ? "&force=true" : "");
  return Request("PATCH", path + query, object.dump(), "application/apply-patch+yaml", true,
                 budget);
}

absl::StatusOr<Json> KubeClient::Delete(const std::string& path, absl::Duration budget) {
  return Request("DELETE", path, "", "", true, budget);
}

void WatchHandle::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  if (client_ != nullptr) {
    static_cast<httplib::ClientImpl*>(client_)->stop();
  }
}

bool WatchHandle::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

absl::Status KubeClient::Watch(const std::string& path,
                               const std::function<bool(const Json& event)>& on_event,
                               absl::Duration timeout, WatchHandle* handle) {
  Throttle();
  absl::StatusOr<Credential> credential = CurrentCredential();
  if (!credential.ok()) {
    return credential.status();
  }
  httplib::Headers headers = {{"Accept", "application/json"}, {"User-Agent", options_.user_agent}};
  if (!credential->token.empty()) {
    headers.emplace("Authorization", "Bearer " + credential->token);
  }
  std::unique_ptr<httplib::ClientImpl> client =
      transport_->NewClient(timeout, credential->identity.get());
  if (handle != nullptr) {
    absl::MutexLock lock(&handle->mu_);
    if (handle->cancelled_) {
      return absl::CancelledError("watch cancelled");
    }
    handle->client_ = client.get();
  }
  struct Unregister {
    WatchHandle* handle;
    ~Unregister() {
      if (handle != nullptr) {
        absl::MutexLock lock(&handle->mu_);
        handle->client_ = nullptr;
      }
    }
  } unregister{handle};
  std::string pending;
  std::string error_body;
  int http_status = 0;
  absl::Status stop_status;
  bool stopped = false;
  auto result = client->Get(
      path.c_str(), headers,
      [&](const httplib::Response& response) {
        http_status = response.status;
        if (response.status < 500 && response.status != 401) {
          health_.Success();
        }
        if (options_.on_response) {
          options_.on_response("WATCH", response.status);
        }
        return true;
      },
      [&](const char* data, size_t size) {
        if (http_status != 200) {
          error_body.append(data, size);
          return true;
        }
        pending.append(data, size);
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          const std::string line = pending.substr(0, nl);
          pending.erase(0, nl + 1);
          if (line.empty()) {
            continue;
          }
          Json event = Json::parse(line, nullptr, /*allow_exceptions=*/false);
          if (!event.is_object()) {
            stop_status = absl::DataLossError(
                fmt::format("watch {}: a line of the stream is not a JSON event", path));
            stopped = true;
            return false;
          }
          if (event.contains("type") && event["type"] == "ERROR") {
            const Json object = event.contains("object") && event["object"].is_object()
                                    ? event["object"]
                                    : Json::object();
            const int code = object.contains("code") && object["code"].is_number_integer()
                                 ? object["code"].get<int>()
                                 : 500;
            stop_status = ApiError("WATCH", path, code, object.dump(), config_);
            stopped = true;
            return false;
          }
          if (!on_event(event)) {
            stopped = true;
            return false;
          }
        }
        return true;
      });
  if (stopped) {
    return stop_status;
  }
  if (handle != nullptr && handle->cancelled()) {
    return absl::CancelledError("watch cancelled");
  }
  if (http_status != 0 && http_status != 200) {
    absl::Status error = ApiError("WATCH", path, http_status, error_body, config_);
    if (http_status >= 500 || http_status == 401) {
      health_.Failure(error, /*permanent=*/http_status == 401);
    }
    return error;
  }
  if (!result) {
    if (result.error() == httplib::Error::Read) {
      return absl::OkStatus();  // the read timeout ended the watch: re-watch from the last RV
    }
    absl::Status error = TransportError(result.error(), config_, "WATCH", path, timeout);
    health_.Failure(error);
    return error;
  }
  return absl::OkStatus();
}

}  // namespace aiops::k8s_sync
