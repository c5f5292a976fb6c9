// main() of every integration test binary: one real control plane for all of its tests.
#include <gtest/gtest.h>

#include "support/control_plane_environment.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new aiops::testing::ControlPlaneEnvironment());
  return RUN_ALL_TESTS();
}
