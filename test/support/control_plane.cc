#include "support/control_plane.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>
#include <absl/strings/strip.h>

#include <unistd.h>

namespace aiops::testing {
namespace {

absl::StatusOr<std::map<std::string, std::string>> ReadEnvFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::map<std::string, std::string> env;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) {
      env[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return env;
}

std::string LastLine(std::string text) {
  absl::StripTrailingAsciiWhitespace(&text);
  const size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

}  // namespace

std::string ControlPlaneScript() {
  return absl::StrCat(AIOPS_SOURCE_DIR, "/tools/control_plane.sh");
}

std::string NodeScript() { return absl::StrCat(AIOPS_SOURCE_DIR, "/tools/node.sh"); }

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(
    const ControlPlaneOptions& options) {
  std::vector<std::string> argv = {"bash", ControlPlaneScript(), "start", "--owner-pid",
                                   std::to_string(getpid())};
  if (!options.controller_manager) {
    argv.emplace_back("--no-controller-manager");
  }
  for (const std::string& arg : options.apiserver_args) {
    argv.push_back(absl::StrCat("--apiserver-arg=", arg));
  }
  ProcessOptions process_options;
  process_options.timeout = absl::Minutes(4);
  auto run = RunProcess(argv, process_options);
  if (!run.ok()) {
    return run.status();
  }
  if (run->exit_code != 0) {
    const bool missing =
        absl::StrContains(run->err, "is missing: run tools/build_control_plane.sh");
    const std::string message =
        absl::StrCat("control plane did not start (exit ", run->exit_code, "):\n", run->err);
    return missing ? absl::FailedPreconditionError(message) : absl::UnavailableError(message);
  }
  const std::string dir = LastLine(run->out);
  auto env = ReadEnvFile(absl::StrCat(dir, "/control-plane.env"));
  if (!env.ok()) {
    return env.status();
  }
  ControlPlaneInfo info;
  info.dir = dir;
  info.server = (*env)["AIOPS_K8S_SERVER"];
  info.host = "127.0.0.1";
  if (!absl::SimpleAtoi((*env)["AIOPS_K8S_API_PORT"], &info.port)) {
    return absl::InternalError("control-plane.env has no valid AIOPS_K8S_API_PORT");
  }
  info.ca_file = (*env)["AIOPS_K8S_CA_FILE"];
  info.token = (*env)["AIOPS_K8S_TOKEN"];
  info.viewer_token = (*env)["AIOPS_K8S_VIEWER_TOKEN"];
  info.client_cert_file = (*env)["AIOPS_K8S_CLIENT_CERT_FILE"];
  info.client_key_file = (*env)["AIOPS_K8S_CLIENT_KEY_FILE"];
  info.kubeconfig = (*env)["AIOPS_K8S_KUBECONFIG"];
  info.kubectl = (*env)["AIOPS_K8S_KUBECTL"];
  info.bin_dir = (*env)["AIOPS_K8S_BIN_DIR"];
  std::unique_ptr<ControlPlane> cp(new ControlPlane(std::move(info)));
  if (options.with_node) {
    ProcessOptions node_options;
    node_options.timeout = absl::Minutes(15);  // it may wait for another test's node
    auto node = RunProcess({"bash", NodeScript(), "start", "--control-plane-dir", dir,
                            "--owner-pid", std::to_string(getpid())},
                           node_options);
    if (!node.ok() || node->exit_code != 0) {
      return absl::UnavailableError(absl::StrCat(
          "the node did not start: ", node.ok()
                                          ? absl::StrCat("exit ", node->exit_code, ":\n", node->err)
                                          : std::string(node.status().message())));
    }
    cp->node_ = true;
    auto node_env = ReadEnvFile(absl::StrCat(dir, "/node/node.env"));
    if (!node_env.ok()) {
      return node_env.status();
    }
    cp->info_.node_name = (*node_env)["AIOPS_NODE_NAME"];
    cp->info_.workload_image = (*node_env)["AIOPS_NODE_WORKLOAD_IMAGE"];
  }
  return cp;
}

ControlPlane::~ControlPlane() {
  Stop().IgnoreError();  // why: a destructor cannot report; the watchdog is the backstop
}

absl::Status ControlPlane::Stop(bool keep_dir) {
  if (stopped_) {
    return absl::OkStatus();
  }
  stopped_ = true;
  if (node_) {
    // The node first: its pods are deleted through the API server.
    auto node = RunProcess({"bash", NodeScript(), "stop", "--control-plane-dir", info_.dir});
    if (!node.ok() || node->exit_code != 0) {
      return absl::InternalError(absl::StrCat(
          "node.sh stop failed: ", node.ok() ? node->err : std::string(node.status().message())));
    }
  }
  auto run = RunProcess({"bash", ControlPlaneScript(), "stop", "--dir", info_.dir});
  if (!run.ok()) {
    return run.status();
  }
  if (run->exit_code != 0) {
    return absl::InternalError(absl::StrCat("control_plane.sh stop failed: ", run->err));
  }
  if (!keep_dir) {
    std::error_code ec;
    std::filesystem::remove_all(info_.dir, ec);
  }
  return absl::OkStatus();
}

absl::Status ControlPlane::RestartApiServer() {
  auto run = RunProcess({"bash", ControlPlaneScript(), "restart-apiserver", "--dir", info_.dir});
  if (!run.ok()) {
    return run.status();
  }
  if (run->exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("kube-apiserver restart failed: ", run->err));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProcessResult> ControlPlane::Kubectl(const std::vector<std::string>& args,
                                                    const std::string& stdin_data) const {
  std::vector<std::string> argv = {info_.kubectl, "--kubeconfig", info_.kubeconfig};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions options;
  options.stdin_data = stdin_data;
  options.timeout = absl::Minutes(1);
  return RunProcess(argv, options);
}

}  // namespace aiops::testing
