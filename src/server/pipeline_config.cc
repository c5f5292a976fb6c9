#include "server/pipeline_config.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include "common/fmt_absl.h"
#include "projections/naming.h"
#include "server/daemon_config.h"

namespace aiops::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Overlays the fields set in `overlay` onto `base`: scalars and lists replace, messages recurse.
void Overlay(const Message& overlay, Message& base) {
  std::vector<const FieldDescriptor*> fields;
  overlay.GetReflection()->ListFields(overlay, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->is_repeated()) {
      base.GetReflection()->ClearField(&base, field);
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      Overlay(overlay.GetReflection()->GetMessage(overlay, field),
              *base.GetReflection()->MutableMessage(&base, field));
      continue;
    }
  }
  std::unique_ptr<Message> rest(overlay.New());
  rest->CopyFrom(overlay);
  for (const FieldDescriptor* field : fields) {
    if (!field->is_repeated() && field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      rest->GetReflection()->ClearField(rest.get(), field);
    }
  }
  base.MergeFrom(*rest);
}

absl::Status Validate(const v1::PipelineConfig& c) {
  auto positive = [](int64_t v, const char* name) -> absl::Status {
    return v > 0 ? absl::OkStatus()
                 : absl::InvalidArgumentError(fmt::format("{} must be positive (got {})", name, v));
  };
  for (const absl::Status& s :
       {positive(c.correlation_window_ms(), "correlationWindowMs"),
        positive(c.dedup_ttl_ms(), "dedupTtlMs"),
        positive(c.max_remediation_attempts(), "maxRemediationAttempts"),
        positive(c.verification_window_ms(), "verificationWindowMs"),
        positive(c.risk_cap(), "riskCap"), positive(c.recurrence_limit(), "recurrenceLimit"),
        positive(c.safety().max_concurrent_per_namespace(), "safety.maxConcurrentPerNamespace"),
        positive(c.safety().max_concurrent_per_cluster(), "safety.maxConcurrentPerCluster"),
        positive(c.safety().max_replica_factor(), "safety.maxReplicaFactor"),
        positive(c.approval().expiry_ms(), "approval.expiryMs")}) {
    if (!s.ok()) {
      return s;
    }
  }
  if (!(c.severity_critical_min() > c.severity_high_min() &&
        c.severity_high_min() > c.severity_medium_min())) {
    return absl::InvalidArgumentError("severity thresholds must satisfy critical > high > medium");
  }
  if (c.decision_rules() < 0 || c.decision_rules() > projections::kDecisionRulesCurrent) {
    return absl::InvalidArgumentError(fmt::format("decisionRules must be between 0 and {} (got {})",
                                                  projections::kDecisionRulesCurrent,
                                                  c.decision_rules()));
  }
  if (c.escalation_hold_ms() < 0) {
    return absl::InvalidArgumentError(
        fmt::format("escalationHoldMs must not be negative (got {})", c.escalation_hold_ms()));
  }
  if (c.cluster_id().empty()) {
    return absl::InvalidArgumentError("clusterId must not be empty");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::PipelineConfig> ParsePipelineConfig(const std::string& json) {
  v1::PipelineConfig overlay;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &overlay);
  if (!status.ok()) {
    const std::string syntax = JsonSyntaxError(json);
    return absl::InvalidArgumentError(
        syntax.empty()
            ? fmt::format("pipeline config is not valid: {}", std::string(status.message()))
            : fmt::format("pipeline config is not valid JSON: {}", syntax));
  }
  v1::PipelineConfig config = projections::DefaultPipelineConfig();
  Overlay(overlay, config);
  if (absl::Status s = Validate(config); !s.ok()) {
    return absl::InvalidArgumentError(fmt::format("pipeline config: {}", s.message()));
  }
  return config;
}

absl::StatusOr<v1::PipelineConfig> LoadPipelineConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "pipeline config");
  if (!text.ok()) {
    return text.status();
  }
  return LoadPipelineConfigText(path, *text);
}

absl::StatusOr<v1::PipelineConfig> LoadPipelineConfigText(const std::string& path,
                                                          const std::string& text) {
  absl::StatusOr<v1::PipelineConfig> config = ParsePipelineConfig(text);
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        fmt::format("{}: {}", path, config.status().message()));
  }
  return config;
}

}  // namespace aiops::server
