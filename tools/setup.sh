#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, test, fuzz and benchmark.
# Idempotent: packages already present are left alone, and running it twice is harmless.
# The Kubernetes control plane and the test node's kubelet are not Debian packages:
# tools/build_control_plane.sh builds them from the Go module proxy with the machine's `go`. The
# test node (tools/node.sh) runs Debian's containerd, runc and CNI plugins, started by the harness
# itself: a containerd service the package would start is stopped and disabled again.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang clang-format clang-tidy clang-tools libclang-rt-14-dev
  # libraries
  libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  librocksdb-dev libcpp-httplib-dev nlohmann-json3-dev libfmt-dev libabsl-dev libssl-dev
  libyaml-cpp-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # runtime tools used by the control-plane harness, tests and measurements
  openssl curl time procps psmisc valgrind
  # the real test node (tools/node.sh) and its locally built images (tools/build_images.sh)
  containerd runc containernetworking-plugins iptables iproute2 util-linux mount kmod
  umoci skopeo
  # the operator's own image without a Docker daemon (tools/build_operator_image.sh)
  buildah mmdebstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "[setup] all ${#PACKAGES[@]} packages already installed"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "[setup] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # containerd's package would start a system containerd: keep it from starting (policy-rc.d,
  # as for prometheus below); tools/node.sh starts its own with its own paths.
  node_policy_added=0
  if [[ " ${missing[*]} " == *" containerd "* && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    node_policy_added=1
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [[ $node_policy_added -eq 1 ]]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
  # Only a containerd installed just now is disabled; one that was already there is left alone.
  if [[ " ${missing[*]} " == *" containerd "* ]] && command -v systemctl >/dev/null 2>&1 &&
     [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now containerd.service >/dev/null 2>&1 || true
  fi
fi

# promtool (tests run `promtool check metrics` on /metrics) ships in Debian's prometheus
# package, whose installation would start a Prometheus server. Keep it from starting
# (policy-rc.d, Debian's switch for package scripts), and never leave its service running.
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
if ! dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed"; then
  echo "[setup] installing prometheus (for promtool only; its server is not started)"
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends prometheus ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends prometheus; }
  if [[ $policy_added -eq 1 ]]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi
# Stop a Prometheus server the package may have started, with or without systemd: the unit
# (systemd), the init script (sysvinit, or containers with neither), and finally any process still
# running Debian's binary, matched by its executable path (never by name: that would also hit
# unrelated processes). Each step is skipped when it does not apply.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
elif [[ -x /etc/init.d/prometheus ]]; then
  $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  if command -v update-rc.d >/dev/null 2>&1; then
    $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi
prometheus_pids() {
  local exe pid
  for exe in /proc/[0-9]*/exe; do
    pid=${exe#/proc/}
    pid=${pid%/exe}
    if [[ $($SUDO readlink "$exe" 2>/dev/null) == /usr/bin/prometheus ]]; then echo "$pid"; fi
  done
}
mapfile -t pids < <(prometheus_pids)
if [[ ${#pids[@]} -gt 0 ]]; then
  echo "[setup] stopping the Prometheus server left running (pid ${pids[*]})"
  $SUDO kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 50); do
    mapfile -t pids < <(prometheus_pids)
    [[ ${#pids[@]} -eq 0 ]] && break
    sleep 0.1
  done
  if [[ ${#pids[@]} -gt 0 ]]; then $SUDO kill -KILL "${pids[@]}" 2>/dev/null || true; fi
fi
command -v promtool >/dev/null 2>&1 || { echo "[setup] error: promtool is missing" >&2; exit 1; }

if ! command -v go >/dev/null 2>&1; then
  echo "[setup] warning: 'go' is not on PATH; tools/build_control_plane.sh needs Go >= 1.26" >&2
fi
