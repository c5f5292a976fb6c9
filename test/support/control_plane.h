// A real local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) for
// integration tests, started and stopped through tools/control_plane.sh, and optionally a real
// node on it (tools/node.sh: kubelet, kube-scheduler, containerd, the locally built images).
// The scripts' watchdogs stop the processes if this test process dies without calling Stop()
// (crash, kill -9).
// Thread-compatible; one instance owns one control plane.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/status/statusor.h>

#include "support/subprocess.h"

namespace aiops::testing {

struct ControlPlaneOptions {
  std::vector<std::string> apiserver_args;  // extra kube-apiserver flags, e.g.
                                            // "--etcd-compaction-interval=10s"
  bool controller_manager = true;
  // A real node (needs root; one per machine: node.sh waits for the host's node lock, so give
  // the ctest entry RESOURCE_LOCK aiops_real_node).
  bool with_node = false;
};

// Where and how to reach the control plane (read from the script's control-plane.env).
struct ControlPlaneInfo {
  std::string dir;
  std::string server;  // https://127.0.0.1:PORT
  std::string host;    // 127.0.0.1
  int port = 0;
  std::string ca_file;
  std::string token;             // user aiops-test, group system:masters
  std::string viewer_token;      // user aiops-viewer: authenticated, no RBAC grants
  std::string client_cert_file;  // user aiops-admin, group system:masters
  std::string client_key_file;
  std::string kubeconfig;  // token user by default; context aiops-cert uses the certificate
  std::string kubectl;
  std::string bin_dir;
  // With a node (ControlPlaneOptions::with_node): its name and the workload image
  // (localhost/aiops-workload:1; :2 and :3 are the same program).
  std::string node_name;
  std::string workload_image;
};

class ControlPlane {
 public:
  // Starts a control plane on free loopback ports. kFailedPrecondition when the binaries are not
  // built (run tools/build_control_plane.sh), kUnavailable when it does not become ready.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ControlPlaneOptions& options);

  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;
  ControlPlane(ControlPlane&&) = delete;
  ControlPlane& operator=(ControlPlane&&) = delete;

  // Stops every process; idempotent. The state folder is kept when `keep_dir` is true (for the
  // logs of a failed test), else removed.
  absl::Status Stop(bool keep_dir = false);
  // Stops and restarts kube-apiserver on the same port and etcd data, returning when ready.
  absl::Status RestartApiServer();

  const ControlPlaneInfo& Info() const { return info_; }

  // Runs kubectl with this control plane's kubeconfig.
  absl::StatusOr<ProcessResult> Kubectl(const std::vector<std::string>& args,
                                        const std::string& stdin_data = "") const;

 private:
  explicit ControlPlane(ControlPlaneInfo info) : info_(std::move(info)) {}

  ControlPlaneInfo info_;
  bool node_ = false;
  bool stopped_ = false;
};

// Path of tools/control_plane.sh in the source tree this test was built from.
std::string ControlPlaneScript();
// Path of tools/node.sh there.
std::string NodeScript();

}  // namespace aiops::testing
