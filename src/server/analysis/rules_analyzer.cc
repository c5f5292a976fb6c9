#include "server/analysis/rules_analyzer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "common/check.h"
#include "common/quantity.h"
#include "projections/naming.h"
#include "server/analysis/text.h"
#include "stages/safety.h"

namespace aiops::analysis {
namespace {

// ---------------------------------------------------------------------------------------------
// Context parsing

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The integer at the start of `s` (after optional spaces); nullopt when there is none.
std::optional<int64_t> LeadingInt(std::string_view s) {
  s = Trim(s);
  int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data()) {
    return std::nullopt;
  }
  return value;
}

// The integer after `key` (e.g. "desired=") in `line`, searched from `from`.
std::optional<int64_t> IntAfter(std::string_view line, std::string_view key, size_t from = 0) {
  const size_t at = line.find(key, from);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  return LeadingInt(line.substr(at + key.size()));
}

// A first word made of name characters (container and pod names).
std::string FirstName(std::string_view s) {
  s = Trim(s);
  size_t end = 0;
  while (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) != 0 ||
                            s[end] == '-' || s[end] == '_' || s[end] == '.')) {
    ++end;
  }
  return std::string(s.substr(0, end));
}

bool IsQuantityChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.'; }

// The quantity after a memory key ("mem=256Mi", "memory: 256Mi", "memory=\"1Gi\"") found in
// `lower` (the lower-cased line) at or after `from` and before `to`.
std::string MemoryQuantityIn(std::string_view line, std::string_view lower, size_t from,
                             size_t to) {
  for (size_t at = lower.find("mem", from); at != std::string_view::npos && at < to;
       at = lower.find("mem", at + 3)) {
    size_t i = at + 3;
    if (lower.substr(i, 3) == "ory") {
      i += 3;
    }
    while (i < lower.size() && (lower[i] == ' ' || lower[i] == '"' || lower[i] == '\'')) {
      ++i;
    }
    if (i >= lower.size() || (lower[i] != '=' && lower[i] != ':')) {
      continue;
    }
    ++i;
    while (i < lower.size() && (lower[i] == ' ' || lower[i] == '"' || lower[i] == '\'')) {
      ++i;
    }
    size_t end = i;
    while (end < line.size() && IsQuantityChar(line[end])) {
      ++end;
    }
    if (end > i && std::isdigit(static_cast<unsigned char>(line[i])) != 0) {
      return std::string(line.substr(i, end - i));
    }
  }
  return "";
}

// The memory limit written on `line`, if any: "limits=[cpu=500m mem=256Mi]",
// "limits: memory=256Mi", "limits: {cpu: 1, memory: 1Gi}", "memory_limit=256Mi",
// "memoryLimit: 256Mi".
std::string MemoryLimitOnLine(std::string_view line, std::string_view lower) {
  for (std::string_view key : {"memory_limit", "memorylimit", "memory-limit"}) {
    if (const size_t at = lower.find(key); at != std::string_view::npos) {
      size_t i = at + key.size();
      while (i < lower.size() && (lower[i] == ' ' || lower[i] == '"')) {
        ++i;
      }
      if (i < lower.size() && (lower[i] == '=' || lower[i] == ':')) {
        ++i;
        while (i < lower.size() && (lower[i] == ' ' || lower[i] == '"')) {
          ++i;
        }
        size_t end = i;
        while (end < line.size() && IsQuantityChar(line[end])) {
          ++end;
        }
        if (end > i && std::isdigit(static_cast<unsigned char>(line[i])) != 0) {
          return std::string(line.substr(i, end - i));
        }
      }
    }
  }
  const size_t limits = lower.find("limits");
  if (limits == std::string_view::npos) {
    return "";
  }
  // The limits group ends where a requests group starts (either order is accepted).
  const size_t requests = lower.find("requests", limits);
  return MemoryQuantityIn(line, lower, limits + 6,
                          requests == std::string_view::npos ? lower.size() : requests);
}

