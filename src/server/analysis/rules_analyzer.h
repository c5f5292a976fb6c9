// The built-in rules analyzer (provider "builtin", model "rules-v1"): the default analyzer and
// the fallback of every other one. Deterministic and offline: the same request always gives the
// same answer, with no clock, randomness or I/O in its decisions (latency_ms and tokens are 0).
// It reads the signal type and the Kubernetes context text (container states, resource
// limits, replica counts, deployment conditions, revision history) and picks the first strategy
// of the matching rule that no earlier attempt already tried. The rules table and the confidence
// scale are in docs/analysis.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/analysis/analyzer.h"

namespace aiops::analysis {

// What the rules read from ContextCollected.context. The recognised line shapes (this
// operator's context builder, upstream ChatCLI's, and plain "key: value" forms) are listed in
// docs/analysis.md.
struct ContextEvidence {
  struct MemoryLimit {
    std::string container;  // "" when no container line named it
    std::string limit;      // as written, e.g. "256Mi"
  };
  struct Revision {
    int64_t number = 0;
    int32_t ready = -1;    // -1: not shown
    int32_t desired = -1;  // -1: not shown
    std::string images;    // e.g. "[app=registry/app:v2]"
    bool changed = false;  // a "Changed:" diff line follows it
  };

  bool oom_killed = false;
  std::string oom_container;  // the container whose state showed OOMKilled
  bool crash_loop = false;
  bool image_pull_failure = false;  // ImagePullBackOff, ErrImagePull, InvalidImageName
  std::string failing_container;    // the container in crash loop or failing to pull
  bool not_ready = false;           // a container ready=false or a Ready=False condition
  bool unavailable = false;         // unavailable replicas or Available=False
  bool progress_deadline_exceeded = false;
  int32_t desired_replicas = 0;  // 0: not shown
  std::vector<MemoryLimit> memory_limits;
  std::vector<Revision> revisions;  // in the order listed

  // The highest revision (nullptr when none is listed).
  const Revision* Newest() const;
  // The revision the newest containers replaced: the highest one below the newest that differs
  // from it. Revisions with the same containers as the newest and no diff line (a restart, a
  // controller renumbering) are passed over, so a restart on top of a bad rollout does not hide
  // it. Revisions without images count as different (nothing to compare). nullptr when absent.
  const Revision* Previous() const;
  // The revision that introduced the newest containers: the newest one, or the lowest of the
  // restarts of it passed over by Previous().
  const Revision* ChangedAt() const;
  // A newer revision than the previous one exists and changed something (images differ or a
  // diff line is listed): a rollout that a failure may be blamed on.
  bool HasNewRevision() const;
  // The newest revision has fewer ready pods than desired.
  bool NewestRevisionUnready() const;
  // The memory limit of `container`, else of the first container that shows one ("" if none).
  std::string MemoryLimitFor(const std::string& container) const;
};

ContextEvidence ParseContextEvidence(std::string_view context);

// A Kubernetes quantity doubled in its own unit ("256Mi" -> "512Mi", "1.5Gi" -> "3Gi",
// "500M" -> "1000M"); nullopt when `quantity` is not a plain decimal number with an optional
// binary (Ki..Ei) or decimal (k, M..E) suffix, or is too large.
std::optional<std::string> DoubleQuantity(std::string_view quantity);

struct RulesOptions {
  // The memory limit suggested for an OOMKilled container when the context shows none.
  std::string default_memory_limit = "512Mi";
  // Scale-out bounds (the safety policy's defaults, DESIGN.md §5): at most x2 and +10.
  int32_t max_replica_factor = 2;
  int32_t max_replica_increase = 10;
};

class RulesAnalyzer final : public Analyzer {
 public:
  explicit RulesAnalyzer(RulesOptions options = {}) : options_(std::move(options)) {}

  // Never fails.
  absl::StatusOr<v1::AnalysisCompleted> Analyze(const AnalysisRequest& request) override;
  std::string_view Name() const override { return kBuiltinProvider; }

 private:
  RulesOptions options_;
};

}  // namespace aiops::analysis
