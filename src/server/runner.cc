#include "server/runner.h"

#include <algorithm>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "common/fmt_absl.h"
#include "common/status_macros.h"
#include "stages/engine.h"

namespace aiops::server {

// One Submit or SubmitBatch call: inputs committed in the same append, in order.
struct Runner::Pending {
  std::vector<v1::Event> inputs;
  std::vector<uint64_t> sequences;  // of each input, once committed
  absl::Status status;
  bool done = false;
};

// A group of Pendings decided by the writer, on its way to the log.
struct Runner::Job {
  std::vector<Pending*> group;
  std::vector<v1::Event> events;  // the inputs and what they derived, sequences first..last
  uint64_t first = 0;
  uint64_t last = 0;
  std::shared_ptr<const PipelineView> view;  // the intents once the group is committed
};

namespace {

// A state restored from a snapshot, and the snapshot's sequence.
struct Restored {
  uint64_t sequence = 0;
  projections::PipelineState state;
};

// Snapshot `name` decoded, when a fold can start from it for a state as of `until`
// (eventlog::SnapshotToFoldFrom). One that does not decode is only a cache: nullopt, and the log
// rebuilds the state.
absl::StatusOr<std::optional<Restored>> UsableSnapshot(const eventlog::EventLog& log,
                                                       const std::string& name, uint64_t until) {
  AIOPS_ASSIGN_OR_RETURN(
      std::optional<eventlog::Snapshot> snapshot,
      eventlog::SnapshotToFoldFrom(log, name, projections::kPipelineStateVersion, until));
  if (!snapshot.has_value()) {
    return std::nullopt;
  }
  absl::StatusOr<projections::PipelineState> restored = projections::DecodeSnapshot(snapshot->data);
  if (!restored.ok()) {
    return std::nullopt;
  }
  return Restored{snapshot->sequence, *std::move(restored)};
}

// The state as of `until` (or the log's end): `start` (taken at or before `until`) or, without
// one, an empty state, with the log's events after it folded in.
absl::StatusOr<projections::PipelineState> FoldFrom(const eventlog::EventLog& log,
                                                    std::optional<Restored> start, uint64_t until) {
  projections::PipelineState state;
  uint64_t from = log.FirstSequence();
  if (start.has_value()) {
    state = std::move(start->state);
    from = start->sequence + 1;
  }
  constexpr uint64_t kChunk = 4096;
  while (from <= until) {
    AIOPS_ASSIGN_OR_RETURN(std::vector<v1::Event> events,
                           log.Read(from, static_cast<size_t>(std::min(kChunk, until - from + 1))));
    if (events.empty()) {
      break;
    }
    for (const v1::Event& e : events) {
      projections::Apply(state, e);
    }
    from = events.back().sequence() + 1;
  }
  return state;
}

}  // namespace

absl::StatusOr<projections::PipelineState> Runner::Rebuild(const eventlog::EventLog& log,
                                                           const std::string& snapshot_name,
                                                           uint64_t until) {
  AIOPS_ASSIGN_OR_RETURN(std::optional<Restored> restored,
                         UsableSnapshot(log, snapshot_name, until));
  return FoldFrom(log, std::move(restored), until);
}

absl::StatusOr<uint64_t> Runner::KeepStateBeforePrune(eventlog::EventLog& log,
                                                      const std::string& snapshot_name,
                                                      uint64_t through) {
  AIOPS_ASSIGN_OR_RETURN(std::optional<Restored> usable,
                         UsableSnapshot(log, snapshot_name, log.LastSequence()));
  if (usable.has_value() && usable->sequence >= through) {
    return usable->sequence;  // a restart already starts after `through`
  }
  if (log.FirstSequence() > 1 && !usable.has_value()) {
    return absl::FailedPreconditionError(fmt::format(
        "the history before sequence {} was pruned earlier and no snapshot of the pipeline state "
        "covers it, so the state as of sequence {} cannot be rebuilt to keep",
        log.FirstSequence(), through));
  }
  // From the snapshot just decoded (it is before `through`), not a second decode of it.
  AIOPS_ASSIGN_OR_RETURN(projections::PipelineState state,
                         FoldFrom(log, std::move(usable), through));
  if (state.last_sequence != through) {
    return absl::InternalError(fmt::format("the state rebuilt for sequence {} ends at sequence {}",
                                           through, state.last_sequence));
  }
  AIOPS_RETURN_IF_ERROR(
      log.PutSnapshot(snapshot_name, eventlog::Snapshot{through, projections::kPipelineStateVersion,
                                                        projections::EncodeSnapshot(state)}));
  return through;
}

absl::StatusOr<std::unique_ptr<Runner>> Runner::Start(eventlog::EventLog& log, Options options) {
  AIOPS_ASSIGN_OR_RETURN(projections::PipelineState state, Rebuild(log, options.snapshot_name));
  const bool snapshots = options.snapshot_every_events > 0;
  projections::PipelineState follower_state;
  if (snapshots) {
    follower_state = state;  // once, at start: the snapshotter's own copy
  }
  std::unique_ptr<Runner> runner(new Runner(log, std::move(options), std::move(state)));
  runner->writer_ = std::thread([r = runner.get()] { r->WriterLoop(); });
  runner->committer_ = std::thread([r = runner.get()] { r->CommitLoop(); });
  if (snapshots) {
    runner->snapshotter_ = std::thread([r = runner.get(), s = std::move(follower_state)]() mutable {
      r->SnapshotLoop(std::move(s));
    });
  }
  return runner;
}

Runner::Runner(eventlog::EventLog& log, Options options, projections::PipelineState state)
    : log_(log), options_(std::move(options)), state_(std::move(state)) {
  absl::MutexLock lock(&state_mu_);
  decided_view_ = MakeView();
  SetView(decided_view_);
}

Runner::~Runner() { Stop(); }

void Runner::Stop() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  if (writer_.joinable()) {
    writer_.join();
  }
  if (committer_.joinable()) {
    committer_.join();
  }
  {
    absl::MutexLock lock(&snapshot_mu_);
    snapshot_stop_ = true;
  }
  if (snapshotter_.joinable()) {
    snapshotter_.join();
  }
}

