#!/usr/bin/env bash
# Builds a real Kubernetes control plane (kube-apiserver, kube-controller-manager, kubectl), the
# node components of the test node (kubelet, kube-scheduler; see tools/node.sh) and etcd from the
# Go module proxy with the machine's `go`, into a cache folder outside the repo
# keyed by version. Skips the build when the binaries are present and report the pinned version.
#
# Usage: tools/build_control_plane.sh [--print-bin-dir]
# Environment: AIOPS_K8S_CACHE (default ~/.cache/chatcli-aiops), AIOPS_K8S_VERSION, AIOPS_ETCD_VERSION.
# Build statistics (wall time, peak RSS, disk) are written to $BIN_DIR/../build-stats.txt.
set -euo pipefail

K8S_VERSION="${AIOPS_K8S_VERSION:-1.36.3}"
ETCD_VERSION="${AIOPS_ETCD_VERSION:-3.6.16}"
CACHE_ROOT="${AIOPS_K8S_CACHE:-${HOME:-/root}/.cache/chatcli-aiops}"
DEST="$CACHE_ROOT/k8s-v${K8S_VERSION}-etcd-v${ETCD_VERSION}"
BIN_DIR="$DEST/bin"

if [[ "${1:-}" == "--print-bin-dir" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

log() { printf '[control-plane] %s\n' "$*" >&2; }

binaries_ok() {
  [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/kube-controller-manager" && -x "$BIN_DIR/kubectl" &&
     -x "$BIN_DIR/kubelet" && -x "$BIN_DIR/kube-scheduler" && -x "$BIN_DIR/etcd" ]] || return 1
  # Each output is captured before grep reads it: `cmd | grep -q` under pipefail fails whenever
  # grep exits at its match before cmd has written its last line (SIGPIPE), which made a good
  # cache look stale (a needless rebuild) and, once, failed the build's own final check.
  local out
  out=$("$BIN_DIR/kube-apiserver" --version 2>/dev/null) || return 1
  grep -qx "Kubernetes v${K8S_VERSION}" <<<"$out" || return 1
  out=$("$BIN_DIR/kube-controller-manager" --version 2>/dev/null) || return 1
  grep -qx "Kubernetes v${K8S_VERSION}" <<<"$out" || return 1
  out=$("$BIN_DIR/kube-scheduler" --version 2>/dev/null) || return 1
  grep -qx "Kubernetes v${K8S_VERSION}" <<<"$out" || return 1
  out=$("$BIN_DIR/kubelet" --version 2>/dev/null) || return 1
  grep -qx "Kubernetes v${K8S_VERSION}" <<<"$out" || return 1
  out=$("$BIN_DIR/kubectl" version --client 2>/dev/null) || return 1
  grep -q "Client Version: v${K8S_VERSION}" <<<"$out" || return 1
  out=$("$BIN_DIR/etcd" --version 2>/dev/null) || return 1
  grep -q "etcd Version: ${ETCD_VERSION}" <<<"$out" || return 1
}

if binaries_ok; then
  log "cached: $BIN_DIR (Kubernetes v$K8S_VERSION, etcd v$ETCD_VERSION)"
  exit 0
fi

command -v go >/dev/null || { echo "error: the 'go' tool is not on PATH (needed to build the control plane)" >&2; exit 1; }
mkdir -p "$CACHE_ROOT"
# One build at a time per cache folder (CI and a person may start it together).
exec 9>"$CACHE_ROOT/.build.lock"
flock 9
if binaries_ok; then log "cached (built by a concurrent run): $BIN_DIR"; exit 0; fi

START=$(date +%s)
STAGE=$(mktemp -d "$CACHE_ROOT/.stage.XXXXXX")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK" "$STAGE"' EXIT
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false" GOTOOLCHAIN=local
TIME_LOG="$WORK/time.log"
timed() { /usr/bin/time -v -a -o "$TIME_LOG" "$@"; }

log "building Kubernetes v$K8S_VERSION (kube-apiserver, kube-controller-manager, kubectl, kubelet, kube-scheduler) in $WORK/k8s"
mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
go mod init aiops.local/k8s-build >/dev/null 2>&1
GOMOD=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[[ -f "$GOMOD" ]] || { echo "error: could not download k8s.io/kubernetes@v$K8S_VERSION's go.mod" >&2; exit 1; }
# The staging modules are required at v0.0.0 and replaced by ./staging paths in k8s' own go.mod;
# replace each by its published v0.<minor>.<patch> release instead. The list is read, not hard-coded.
STAGING=$(sed -n 's|^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*|\1|p' "$GOMOD")
[[ -n "$STAGING" ]] || { echo "error: no staging replace block found in $GOMOD" >&2; exit 1; }
for m in $STAGING; do go mod edit -replace="$m=$m@v0.${K8S_VERSION#1.}"; done
GODEBUG_LINE=$(sed -n 's/^godebug[[:space:]]\+\(.*\)$/\1/p' "$GOMOD" | head -n 1)
go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
if [[ -n "$GODEBUG_LINE" ]]; then go mod edit -godebug="$GODEBUG_LINE"; fi
CMDS=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
      k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-scheduler)
timed go get "${CMDS[@]/%/@v$K8S_VERSION}"
MINOR=$(echo "$K8S_VERSION" | cut -d. -f2)
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
timed go build -ldflags "$LDFLAGS" -o "$STAGE/" "${CMDS[@]}"

# etcd in a separate wrapper so minimal version selection does not mix it with the k8s graph.
log "building etcd v$ETCD_VERSION in $WORK/etcd"
mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
go mod init aiops.local/etcd-build >/dev/null 2>&1
timed go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
timed go build -o "$STAGE/etcd" go.etcd.io/etcd/server/v3

rm -rf "$BIN_DIR"
mkdir -p "$DEST"
mv "$STAGE" "$BIN_DIR"
chmod 755 "$BIN_DIR"
binaries_ok || { echo "error: built binaries do not report the pinned versions" >&2; exit 1; }
END=$(date +%s)
PEAK_KB=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TIME_LOG" | sort -n | tail -n 1)
{
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores"
  echo "kubernetes: v$K8S_VERSION  etcd: v$ETCD_VERSION  go: $(go version | awk '{print $3}')"
  echo "wall_seconds: $((END - START))"
  echo "peak_rss_mib_single_step: $(( ${PEAK_KB:-0} / 1024 ))"
  echo "binaries_mib: $(du -sm "$BIN_DIR" | cut -f1)"
  echo "go_mod_cache_mib: $(du -sm "$(go env GOMODCACHE)" 2>/dev/null | cut -f1)"
  echo "go_build_cache_mib: $(du -sm "$(go env GOCACHE)" 2>/dev/null | cut -f1)"
} > "$DEST/build-stats.txt"
log "done in $((END - START)) s: $BIN_DIR"
cat "$DEST/build-stats.txt" >&2