// "app=img (limits: {"cpu":"1","memory":"256Mi"}), side=img2" (a "containers:" line after its
// colon, or a revision's images): the memory limit of each container that shows one.
void ContainerLimitsIn(std::string_view line, std::vector<ContextEvidence::MemoryLimit>& out) {
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && (line[i] == ' ' || line[i] == ',')) {
      ++i;
    }
    const size_t name_start = i;
    while (i < n && line[i] != '=' && line[i] != ' ' && line[i] != ',') {
      ++i;
    }
    if (i >= n || line[i] != '=') {
      return;
    }
    const std::string name(line.substr(name_start, i - name_start));
    while (i < n && line[i] != ' ' && line[i] != ',') {
      ++i;  // the image
    }
    if (line.substr(i, 10) == " (limits: ") {
      const size_t close = line.find('}', i);
      if (close == std::string_view::npos) {
        return;
      }
      const std::string_view limits = line.substr(i, close - i + 1);
      const std::string limits_lower = Lower(limits);
      if (std::string memory = MemoryQuantityIn(limits, limits_lower, 0, limits.size());
          !memory.empty()) {
        out.push_back({name, std::move(memory)});
      }
      i = close + 1;
      if (i < n && line[i] == ')') {
        ++i;
      }
    }
  }
}

}  // namespace

const ContextEvidence::Revision* ContextEvidence::Newest() const {
  const Revision* best = nullptr;
  for (const Revision& r : revisions) {
    if (best == nullptr || r.number > best->number) {
      best = &r;
    }
  }
  return best;
}

namespace {

// The revisions below `newest`, highest first.
std::vector<const ContextEvidence::Revision*> Older(
    const std::vector<ContextEvidence::Revision>& revisions,
    const ContextEvidence::Revision* newest) {
  std::vector<const ContextEvidence::Revision*> out;
  for (const ContextEvidence::Revision& r : revisions) {
    if (newest != nullptr && r.number < newest->number) {
      out.push_back(&r);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const auto* a, const auto* b) { return a->number > b->number; });
  return out;
}

// {the revision that introduced the newest containers, the one it replaced}.
std::pair<const ContextEvidence::Revision*, const ContextEvidence::Revision*> ChangePoint(
    const ContextEvidence& ev) {
  const ContextEvidence::Revision* newest = ev.Newest();
  const ContextEvidence::Revision* at = newest;
  for (const ContextEvidence::Revision* r : Older(ev.revisions, newest)) {
    if (at->changed || r->images.empty() || r->images != newest->images) {
      return {at, r};
    }
    at = r;
  }
  return {at, nullptr};
}

}  // namespace

const ContextEvidence::Revision* ContextEvidence::Previous() const {
  return ChangePoint(*this).second;
}

const ContextEvidence::Revision* ContextEvidence::ChangedAt() const {
  return ChangePoint(*this).first;
}

bool ContextEvidence::HasNewRevision() const {
  const Revision* newest = Newest();
  const auto [at, previous] = ChangePoint(*this);
  if (newest == nullptr || previous == nullptr) {
    return false;
  }
  return at->changed || (!newest->images.empty() && !previous->images.empty() &&
                         newest->images != previous->images);
}

bool ContextEvidence::NewestRevisionUnready() const {
  const Revision* newest = Newest();
  return newest != nullptr && newest->ready >= 0 && newest->desired > 0 &&
         newest->ready < newest->desired;
}

std::string ContextEvidence::MemoryLimitFor(const std::string& container) const {
  for (const MemoryLimit& m : memory_limits) {
    if (!container.empty() && m.container == container) {
      return m.limit;
    }
  }
  return memory_limits.empty() ? "" : memory_limits.front().limit;
}

