#include "server/ingest/chatcli_bridge.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include <absl/strings/ascii.h>
#include <fmt/format.h>

#include "common/fmt_absl.h"

namespace aiops::ingest {
namespace {

std::shared_ptr<grpc::ChannelCredentials> Credentials(const analysis::ChatCliOptions& options) {
  if (!options.tls) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_pem;
  ssl.pem_cert_chain = options.client_cert_pem;
  ssl.pem_private_key = options.client_key_pem;
  return grpc::SslCredentials(ssl);
}

// Every field: an alert re-sent unchanged has the same identity.
std::string IdentityOf(const chatcli::v1::WatcherAlert& a) {
  return fmt::format("{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}\x1f{}", a.type(), a.severity(), a.message(),
                     a.object(), a.namespace_(), a.deployment(), a.timestamp_unix());
}

absl::Duration Backoff(const ChatCliBridgeOptions& options, uint64_t failures) {
  absl::Duration wait = std::max(options.initial_backoff, absl::Milliseconds(1));
  for (uint64_t i = 1; i < failures && wait < options.max_backoff; ++i) {
    wait *= 2;
  }
  return std::min(wait, std::max(options.max_backoff, absl::Milliseconds(1)));
}

}  // namespace

v1::Event EventFromWatcherAlert(const chatcli::v1::WatcherAlert& alert, absl::Time now) {
  v1::Event event;
  event.set_logical_time_ms(absl::ToUnixMillis(now));
  event.set_producer(kBridgeProducer);
  v1::AlertObserved* a = event.mutable_alert_observed();
  a->set_type(alert.type());
  a->set_severity(absl::AsciiStrToLower(alert.severity()));
  a->set_message(alert.message());
  a->set_object(alert.object());
  if (const size_t slash = alert.object().find('/'); slash != std::string::npos && slash > 0) {
    a->set_object_kind(alert.object().substr(0, slash));
  }
  a->set_namespace_(alert.namespace_());
  a->set_deployment(alert.deployment());
  a->set_timestamp_unix(alert.timestamp_unix() > 0 ? alert.timestamp_unix()
                                                   : absl::ToUnixSeconds(now));
  a->set_source(kWatcherSource);
  return event;
}

ChatCliBridge::ChatCliBridge(ChatCliBridgeOptions options, const common::Clock& clock,
                             Submit submit)
    : options_(std::move(options)),
      clock_(clock),
      submit_(std::move(submit)),
      health_("chatcli-bridge",
              common::EdgeHealth::Options{.component = "bridge", .clock = &clock_}) {}

ChatCliBridge::~ChatCliBridge() { Stop(); }

void ChatCliBridge::Start() {
  if (thread_.joinable()) {
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void ChatCliBridge::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (in_flight_ != nullptr) {
      in_flight_->TryCancel();
    }
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

ChatCliBridgeCounters ChatCliBridge::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

void ChatCliBridge::Loop() {
  while (true) {
    const absl::StatusOr<int> polled = PollOnce();
    absl::Duration wait = options_.interval;
    if (!polled.ok()) {
      wait = Backoff(options_, counters().consecutive_failures);
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
    if (stopping_) {
      return;
    }
  }
}

absl::Status ChatCliBridge::Connect() {
  analysis::ChatCliOptions options = options_.chatcli;
  if (options_.resolve) {
    absl::StatusOr<analysis::ChatCliOptions> resolved = options_.resolve();
    if (!resolved.ok()) {
      return absl::Status(resolved.status().code(),
                          fmt::format("chatcli bridge: finding the ChatCLI server failed: {}",
                                      resolved.status().message()));
    }
    options = *std::move(resolved);
  }
  if (options.target.empty()) {
    return absl::FailedPreconditionError("chatcli bridge: no ChatCLI server target configured");
  }
  target_ = options.target;
  token_ = options.token;
  channel_ = grpc::CreateCustomChannel(options.target, Credentials(options),
                                       analysis::ChatCliChannelArguments(options));
  stub_ = chatcli::v1::ChatCLIService::NewStub(channel_);
  if (connected_before_) {
    absl::MutexLock lock(&mu_);
    ++counters_.reconnects;
  }
  connected_before_ = true;
  return absl::OkStatus();
}

void ChatCliBridge::Fail(const absl::Status& status) {
  // Credentials or permissions the server refuses do not get better by polling again.
  health_.Failure(status, absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status));
  absl::MutexLock lock(&mu_);
  ++counters_.errors;
  ++counters_.consecutive_failures;
  counters_.last_error = status.ToString();
}

absl::StatusOr<int> ChatCliBridge::PollOnce() {
  absl::MutexLock poll_lock(&poll_mu_);
  {
    absl::MutexLock lock(&mu_);
    ++counters_.polls;
  }
  if (stub_ == nullptr) {
    if (absl::Status connected = Connect(); !connected.ok()) {
      Fail(connected);
      return connected;
    }
  }

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.call_deadline));
  if (!token_.empty()) {
    context.AddMetadata("authorization", fmt::format("Bearer {}", token_));
  }
  chatcli::v1::GetAlertsRequest request;
  request.set_namespace_(options_.namespace_filter);
  request.set_deployment(options_.deployment_filter);
  chatcli::v1::GetAlertsResponse response;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::CancelledError("chatcli bridge: stopping");
    }
    in_flight_ = &context;
  }
  const grpc::Status status = stub_->GetAlerts(&context, request, &response);
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = nullptr;
  }
  if (!status.ok()) {
    std::string hint;
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      hint = " (check the token)";
    } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      hint = " (is the ChatCLI server running and reachable?)";
    }
    const absl::Status error(static_cast<absl::StatusCode>(status.error_code()),
                             fmt::format("chatcli bridge: GetAlerts from {} failed: {}{}", target_,
                                         status.error_message(), hint));
    // Reconnect from scratch next time: the server may have moved, or its TLS or token changed.
    stub_.reset();
    channel_.reset();
    Fail(error);
    return error;
  }

  const absl::Time now = clock_.Now();
  std::set<std::string> seen;
  int submitted = 0;
  uint64_t unchanged = 0;
  uint64_t submit_errors = 0;
  absl::Status last_submit_error;
  for (const chatcli::v1::WatcherAlert& alert : response.alerts()) {
    std::string identity = IdentityOf(alert);
    if (!options_.resubmit_unchanged && last_seen_.count(identity) > 0) {
      ++unchanged;
      seen.insert(std::move(identity));
      continue;
    }
    const absl::StatusOr<uint64_t> sequence = submit_(EventFromWatcherAlert(alert, now));
    if (!sequence.ok()) {
      // Not remembered: it is submitted again at the next poll.
      ++submit_errors;
      last_submit_error = sequence.status();
      continue;
    }
    ++submitted;
    seen.insert(std::move(identity));
  }
  last_seen_ = std::move(seen);

  health_.Success();
  absl::MutexLock lock(&mu_);
  counters_.alerts += static_cast<uint64_t>(submitted);
  counters_.unchanged_skipped += unchanged;
  counters_.errors += submit_errors;
  counters_.consecutive_failures = 0;
  counters_.last_error = submit_errors == 0
                             ? std::string()
                             : fmt::format("chatcli bridge: {} alert(s) not accepted: {}",
                                           submit_errors, last_submit_error);
  return submitted;
}

}  // namespace aiops::ingest
