// AI analysis (server/analysis): analyses per second of the built-in rules analyzer, and the
// per-call overhead that a provider call adds on our side: prompt building (UTF-8 repair,
// redaction, truncation, formatting) and answer parsing (JSON, schema checks, screening). The
// network and the model's own time are not measured. Run:
//   build/bench/analysis_bench --benchmark_counters_tabular=true (bench/README.md has the figures)
#include <string>

#include <benchmark/benchmark.h>

#include "server/analysis/prompt.h"
#include "server/analysis/redact.h"
#include "server/analysis/rules_analyzer.h"

namespace {

using aiops::analysis::AnalysisRequest;

// A Kubernetes context in the shape of the context builder's output, `pods` pod blocks long
// (5 pods and 15 events is the builder's usual size, about 3 KB; 60 pods pad it to about 15 KB).
std::string Context(int pods) {
  std::string out =
      "## Deployment Status\nName: production/api\n"
      "Replicas: desired=3 ready=1 updated=3 available=1 unavailable=2\n"
      "Generation: 5 (observed: 5)\n"
      "Container: app image=registry/api:v2 requests=[cpu=100m mem=128Mi] "
      "limits=[cpu=500m mem=256Mi]\n"
      "Condition: Available=False reason=MinimumReplicasUnavailable message=\"Deployment does "
      "not have minimum availability.\"\n\n";
  out += "## Pod Details\n";
  for (int i = 0; i < pods; ++i) {
    out += "Pod: api-7d9f8-p" + std::to_string(i) + " phase=Running\n";
    out += "  Container: app ready=false restarts=" + std::to_string(i + 3) + "\n";
    out +=
        "    State: Waiting reason=CrashLoopBackOff message=\"back-off 5m0s restarting "
        "failed container\"\n";
    out += "    LastTermination: reason=OOMKilled exitCode=137\n";
  }
  out += "\n## Recent Events (last 15)\n";
  for (int i = 0; i < 15; ++i) {
    out += "Warning BackOff: Back-off restarting failed container (count=" + std::to_string(i + 1) +
           " object=api-7d9f8-p0)\n";
  }
  out +=
      "\n## Revision History (last 2 revisions)\n"
      "Revision 5: replicas=1/3 [app=registry/api:v2]\n"
      "  Changed: app image: registry/api:v1 → registry/api:v2\n"
      "Revision 4: replicas=0/0 [app=registry/api:v1]\n"
      "env: DB_PASSWORD=hunter2 Authorization: Bearer abcdef0123456789\n";
  return out;
}

AnalysisRequest Request(int pods, int failures) {
  AnalysisRequest r;
  r.issue.set_name("api-oom-kill-1771276354");
  r.issue.mutable_resource()->set_kind("Deployment");
  r.issue.mutable_resource()->set_namespace_("production");
  r.issue.mutable_resource()->set_name("api");
  r.issue.set_signal_type("oom_kill");
  r.issue.set_severity("high");
  r.issue.set_risk_score(65);
  r.issue.set_description("OOMKilled on api: container app restarted 8 times");
  r.context = Context(pods);
  for (int i = 1; i <= failures; ++i) {
    aiops::v1::AttemptFailure* f = r.previous_failures.Add();
    f->set_attempt(i);
    f->set_plan_name("api-oom-kill-1771276354-plan-" + std::to_string(i));
    f->set_strategy("Attempt via runbook 'auto-oom-kill-high-deployment-3f2a1c'");
    f->set_failure("verification failed: still unhealthy after 1m30s");
    f->add_actions()->set_type(i == 1 ? "AdjustResources" : "RollbackDeployment");
  }
  r.attempt = failures + 1;
  return r;
}

constexpr char kAnswer[] = R"(```json
{"analysis": "Container app was OOMKilled at its 256Mi limit right after revision 5.",
 "confidence": 0.87,
 "recommendations": ["Increase memory limit to 512Mi", "Investigate a memory leak in v2"],
 "actions": [
  {"name": "Raise memory", "action": "AdjustResources", "description": "more memory",
   "params": {"memory_limit": "512Mi", "container": "app"}},
  {"name": "Restart", "action": "RestartDeployment", "description": "apply", "params": {}},
  {"name": "Contain", "action": "ScaleDeployment", "description": "stop", "params": {"replicas": "0"}}]}
```)";

// Analyses per second of the built-in rules; arg: pods in the context (1 attempt, or a retry
// after two failures when the second arg is 2).
void BM_BuiltinAnalyze(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const AnalysisRequest request =
      Request(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  aiops::analysis::RulesAnalyzer rules;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rules.Analyze(request));
  }
  state.counters["analyses_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["context_bytes"] = static_cast<double>(request.context.size());
}
BENCHMARK(BM_BuiltinAnalyze)->Args({5, 0})->Args({5, 2})->Args({60, 0});

void BM_BuildPrompt(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const AnalysisRequest request = Request(static_cast<int>(state.range(0)), 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(aiops::analysis::BuildPrompt(request));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(request.context.size()));
}
BENCHMARK(BM_BuildPrompt)->Arg(5)->Arg(60);

void BM_Redact(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const std::string context = Context(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(aiops::analysis::Redact(context));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(context.size()));
}
BENCHMARK(BM_Redact)->Arg(5)->Arg(60);

void BM_ParseAnswer(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(aiops::analysis::ParseAnswer(kAnswer));
  }
}
BENCHMARK(BM_ParseAnswer);

// What a provider call adds on our side: build the prompt, then parse a typical answer.
void BM_PromptAndParse(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const AnalysisRequest request = Request(static_cast<int>(state.range(0)), 2);
  for (auto _ : state) {
    benchmark::DoNotOptimize(aiops::analysis::BuildPrompt(request));
    benchmark::DoNotOptimize(aiops::analysis::ParseAnswer(kAnswer));
  }
  state.counters["calls_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PromptAndParse)->Arg(5)->Arg(60);

}  // namespace
