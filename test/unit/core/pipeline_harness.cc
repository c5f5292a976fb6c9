#include "pipeline_harness.h"

#include <gtest/gtest.h>

#include "eventlog/record.h"

namespace aiops::core_testing {

PipelineHarness::PipelineHarness(const v1::PipelineConfig& config) { Feed(ConfigChange(config)); }

std::vector<v1::Event> PipelineHarness::Feed(v1::Event input) {
  input.set_logical_time_ms(now_ms_);
  if (input.producer().empty()) {
    input.set_producer("test");
  }
  std::vector<v1::Event> batch = stages::ProcessInput(state_, std::move(input), log_.size() + 1);
  log_.insert(log_.end(), batch.begin(), batch.end());
  return {batch.begin() + 1, batch.end()};
}

const v1::IssueState& PipelineHarness::Issue(const std::string& name) const {
  const v1::IssueState* issue = projections::FindIssue(state_, name);
  EXPECT_NE(nullptr, issue) << "no issue " << name;
  static const v1::IssueState kEmpty;
  return issue != nullptr ? *issue : kEmpty;
}

const v1::PlanState& PipelineHarness::Plan(const std::string& name) const {
  const v1::PlanState* plan = projections::FindPlan(state_, name);
  EXPECT_NE(nullptr, plan) << "no plan " << name;
  static const v1::PlanState kEmpty;
  return plan != nullptr ? *plan : kEmpty;
}

std::string PipelineHarness::LatestIssue() const {
  std::string latest;
  uint64_t opened = 0;
  for (const auto& [name, issue] : state_.issues) {
    if (issue.opened_sequence() >= opened) {
      opened = issue.opened_sequence();
      latest = name;
    }
  }
  return latest;
}

v1::Event Alert(const std::string& type, const std::string& deployment, const std::string& ns,
                const std::string& uid) {
  v1::Event e;
  v1::AlertObserved* a = e.mutable_alert_observed();
  a->set_type(type);
  a->set_severity("warning");
  a->set_message(type + " on " + deployment);
  a->set_object(deployment + "-7d9f-abcde");
  a->set_namespace_(ns);
  a->set_deployment(deployment);
  a->set_source("detector");
  a->set_source_object_uid(uid);
  return e;
}

v1::ActionSpec Action(const std::string& type,
                      std::vector<std::pair<std::string, std::string>> params) {
  v1::ActionSpec a;
  a.set_name(type);
  a.set_type(type);
  for (auto& [k, v] : params) {
    v1::Param* p = a.add_params();
    p->set_key(k);
    p->set_value(v);
  }
  return a;
}

v1::Event Analysis(const std::string& issue, int32_t attempt, std::vector<v1::ActionSpec> actions,
                   const std::string& text) {
  v1::Event e;
  e.set_producer("analyzer");
  v1::AnalysisCompleted* a = e.mutable_analysis_completed();
  a->set_issue_name(issue);
  a->set_attempt(attempt);
  a->set_analysis(text);
  a->set_confidence(0.8F);
  a->set_provider("builtin");
  for (v1::ActionSpec& action : actions) {
    *a->add_suggested_actions() = std::move(action);
  }
  return e;
}

v1::Event AnalysisFailure(const std::string& issue, int32_t attempt, const std::string& error) {
  v1::Event e;
  v1::AnalysisFailed* f = e.mutable_analysis_failed();
  f->set_issue_name(issue);
  f->set_attempt(attempt);
  f->set_error(error);
  return e;
}

v1::Event Context(const std::string& issue, int32_t attempt, int32_t replicas) {
  v1::Event e;
  v1::ContextCollected* c = e.mutable_context_collected();
  c->set_issue_name(issue);
  c->set_attempt(attempt);
  c->set_context("deployment status ...");
  c->set_current_replicas(replicas);
  return e;
}

v1::Event ActionOk(const std::string& plan, int32_t index) {
  v1::Event e;
  e.set_producer("actuator");
  e.mutable_action_succeeded()->set_plan_name(plan);
  e.mutable_action_succeeded()->set_index(index);
  e.mutable_action_succeeded()->set_summary("applied");
  return e;
}

v1::Event ActionError(const std::string& plan, int32_t index, const std::string& error) {
  v1::Event e;
  e.set_producer("actuator");
  e.mutable_action_failed()->set_plan_name(plan);
  e.mutable_action_failed()->set_index(index);
  e.mutable_action_failed()->set_error(error);
  return e;
}

v1::Event Preflight(const std::string& plan) {
  v1::Event e;
  e.mutable_preflight_snapshot()->set_plan_name(plan);
  e.mutable_preflight_snapshot()->set_replicas(2);
  return e;
}

v1::Event RolledBack(const std::string& plan) {
  v1::Event e;
  e.mutable_plan_rolled_back()->set_plan_name(plan);
  e.mutable_plan_rolled_back()->set_summary("preflight snapshot restored");
  return e;
}

v1::Event Verified(const std::string& plan, const std::string& issue) {
  v1::Event e;
  e.mutable_verification_passed()->set_plan_name(plan);
  e.mutable_verification_passed()->set_issue_name(issue);
  return e;
}

v1::Event NotVerified(const std::string& plan, const std::string& issue, const std::string& why) {
  v1::Event e;
  e.mutable_verification_failed()->set_plan_name(plan);
  e.mutable_verification_failed()->set_issue_name(issue);
  e.mutable_verification_failed()->set_reason(why);
  return e;
}

v1::Event Deadline(const std::string& kind, const std::string& target, int64_t due_ms) {
  v1::Event e;
  e.set_producer("timer");
  v1::DeadlineReached* d = e.mutable_deadline_reached();
  d->set_deadline_id(kind + "/" + target);
  d->set_kind(kind);
  d->set_target(target);
  d->set_due_at_ms(due_ms);
  return e;
}

v1::Event Approve(const std::string& plan, const std::string& who) {
  v1::Event e;
  e.mutable_approval_granted()->set_plan_name(plan);
  e.mutable_approval_granted()->set_approver(who);
  e.mutable_approval_granted()->set_channel("cli");
  return e;
}

v1::Event Reject(const std::string& plan, const std::string& who) {
  v1::Event e;
  e.mutable_approval_rejected()->set_plan_name(plan);
  e.mutable_approval_rejected()->set_approver(who);
  e.mutable_approval_rejected()->set_reason("not now");
  e.mutable_approval_rejected()->set_channel("cli");
  return e;
}

v1::Event ManualRunbook(const std::string& name, const std::string& ns, const std::string& signal,
                        const std::string& severity, const std::string& kind,
                        std::vector<v1::ActionSpec> steps, int32_t max_attempts) {
  v1::Event e;
  e.set_producer("runbook-watch");
  v1::RunbookObserved* r = e.mutable_runbook_observed();
  r->set_name(name);
  r->set_namespace_(ns);
  r->mutable_spec()->set_description("manual runbook " + name);
  r->mutable_spec()->mutable_trigger()->set_signal_type(signal);
  r->mutable_spec()->mutable_trigger()->set_severity(severity);
  r->mutable_spec()->mutable_trigger()->set_resource_kind(kind);
  for (v1::ActionSpec& s : steps) {
    *r->mutable_spec()->add_steps() = std::move(s);
  }
  r->mutable_spec()->set_max_attempts(max_attempts);
  return e;
}

v1::Event ConfigChange(const v1::PipelineConfig& config) {
  v1::Event e;
  e.set_producer("config");
  e.mutable_config_changed()->set_source("file");
  *e.mutable_config_changed()->mutable_config() = config;
  return e;
}

std::vector<std::string> Types(const std::vector<v1::Event>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const v1::Event& e : events) {
    out.emplace_back(eventlog::PayloadName(e));
  }
  return out;
}

const v1::Event& First(const std::vector<v1::Event>& events, v1::Event::PayloadCase type) {
  for (const v1::Event& e : events) {
    if (e.payload_case() == type) {
      return e;
    }
  }
  ADD_FAILURE() << "no event of payload type " << static_cast<int>(type);
  static const v1::Event kEmpty;
  return kEmpty;
}

}  // namespace aiops::core_testing
