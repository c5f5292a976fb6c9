#!/usr/bin/env bash
# Builds the test node's container images locally, without a daemon and without pulling
# anything: static C programs (tools/images/*.c, gcc -static) packed as OCI images with umoci and
# written as docker archives with skopeo, cached outside the repo keyed by a hash of the sources.
#
#   tools/build_images.sh                       build (or reuse) the archives; print their folder
#   tools/build_images.sh --print-dir           print the cache folder of the current sources
#   tools/build_images.sh --import SOCKET       also import them into the containerd at SOCKET,
#                                               namespace k8s.io
#
# Images (all `localhost/`, so the kubelet never pulls them: use imagePullPolicy IfNotPresent
# or Never):
#   localhost/aiops-pause:1                      the pod sandbox image (containerd's sandbox_image)
#   localhost/aiops-workload:1 (also :2, :3, one image) the workload with failure modes (see
#                                               tools/images/aiops-workload.c for its modes)
# Environment: AIOPS_K8S_CACHE (default ~/.cache/chatcli-aiops).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC="$SCRIPT_DIR/images"
CACHE_ROOT="${AIOPS_K8S_CACHE:-${HOME:-/root}/.cache/chatcli-aiops}"
PAUSE_REF=localhost/aiops-pause:1
WORKLOAD_REPO=localhost/aiops-workload
WORKLOAD_TAGS=(1 2 3)

log() { printf '[images] %s\n' "$*" >&2; }
die() { printf '[images] error: %s\n' "$*" >&2; exit 1; }

KEY=$(cat "$SRC/pause.c" "$SRC/aiops-workload.c" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)
OUT="$CACHE_ROOT/images/$KEY"

IMPORT_SOCKET=""
case "${1:-}" in
  --print-dir) echo "$OUT"; exit 0 ;;
  --import) IMPORT_SOCKET=${2:?--import needs the containerd socket}; [[ -S "$IMPORT_SOCKET" ]] || die "no containerd socket at $IMPORT_SOCKET" ;;
  "") ;;
  -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  *) die "unknown argument '$1' (see --help)" ;;
esac

archives_ok() { [[ -s "$OUT/aiops-pause.tar" && -s "$OUT/aiops-workload.tar" ]]; }

build() {
  local tool
  for tool in gcc umoci skopeo tar sha256sum; do
    command -v "$tool" >/dev/null || die "'$tool' not found: run tools/setup.sh (packages gcc, libc6-dev, umoci, skopeo)"
  done
  mkdir -p "$CACHE_ROOT/images"
  exec 9>"$CACHE_ROOT/images/.build.lock"
  flock 9
  if archives_ok; then return 0; fi
  local work
  work=$(mktemp -d "$CACHE_ROOT/images/.stage.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  local t0; t0=$(date +%s%N)

  mkdir -p "$work/pause/rootfs" "$work/workload/rootfs/bin" "$work/workload/rootfs/tmp" \
           "$work/workload/rootfs/etc/aiops-workload"
  gcc -static -O2 -s -Wall -Wextra -Werror -o "$work/pause/rootfs/pause" "$SRC/pause.c" ||
    die "gcc -static failed for pause.c (is libc6-dev installed?)"
  gcc -static -O2 -s -Wall -Wextra -Werror -o "$work/workload/rootfs/aiops-workload" \
    "$SRC/aiops-workload.c" || die "gcc -static failed for aiops-workload.c"
  chmod 1777 "$work/workload/rootfs/tmp"
  local t
  for t in cat touch rm sleep true false; do ln -s /aiops-workload "$work/workload/rootfs/bin/$t"; done
  echo 1 > "$work/workload/rootfs/etc/aiops-workload/setting"
  # A minimal passwd/group so that runAsUser/fsGroup settings and `kubectl exec` resolve names.
  printf 'root:x:0:0:root:/:/aiops-workload\nnobody:x:65534:65534:nobody:/:/aiops-workload\n' \
    > "$work/workload/rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/workload/rootfs/etc/group"

  # pack NAME REF ENTRYPOINT CMD [EXTRA_TAGS...]
  pack() {
    local name=$1 ref=$2 entry=$3 cmd=$4; shift 4
    local layout="$work/$name/oci"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/$name/rootfs" \
      -cf "$work/$name/layer.tar" .
    umoci init --layout "$layout"
    umoci new --image "$layout:img"
    umoci raw add-layer --image "$layout:img" "$work/$name/layer.tar"
    local cfg=(--config.entrypoint "$entry")
    [[ -n "$cmd" ]] && cfg+=(--config.cmd "$cmd")
    umoci config --image "$layout:img" "${cfg[@]}" --config.workingdir / \
      --config.env PATH=/bin:/ --author aiops
    local extra=()
    for t in "$@"; do extra+=(--additional-tag "$t"); done
    skopeo --insecure-policy copy -q "${extra[@]}" "oci:$layout:img" \
      "docker-archive:$work/$name.tar:$ref" >/dev/null
  }
  local tags=()
  for t in "${WORKLOAD_TAGS[@]:1}"; do tags+=("$WORKLOAD_REPO:$t"); done
  pack pause "$PAUSE_REF" /pause ""
  pack workload "$WORKLOAD_REPO:${WORKLOAD_TAGS[0]}" /aiops-workload sleep "${tags[@]}"

  # Archives of older sources are of no use any more.
  find "$CACHE_ROOT/images" -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name "$KEY" \
    -exec rm -rf {} +
  mkdir -p "$OUT"
  mv "$work/pause.tar" "$OUT/aiops-pause.tar"
  mv "$work/workload.tar" "$OUT/aiops-workload.tar"
  local t1; t1=$(date +%s%N)
  log "built in $(( (t1 - t0) / 1000000 )) ms: $OUT ($(du -sh "$OUT" | cut -f1))"
}

if archives_ok; then log "cached: $OUT"; else build; fi

if [[ -n "$IMPORT_SOCKET" ]]; then
  command -v ctr >/dev/null || die "'ctr' not found: run tools/setup.sh (package containerd)"
  for a in aiops-pause aiops-workload; do
    ctr --address "$IMPORT_SOCKET" --namespace k8s.io images import --snapshotter overlayfs \
      "$OUT/$a.tar" >/dev/null || die "ctr images import of $OUT/$a.tar into $IMPORT_SOCKET failed"
  done
  log "imported $PAUSE_REF and $WORKLOAD_REPO:{$(IFS=,; echo "${WORKLOAD_TAGS[*]}")} into $IMPORT_SOCKET (namespace k8s.io)"
fi
echo "$OUT"
