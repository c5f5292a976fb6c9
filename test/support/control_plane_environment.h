// GoogleTest global environment that starts one real control plane for every test of an
// integration binary and stops it at the end. If the control plane cannot start, SetUp fails
// and every test of the binary fails with the reason: an integration test never skips silently.
#pragma once

#include <gtest/gtest.h>

#include "support/control_plane.h"

namespace aiops::testing {

class ControlPlaneEnvironment : public ::testing::Environment {
 public:
  explicit ControlPlaneEnvironment(ControlPlaneOptions options = {});
  void SetUp() override;
  void TearDown() override;

  // The running control plane; only valid inside tests of a binary that registered the
  // environment (integration_main.cc does).
  static ControlPlane& Get();

 private:
  ControlPlaneOptions options_;
};

}  // namespace aiops::testing
