#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs packages, builds the real
# Kubernetes control plane (cached outside the repo), builds the project (RelWithDebInfo, Ninja)
# and runs every ctest tier, the integration tier against the real control plane included.
#   tools/run_tests.sh [ctest args...]     e.g. tools/run_tests.sh -L unit
# The `node` tier (label node, part of integration) runs a real kubelet and containerd
# (tools/node.sh) and needs root; it builds its images itself (tools/build_images.sh, cached).
# Environment: AIOPS_BUILD_DIR (default build), AIOPS_SKIP_SETUP=1 to skip the apt step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${AIOPS_BUILD_DIR:-build}

step() { printf '\n==> %s\n' "$*"; }

if [[ "${AIOPS_SKIP_SETUP:-0}" != 1 ]]; then
  step "installing Debian packages (tools/setup.sh)"
  tools/setup.sh
fi
step "building the Kubernetes control plane and the test node's kubelet (cached after the first build)"
tools/build_control_plane.sh
step "configuring and building ($BUILD_DIR, RelWithDebInfo)"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$BUILD_DIR"
step "running every test tier (ctest)"
ctest --test-dir "$BUILD_DIR" --output-on-failure --timeout 900 -j2 "$@"
