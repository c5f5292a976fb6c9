#include "random_history.h"

#include <random>
#include <string>

#include "projections/naming.h"
#include "stages/engine.h"

namespace aiops::replay_testing {
namespace {

namespace p = projections;

class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {}

  History Run(int inputs) {
    History h;
    v1::PipelineConfig config = p::DefaultPipelineConfig();
    config.mutable_safety()->set_max_concurrent_per_namespace(2);
    Feed(h, Config(config));
    for (int i = 0; i < inputs; ++i) {
      now_ms_ += Pick(0, 90'000);
      Feed(h, NextInput(h.state));
    }
    return h;
  }

 private:
  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(int percent) { return Pick(1, 100) <= percent; }
  template <typename T>
  const T& OneOf(const std::vector<T>& v) {
    return v[static_cast<size_t>(Pick(0, static_cast<int>(v.size()) - 1))];
  }

  void Feed(History& h, v1::Event input) {
    input.set_logical_time_ms(now_ms_);
    input.set_producer("sim");
    std::vector<v1::Event> batch =
        stages::ProcessInput(h.state, std::move(input), h.log.size() + 1);
    h.log.insert(h.log.end(), batch.begin(), batch.end());
  }

  v1::ActionSpec RandomAction() {
    v1::ActionSpec a;
    const int k = Pick(0, 6);
    const char* types[] = {"RestartDeployment", "RollbackDeployment", "ScaleDeployment",
                           "PatchConfig",       "AdjustResources",    "Custom",
                           "ScaleDeployment"};
    a.set_type(types[k]);
    a.set_name(a.type());
    auto param = [&](const std::string& key, const std::string& value) {
      v1::Param* p = a.add_params();
      p->set_key(key);
      p->set_value(value);
    };
    if (a.type() == "ScaleDeployment") {
      if (k == 6) {
        param("containment", Chance(50) ? "true" : "false");
      }
      param("replicas", std::to_string(Pick(0, 8)));
    } else if (a.type() == "PatchConfig") {
      param("configmap", "app-config");
      param("LOG_LEVEL", "debug");
    } else if (a.type() == "AdjustResources") {
      param("memory_limit", std::to_string(Pick(1, 4)) + "Gi");
    }
    return a;
  }

  v1::Event NextInput(const p::PipelineState& state) {
    const p::Intents intents = p::CollectIntents(state);
    const int roll = Pick(1, 100);
    v1::Event e;
    if (roll <= 35 || state.issues.empty()) {
      v1::AlertObserved* a = e.mutable_alert_observed();
      const std::vector<std::string> types = {"HighRestartCount",  "OOMKilled",     "PodNotReady",
                                              "DeploymentFailing", "HighErrorRate", "Weird"};
      a->set_type(OneOf(types));
      a->set_deployment("app-" + std::to_string(Pick(0, 7)));
      a->set_namespace_(Chance(70) ? "production" : "staging");
      a->set_object(a->deployment() + "-pod");
      a->set_severity(Chance(20) ? "critical" : "warning");
      a->set_source("detector");
      a->set_source_object_uid("uid-" + std::to_string(Pick(0, 3)));
      return e;
    }
    if (roll <= 50 && !intents.analyses.empty()) {
      const auto& want = OneOf(intents.analyses);
      if (Chance(10)) {
        v1::AnalysisFailed* f = e.mutable_analysis_failed();
        f->set_issue_name(want.issue_name);
        f->set_attempt(want.attempt);
        f->set_error("analyzer timed out");
        return e;
      }
      if (Chance(30)) {
        v1::ContextCollected* c = e.mutable_context_collected();
        c->set_issue_name(want.issue_name);
        c->set_attempt(want.attempt);
        c->set_context("ctx");
        c->set_current_replicas(Pick(1, 5));
        return e;
      }
      v1::AnalysisCompleted* a = e.mutable_analysis_completed();
      a->set_issue_name(want.issue_name);
      a->set_attempt(want.attempt);
      a->set_analysis("analysis " + std::to_string(Pick(0, 99)));
      const int n = Pick(0, 2);
      for (int i = 0; i < n; ++i) {
        *a->add_suggested_actions() = RandomAction();
      }
      return e;
    }
    if (roll <= 65 && !intents.actions.empty()) {
      const auto& act = OneOf(intents.actions);
      if (act.index == 0 && Chance(40)) {
        e.mutable_preflight_snapshot()->set_plan_name(act.plan_name);
        return e;
      }
      if (Chance(80)) {
        e.mutable_action_succeeded()->set_plan_name(act.plan_name);
        e.mutable_action_succeeded()->set_index(act.index);
      } else {
        e.mutable_action_failed()->set_plan_name(act.plan_name);
        e.mutable_action_failed()->set_index(act.index);
        e.mutable_action_failed()->set_error("conflict");
      }
      return e;
    }
    if (roll <= 72 && !intents.rollbacks.empty()) {
      e.mutable_plan_rolled_back()->set_plan_name(OneOf(intents.rollbacks));
      return e;
    }
    if (roll <= 82 && !intents.verifications.empty()) {
      const std::string& plan = OneOf(intents.verifications);
      const v1::PlanState* ps = p::FindPlan(state, plan);
      if (Chance(60)) {
        e.mutable_verification_passed()->set_plan_name(plan);
        e.mutable_verification_passed()->set_issue_name(ps->issue_name());
      } else {
        e.mutable_verification_failed()->set_plan_name(plan);
        e.mutable_verification_failed()->set_issue_name(ps->issue_name());
        e.mutable_verification_failed()->set_reason("still crashing");
      }
      return e;
    }
    if (roll <= 88 && !intents.deadlines.empty()) {
      const p::Deadline& d = intents.deadlines.front();
      now_ms_ = std::max(now_ms_, d.due_at_ms);
      v1::DeadlineReached* r = e.mutable_deadline_reached();
      r->set_deadline_id(d.id);
      r->set_kind(d.kind);
      r->set_target(d.target);
      r->set_due_at_ms(d.due_at_ms);
      return e;
    }
    if (roll <= 92) {
      for (const auto& [name, plan] : state.plans) {
        if (plan.state() == p::kWaitingApproval) {
          if (Chance(70)) {
            e.mutable_approval_granted()->set_plan_name(name);
            e.mutable_approval_granted()->set_approver("alice");
          } else {
            e.mutable_approval_rejected()->set_plan_name(name);
            e.mutable_approval_rejected()->set_approver("bob");
          }
          return e;
        }
      }
    }
    if (roll <= 95) {
      v1::RunbookObserved* r = e.mutable_runbook_observed();
      r->set_name("rb-" + std::to_string(Pick(0, 3)));
      r->set_namespace_("production");
      r->mutable_spec()->mutable_trigger()->set_signal_type(Chance(50) ? "pod_restart" : "");
      r->mutable_spec()->mutable_trigger()->set_severity(Chance(50) ? "low" : "medium");
      r->mutable_spec()->mutable_trigger()->set_resource_kind("Deployment");
      *r->mutable_spec()->add_steps() = RandomAction();
      r->mutable_spec()->set_max_attempts(Pick(0, 4));
      return e;
    }
    if (roll <= 97) {
      v1::PipelineConfig config = p::DefaultPipelineConfig();
      config.mutable_approval()->set_enabled(Chance(30));
      config.mutable_dry_run()->set_global(Chance(10));
      config.mutable_safety()->set_max_concurrent_per_namespace(Pick(1, 3));
      return Config(config);
    }
    v1::AlertObserved* a = e.mutable_alert_observed();
    a->set_type("OOMKilled");
    a->set_deployment("app-0");
    a->set_namespace_("production");
    a->set_source_object_uid("uid-storm-" + std::to_string(Pick(0, 50)));
    return e;
  }

  static v1::Event Config(const v1::PipelineConfig& config) {
    v1::Event e;
    *e.mutable_config_changed()->mutable_config() = config;
    e.mutable_config_changed()->set_source("sim");
    return e;
  }

  std::mt19937_64 rng_;
  int64_t now_ms_ = 1'771'276'354'000;
};

}  // namespace

History RandomHistory(uint64_t seed, int inputs) { return World(seed).Run(inputs); }

}  // namespace aiops::replay_testing
