#!/usr/bin/env bash
# Builds the operator's container image from the project's Dockerfile WITHOUT a Docker daemon and
# without pulling anything from an image registry: buildah (chroot isolation, vfs storage, a store
# of its own) on a local Debian 12 base image made with mmdebstrap from the machine's configured
# apt sources. The runtime stage's `apt-get install` reaches the Debian mirror of those sources.
#
#   tools/build_operator_image.sh [--prebuilt PATH] [--import SOCKET] [--archive FILE] [--tag REF]
#   tools/build_operator_image.sh --full [--import SOCKET] [--archive FILE] [--tag REF]
#   tools/build_operator_image.sh --clean      remove the buildah store (keeps the base tarball)
#
#   --prebuilt PATH   (default mode, for CI) the Dockerfile's `prebuilt` target: the runtime stage
#                     plus PATH, an `aiops` already built on this Debian 12 machine (stripped
#                     copy); default PATH: build/src/server/aiops of the repository.
#   --full            the Dockerfile's default target: the multi-stage build that compiles the
#                     project inside the image (tens of minutes on 2 cores; not in the default
#                     test tier).
#   --import SOCKET   import the image into the containerd at SOCKET, namespace k8s.io.
#   --archive FILE    where to write the docker-archive (default: the cache folder below).
#   --tag REF         the image's name (default localhost/chatcli-aiops:dev).
#   --refresh-base    make the Debian base again even if its tarball is cached.
# Prints the docker-archive's path as its last line; timings go to stderr.
#
# Cache (outside the repo): ${AIOPS_K8S_CACHE:-~/.cache/chatcli-aiops}/operator-image/
#   debian12-minbase-<hash of the apt sources>.tar   the mmdebstrap rootfs (25-65 s to make)
#   store/{root,runroot}                              buildah's storage (vfs), images
#                                                     localhost/debian:12 and :12-slim (the same
#                                                     minbase rootfs), the build's layer cache
#   chatcli-aiops-dev.tar                             the default docker-archive
#   prebuilt-<hash>.tar                               the archive of the last --prebuilt build,
#                                                     reused while binary, Dockerfile, base and
#                                                     tag are unchanged
# Needs root (buildah's chroot isolation and vfs store as root; mmdebstrap's root mode).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
CACHE_ROOT="${AIOPS_K8S_CACHE:-${HOME:-/root}/.cache/chatcli-aiops}"
# Not under $CACHE_ROOT/images: tools/build_images.sh deletes the folders it does not know there.
CACHE="$CACHE_ROOT/operator-image"
STORE_ROOT="$CACHE/store/root"
STORE_RUNROOT="$CACHE/store/runroot"
BASE_REF=localhost/debian:12
SLIM_REF=localhost/debian:12-slim
SUITE=bookworm

MODE=prebuilt; PREBUILT="$ROOT/build/src/server/aiops"; IMPORT_SOCKET=""; ARCHIVE=""
TAG=localhost/chatcli-aiops:dev; REFRESH_BASE=0