ContextEvidence ParseContextEvidence(std::string_view context) {
  ContextEvidence ev;
  std::string container;  // the container the current lines describe
  bool in_revisions = false;
  for (size_t start = 0; start < context.size();) {
    const size_t nl = context.find('\n', start);
    const std::string_view raw =
        context.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? context.size() : nl + 1;
    const std::string_view line = Trim(raw);
    if (line.empty()) {
      continue;
    }
    const std::string lower = Lower(line);

    if (StartsWith(lower, "#")) {
      in_revisions = lower.find("revision") != std::string::npos;
    }
    if (StartsWith(lower, "container:") || StartsWith(lower, "- container:")) {
      container = FirstName(line.substr(line.find(':') + 1));
    } else if (StartsWith(lower, "container ")) {  // "container app: waiting (...)"
      container = FirstName(line.substr(10));
    } else if (const size_t at = lower.find("container="); at != std::string::npos) {
      container = FirstName(line.substr(at + 10));
    }

    if (line.find("OOMKilled") != std::string_view::npos) {
      if (!ev.oom_killed) {
        ev.oom_container = container;
      }
      ev.oom_killed = true;
    }
    // A real kubelet rarely shows CrashLoopBackOff between restarts: a container line whose
    // current or last termination is an error (a non-zero exit other than an OOM kill) is the
    // same evidence.
    const bool crashed = StartsWith(lower, "container ") &&
                         line.find("OOMKilled") == std::string_view::npos &&
                         (line.find("terminated (Error)") != std::string_view::npos ||
                          line.find("last terminated: Error") != std::string_view::npos);
    if (crashed || line.find("CrashLoopBackOff") != std::string_view::npos) {
      if (ev.failing_container.empty()) {
        ev.failing_container = container;
      }
      ev.crash_loop = true;
    }
    for (std::string_view reason :
         {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}) {
      if (line.find(reason) != std::string_view::npos) {
        if (ev.failing_container.empty()) {
          ev.failing_container = container;
        }
        ev.image_pull_failure = true;
      }
    }
    if (lower.find("ready=false") != std::string::npos ||
        lower.find("ready: false") != std::string::npos) {
      ev.not_ready = true;  // also matches ContainersReady=False
    }
    if (lower.find("available=false") != std::string::npos ||
        lower.find("available: false") != std::string::npos) {
      ev.unavailable = true;
    }
    for (std::string_view key : {"unavailable=", "unavailable "}) {
      if (const auto unavailable = IntAfter(lower, key); unavailable && *unavailable > 0) {
        ev.unavailable = true;
      }
    }
    if (line.find("ProgressDeadlineExceeded") != std::string_view::npos) {
      ev.progress_deadline_exceeded = true;
    }
    // "Replicas: desired=3 ready=1 ...", "replicas: 3", "Deployment ns/name: desired 3, ...".
    if (ev.desired_replicas == 0 &&
        (StartsWith(lower, "replicas:") || StartsWith(lower, "deployment "))) {
      std::optional<int64_t> desired = IntAfter(lower, "desired=");
      if (!desired) {
        desired = IntAfter(lower, "desired ");
      }
      if (!desired && StartsWith(lower, "replicas:")) {
        desired = LeadingInt(lower.substr(9));
      }
      if (desired && *desired > 0 && *desired < 1'000'000) {
        ev.desired_replicas = static_cast<int32_t>(*desired);
      }
    }

    // Revision history: "Revision 4: replicas=0/3 [app=registry/app:v2]" followed by its diff
    // lines ("Changed: app image: registry/app:v1 → registry/app:v2"), or
    // "revision 4: ready 0/3, app=registry/app:v2 (was: app=registry/app:v1)". Revisions are
    // history: their limits are not the current ones.
    if (StartsWith(lower, "revision ") || StartsWith(lower, "- revision ")) {
      const std::string_view rest = std::string_view(lower).substr(lower.find("revision ") + 9);
      if (const auto number = LeadingInt(rest); number) {
        ContextEvidence::Revision r;
        r.number = *number;
        size_t at = lower.find("replicas=");
        const size_t key_size = at != std::string::npos ? 9 : 6;
        if (at == std::string::npos) {
          at = lower.find("ready ");
        }
        size_t fraction_end = std::string::npos;
        if (at != std::string::npos) {
          const std::optional<int64_t> ready = LeadingInt(lower.substr(at + key_size));
          const size_t slash = lower.find('/', at);
          const std::optional<int64_t> desired =
              slash == std::string::npos ? std::nullopt : LeadingInt(lower.substr(slash + 1));
          if (ready && desired && *ready < 1'000'000 && *desired < 1'000'000) {
            r.ready = static_cast<int32_t>(*ready);
            r.desired = static_cast<int32_t>(*desired);
            fraction_end = lower.find_first_of(" ,", slash);
          }
        }
        const size_t was = line.find("(was:");
        if (const size_t bracket = line.find('['); bracket != std::string_view::npos) {
          r.images = std::string(line.substr(bracket));
        } else if (fraction_end != std::string::npos) {
          const std::string_view images = Trim(line.substr(fraction_end, was - fraction_end));
          r.images = std::string(images.substr(images.find_first_not_of(", ") == images.npos
                                                   ? images.size()
                                                   : images.find_first_not_of(", ")));
        } else if (const size_t image = lower.find("image"); image != std::string::npos) {
          r.images = std::string(line.substr(image));
        }
        r.changed = was != std::string_view::npos;
        ev.revisions.push_back(std::move(r));
        in_revisions = true;
        continue;
      }
    }
    if (in_revisions && !ev.revisions.empty() &&
        (StartsWith(lower, "changed:") || (lower.find("image") != std::string::npos &&
                                           (line.find("→") != std::string_view::npos ||
                                            line.find("->") != std::string_view::npos)))) {
      ev.revisions.back().changed = true;
      continue;
    }

    if (StartsWith(lower, "containers:")) {
      // "containers: app=registry/app:v2 (limits: {"memory":"256Mi"}), side=img": one limit
      // per container.
      ContainerLimitsIn(line.substr(line.find(':') + 1), ev.memory_limits);
    } else if (const std::string limit = MemoryLimitOnLine(line, lower); !limit.empty()) {
      ev.memory_limits.push_back({container, limit});
    }
  }
  return ev;
}

