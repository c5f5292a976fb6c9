// Writes seed inputs for the fuzz targets: valid records of several payload types and a valid
// export file. Usage: fuzz_seed_maker CORPUS_DIR (writes CORPUS_DIR/{record_decoder,export_file}).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "eventlog/export_file.h"
#include "eventlog/memory_event_log.h"
#include "eventlog/record.h"
#include <unistd.h>

namespace {

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seed_maker CORPUS_DIR\n");
    return 2;
  }
  const std::filesystem::path corpus = argv[1];
  aiops::eventlog::InMemoryEventLog log;
  std::vector<aiops::v1::Event> events(4);
  events[0].set_incident_id("0123456789abcdef");
  auto* alert = events[0].mutable_alert_observed();
  alert->set_type("OOMKilled");
  alert->set_object("api-7d9f-abcde");
  alert->set_namespace_("production");
  alert->set_message("container app was OOMKilled (Grüße)");
  auto* plan = events[1].mutable_plan_created();
  plan->set_plan_name("api-gateway-pod-restart-1771276354-plan-1");
  auto* action = plan->add_actions();
  action->set_type("ScaleDeployment");
  auto* param = action->add_params();
  param->set_key("replicas");
  param->set_value("4");
  events[2].mutable_analysis_completed()->set_confidence(0.87F);
  events[2].mutable_analysis_completed()->add_recommendations("Increase memory limit to 1Gi");
  events[3].mutable_deadline_reached()->set_due_at_ms(1'771'276'354'000);
  if (!log.Append(events).ok()) {
    return 1;
  }
  auto records = log.ReadRaw(1, 10);
  std::filesystem::create_directories(corpus / "record_decoder");
  std::filesystem::create_directories(corpus / "export_file");
  for (const auto& record : *records) {
    Write(corpus / "record_decoder" / ("record-" + std::to_string(record.sequence)), record.value);
  }
  const std::string tmp = "/tmp/aiops-seed-export-" + std::to_string(getpid());
  std::filesystem::remove(tmp);
  if (!aiops::eventlog::ExportLog(log, 1, aiops::eventlog::kExportToLast, tmp).ok()) {
    return 1;
  }
  std::ifstream in(tmp, std::ios::binary);
  Write(corpus / "export_file" / "export-4-events",
        std::string(std::istreambuf_iterator<char>(in), {}));
  std::filesystem::remove(tmp);
  return 0;
}