log() { printf '[operator-image] %s\n' "$*" >&2; }
die() { printf '[operator-image] error: %s\n' "$*" >&2; exit 1; }
# fail STEP WHAT FIX
fail() { printf '[operator-image] error: step %s: %s\n  fix: %s\n' "$1" "$2" "$3" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
usage() { sed -n '2,32p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prebuilt) [[ $# -ge 2 ]] || die "--prebuilt needs a path"; MODE=prebuilt; PREBUILT=$2; shift 2 ;;
    --full) MODE=full; shift ;;
    --import) [[ $# -ge 2 ]] || die "--import needs a containerd socket"; IMPORT_SOCKET=$2; shift 2 ;;
    --archive) [[ $# -ge 2 ]] || die "--archive needs a file"; ARCHIVE=$2; shift 2 ;;
    --tag) [[ $# -ge 2 ]] || die "--tag needs an image reference"; TAG=$2; shift 2 ;;
    --refresh-base) REFRESH_BASE=1; shift ;;
    --clean) MODE=clean; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

[[ $(id -u) -eq 0 ]] || fail preflight "needs root" "run as root (buildah chroot isolation with a vfs store, mmdebstrap root mode)"
BUILDAH=(buildah --root "$STORE_ROOT" --runroot "$STORE_RUNROOT" --storage-driver vfs)

if [[ $MODE == clean ]]; then
  if command -v buildah >/dev/null && [[ -d "$STORE_ROOT" ]]; then
    "${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
  fi
  rm -rf --one-file-system "$CACHE/store"
  log "removed $CACHE/store"
  exit 0
fi

for tool in buildah mmdebstrap sha256sum flock; do
  command -v "$tool" >/dev/null || fail preflight "'$tool' not found" "run tools/setup.sh (Debian packages buildah, mmdebstrap)"
done
if [[ $MODE == prebuilt ]]; then
  [[ -x "$PREBUILT" ]] || fail preflight "no executable aiops at '$PREBUILT'" \
    "build it first (cmake --build build --target aiops) or pass --prebuilt PATH"
  PREBUILT=$(cd "$(dirname "$PREBUILT")" && pwd)/$(basename "$PREBUILT")
  # The binary must run on the runtime stage's libraries: every shared library resolved here.
  if ldd "$PREBUILT" 2>/dev/null | grep -q 'not found'; then
    fail preflight "$PREBUILT has unresolved libraries: $(ldd "$PREBUILT" | grep 'not found' | tr -s ' \t' ' ')" \
      "rebuild it on this Debian 12 machine (tools/setup.sh installs the libraries)"
  fi
fi
if [[ -n "$IMPORT_SOCKET" ]]; then
  [[ -S "$IMPORT_SOCKET" ]] || fail preflight "no containerd socket at $IMPORT_SOCKET" "start the node first (tools/node.sh start) and pass its AIOPS_NODE_CONTAINERD_SOCKET"
  command -v ctr >/dev/null || fail preflight "'ctr' not found" "run tools/setup.sh (package containerd)"
fi

mkdir -p "$CACHE" "$STORE_ROOT" "$STORE_RUNROOT"
exec 9>"$CACHE/.lock"
flock 9   # one build per store at a time

T0=$(now_ms)

# Runs a command with every file descriptor above 2 closed (in a subshell: ours stay open).
only_std_fds() (
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    if (( fd > 2 )); then eval "exec $fd>&-"; fi
  done
  exec "$@"
)

# --- 1. the Debian 12 base: mmdebstrap minbase from the machine's apt sources, cached -------------

SOURCES_FILES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -s "$f" ]] && SOURCES_FILES+=("$f")
done
[[ ${#SOURCES_FILES[@]} -gt 0 ]] || fail base "no apt sources in /etc/apt/sources.list{,.d}" "configure a Debian 12 mirror for apt"
# mmdebstrap takes the sources as a stdin stream (one-line or deb822 format both work).
SOURCES_TEXT=$(cat "${SOURCES_FILES[@]}")
MMDEB_ARGS=(--variant=minbase --include=ca-certificates --format=tar)
KEY=$(printf '%s\n%s\n%s\n' "$SOURCES_TEXT" "${MMDEB_ARGS[*]}" "$SUITE" | sha256sum | cut -c1-12)
BASE_TAR="$CACHE/debian12-minbase-$KEY.tar"

t=$(now_ms)
if [[ $REFRESH_BASE -eq 1 || ! -s "$BASE_TAR" ]]; then
  log "step base: mmdebstrap ${MMDEB_ARGS[*]} $SUITE (apt sources: ${SOURCES_FILES[*]})"
  tmp="$BASE_TAR.part"
  rm -f "$tmp"
  # The sources are given as a file on stdin ("-"): mmdebstrap writes them into the rootfs too,
  # so the image's apt-get reaches the same mirror.
  # Only fds 0-2 open: mmdebstrap hands apt a pipe on its first free fd, and apt passes it to a
  # /bin/sh (dash) hook that cannot redirect an fd above 9. With the caller's fds open (this
  # script's lock on 9, a test's node locks) it became 11 and the download failed with "Bad fd
  # number" (seen on a fresh machine, from the in-cluster test).
  if ! printf '%s\n' "$SOURCES_TEXT" | only_std_fds mmdebstrap "${MMDEB_ARGS[@]}" "$SUITE" "$tmp" - \
       > "$CACHE/mmdebstrap.log" 2>&1; then
    tail -n 15 "$CACHE/mmdebstrap.log" >&2
    rm -f "$tmp"
    fail base "mmdebstrap failed (log: $CACHE/mmdebstrap.log)" \
      "check that apt-get update works with the sources above (network to the Debian mirror)"
  fi
  mv "$tmp" "$BASE_TAR"
  # Tarballs of other sources are of no use any more.
  find "$CACHE" -maxdepth 1 -name 'debian12-minbase-*.tar' ! -name "$(basename "$BASE_TAR")" -delete
  log "base rootfs made in $(( $(now_ms) - t )) ms: $BASE_TAR ($(du -h "$BASE_TAR" | cut -f1))"
else
  log "base rootfs cached: $BASE_TAR"
fi
T_BASE=$(( $(now_ms) - t ))

# --- 2. the base images in the store (one rootfs, two names) -----------------------------------

t=$(now_ms)
stamp=$("${BUILDAH[@]}" inspect --type image --format '{{index .ImageAnnotations "io.chatcli-aiops.base-key"}}' "$BASE_REF" 2>/dev/null || true)
have_slim=0
"${BUILDAH[@]}" inspect --type image "$SLIM_REF" >/dev/null 2>&1 && have_slim=1
if [[ "$stamp" != "$KEY" || $have_slim -eq 0 ]]; then
  log "step import-base: $BASE_TAR -> $BASE_REF, $SLIM_REF (buildah store $CACHE/store)"
  ctr_id=$("${BUILDAH[@]}" from scratch 2>"$CACHE/import.log") ||
    fail import-base "buildah from scratch: $(tail -n 3 "$CACHE/import.log")" "see $CACHE/import.log; './tools/build_operator_image.sh --clean' resets the store"
  if ! { "${BUILDAH[@]}" add "$ctr_id" "$BASE_TAR" / &&
         "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
           --cmd bash --os linux --arch amd64 \
           --annotation "io.chatcli-aiops.base-key=$KEY" "$ctr_id" &&
         "${BUILDAH[@]}" commit --rm -q "$ctr_id" "$BASE_REF" &&
         "${BUILDAH[@]}" tag "$BASE_REF" "$SLIM_REF"; } >>"$CACHE/import.log" 2>&1; then
    "${BUILDAH[@]}" rm "$ctr_id" >/dev/null 2>&1 || true
    tail -n 10 "$CACHE/import.log" >&2
    fail import-base "importing the rootfs into buildah failed (log: $CACHE/import.log)" \
      "'tools/build_operator_image.sh --clean' resets the store; '--refresh-base' makes the rootfs again"
  fi
  "${BUILDAH[@]}" rmi --prune >/dev/null 2>&1 || true
  log "base images imported in $(( $(now_ms) - t )) ms"
fi
T_IMPORT_BASE=$(( $(now_ms) - t ))

# --- 3. buildah bud ---------------------------------------------------------------------------------

# Prebuilt mode, the same binary, Dockerfile, base and tag as a previous build: its archive is
# reused (a cached buildah build still costs 30-50 s here: vfs copies the whole rootfs for every
# stage's working container).
ARCHIVE_CACHE=""
if [[ $MODE == prebuilt ]]; then
  PKEY=$(cat "$PREBUILT" "$ROOT/Dockerfile" <(printf '%s\n%s\n' "$KEY" "$TAG") | sha256sum | cut -c1-16)
  ARCHIVE_CACHE="$CACHE/prebuilt-$PKEY.tar"
fi
[[ -n "$ARCHIVE" ]] || ARCHIVE="$CACHE/$(basename "${TAG%%:*}")-${TAG##*:}.tar"
T_BUILD=0; T_ARCHIVE=0
if [[ -n "$ARCHIVE_CACHE" && -s "$ARCHIVE_CACHE" ]]; then
  mkdir -p "$(dirname "$ARCHIVE")"
  t=$(now_ms)
  if [[ "$ARCHIVE" != "$ARCHIVE_CACHE" ]]; then
    cp --reflink=auto "$ARCHIVE_CACHE" "$ARCHIVE.part" && mv "$ARCHIVE.part" "$ARCHIVE" ||
      fail archive "cannot copy $ARCHIVE_CACHE to $ARCHIVE" "check free disk space at $(dirname "$ARCHIVE")"
  fi
  T_ARCHIVE=$(( $(now_ms) - t ))
  log "image $TAG of this binary cached: $ARCHIVE_CACHE (copied in $T_ARCHIVE ms)"
else

BUD=(bud --isolation chroot --pull=never --layers --force-rm --format docker
     --build-arg "BASE_IMAGE=$BASE_REF" --build-arg "RUNTIME_IMAGE=$SLIM_REF"
     -f "$ROOT/Dockerfile" -t "$TAG")
CONTEXT_DIR=""
cleanup() { [[ -n "$CONTEXT_DIR" ]] && rm -rf "$CONTEXT_DIR"; return 0; }
trap cleanup EXIT
if [[ $MODE == prebuilt ]]; then
  # A build context holding only the binary (stripped, as the Dockerfile's `install -s` does).
  CONTEXT_DIR=$(mktemp -d "$CACHE/.context.XXXXXX")
  install -m 0755 -s "$PREBUILT" "$CONTEXT_DIR/aiops" ||
    fail context "cannot copy and strip $PREBUILT" "check the path; 'strip' comes with binutils (tools/setup.sh)"
  BUD+=(--target prebuilt "$CONTEXT_DIR")
else
  BUD+=("$ROOT")   # the repository; .dockerignore keeps build folders, .git, tests and docs out
fi
# The image this tag named before: removed after the build. Not `buildah rmi --prune`: with
# --layers the intermediate images of the Dockerfile's steps are untagged too, and they are the
# cache that makes the next build skip the runtime stage's apt-get (vfs keeps a full copy per
# layer, so stale final images must go).
old_id=$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$TAG" 2>/dev/null || true)
t=$(now_ms)
log "step build ($MODE): buildah ${BUD[*]}"
if ! "${BUILDAH[@]}" "${BUD[@]}" > "$CACHE/build.log" 2>&1; then
  tail -n 25 "$CACHE/build.log" >&2
  fail build "buildah bud failed (log: $CACHE/build.log)" \
    "see the failing Dockerfile step above; apt-get errors mean the Debian mirror of /etc/apt/sources.list* is unreachable"
fi
T_BUILD=$(( $(now_ms) - t ))
log "image $TAG built in $T_BUILD ms"
# Leftovers of this store: no working container may remain; the previous image of the tag goes.
"${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true
new_id=$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$TAG" 2>/dev/null || true)
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
  "${BUILDAH[@]}" rmi "$old_id" >/dev/null 2>&1 || true
fi


# --- 4. the docker-archive, and the import into containerd ---------------------------------------

mkdir -p "$(dirname "$ARCHIVE")"
t=$(now_ms)
rm -f "$ARCHIVE"
"${BUILDAH[@]}" push -q "$TAG" "docker-archive:$ARCHIVE:$TAG" > "$CACHE/push.log" 2>&1 ||
  fail archive "buildah push to docker-archive:$ARCHIVE failed: $(tail -n 3 "$CACHE/push.log")" \
    "check free disk space at $(dirname "$ARCHIVE")"
T_ARCHIVE=$(( $(now_ms) - t ))
log "docker-archive written in $T_ARCHIVE ms: $ARCHIVE ($(du -h "$ARCHIVE" | cut -f1))"
if [[ -n "$ARCHIVE_CACHE" ]]; then
  # One cached archive: older binaries' archives go.
  find "$CACHE" -maxdepth 1 -name 'prebuilt-*.tar' -delete
  if [[ "$ARCHIVE" != "$ARCHIVE_CACHE" ]]; then
    cp --reflink=auto "$ARCHIVE" "$ARCHIVE_CACHE.part" && mv "$ARCHIVE_CACHE.part" "$ARCHIVE_CACHE" ||
      rm -f "$ARCHIVE_CACHE.part"
  fi
fi
fi  # built (not cached)

T_IMPORT=0
if [[ -n "$IMPORT_SOCKET" ]]; then
  t=$(now_ms)
  ctr --address "$IMPORT_SOCKET" --namespace k8s.io images import --snapshotter overlayfs \
    "$ARCHIVE" > "$CACHE/ctr-import.log" 2>&1 ||
    fail import "ctr images import of $ARCHIVE into $IMPORT_SOCKET failed: $(tail -n 3 "$CACHE/ctr-import.log")" \
      "is the node's containerd running (tools/node.sh status)?"
  ctr --address "$IMPORT_SOCKET" --namespace k8s.io images ls -q | grep -qxF "$TAG" ||
    fail import "$TAG is not in containerd after the import (it holds: $(ctr --address "$IMPORT_SOCKET" --namespace k8s.io images ls -q | tr '\n' ' '))" \
      "the archive's name must be $TAG; rebuild with --tag $TAG"
  T_IMPORT=$(( $(now_ms) - t ))
  log "imported $TAG into $IMPORT_SOCKET (namespace k8s.io) in $T_IMPORT ms"
fi
log "TIMINGS mode=$MODE base=${T_BASE}ms import-base=${T_IMPORT_BASE}ms build=${T_BUILD}ms archive=${T_ARCHIVE}ms containerd-import=${T_IMPORT}ms total=$(( $(now_ms) - T0 ))ms"
echo "$ARCHIVE"