std::optional<std::string> DoubleQuantity(std::string_view quantity) {
  size_t digits_end = 0;
  while (digits_end < quantity.size() &&
         (std::isdigit(static_cast<unsigned char>(quantity[digits_end])) != 0 ||
          quantity[digits_end] == '.')) {
    ++digits_end;
  }
  const std::string_view number = quantity.substr(0, digits_end);
  const std::string_view suffix = quantity.substr(digits_end);
  static constexpr std::array<std::string_view, 14> kSuffixes = {
      "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E", "m"};
  if (number.empty() || std::count(number.begin(), number.end(), '.') > 1 ||
      number.front() == '.' || number.back() == '.' || suffix == "m" ||
      std::find(kSuffixes.begin(), kSuffixes.end(), suffix) == kSuffixes.end()) {
    return std::nullopt;
  }
  const size_t dot = number.find('.');
  const size_t scale = dot == std::string_view::npos ? 0 : number.size() - dot - 1;
  std::string mantissa(number);
  if (dot != std::string_view::npos) {
    mantissa.erase(dot, 1);
  }
  if (mantissa.size() > 15) {
    return std::nullopt;
  }
  int64_t value = 0;
  std::from_chars(mantissa.data(), mantissa.data() + mantissa.size(), value);
  if (value == 0) {
    return std::nullopt;
  }
  std::string doubled = std::to_string(value * 2);
  if (scale > 0) {
    if (doubled.size() <= scale) {
      doubled.insert(0, scale - doubled.size() + 1, '0');
    }
    doubled.insert(doubled.size() - scale, ".");
    while (doubled.back() == '0') {
      doubled.pop_back();
    }
    if (doubled.back() == '.') {
      doubled.pop_back();
    }
  }
  return doubled + std::string(suffix);
}

// ---------------------------------------------------------------------------------------------
// Rules

