#include "stages/safety.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

#include "projections/naming.h"

namespace aiops::stages {
namespace {

using projections::ParamValue;

template <typename List>
bool Contains(const List& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool ParseNonNegative(const std::string& text, int64_t& out) {
  if (text.empty()) {
    return false;
  }
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && out >= 0;
}

std::string ScaleBlocked(const v1::SafetyConfig& safety, const v1::IssueState& issue,
                         const v1::ActionSpec& action) {
  int64_t replicas = 0;
  if (!ParseNonNegative(ParamValue(action, "replicas"), replicas)) {
    return fmt::format("ScaleDeployment needs a non-negative integer 'replicas' (got '{}')",
                       ParamValue(action, "replicas"));
  }
  if (replicas == 0 && ParamValue(action, "containment") != "true") {
    return "scaling to 0 replicas is destructive: allowed only with containment=\"true\"";
  }
  const int64_t current = issue.current_replicas();
  if (current > 0) {
    if (replicas > current * safety.max_replica_factor() ||
        replicas - current > safety.max_replica_increase()) {
      return fmt::format("scaling from {} to {} replicas exceeds the limits (at most x{} and +{})",
                         current, replicas, safety.max_replica_factor(),
                         safety.max_replica_increase());
    }
  } else if (replicas > safety.max_replica_increase()) {
    return fmt::format(
        "scaling to {} replicas with the current count unknown exceeds the +{} limit", replicas,
        safety.max_replica_increase());
  }
  return "";
}

}  // namespace

bool IsCatalogueAction(const std::string& type) {
  static constexpr std::array<std::string_view, 5> kCatalogue = {
      "ScaleDeployment", "RestartDeployment", "RollbackDeployment", "PatchConfig",
      "AdjustResources"};
  return std::find(kCatalogue.begin(), kCatalogue.end(), type) != kCatalogue.end();
}

std::string BlockedReason(const v1::PipelineConfig& config, const v1::IssueState& issue,
                          const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  const v1::SafetyConfig& safety = config.safety();
  const std::string& ns = issue.resource().namespace_();
  if (Contains(safety.denied_namespaces(), ns)) {
    return fmt::format("namespace {} is denied by the safety policy", ns);
  }
  if (safety.allowed_namespaces_size() > 0 && !Contains(safety.allowed_namespaces(), ns)) {
    return fmt::format("namespace {} is not in the allowed namespaces", ns);
  }
  if (actions.empty()) {
    return "the plan has no actions";
  }
  for (int i = 0; i < actions.size(); ++i) {
    const v1::ActionSpec& action = actions[i];
    std::string why;
    if (action.type() == "Custom") {
      why = "Custom actions are always blocked";
    } else if (!IsCatalogueAction(action.type())) {
      why = fmt::format("'{}' is not an action the operator implements", action.type());
    } else if (action.type() == "ScaleDeployment") {
      why = ScaleBlocked(safety, issue, action);
    } else if (action.type() == "PatchConfig" && ParamValue(action, "configmap").empty()) {
      why = "PatchConfig needs a 'configmap' parameter";
    } else if (action.type() == "AdjustResources" && ParamValue(action, "memory_limit").empty() &&
               ParamValue(action, "memory_request").empty() &&
               ParamValue(action, "cpu_limit").empty() &&
               ParamValue(action, "cpu_request").empty()) {
      why =
          "AdjustResources needs at least one of memory_limit, memory_request, cpu_limit, "
          "cpu_request";
    }
    if (!why.empty()) {
      return fmt::format("action {} ({}): {}", i + 1, action.type(), why);
    }
  }
  return "";
}

bool RequiresApproval(const v1::PipelineConfig& config, const v1::IssueState& issue,
                      const google::protobuf::RepeatedPtrField<v1::ActionSpec>& actions) {
  const v1::ApprovalConfig& approval = config.approval();
  if (!approval.enabled()) {
    return false;
  }
  if (approval.severities().empty() && approval.namespaces().empty() &&
      approval.actions().empty()) {
    return true;  // enabled without a narrower rule: every plan
  }
  if (Contains(approval.severities(), issue.severity()) ||
      Contains(approval.namespaces(), issue.resource().namespace_())) {
    return true;
  }
  return std::any_of(actions.begin(), actions.end(), [&](const v1::ActionSpec& a) {
    return Contains(approval.actions(), a.type());
  });
}

bool IsDryRun(const v1::PipelineConfig& config, const v1::IssueState& issue,
              const std::string& runbook_name) {
  const v1::DryRunConfig& dry = config.dry_run();
  return dry.global() || Contains(dry.namespaces(), issue.resource().namespace_()) ||
         Contains(dry.runbooks(), runbook_name);
}

std::string WaitReason(const projections::PipelineState& state, const v1::PipelineConfig& config,
                       const v1::PlanState& plan, int64_t now_ms) {
  auto cooldown = state.cooldown_until_ms.find(plan.resource_key());
  if (cooldown != state.cooldown_until_ms.end() && cooldown->second > now_ms) {
    return fmt::format("resource {} is cooling down until {} ms", plan.resource_key(),
                       cooldown->second);
  }
  int in_namespace = 0;
  int in_cluster = 0;
  // With decision rules 1 a plan waiting for a person holds no slot: 200 plans awaiting approval
  // in one namespace must not keep every other plan of the cluster pending.
  const bool waiting_holds_slot = config.decision_rules() < 1;
  for (const auto& [name, other] : state.plans) {
    // A dry run changes nothing, so it holds no remediation slot.
    if (name != plan.name() && !other.dry_run() && projections::IsActivePlanState(other.state()) &&
        (waiting_holds_slot || other.state() != projections::kWaitingApproval)) {
      ++in_cluster;
      in_namespace += other.namespace_() == plan.namespace_() ? 1 : 0;
    }
  }
  if (in_namespace >= config.safety().max_concurrent_per_namespace()) {
    return fmt::format("{} remediations already run in namespace {}", in_namespace,
                       plan.namespace_());
  }
  if (in_cluster >= config.safety().max_concurrent_per_cluster()) {
    return fmt::format("{} remediations already run in the cluster", in_cluster);
  }
  return "";
}

}  // namespace aiops::stages
