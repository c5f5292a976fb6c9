// aiops.v1.AiopsService (proto/aiops/v1/service.proto, docs/api.md): the operator's own gRPC
// API over the event log and the projected state. Reads go to the log and to the state the
// runner publishes; Approve, Reject and Append submit input events through the runner, like
// every other edge. Depends on eventlog, projections, stages (Replay), common and gRPC.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/time/time.h>
#include <grpcpp/grpcpp.h>

#include "aiops/v1/service.grpc.pb.h"
#include "common/clock.h"
#include "eventlog/event_log.h"
#include "projections/pipeline_state.h"

namespace aiops::api {

// What the service needs from the daemon. Everything must outlive the service.
struct ApiDeps {
  eventlog::EventLog* log = nullptr;  // read-only use: Read, IncidentSequences, WaitForSequence
  // Submits one input event (Runner::Submit): waits until it is committed with its
  // consequences; returns its sequence.
  std::function<absl::StatusOr<uint64_t>(v1::Event)> submit;
  // Optional: submits many inputs to be committed together (one group commit); returns their
  // sequences in order. Without it, Append submits a batch's alerts concurrently through
  // `submit`.
  std::function<absl::StatusOr<std::vector<uint64_t>>(std::vector<v1::Event>)> submit_batch;
  // Runs the callback on the current projected state (Runner::ReadState). The callback must be
  // quick: the service only copies what it needs.
  std::function<void(const std::function<void(const projections::PipelineState&)>&)> read_state;
  common::Clock* clock = nullptr;  // logical time of appended inputs
  std::string cluster_id;
};

// gRPC <-> Abseil status (the codes are numerically identical).
grpc::Status ToGrpc(const absl::Status& status);
absl::Status FromGrpc(const grpc::Status& status);

class AiopsServiceImpl final : public v1::AiopsService::Service {
 public:
  struct Options {
    absl::Duration tail_poll = absl::Milliseconds(200);  // how often a tail checks cancellation
    size_t tail_chunk = 512;                             // events read per log read
    size_t max_append_events = 10'000;                   // one Append call
    size_t append_concurrency = 64;  // concurrent submits of one Append without submit_batch
  };

  explicit AiopsServiceImpl(ApiDeps deps) : AiopsServiceImpl(std::move(deps), Options()) {}
  AiopsServiceImpl(ApiDeps deps, Options options);

  // Ends every running TailEvents stream (UNAVAILABLE, "shutting down") within one poll
  // interval, and refuses new ones. Call before grpc::Server::Shutdown so that it need not wait
  // for the deadline. Thread-safe.
  void BeginShutdown() { shutting_down_.store(true); }

  grpc::Status TailEvents(grpc::ServerContext* context, const v1::TailEventsRequest* request,
                          grpc::ServerWriter<v1::Event>* writer) override;
  grpc::Status ListIncidents(grpc::ServerContext* context, const v1::ListIncidentsRequest* request,
                             v1::ListIncidentsResponse* response) override;
  grpc::Status GetIncident(grpc::ServerContext* context, const v1::GetIncidentRequest* request,
                           v1::GetIncidentResponse* response) override;
  grpc::Status Replay(grpc::ServerContext* context, const v1::ReplayRequest* request,
                      v1::ReplayResponse* response) override;
  grpc::Status Approve(grpc::ServerContext* context, const v1::ApprovalDecision* request,
                       v1::ApprovalDecisionResponse* response) override;
  grpc::Status Reject(grpc::ServerContext* context, const v1::ApprovalDecision* request,
                      v1::ApprovalDecisionResponse* response) override;
  grpc::Status Rearm(grpc::ServerContext* context, const v1::RearmRequest* request,
                     v1::RearmResponse* response) override;
  grpc::Status Append(grpc::ServerContext* context, const v1::AppendRequest* request,
                      v1::AppendResponse* response) override;

 private:
  absl::Status Decide(const v1::ApprovalDecision& request, bool approve,
                      v1::ApprovalDecisionResponse& response);
  absl::Status DoRearm(const v1::RearmRequest& request, v1::RearmResponse& response);
  absl::StatusOr<std::vector<uint64_t>> SubmitAll(std::vector<v1::Event> inputs);

  const ApiDeps deps_;
  const Options options_;
  std::atomic<bool> shutting_down_{false};
};

// Checks an Append batch without changing it: kInvalidArgument naming the index of the first
// event that is not an AlertObserved or lacks type or namespace, or when the batch is empty or
// larger than `max_events`.
absl::Status ValidateAppend(const v1::AppendRequest& request, size_t max_events);

}  // namespace aiops::api
