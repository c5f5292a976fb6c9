// The runner (DESIGN.md §2): the single writer of the event log. Inputs from every edge are
// queued; one thread turns each into its batch (input + derived events) with the pure engine,
// and a second group-commits the batches of many inputs in one append, publishes an immutable
// view of the pending intents for the effectors, then acknowledges the producers. The two are
// pipelined: the next group is decided while the previous one is written (at most kMaxInFlight
// decided groups not yet committed); readers of the state only ever see committed state. On start
// it rebuilds the state from the latest snapshot (when its state version matches) plus the log's
// tail. Snapshots are written by a second thread that folds the committed log into its own copy of
// the state, so encoding one never stalls the writer (nor the acknowledgements waiting on it). A
// failed append leaves the log without any of the group's events: the runner rebuilds its state
// from the log and fails those inputs, so each input has all of its consequences or none. If
// that rebuild fails too, the runner cannot tell what is committed: it fails for good (every
// input refused, the state emptied, the last committed view kept, Options::on_failure called),
// and the process restarts and recovers by replay. It never decides on uncommitted events.
// Thread-safe. The log must outlive the runner.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <absl/base/thread_annotations.h>
#include <absl/status/status.h>
#include <absl/status/statusor.h>
#include <absl/synchronization/mutex.h>
#include <absl/time/time.h>

#include "aiops/v1/events.pb.h"
#include "eventlog/event_log.h"
#include "projections/pipeline_state.h"

namespace aiops::server {

// What the effectors work from, as of `sequence`.
struct PipelineView {
  uint64_t sequence = 0;
  // Shared between views when a group of detection events left them unchanged.
  std::shared_ptr<const projections::Intents> shared_intents;
  const projections::Intents& intents() const { return *shared_intents; }
};

class Runner {
 public:
  struct Options {
    size_t max_group_inputs = 512;  // inputs committed in one append
    size_t max_queue = 10'000;      // pending inputs; beyond, Submit is kResourceExhausted
    // A restart folds at most this many events after the latest snapshot (1M: about 3.5 s on
    // the 2-core reference machine); each snapshot costs an encode of the whole state. 0: none.
    uint64_t snapshot_every_events = 1'000'000;
    std::string snapshot_name = projections::kPipelineSnapshotName;
    // Called once (from the committing thread) when the runner fails for good; see above.
    std::function<void(const absl::Status&)> on_failure;
  };

  static absl::StatusOr<std::unique_ptr<Runner>> Start(eventlog::EventLog& log, Options options);
  static absl::StatusOr<std::unique_ptr<Runner>> Start(eventlog::EventLog& log) {
    return Start(log, Options());
  }
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;
  Runner(Runner&&) = delete;
  Runner& operator=(Runner&&) = delete;

  // Queues `input` (stamped by its edge with logical time and producer) and waits until it is
  // committed with everything it derived; returns its sequence. kResourceExhausted when the
  // queue is full, kUnavailable once stopped, or the append's error.
  absl::StatusOr<uint64_t> Submit(v1::Event input);
  // Queues every input of `inputs` together and waits once until all are committed; returns
  // their sequences in order. The inputs are committed in one append (with whatever else is
  // queued), so they are all in the log or none is, even when there are more of them than
  // `max_group_inputs`. The same errors as Submit; kResourceExhausted when they do not all fit
  // in the queue (none is queued then).
  absl::StatusOr<std::vector<uint64_t>> SubmitBatch(std::vector<v1::Event> inputs);

  std::shared_ptr<const PipelineView> View() const;
  // Waits until a view newer than `after_sequence` is published (or `timeout`); returns the
  // latest view either way.
  std::shared_ptr<const PipelineView> WaitForView(uint64_t after_sequence,
                                                  absl::Duration timeout) const;
  // Runs `read` on the committed state (waits for the groups in flight to be committed).
  void ReadState(const std::function<void(const projections::PipelineState&)>& read) const;

  // OK, or why the runner failed for good (see above).
  absl::Status health() const;

  // Commits what is queued, then stops the writer. Idempotent.
  void Stop();

  // Rebuilds the state of `log` as of sequence `until` (its end by default) from snapshot
  // `snapshot_name`, when usable, plus the events after it.
  static absl::StatusOr<projections::PipelineState> Rebuild(
      const eventlog::EventLog& log, const std::string& snapshot_name,
      uint64_t until = std::numeric_limits<uint64_t>::max());

  // Before the log's history up to sequence `through` is pruned: makes sure a restart can still
  // rebuild the state, by writing the state as of `through` as snapshot `snapshot_name` unless a
  // usable one at or after `through` exists. Returns the snapshot's sequence. kFailedPrecondition
  // when earlier history was pruned with no snapshot covering it (the state is already lost).
  static absl::StatusOr<uint64_t> KeepStateBeforePrune(eventlog::EventLog& log,
                                                       const std::string& snapshot_name,
                                                       uint64_t through);

 private:
  struct Pending;
  struct Job;
  static constexpr size_t kMaxInFlight = 2;

  Runner(eventlog::EventLog& log, Options options, projections::PipelineState state);
  // Waits for queued Pendings; empty once stopping with nothing queued.
  std::vector<Pending*> TakeGroup();
  // Decides each group on the state and hands it to the committer.
  void WriterLoop();
  // Appends the decided groups in order, publishes their views and acknowledges them; on a
  // failed append, fails that group and every group decided after it and rebuilds the state.
  void CommitLoop();
  // Folds committed events into `state` and writes a snapshot every snapshot_every_events, until
  // Stop (after folding what the log holds then).
  void SnapshotLoop(projections::PipelineState state);
  // The view of the state as it is; the intents of `previous` are reused when `events` cannot
  // have changed them (projections::MayChangeIntents).
  std::shared_ptr<const PipelineView> MakeView(const std::vector<v1::Event>& events = {},
                                               const PipelineView* previous = nullptr) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_);
  void SetView(std::shared_ptr<const PipelineView> view);

  eventlog::EventLog& log_;
  const Options options_;

  mutable absl::Mutex state_mu_;
  projections::PipelineState state_ ABSL_GUARDED_BY(state_mu_);  // with the groups in flight
  size_t in_flight_ ABSL_GUARDED_BY(state_mu_) = 0;  // decided groups not committed or failed yet
  // The view of the last group decided (committed or not), or of the rebuilt state.
  std::shared_ptr<const PipelineView> decided_view_ ABSL_GUARDED_BY(state_mu_);
  mutable int readers_waiting_ ABSL_GUARDED_BY(state_mu_) = 0;
  absl::Status failed_ ABSL_GUARDED_BY(state_mu_);  // set for good; see the class comment

  // Taken after state_mu_ when both are held.
  absl::Mutex commit_mu_;
  std::deque<std::unique_ptr<Job>> commit_queue_ ABSL_GUARDED_BY(commit_mu_);
  bool deciding_done_ ABSL_GUARDED_BY(commit_mu_) = false;

  mutable absl::Mutex queue_mu_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(queue_mu_);
  size_t queued_inputs_ ABSL_GUARDED_BY(queue_mu_) = 0;  // inputs of the Pendings in queue_
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;

  mutable absl::Mutex view_mu_;
  std::shared_ptr<const PipelineView> view_ ABSL_GUARDED_BY(view_mu_);

  std::thread writer_;
  std::thread committer_;
  std::thread snapshotter_;
  absl::Mutex snapshot_mu_;
  bool snapshot_stop_ ABSL_GUARDED_BY(snapshot_mu_) = false;
};

}  // namespace aiops::server