void Runner::SnapshotLoop(projections::PipelineState state) {
  constexpr size_t kChunk = 4096;
  constexpr absl::Duration kPoll = absl::Milliseconds(100);
  uint64_t since_snapshot = 0;
  for (;;) {
    bool stop = false;
    {
      absl::MutexLock lock(&snapshot_mu_);
      stop = snapshot_stop_;
    }
    // After Stop, the writer has ended: fold what the log holds, then leave.
    const uint64_t from = std::max(state.last_sequence + 1, log_.FirstSequence());
    if (!stop && log_.WaitForSequence(from, kPoll) < from) {
      continue;
    }
    absl::StatusOr<std::vector<v1::Event>> events = log_.Read(from, kChunk);
    if (!events.ok() || events->empty()) {
      if (stop) {
        return;
      }
      // A snapshot is only a cache: a read error costs the next start some replay, nothing more.
      if (!events.ok()) {
        absl::SleepFor(kPoll);
      }
      continue;
    }
    for (const v1::Event& e : *events) {
      projections::Apply(state, e);
    }
    since_snapshot += events->size();
    if (since_snapshot >= options_.snapshot_every_events) {
      since_snapshot = 0;
      const eventlog::Snapshot snapshot{state.last_sequence, projections::kPipelineStateVersion,
                                        projections::EncodeSnapshot(state)};
      log_.PutSnapshot(options_.snapshot_name, snapshot).IgnoreError();
    }
  }
}

absl::StatusOr<uint64_t> Runner::Submit(v1::Event input) {
  std::vector<v1::Event> inputs;
  inputs.push_back(std::move(input));
  AIOPS_ASSIGN_OR_RETURN(std::vector<uint64_t> sequences, SubmitBatch(std::move(inputs)));
  return sequences.front();
}

