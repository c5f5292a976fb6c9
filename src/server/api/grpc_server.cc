#include "server/api/grpc_server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/server_builder.h>

#include "common/sha256.h"
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

namespace aiops::api {
namespace {

constexpr std::string_view kBearer = "bearer ";

// The state of the transport-level check: owned by gRPC's core credentials (freed by Destroy).
struct TokenCheck {
  std::string token;
};

std::string_view SliceView(const grpc_slice& slice) {
  return std::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                          GRPC_SLICE_LENGTH(slice));
}

// grpc_auth_metadata_processor::process: runs for every call before any handler.
void ProcessMetadata(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md,
                     size_t num_md, grpc_process_auth_metadata_done_cb done, void* user_data) {
  const std::string& token = static_cast<TokenCheck*>(state)->token;
  const grpc_metadata* authorization = nullptr;
  for (size_t i = 0; i < num_md; ++i) {
    const std::string_view key = SliceView(md[i].key);
    if (key == "authorization") {
      authorization = &md[i];
    } else if (key == ":path" && SliceView(md[i].value) == kUnauthenticatedHealthMethod) {
      // Probes carry no credentials; Health tells them only whether we serve.
      done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
      return;
    }
  }
  if (authorization == nullptr) {
    done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAUTHENTICATED,
         "missing bearer token: send metadata 'authorization: Bearer <token>'");
    return;
  }
  if (!BearerTokenMatches(SliceView(authorization->value), token)) {
    done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAUTHENTICATED,
         "invalid bearer token in the 'authorization' metadata");
    return;
  }
  done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
}

void DestroyTokenCheck(void* state) { delete static_cast<TokenCheck*>(state); }

// ServerCredentials is gRPC's extension point for how a port is added. gRPC's own insecure
// credentials refuse an AuthMetadataProcessor, so this builds the core credentials itself
// (insecure or TLS) and attaches the token check to them.
class TokenServerCredentials final : public grpc::ServerCredentials {
 public:
  TokenServerCredentials(std::string token, std::string cert_chain_pem, std::string key_pem)
      : token_(std::move(token)),
        cert_chain_pem_(std::move(cert_chain_pem)),
        key_pem_(std::move(key_pem)) {}

  // The token check is the processor; another one is not supported.
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = nullptr;
    if (cert_chain_pem_.empty()) {
      creds = grpc_insecure_server_credentials_create();
    } else {
      grpc_ssl_pem_key_cert_pair pair = {key_pem_.c_str(), cert_chain_pem_.c_str()};
      creds = grpc_ssl_server_credentials_create_ex(
          nullptr, &pair, 1, GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, nullptr);
    }
    if (creds == nullptr) {
      return 0;
    }
    if (!token_.empty()) {
      grpc_auth_metadata_processor processor;
      processor.process = &ProcessMetadata;
      processor.destroy = &DestroyTokenCheck;
      processor.state = new TokenCheck{token_};
      grpc_server_credentials_set_auth_metadata_processor(creds, processor);
    }
    const int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  const std::string token_;
  const std::string cert_chain_pem_;
  const std::string key_pem_;
};

// Server reflection on or off for one builder. Loading libgrpc++_reflection registers its
// plugin for every server of the process (a static initializer), so the option makes sure the
// builder ends up with exactly one reflection plugin, or none.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool enabled) : enabled_(enabled) {}
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    const std::string name = grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [&](const auto& plugin) { return plugin->name() == name; }),
                   plugins->end());
    if (enabled_) {
      plugins->push_back(std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
    }
  }

 private:
  const bool enabled_;
};

