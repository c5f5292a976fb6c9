// Helpers shared by the integration tests that drive the real control plane: polling, a
// Kubernetes client for the test's admin user, the kubelet stand-in, a free loopback port.
// Header-only; include it from tests that link aiops::k8s_sync and the test support library.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <absl/status/status.h>
#include <absl/time/clock.h>
#include <absl/time/time.h>

#include "k8s_sync/kube_client.h"
#include "support/control_plane.h"
#include "support/subprocess.h"
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace aiops::testing {

// Polls `f` every `poll` until it returns true or `timeout` passes; its last answer.
template <typename F>
bool Eventually(F f, absl::Duration timeout, absl::Duration poll = absl::Milliseconds(200)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (f()) {
      return true;
    }
    absl::SleepFor(poll);
  }
  return f();
}

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The product's client as the control plane's admin (token user, system:masters).
inline std::unique_ptr<k8s_sync::KubeClient> AdminKubeClient(
    const ControlPlaneInfo& cp, k8s_sync::KubeClientOptions options = {}) {
  k8s_sync::KubeConfig config;
  config.server = cp.server;
  config.ca_pem = ReadWholeFile(cp.ca_file);
  config.token = cp.token;
  absl::StatusOr<std::unique_ptr<k8s_sync::KubeClient>> client =
      k8s_sync::KubeClient::Create(config, std::move(options));
  return client.ok() ? *std::move(client) : nullptr;
}

// tools/kubelet_standin.sh with `args` against the control plane (`source_dir`: the repo root).
inline absl::Status RunKubeletStandin(const ControlPlaneInfo& cp, const std::string& source_dir,
                                      const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"bash", source_dir + "/tools/kubelet_standin.sh", "--kubeconfig",
                                   cp.kubeconfig};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.env["AIOPS_K8S_KUBECTL"] = cp.kubectl;
  absl::StatusOr<ProcessResult> run = RunProcess(argv, options);
  if (!run.ok()) {
    return run.status();
  }
  return run->exit_code == 0 ? absl::OkStatus()
                             : absl::InternalError("kubelet stand-in: " + run->err);
}

// Applies the project's CRDs (deploy/crd/bases) and waits until they are established.
inline absl::Status InstallCrds(const ControlPlaneInfo& cp, const std::string& source_dir) {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{cp.kubectl, "--kubeconfig", cp.kubeconfig, "apply",
                                 "--server-side", "-f", source_dir + "/deploy/crd/bases"},
        std::vector<std::string>{cp.kubectl, "--kubeconfig", cp.kubeconfig, "wait",
                                 "--for=condition=established", "--timeout=60s", "crd", "--all"}}) {
    absl::StatusOr<ProcessResult> run = RunProcess(argv);
    if (!run.ok()) {
      return run.status();
    }
    if (run->exit_code != 0) {
      return absl::InternalError("kubectl " + argv[3] + ": " + run->err);
    }
  }
  return absl::OkStatus();
}

// A port that was free on 127.0.0.1 a moment ago (for a child process to listen on).
inline int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace aiops::testing