absl::StatusOr<std::vector<uint64_t>> Runner::SubmitBatch(std::vector<v1::Event> inputs) {
  if (inputs.empty()) {
    return std::vector<uint64_t>();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].payload_case() == v1::Event::PAYLOAD_NOT_SET) {
      return absl::InvalidArgumentError(
          inputs.size() == 1 ? std::string("an input needs a payload")
                             : fmt::format("input {} has no payload (an input needs one)", i));
    }
  }
  Pending pending;
  pending.inputs = std::move(inputs);
  absl::MutexLock lock(&queue_mu_);
  if (stopping_) {
    return absl::UnavailableError("the runner is stopping");
  }
  if (queued_inputs_ + pending.inputs.size() > options_.max_queue) {
    return absl::ResourceExhaustedError(
        fmt::format("the runner's queue is full ({} inputs pending, {} more offered, room for {})",
                    queued_inputs_, pending.inputs.size(), options_.max_queue));
  }
  queued_inputs_ += pending.inputs.size();
  queue_.push_back(&pending);
  queue_mu_.Await(absl::Condition(&pending.done));
  if (!pending.status.ok()) {
    return pending.status;
  }
  return std::move(pending.sequences);
}

std::vector<Runner::Pending*> Runner::TakeGroup() {
  std::vector<Pending*> group;
  absl::MutexLock lock(&queue_mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
    return !queue_.empty() || stopping_;
  };
  queue_mu_.Await(absl::Condition(&ready));
  // Whole Pendings only (a batch is never split); at least one, however large.
  size_t inputs = 0;
  while (!queue_.empty() &&
         (group.empty() || inputs + queue_.front()->inputs.size() <= options_.max_group_inputs)) {
    inputs += queue_.front()->inputs.size();
    group.push_back(queue_.front());
    queue_.pop_front();
  }
  queued_inputs_ -= inputs;
  return group;
}

void Runner::WriterLoop() {
  for (;;) {
    std::vector<Pending*> group = TakeGroup();
    if (group.empty()) {
      break;  // stopping, and nothing is queued
    }
    auto job = std::make_unique<Job>();
    job->group = std::move(group);
    absl::MutexLock lock(&state_mu_);
    auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) {
      return in_flight_ < kMaxInFlight && readers_waiting_ == 0;
    };
    state_mu_.Await(absl::Condition(&room));
    if (!failed_.ok()) {
      absl::MutexLock queue(&queue_mu_);
      for (Pending* p : job->group) {
        p->status = failed_;
        p->done = true;
      }
      continue;
    }
    job->first = std::max(state_.last_sequence, log_.LastSequence()) + 1;
    uint64_t next = job->first;
    size_t inputs = 0;
    for (Pending* p : job->group) {
      inputs += p->inputs.size();
    }
    job->events.reserve(3 * inputs);  // most inputs derive one or two events
    for (Pending* p : job->group) {
      p->sequences.reserve(p->inputs.size());
      for (v1::Event& input : p->inputs) {
        p->sequences.push_back(next);
        next += stages::ProcessInputInto(state_, std::move(input), next, job->events);
      }
    }
    job->last = next - 1;
    job->view = MakeView(job->events, decided_view_.get());
    decided_view_ = job->view;
    ++in_flight_;
    // Pushed while state_mu_ is held: a committer that finds an append failed (and takes
    // state_mu_ to rebuild) sees every group decided on top of the failed one in its queue.
    absl::MutexLock commit(&commit_mu_);
    commit_queue_.push_back(std::move(job));
  }
  absl::MutexLock commit(&commit_mu_);
  deciding_done_ = true;
}