absl::StatusOr<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message =
        fmt::format("cannot read the {} '{}': {}", what, path, std::strerror(error));
    return error == EACCES ? absl::PermissionDeniedError(message) : absl::NotFoundError(message);
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  if (token.empty()) {
    return true;
  }
  if (authorization.size() < kBearer.size()) {
    return false;
  }
  std::string scheme(authorization.substr(0, kBearer.size()));
  absl::AsciiStrToLower(&scheme);
  if (scheme != kBearer) {
    return false;
  }
  // Digests have a fixed size: the loop below takes the same time whatever the inputs are.
  const common::Sha256Digest given = common::Sha256Of(authorization.substr(kBearer.size()));
  const common::Sha256Digest expected = common::Sha256Of(token);
  uint8_t difference = 0;
  for (size_t i = 0; i < given.size(); ++i) {
    difference = static_cast<uint8_t>(difference | (given[i] ^ expected[i]));
  }
  return difference == 0;
}

std::shared_ptr<grpc::ServerCredentials> BearerTokenServerCredentials(
    std::string token, std::string tls_cert_chain_pem, std::string tls_private_key_pem) {
  return std::make_shared<TokenServerCredentials>(std::move(token), std::move(tls_cert_chain_pem),
                                                  std::move(tls_private_key_pem));
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFile(path, "token file");
  if (!content.ok()) {
    return content.status();
  }
  absl::StripAsciiWhitespace(&*content);
  if (content->empty()) {
    return absl::InvalidArgumentError(fmt::format("the token file '{}' is empty", path));
  }
  return content;
}

std::vector<std::pair<std::string, int>> GrpcServerChannelArguments(
    const GrpcServerOptions& options) {
  return {
      {GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, options.min_ping_interval_ms},
      {GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1},
      {GRPC_ARG_KEEPALIVE_TIME_MS, options.keepalive_time_ms},
      {GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options.keepalive_timeout_ms},
      // Keep pinging idle clients (gRPC's default stops after two pings without data).
      {GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0},
      // Without this a second operator could bind the same port (SO_REUSEPORT) and take half
      // the calls; a busy port must be an error.
      {GRPC_ARG_ALLOW_REUSEPORT, 0},
  };
}

absl::StatusOr<StartedGrpcServer> StartGrpcServer(const GrpcServerOptions& options,
                                                  const std::vector<grpc::Service*>& services) {
  if (options.listen_address.empty() || options.listen_address.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        fmt::format("invalid gRPC listen address '{}' (expected host:port, e.g. 0.0.0.0:50051)",
                    options.listen_address));
  }
  if (services.empty() && !options.reflection) {
    return absl::InvalidArgumentError("a gRPC server needs services to serve: no services given");
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate file and a key file (tlsCertFile and tlsKeyFile)");
  }
  std::string cert_pem;
  std::string key_pem;
  if (!options.tls_cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.tls_cert_file, "TLS certificate file");
    if (!cert.ok()) {
      return cert.status();
    }
    absl::StatusOr<std::string> key = ReadFile(options.tls_key_file, "TLS key file");
    if (!key.ok()) {
      return key.status();
    }
    if (!absl::StrContains(*cert, "-----BEGIN CERTIFICATE-----")) {
      return absl::InvalidArgumentError(fmt::format(
          "the TLS certificate file '{}' holds no PEM certificate", options.tls_cert_file));
    }
    if (!absl::StrContains(*key, "PRIVATE KEY-----")) {
      return absl::InvalidArgumentError(
          fmt::format("the TLS key file '{}' holds no PEM private key", options.tls_key_file));
    }
    cert_pem = *std::move(cert);
    key_pem = *std::move(key);
  }

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen_address,
                           BearerTokenServerCredentials(options.token, cert_pem, key_pem), &port);
  for (grpc::Service* service : services) {
    builder.RegisterService(service);
  }
  builder.SetOption(std::make_unique<ReflectionOption>(options.reflection));
  for (const auto& [name, value] : GrpcServerChannelArguments(options)) {
    builder.AddChannelArgument(name, value);
  }
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(fmt::format(
        "cannot start the gRPC server on '{}' (address in use, not resolvable, or a service "
        "registered twice)",
        options.listen_address));
  }
  return StartedGrpcServer{std::move(server), port};
}

}  // namespace aiops::api
