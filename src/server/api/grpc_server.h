// The operator's gRPC server: one listening port for every service (aiops.v1.AiopsService, the
// ChatCLI-compatible service, server reflection), bearer-token authentication enforced in the
// transport for all of them, optional TLS, and keepalive enforcement (DESIGN.md §1, §9).
// Also the bearer-token check itself, for the HTTP edge (webhook) and tests.
// Depends on common and gRPC.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

namespace aiops::api {

// True when `authorization` (the value of an `authorization` header or metadata entry) is
// "Bearer <token>" (the scheme in any case) carrying exactly `token`; the comparison takes the
// same time wherever the values differ. Always true when `token` is empty (auth disabled).
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// The one method served without a token: ChatCLI's Health, which Kubernetes probes and load
// balancers call without credentials (it reveals only SERVING or not and the version).
inline constexpr char kUnauthenticatedHealthMethod[] = "/chatcli.v1.ChatCLIService/Health";

// Server credentials that reject every call lacking `authorization: Bearer <token>` with
// UNAUTHENTICATED before any service handler runs (no check when `token` is empty), except
// kUnauthenticatedHealthMethod. Plaintext, or TLS when both PEM strings are given. Works for any
// service added to the server, because gRPC runs the check in the transport (an
// AuthMetadataProcessor, which gRPC's own insecure credentials do not support).
std::shared_ptr<grpc::ServerCredentials> BearerTokenServerCredentials(
    std::string token, std::string tls_cert_chain_pem = "", std::string tls_private_key_pem = "");

// Reads a token file: its content with surrounding whitespace removed. kNotFound /
// kPermissionDenied / kInvalidArgument (empty file) naming the path.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

struct GrpcServerOptions {
  std::string listen_address = "0.0.0.0:50051";  // host:port; port 0 picks a free port
  std::string token;                             // empty: no authentication
  std::string tls_cert_file;                     // PEM certificate chain; both or neither
  std::string tls_key_file;                      // PEM private key
  bool reflection = true;                        // grpc.reflection.v1alpha.ServerReflection
  // The keepalive contract of ChatCLI's server (DESIGN.md §5): clients may ping this often at
  // most, also without calls in flight (ChatCLI clients ping every 30 s); a faster pinger is sent
  // GOAWAY (ENHANCE_YOUR_CALM, "too_many_pings") after gRPC's two strikes.
  int min_ping_interval_ms = 20'000;
  // The server pings idle clients this often and drops them when no answer comes in time.
  int keepalive_time_ms = 60'000;
  int keepalive_timeout_ms = 10'000;
  int max_receive_message_bytes = 16 << 20;
};

// The gRPC channel arguments StartGrpcServer sets for `options` (keepalive enforcement and
// pings, SO_REUSEPORT off), by name: the policy a started server runs with.
std::vector<std::pair<std::string, int>> GrpcServerChannelArguments(
    const GrpcServerOptions& options);

struct StartedGrpcServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port (the chosen one when listen_address asked for port 0)
};

// Builds and starts a server for `services` (not owned; they must outlive the server) on
// options.listen_address. kInvalidArgument for a bad address or TLS file pair, kNotFound for an
// unreadable TLS file, kUnavailable when the address cannot be bound. Stop it with
// server->Shutdown(deadline): calls still running at the deadline are cancelled (TailEvents
// streams notice within their poll interval), then server->Wait().
absl::StatusOr<StartedGrpcServer> StartGrpcServer(const GrpcServerOptions& options,
                                                  const std::vector<grpc::Service*>& services);

}  // namespace aiops::api
