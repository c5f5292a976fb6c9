// main() of the integration test binaries that need a real node: one control plane and one node
// (tools/node.sh) for all of their tests. Register them with RESOURCE_LOCK aiops_real_node.
#include <gtest/gtest.h>

#include "support/control_plane_environment.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  aiops::testing::ControlPlaneOptions options;
  options.with_node = true;
  ::testing::AddGlobalTestEnvironment(new aiops::testing::ControlPlaneEnvironment(options));
  return RUN_ALL_TESTS();
}
