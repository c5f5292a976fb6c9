// A real operator core for API tests: a RocksDB event log in a temp folder, a server::Runner,
// AiopsServiceImpl wired as the daemon wires it, and a gRPC server on 127.0.0.1 with an
// ephemeral port. Builders for the inputs that drive an incident to WaitingApproval.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "aiops/v1/service.grpc.pb.h"
#include "common/clock.h"
#include "eventlog/rocks_event_log.h"
#include "server/api/grpc_server.h"
#include "server/api/service.h"
#include "server/runner.h"

namespace aiops::api::testing {

inline constexpr int64_t kStartMs = 1'771'276'354'000;  // 2026-02-16T21:12:34Z
inline constexpr char kToken[] = "s3cret-token";

v1::Event Alert(const std::string& type, const std::string& deployment,
                const std::string& ns = "production", const std::string& uid = "uid-1");
// Approval required for low-severity issues (a restart-count issue opens as low).
v1::Event ApprovalConfig();
v1::Event Analysis(const std::string& issue, int32_t attempt);

class ApiHarness : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts (or restarts) the server with `token` ("" disables auth) and optional TLS.
  void StartServer(const std::string& token, const std::string& cert_pem = "",
                   const std::string& key_pem = "");
  void StopServer();

  absl::StatusOr<uint64_t> Submit(v1::Event input);
  // Feeds config, alert and analysis: one issue with plan "<issue>-plan-1" WaitingApproval.
  // Returns the issue name.
  std::string OpenIssueWaitingForApproval();
  std::string OnlyIssueName();
  v1::PlanState Plan(const std::string& name);

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = kToken) const;
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  std::string dir_;
  common::FakeClock clock_{absl::FromUnixMillis(kStartMs)};
  std::unique_ptr<eventlog::RocksEventLog> log_;
  std::unique_ptr<server::Runner> runner_;
  std::unique_ptr<AiopsServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<v1::AiopsService::Stub> stub_;
};

}  // namespace aiops::api::testing