void Runner::CommitLoop() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> finished;
    {
      absl::MutexLock commit(&commit_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_) {
        return !commit_queue_.empty() || deciding_done_;
      };
      commit_mu_.Await(absl::Condition(&ready));
      if (commit_queue_.empty()) {
        return;
      }
      finished.push_back(std::move(commit_queue_.front()));
      commit_queue_.pop_front();
    }
    Job& job = *finished.front();
    absl::StatusOr<eventlog::SequenceRange> range = log_.Append(std::move(job.events));
    absl::Status status = range.status();
    if (status.ok() && (range->first != job.first || range->last != job.last)) {
      status = absl::InternalError(fmt::format(
          "the log assigned sequences {}-{} where the runner expected {}-{}: another writer?",
          range->first, range->last, job.first, job.last));
    }
    if (status.ok()) {
      SetView(job.view);
      absl::MutexLock lock(&state_mu_);
      --in_flight_;
    } else {
      // Nothing of the group may survive in the state, nor anything decided on top of it: fail
      // the groups queued behind it too, and rebuild the state from what the log holds.
      absl::MutexLock lock(&state_mu_);
      {
        absl::MutexLock commit(&commit_mu_);
        while (!commit_queue_.empty()) {
          finished.push_back(std::move(commit_queue_.front()));
          commit_queue_.pop_front();
        }
      }
      for (size_t i = 0; i < finished.size(); ++i) {
        const absl::Status failed =
            i == 0 ? status
                   : absl::Status(status.code(),
                                  fmt::format("not committed: the append of an earlier group of "
                                              "inputs failed: {}",
                                              status.message()));
        for (Pending* p : finished[i]->group) {
          p->status = failed;
        }
      }
      absl::StatusOr<projections::PipelineState> rebuilt = Rebuild(log_, options_.snapshot_name);
      in_flight_ -= finished.size();
      if (rebuilt.ok()) {
        state_ = *std::move(rebuilt);
        decided_view_ = MakeView();
        SetView(decided_view_);
      } else if (failed_.ok()) {
        // state_ holds decisions that are not in the log: nobody may read or extend it.
        failed_ = absl::Status(
            absl::StatusCode::kInternal,
            fmt::format("the runner stopped: an append failed ({}) and the state could not be "
                        "rebuilt from the log ({}); restart to recover by replay",
                        status.message(), rebuilt.status().message()));
        state_ = projections::PipelineState();
        decided_view_ = View();  // the last committed view
        if (options_.on_failure) {
          options_.on_failure(failed_);
        }
      }
    }
    absl::MutexLock lock(&queue_mu_);
    for (const std::unique_ptr<Job>& j : finished) {
      for (Pending* p : j->group) {
        p->done = true;
      }
    }
  }
}

std::shared_ptr<const PipelineView> Runner::MakeView(const std::vector<v1::Event>& events,
                                                     const PipelineView* previous) const {
  auto view = std::make_shared<PipelineView>();
  view->sequence = state_.last_sequence;
  // CollectIntents walks every issue and plan: a storm of alerts joining open issues would pay
  // it per group for nothing.
  const bool reuse =
      previous != nullptr && !projections::HasCooldownDeadline(previous->intents()) &&
      std::none_of(events.begin(), events.end(),
                   [](const v1::Event& e) { return projections::MayChangeIntents(e); });
  view->shared_intents =
      reuse ? previous->shared_intents
            : std::make_shared<const projections::Intents>(projections::CollectIntents(state_));
  return view;
}

void Runner::SetView(std::shared_ptr<const PipelineView> view) {
  absl::MutexLock lock(&view_mu_);
  view_ = std::move(view);
}

std::shared_ptr<const PipelineView> Runner::View() const {
  absl::MutexLock lock(&view_mu_);
  return view_;
}

std::shared_ptr<const PipelineView> Runner::WaitForView(uint64_t after_sequence,
                                                        absl::Duration timeout) const {
  absl::MutexLock lock(&view_mu_);
  auto newer = [this, after_sequence]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(view_mu_) {
    return view_->sequence > after_sequence;
  };
  view_mu_.AwaitWithTimeout(absl::Condition(&newer), timeout);
  return view_;
}

absl::Status Runner::health() const {
  absl::MutexLock lock(&state_mu_);
  return failed_;
}

void Runner::ReadState(const std::function<void(const projections::PipelineState&)>& read) const {
  absl::MutexLock lock(&state_mu_);
  // Only committed state: the writer decides no new group while a reader waits, so the groups
  // in flight drain in at most kMaxInFlight commits.
  ++readers_waiting_;
  auto committed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) { return in_flight_ == 0; };
  state_mu_.Await(absl::Condition(&committed));
  --readers_waiting_;
  read(state_);
}

}  // namespace aiops::server