namespace {

// The confidence scale (docs/analysis.md): how specific the evidence behind a strategy is.
constexpr float kConfidenceCauseAndChange = 0.9F;  // container state + the change that caused it
constexpr float kConfidenceSpecific = 0.85F;       // container state + concrete parameters
constexpr float kConfidenceCorroborated = 0.7F;    // evidence, a parameter defaulted or inferred
constexpr float kConfidenceSymptom = 0.6F;         // a symptom with a plausible, generic fix
constexpr float kConfidenceSignalOnly = 0.5F;    // only the alert's signal, nothing in the context
constexpr float kConfidenceNextStrategy = 0.4F;  // a later strategy, after earlier ones failed
constexpr float kConfidenceLastResort = 0.3F;
constexpr float kConfidenceNoRule = 0.1F;  // no rule applies: no action

struct Strategy {
  std::string rule;  // stable id, e.g. "oom-raise-memory"
  std::string analysis;
  float confidence = 0;
  std::vector<std::string> recommendations;
  std::vector<v1::ActionSpec> actions;  // actions[0] is the primary: it names the strategy
};

v1::ActionSpec Action(std::string_view name, std::string_view type, std::string_view description,
                      std::vector<std::pair<std::string, std::string>> params = {}) {
  v1::ActionSpec a;
  a.set_name(std::string(name));
  a.set_type(std::string(type));
  a.set_description(std::string(description));
  std::sort(params.begin(), params.end());
  for (auto& [key, value] : params) {
    v1::Param* p = a.add_params();
    p->set_key(std::move(key));
    p->set_value(std::move(value));
  }
  return a;
}

struct Situation {
  const AnalysisRequest& request;
  const ContextEvidence& ev;  // without the revisions of this issue's failed plans
  const RulesOptions& options;
  int32_t current_replicas = 0;  // 0: unknown
  // Revisions of failed plans were left out: a rollback names its target revision, since
  // "previous" (the newest revision unlike the current template) would be one of them.
  bool rollback_by_number = false;
};

// `ev` without the revisions an earlier failed plan of this issue made: a revision whose memory
// limit for a container is one a failed AdjustResources set, where the current template has
// another (the plan was restored since). Such a revision is the operator's own attempt, known not
// to work: neither a rollout to blame nor a state to return to. A revision whose next older one
// is left out loses its diff mark (it was relative to that one); images still compare.
ContextEvidence WithoutFailedPlansRevisions(ContextEvidence ev, const AnalysisRequest& request,
                                            bool* removed) {
  // Memory only: the one limit the rules raise, and the one the context's revisions show parsed.
  std::vector<projections::FailedLimit> set_limits =
      projections::FailedLimits(request.previous_failures);
  std::erase_if(set_limits,
                [](const projections::FailedLimit& l) { return l.resource != "memory"; });
  *removed = false;
  if (set_limits.empty()) {
    return ev;
  }
  const auto current_limit = [&](const std::string& container) {
    for (const ContextEvidence::MemoryLimit& m : ev.memory_limits) {
      if (m.container == container) {
        return m.limit;
      }
    }
    return std::string();
  };
  const auto made_by_failed_plan = [&](const ContextEvidence::Revision& r) {
    std::vector<ContextEvidence::MemoryLimit> limits;
    ContainerLimitsIn(r.images, limits);
    for (const ContextEvidence::MemoryLimit& l : limits) {
      for (const projections::FailedLimit& set : set_limits) {
        // By amount: the API server reads "1024Mi" back as "1Gi".
        if ((set.container.empty() || set.container == l.container) &&
            common::SameQuantity(l.limit, set.value) &&
            !common::SameQuantity(current_limit(l.container), set.value)) {
          return true;
        }
      }
    }
    return false;
  };
  std::vector<ContextEvidence::Revision> kept;
  std::set<int64_t> gone;
  for (const ContextEvidence::Revision& r : ev.revisions) {
    if (made_by_failed_plan(r)) {
      gone.insert(r.number);
    } else {
      kept.push_back(r);
    }
  }
  if (gone.empty()) {
    return ev;
  }
  *removed = true;
  for (ContextEvidence::Revision& r : kept) {
    const std::vector<const ContextEvidence::Revision*> older = Older(ev.revisions, &r);
    if (!older.empty() && gone.count(older.front()->number) > 0) {
      r.changed = false;
    }
  }
  ev.revisions = std::move(kept);
  return ev;
}

std::string ChangeText(const ContextEvidence& ev) {
  const ContextEvidence::Revision* newest = ev.Newest();
  const ContextEvidence::Revision* previous = ev.Previous();
  if (newest == nullptr || previous == nullptr) {
    return "";
  }
  std::string text = fmt::format("revision {}", newest->number);
  if (!newest->images.empty()) {
    text += fmt::format(" {}", newest->images);
  }
  if (const ContextEvidence::Revision* at = ev.ChangedAt(); at != newest) {
    text += fmt::format(", a restart of revision {}, which", at->number);
  }
  text += fmt::format(" replaced revision {}", previous->number);
  if (!previous->images.empty()) {
    text += fmt::format(" {}", previous->images);
  }
  return text;
}

Strategy Rollback(const Situation& s, std::string rule, std::string symptom, float confidence) {
  Strategy st;
  st.rule = std::move(rule);
  st.confidence = confidence;
  st.analysis = fmt::format(
      "{} right after a new rollout ({}); the new revision is the likely "
      "cause. Roll back to the previous revision.",
      symptom, ChangeText(s.ev));
  st.recommendations = {
      "Compare the failing revision's changes (image, command, args, "
      "resources) with the previous one before rolling forward again."};
  const ContextEvidence::Revision* previous = s.ev.Previous();
  st.actions.push_back(Action(
      "Roll back deployment", "RollbackDeployment",
      "Return to the previous ReplicaSet revision, which ran before the "
      "failure started",
      {{"toRevision", s.rollback_by_number && previous != nullptr ? std::to_string(previous->number)
                                                                  : std::string("previous")}}));
  return st;
}

Strategy Restart(std::string rule, std::string analysis, float confidence) {
  Strategy st;
  st.rule = std::move(rule);
  st.confidence = confidence;
  st.analysis = std::move(analysis);
  st.recommendations = {
      "If the restart does not hold, inspect the pod logs and events for the "
      "underlying cause."};
  st.actions.push_back(
      Action("Restart deployment", "RestartDeployment", "Rolling restart of the pods"));
  return st;
}

std::optional<Strategy> ScaleOut(const Situation& s, std::string rule, std::string symptom,
                                 float confidence) {
  const int64_t current = s.current_replicas;
  if (current <= 0) {
    return std::nullopt;  // the limits are relative to the current count: no guessing
  }
  const int64_t target = std::min(current * std::max(s.options.max_replica_factor, 1),
                                  current + std::max(s.options.max_replica_increase, 0));
  if (target <= current) {
    return std::nullopt;
  }
  Strategy st;
  st.rule = std::move(rule);
  st.confidence = confidence;
  st.analysis = fmt::format(
      "{} without a recent rollout to blame; add capacity: scale from {} "
      "to {} replicas.",
      symptom, current, target);
  st.recommendations = {
      "Check whether load grew or a dependency slowed down, and size the "
      "Deployment (or its HPA) for it."};
  st.actions.push_back(Action("Scale out deployment", "ScaleDeployment",
                              fmt::format("Add capacity: {} -> {} replicas", current, target),
                              {{"replicas", std::to_string(target)}}));
  return st;
}

std::vector<Strategy> OomStrategies(const Situation& s) {
  const ContextEvidence& ev = s.ev;
  std::string container = ev.oom_container;
  const std::string limit = ev.MemoryLimitFor(container);
  if (container.empty() && !ev.memory_limits.empty()) {
    container = ev.memory_limits.front().container;
  }
  const std::optional<std::string> doubled = limit.empty() ? std::nullopt : DoubleQuantity(limit);
  const std::string new_limit = doubled ? *doubled : s.options.default_memory_limit;

  Strategy st;
  st.rule = "oom-raise-memory";
  if (ev.oom_killed) {
    st.confidence = doubled ? kConfidenceSpecific : kConfidenceCorroborated;
  } else {
    st.confidence = doubled ? kConfidenceSymptom : kConfidenceSignalOnly;
  }
  const std::string who = container.empty() ? "The container" : "Container " + container;
  st.analysis =
      doubled
          ? fmt::format(
                "{} {} its memory limit of {}: the limit is too small for the "
                "workload. Raise it to {} (double) and restart.",
                who, ev.oom_killed ? "was OOMKilled at" : "runs out of memory at", limit, new_limit)
          : fmt::format(
                "{} {}; the context shows no memory limit to start from. Set the "
                "memory limit to {} and restart.",
                who, ev.oom_killed ? "was OOMKilled" : "runs out of memory", new_limit);
  st.recommendations = {
      "Check the container's memory usage trend for a leak before raising the limit again.",
      "Keep the memory request close to the new limit so the scheduler reserves it."};
  std::vector<std::pair<std::string, std::string>> params = {{"memory_limit", new_limit}};
  if (!container.empty()) {
    params.emplace_back("container", container);
  }
  st.actions.push_back(Action("Raise memory limit", "AdjustResources",
                              fmt::format("Raise the memory limit to {}", new_limit),
                              std::move(params)));
  st.actions.push_back(
      Action("Restart deployment", "RestartDeployment", "Restart the pods with the new limit"));

  std::vector<Strategy> out;
  out.push_back(std::move(st));
  if (ev.HasNewRevision()) {
    out.push_back(
        Rollback(s, "oom-rollback", "Containers run out of memory", kConfidenceNextStrategy));
  }
  return out;
}

std::vector<Strategy> ImagePullStrategies(const Situation& s) {
  std::vector<Strategy> out;
  const bool seen = s.ev.image_pull_failure;
  if (s.ev.HasNewRevision()) {
    out.push_back(Rollback(s, "image-pull-rollback",
                           "Pods cannot pull their image (ImagePullBackOff/ErrImagePull)",
                           seen ? kConfidenceCauseAndChange : kConfidenceCorroborated));
    out.push_back(Restart("image-pull-restart",
                          "The image still cannot be pulled; retry the pulls with a restart in "
                          "case the registry was briefly unavailable.",
                          kConfidenceLastResort));
  } else {
    out.push_back(Restart("image-pull-restart",
                          "Pods cannot pull their image and no recent rollout changed it: the "
                          "registry or its credentials may be briefly unavailable. Restart to "
                          "retry the pulls.",
                          kConfidenceNextStrategy));
  }
  return out;
}

std::vector<Strategy> CrashLoopStrategies(const Situation& s) {
  std::vector<Strategy> out;
  const bool seen = s.ev.crash_loop;
  const std::string who =
      s.ev.failing_container.empty() ? "Containers" : "Container " + s.ev.failing_container;
  if (s.ev.HasNewRevision()) {
    const float confidence = !seen                          ? kConfidenceCorroborated
                             : s.ev.NewestRevisionUnready() ? kConfidenceCauseAndChange
                                                            : kConfidenceSpecific;
    out.push_back(Rollback(s, "crashloop-rollback",
                           seen ? who + " crash-loop (CrashLoopBackOff)" : "Pods keep restarting",
                           confidence));
    out.push_back(Restart("crashloop-restart",
                          "Pods still crash after the rollback attempt; restart them to clear "
                          "transient state (a bad cache, a stuck dependency connection).",
                          kConfidenceLastResort));
  } else {
    out.push_back(
        Restart("crashloop-restart",
                fmt::format("{} with no recent rollout to blame; restart to clear transient state "
                            "(a stuck dependency connection, a corrupted local cache).",
                            seen ? who + " crash-loop (CrashLoopBackOff)" : "Pods keep restarting"),
                seen ? kConfidenceSymptom : kConfidenceSignalOnly));
  }
  return out;
}

std::vector<Strategy> DeployFailingStrategies(const Situation& s) {
  std::vector<Strategy> out;
  const std::string symptom = s.ev.progress_deadline_exceeded
                                  ? "The rollout exceeded its progress deadline"
                                  : "The Deployment has been unavailable for a sustained period";
  if (s.ev.HasNewRevision()) {
    out.push_back(Rollback(s, "deploy-failing-rollback", symptom,
                           s.ev.progress_deadline_exceeded || s.ev.NewestRevisionUnready()
                               ? kConfidenceSpecific
                               : kConfidenceCorroborated));
  }
  if (auto scale = ScaleOut(s, "deploy-failing-scale", symptom,
                            out.empty() ? kConfidenceSignalOnly : kConfidenceNextStrategy)) {
    out.push_back(std::move(*scale));
  }
  out.push_back(Restart("deploy-failing-restart",
                        symptom + "; restart the pods to recover from transient failures.",
                        out.empty() ? kConfidenceNextStrategy : kConfidenceLastResort));
  return out;
}

std::vector<Strategy> TrafficStrategies(const Situation& s) {
  std::vector<Strategy> out;
  const std::string symptom = s.request.issue.signal_type() == "latency"
                                  ? "Request latency is above its threshold"
                                  : "The error rate is above its threshold";
  if (s.ev.HasNewRevision()) {
    out.push_back(Rollback(s, "traffic-rollback", symptom, kConfidenceCorroborated));
  }
  if (auto scale = ScaleOut(s, "traffic-scale", symptom,
                            out.empty() ? kConfidenceSignalOnly : kConfidenceNextStrategy)) {
    out.push_back(std::move(*scale));
  }
  out.push_back(Restart("traffic-restart",
                        symptom + "; restart the pods to clear degraded instances.",
                        kConfidenceLastResort));
  return out;
}

std::vector<Strategy> NotReadyStrategies(const Situation& s) {
  std::vector<Strategy> out;
  if (s.ev.HasNewRevision() && s.ev.NewestRevisionUnready()) {
    out.push_back(Rollback(s, "not-ready-rollback",
                           "Pods of the newest revision do not become ready",
                           kConfidenceCorroborated));
    out.push_back(Restart("not-ready-restart",
                          "Pods are still not ready after the rollback attempt; restart them.",
                          kConfidenceLastResort));
    return out;
  }
  out.push_back(
      Restart("not-ready-restart",
              "Pods are not ready while the revision history is healthy (no failing "
              "rollout); restart them to recover from a transient failure.",
              s.ev.not_ready || s.ev.unavailable ? kConfidenceSymptom : kConfidenceSignalOnly));
  if (s.ev.HasNewRevision()) {
    out.push_back(
        Rollback(s, "not-ready-rollback", "Pods do not become ready", kConfidenceNextStrategy));
  }
  return out;
}

// Which rule applies: evidence in the context first (it names the root cause), then the signal.
std::vector<Strategy> Strategies(const Situation& s, std::string* situation) {
  const ContextEvidence& ev = s.ev;
  const std::string& signal = s.request.issue.signal_type();
  if (ev.oom_killed || signal == "oom_kill" || signal == "memory_high") {
    *situation = "out of memory";
    return OomStrategies(s);
  }
  if (ev.image_pull_failure || signal == "image_pull_error") {
    *situation = "image pull failure";
    return ImagePullStrategies(s);
  }
  if (ev.crash_loop || signal == "crashloop_backoff" || signal == "pod_restart") {
    *situation = "crash loop";
    return CrashLoopStrategies(s);
  }
  if (signal == "deploy_failing" || ev.progress_deadline_exceeded) {
    *situation = "deployment failing";
    return DeployFailingStrategies(s);
  }
  if (signal == "error_rate" || signal == "latency") {
    *situation = signal == "latency" ? "high latency" : "high error rate";
    return TrafficStrategies(s);
  }
  if (signal == "pod_not_ready" || ev.not_ready || ev.unavailable) {
    *situation = "pods not ready";
    return NotReadyStrategies(s);
  }
  *situation = fmt::format("signal '{}'", signal);
  return {};
}

}  // namespace

