// A ChatCLI-compatible gRPC server for the ingest tests: our own ChatCliServiceImpl on a
// loopback port (ephemeral, or a given one to restart on the same address), with the
// keepalive contract applied as the daemon applies it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "server/ingest/chatcli_service.h"

namespace aiops::ingest::testing {

class ChatCliTestServer {
 public:
  // `port` 0: an ephemeral port. `alerts` and `analyzer` must outlive the server. Plaintext
  // unless `credentials` are given (e.g. grpc::SslServerCredentials).
  ChatCliTestServer(const AlertBuffer& alerts, analysis::Analyzer& analyzer,
                    ChatCliServiceOptions options, int port = 0,
                    std::shared_ptr<grpc::ServerCredentials> credentials = nullptr)
      : service_(alerts, analyzer, std::move(options)) {
    grpc::ServerBuilder builder;
    ConfigureChatCliKeepalive(builder);
    builder.AddListeningPort(
        "127.0.0.1:" + std::to_string(port),
        credentials != nullptr ? credentials : grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~ChatCliTestServer() { Shutdown(); }
  ChatCliTestServer(const ChatCliTestServer&) = delete;
  ChatCliTestServer& operator=(const ChatCliTestServer&) = delete;
  ChatCliTestServer(ChatCliTestServer&&) = delete;
  ChatCliTestServer& operator=(ChatCliTestServer&&) = delete;

  bool ok() const { return server_ != nullptr && port_ > 0; }
  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  void Shutdown() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
      server_->Wait();
      server_.reset();
    }
  }

 private:
  ChatCliServiceImpl service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace aiops::ingest::testing
