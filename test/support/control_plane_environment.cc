#include "support/control_plane_environment.h"

#include <cstdio>

#include "common/check.h"

namespace aiops::testing {
namespace {

std::unique_ptr<ControlPlane>& Instance() {
  static auto* const kInstance = new std::unique_ptr<ControlPlane>();
  return *kInstance;
}

}  // namespace

ControlPlaneEnvironment::ControlPlaneEnvironment(ControlPlaneOptions options)
    : options_(std::move(options)) {}

void ControlPlaneEnvironment::SetUp() {
  auto started = ControlPlane::Start(options_);
  ASSERT_TRUE(started.ok()) << started.status();
  Instance() = *std::move(started);
  std::fprintf(stderr, "[control-plane] %s (state in %s)\n", Instance()->Info().server.c_str(),
               Instance()->Info().dir.c_str());
}

void ControlPlaneEnvironment::TearDown() {
  if (Instance() == nullptr) {
    return;
  }
  // Keep the logs of a failed run for the person reading it.
  const bool failed = ::testing::UnitTest::GetInstance()->Failed();
  const absl::Status stopped = Instance()->Stop(/*keep_dir=*/failed);
  EXPECT_TRUE(stopped.ok()) << stopped;
  if (failed) {
    std::fprintf(stderr, "[control-plane] logs kept in %s/logs\n", Instance()->Info().dir.c_str());
  }
  Instance().reset();
}

ControlPlane& ControlPlaneEnvironment::Get() {
  AIOPS_CHECK_MSG(Instance() != nullptr, "the control-plane environment is not running");
  return *Instance();
}

}  // namespace aiops::testing