absl::StatusOr<v1::AnalysisCompleted> RulesAnalyzer::Analyze(const AnalysisRequest& request) {
  bool failed_plans_revisions = false;
  const ContextEvidence ev = WithoutFailedPlansRevisions(ParseContextEvidence(request.context),
                                                         request, &failed_plans_revisions);
  Situation s{request, ev, options_};
  s.rollback_by_number = failed_plans_revisions;
  s.current_replicas =
      request.issue.current_replicas() > 0 ? request.issue.current_replicas() : ev.desired_replicas;
  std::string situation;
  const std::vector<Strategy> strategies = Strategies(s, &situation);

  // A strategy was tried when an earlier failed attempt used its primary action type.
  std::set<std::string> tried;
  for (const v1::AttemptFailure& f : request.previous_failures) {
    for (const v1::ActionSpec& a : f.actions()) {
      tried.insert(a.type());
    }
  }
  const Strategy* chosen = nullptr;
  std::vector<std::string> skipped;
  for (const Strategy& st : strategies) {
    if (tried.count(st.actions.front().type()) > 0) {
      skipped.push_back(st.rule);
      continue;
    }
    chosen = &st;
    break;
  }

  v1::AnalysisCompleted out;
  out.set_issue_name(request.issue.name());
  out.set_attempt(request.attempt);
  out.set_provider(kBuiltinProvider);
  out.set_model(kBuiltinModel);
  if (chosen == nullptr) {
    out.set_confidence(kConfidenceNoRule);
    if (strategies.empty()) {
      out.set_analysis(fmt::format(
          "[builtin] No built-in rule matches {} and the context shows no known failure "
          "pattern (OOMKilled, CrashLoopBackOff, image pull errors, unready pods); no automatic "
          "action is suggested.",
          situation));
    } else {
      std::string tried_rules;
      for (const std::string& rule : skipped) {
        tried_rules += (tried_rules.empty() ? "" : ", ") + rule;
      }
      out.set_analysis(fmt::format(
          "[builtin] Every built-in strategy for {} ({}) was already tried by an earlier "
          "attempt that failed; no further automatic action is suggested.",
          situation, tried_rules));
    }
    out.add_recommendations(
        "A person should investigate: the built-in rules have nothing left "
        "to try.");
    SanitizeResult(out);  // names quoted from the context are outside text
    return out;
  }
  std::string analysis = fmt::format("[builtin rule {}] {}", chosen->rule, chosen->analysis);
  if (!skipped.empty()) {
    std::string skipped_rules;
    for (const std::string& rule : skipped) {
      skipped_rules += (skipped_rules.empty() ? "" : ", ") + rule;
    }
    analysis += fmt::format(
        " Earlier attempts already tried {} and failed, so this is a "
        "different strategy.",
        skipped_rules);
  }
  out.set_analysis(std::move(analysis));
  out.set_confidence(chosen->confidence);
  for (const std::string& r : chosen->recommendations) {
    out.add_recommendations(r);
  }
  for (const v1::ActionSpec& a : chosen->actions) {
    AIOPS_CHECK(stages::IsCatalogueAction(a.type()));
    *out.add_suggested_actions() = a;
  }
  SanitizeResult(out);  // names quoted from the context are outside text
  return out;
}

}  // namespace aiops::analysis
