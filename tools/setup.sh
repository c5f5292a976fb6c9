#!/usr/bin/env bash
# Installs every Debian 12 package the project needs to build, test, fuzz and benchmark.
# Idempotent: packages already present are left alone, and running it twice is harmless.
# The Kubernetes control plane for tests is not a Debian package: tools/build_control_plane.sh
# builds it from the Go module proxy with the machine's `go`.
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
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v go >/dev/null 2>&1; then
  echo "[setup] warning: 'go' is not on PATH; tools/build_control_plane.sh needs Go >= 1.26" >&2
fi
