#!/usr/bin/env bash
# A real Kubernetes node for the test harness, joined to a control plane of
# tools/control_plane.sh: containerd (Debian's, with its own root, state, socket and config), the
# CNI bridge + host-local plugins, a kubelet and kube-scheduler (tools/build_control_plane.sh),
# and the locally built images of tools/build_images.sh (never pulled).
#
#   tools/node.sh start --control-plane-dir CPDIR [--dir DIR] [--owner-pid PID]
#                       [--node-ip IP] [--lock-wait SECONDS]
#   tools/node.sh stop [--dir DIR | --control-plane-dir CPDIR]
#   tools/node.sh status [--dir DIR | --control-plane-dir CPDIR]
#   tools/node.sh env [--dir DIR | --control-plane-dir CPDIR]   # print node.env
#   tools/node.sh check-clean [--dir DIR]  # exit 1 (and say what) if a node left anything behind
#
# DIR defaults to CPDIR/node. `start` waits until the Node is Ready and schedulable (the
# not-ready taint removed: the control plane runs no nodelifecycle controller), prints DIR as its
# last line and writes DIR/node.env: AIOPS_NODE_NAME, AIOPS_NODE_IP, AIOPS_NODE_DIR,
# AIOPS_NODE_CONTAINERD_SOCKET, AIOPS_NODE_CTR (a ctr command line for namespace k8s.io),
# AIOPS_NODE_PAUSE_IMAGE, AIOPS_NODE_WORKLOAD_IMAGE, AIOPS_NODE_WORKLOAD_IMAGES,
# AIOPS_NODE_POD_SUBNET, AIOPS_NODE_BRIDGE, AIOPS_NODE_SCHEDULER_PORT, AIOPS_NODE_STARTUP_MS.
# One node per machine: a host-wide lock (flock on /run/chatcli-aiops-node.lock, held by the
# node's watchdog) makes a second `start` wait (--lock-wait, default 600 s) and then fail.
# With --owner-pid, the watchdog stops the node when that process exits (even by kill -9).
# `stop` deletes the pods, stops the kubelet, scheduler, containerd and shims, unmounts, and
# removes the network namespaces, bridge, iptables chains, cgroups and host folders the node
# created. Needs root.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
LOCK_FILE=${AIOPS_NODE_LOCK_FILE:-/run/chatcli-aiops-node.lock}
ACTIVE_FILE=${LOCK_FILE%.lock}.active
BRIDGE=aiops-cni0
POD_SUBNET=10.244.77.0/24
# The bridge's own address: the host reaches pods (the kubelet's httpGet/tcpSocket probes)
# through it. Pods get no default route and the host no forwarding, so pod traffic stays on the
# bridge.
BRIDGE_IP=10.244.77.1
CNI_BIN_DIR=/usr/lib/cni
PAUSE_IMAGE=localhost/aiops-pause:1
WORKLOAD_IMAGE=localhost/aiops-workload:1
WORKLOAD_IMAGES="localhost/aiops-workload:1 localhost/aiops-workload:2 localhost/aiops-workload:3"
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
# Folders the kubelet, containerd and the CNI plugins create outside their configured paths.
HOST_DIRS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd)
STEP_TIMEOUT_S=${AIOPS_NODE_STEP_TIMEOUT_S:-90}

log() { printf '[node] %s\n' "$*" >&2; }
die() { printf '[node] error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,27p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

CMD=${1:-}
[[ -n "$CMD" ]] || usage
shift
DIR=""; CP_DIR=""; OWNER_PID=""; NODE_IP=""; LOCK_WAIT_S=600; FROM_WATCHDOG=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#--dir=}; shift ;;
    --control-plane-dir) CP_DIR=$2; shift 2 ;;
    --control-plane-dir=*) CP_DIR=${1#--control-plane-dir=}; shift ;;
    --owner-pid) OWNER_PID=$2; shift 2 ;;
    --owner-pid=*) OWNER_PID=${1#--owner-pid=}; shift ;;
    --node-ip) NODE_IP=$2; shift 2 ;;
    --node-ip=*) NODE_IP=${1#--node-ip=}; shift ;;
    --lock-wait) LOCK_WAIT_S=$2; shift 2 ;;
    --lock-wait=*) LOCK_WAIT_S=${1#--lock-wait=}; shift ;;
    --from-watchdog) FROM_WATCHDOG=1; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if [[ -z "$DIR" && -n "$CP_DIR" ]]; then DIR=$CP_DIR/node; fi

# --- processes (PID files hold "pid binary", as in tools/control_plane.sh) ------------------------

pid_exists() {
  local pidfile=$1 pid _
  [[ -f "$pidfile" ]] || return 1
  read -r pid _ < "$pidfile"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

pid_alive() {
  local pidfile=$1 pid exe cmdline
  pid_exists "$pidfile" || return 1
  read -r pid exe < "$pidfile"
  [[ -z "$exe" ]] && return 0
  cmdline=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline") || return 1
  [[ "$cmdline" == *"$exe"* ]]
}

stop_one() {  # stop_one PIDFILE [GRACE_TENTHS]
  local pidfile=$1 grace=${2:-100} pid exe
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  read -r pid exe < "$pidfile"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$grace"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$pidfile"
}

# Starts "$@" in its own session, output to DIR/logs/NAME.log, without the lock's descriptor (the
# watchdog alone holds the lock).
spawn() {
  local name=$1; shift
  [[ ! -e "$DIR/stopping" ]] || die "the node is being stopped (its owner exited); not starting $name"
  setsid "$@" >> "$DIR/logs/$name.log" 2>&1 < /dev/null 8>&- &
  echo "$! $1" > "$DIR/pids/$name.pid"
}

free_port() {
  local listening port
  listening=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | tr '\n' ' ')
  for _ in $(seq 1 200); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    [[ " $listening " == *" $port "* ]] && continue
    echo "$port"
    return 0
  done
  die "no free loopback port found"
}

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# --- start-up steps ------------------------------------------------------------------------------

# fail_step STEP FIX [LOG]: a start-up step failed; say which, how to fix it, show the log's
# tail, tear down what was started, and exit 1.
fail_step() {
  local step=$1 fix=$2 logfile=${3:-}
  log "FAILED at step '$step'"
  if [[ -n "$logfile" && -f "$logfile" ]]; then
    log "last lines of $logfile:"
    tail -n 30 "$logfile" | sed 's/^/    /' >&2
  fi
  log "fix: $fix"
  teardown || true
  release_watchdog
  exit 1
}

# wait_step STEP PIDFILE LOGFILE FIX COMMAND...: polls COMMAND for up to STEP_TIMEOUT_S seconds;
# fails the step at once when the process dies.
wait_step() {
  local step=$1 pidfile=$2 logfile=$3 fix=$4; shift 4
  local deadline=$(( $(date +%s) + STEP_TIMEOUT_S ))
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n "$pidfile" ]] && ! pid_exists "$pidfile"; then
      fail_step "$step" "$fix (the process exited)" "$logfile"
    fi
    if (( $(date +%s) >= deadline )); then
      fail_step "$step" "$fix (not done after ${STEP_TIMEOUT_S}s)" "$logfile"
    fi
    sleep 0.2
  done
}

preflight() {
  [[ $(id -u) -eq 0 ]] || die "the node needs root (containerd, runc, cgroups, network namespaces)"
  local t
  for t in containerd containerd-shim-runc-v2 runc ctr iptables iptables-save ip mount umount \
           nsenter flock setsid ss curl; do
    command -v "$t" >/dev/null ||
      die "preflight: '$t' not found: run tools/setup.sh (packages containerd, runc, iptables, iproute2, util-linux)"
  done
  for t in bridge host-local loopback; do
    [[ -x "$CNI_BIN_DIR/$t" ]] ||
      die "preflight: CNI plugin $CNI_BIN_DIR/$t missing: run tools/setup.sh (package containernetworking-plugins)"
  done
  for t in kubelet kube-scheduler kubectl; do
    [[ -x "$BIN/$t" ]] || die "preflight: $BIN/$t is missing: run tools/build_control_plane.sh"
  done
  if [[ ! -d /sys/fs/cgroup/memory && ! -f /sys/fs/cgroup/cgroup.controllers ]]; then
    die "preflight: no memory cgroup controller under /sys/fs/cgroup: the kubelet cannot run pods here"
  fi
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems ||
    die "preflight: the kernel has no overlay filesystem (containerd's overlayfs snapshotter needs it)"
  if [[ -z "$NODE_IP" ]]; then
    NODE_IP=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1)
    [[ -n "$NODE_IP" ]] ||
      die "preflight: no non-loopback IPv4 address for --node-ip (the kubelet refuses loopback): pass --node-ip"
  fi
  NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')
  local resolved
  resolved=$(getent hosts "$NODE_NAME" | awk '{print $1}' | head -n 1)
  if [[ "$resolved" != 127.* ]]; then
    log "warning: the host name '$NODE_NAME' resolves to '${resolved:-nothing}', not loopback: the kubelet" \
        "listens on 127.0.0.1, so kubectl logs/exec will not reach it (add '127.0.0.1 $NODE_NAME' to /etc/hosts)"
  fi
}

# Checks of what another node would hold; run under the lock.
host_checks() {
  local t
  for t in $KUBELET_PORT $KUBELET_HEALTHZ_PORT; do
    if port_in_use "$t"; then
      die "step 'host check': port $t is in use by a process outside our lock (a kubelet started by hand?): $(ss -Htlnp "sport = :$t" | head -n 1)"
    fi
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    die "step 'host check': the bridge $BRIDGE exists already (left over?): 'ip link delete $BRIDGE' if no node runs"
  fi
}

acquire_lock() {
  exec 8>>"$LOCK_FILE"
  if ! flock -n 8; then
    log "another node holds $LOCK_FILE ($(cat "$ACTIVE_FILE" 2>/dev/null || echo 'unknown')); waiting up to ${LOCK_WAIT_S}s"
    flock -w "$LOCK_WAIT_S" 8 ||
      die "step 'lock': another node still runs after ${LOCK_WAIT_S}s ($(cat "$ACTIVE_FILE" 2>/dev/null)); stop it with: tools/node.sh stop --dir DIR"
  fi
  # A node whose watchdog died without stopping it: clean it up before starting a new one.
  if [[ -s "$ACTIVE_FILE" ]]; then
    local old
    old=$(head -n 1 "$ACTIVE_FILE")
    log "a previous node ($old) was not stopped; stopping it first"
    if [[ -d "$old/pids" ]]; then
      "$SELF" stop --dir "$old" --from-watchdog 8>&- || true
    fi
    rm -f "$ACTIVE_FILE"
  fi
}

start_watchdog() {
  # Holds the lock (descriptor 8, inherited) for the node's lifetime; with an owner, stops the
  # node when the owner exits. Its sleeps run without the descriptor, so killing it frees the lock.
  setsid bash -c '
    owner=$1; self=$2; dir=$3
    if [[ -n "$owner" ]]; then
      while kill -0 "$owner" 2>/dev/null; do sleep 0.5 8>&-; done
      echo "owner $owner exited: stopping the node"
      "$self" stop --dir "$dir" --from-watchdog
    else
      while :; do sleep 5 8>&-; done
    fi
  ' watchdog "$OWNER_PID" "$SELF" "$DIR" >> "$DIR/logs/watchdog.log" 2>&1 < /dev/null &
  echo "$! bash" > "$DIR/pids/watchdog.pid"
}

release_watchdog() {
  [[ -f "$DIR/pids/watchdog.pid" ]] || return 0
  local pid; read -r pid _ < "$DIR/pids/watchdog.pid"
  rm -f "$DIR/pids/watchdog.pid"
  [[ $FROM_WATCHDOG -eq 1 ]] || kill -TERM "$pid" 2>/dev/null || true
}

write_containerd_config() {
  local c=$DIR/containerd
  mkdir -p "$c/root" "$c/state" "$c/runc" "$c/opt"
  cat > "$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = ""
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$c/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_tcp_service = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$c/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$DIR/cni/net.d"
    max_conf_num = 1
EOF
}

write_cni_config() {
  mkdir -p "$DIR/cni/net.d" "$DIR/cni/ipam"
  cat > "$DIR/cni/net.d/10-aiops.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "aiops-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$BRIDGE_IP"}]],
        "dataDir": "$DIR/cni/ipam"
      }
    }
  ]
}
EOF
}

write_kubelet_config() {
  mkdir -p "$DIR/kubelet" "$DIR/kubelet-certs" "$DIR/pod-logs"
  cat > "$DIR/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: 127.0.0.1
port: $KUBELET_PORT
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
readOnlyPort: 0
makeIPTablesUtilChains: false
podLogsDir: $DIR/pod-logs
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
failSwapOn: false
# The conventional kube-dns address of the control plane's service range. No DNS server runs
# there, and pods have no route off the bridge, so lookups fail at once inside the pod; without
# it the kubelet writes a MissingClusterDNS Warning event for every pod (noise for the operator).
clusterDNS: ["10.0.0.10"]
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  nodefs.inodesFree: "1%"
  imagefs.available: "1%"
evictionPressureTransitionPeriod: 30s
crashLoopBackOff:
  maxContainerRestartPeriod: 10s
containerLogMaxSize: 1Mi
containerLogMaxFiles: 2
shutdownGracePeriod: 0s
maxPods: 50
EOF
}

containerd_up() { [[ -S "$SOCK" ]] && timeout 5 ctr --address "$SOCK" version; }

api_node() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=5s "$@"; }

node_ready() {
  [[ $(api_node get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

write_env() {
  cat > "$DIR/node.env" <<EOF
AIOPS_NODE_DIR=$DIR
AIOPS_NODE_NAME=$NODE_NAME
AIOPS_NODE_IP=$NODE_IP
AIOPS_NODE_CONTROL_PLANE_DIR=$CP_DIR
AIOPS_NODE_CONTAINERD_SOCKET=$SOCK
AIOPS_NODE_CTR="ctr --address $SOCK --namespace k8s.io"
AIOPS_NODE_PAUSE_IMAGE=$PAUSE_IMAGE
AIOPS_NODE_WORKLOAD_IMAGE=$WORKLOAD_IMAGE
AIOPS_NODE_WORKLOAD_IMAGES="$WORKLOAD_IMAGES"
AIOPS_NODE_POD_SUBNET=$POD_SUBNET
AIOPS_NODE_BRIDGE=$BRIDGE
AIOPS_NODE_BRIDGE_IP=$BRIDGE_IP
AIOPS_NODE_SCHEDULER_PORT=$SCHED_PORT
AIOPS_NODE_KUBELET_HEALTHZ=http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz
AIOPS_NODE_STARTUP_MS=$1
EOF
}

cmd_start() {
  [[ -n "$CP_DIR" ]] || die "--control-plane-dir is required"
  [[ -f "$CP_DIR/control-plane.env" ]] || die "$CP_DIR/control-plane.env not found: start tools/control_plane.sh first"
  CP_DIR=$(cd "$CP_DIR" && pwd)
  # shellcheck disable=SC1091
  source "$CP_DIR/control-plane.env"
  BIN=$AIOPS_K8S_BIN_DIR; KUBECTL=$AIOPS_K8S_KUBECTL; KUBECONFIG_FILE=$AIOPS_K8S_KUBECONFIG
  [[ -n "$DIR" ]] || DIR=$CP_DIR/node
  preflight

  local t0; t0=$(now_ms)
  acquire_lock
  host_checks
  if [[ -d "$DIR/pids" ]] && ls "$DIR"/pids/*.pid >/dev/null 2>&1; then
    die "$DIR holds a node already (tools/node.sh stop --dir $DIR)"
  fi
  mkdir -p "$DIR/logs" "$DIR/pids"
  DIR=$(cd "$DIR" && pwd)
  rm -f "$DIR"/logs/*.log
  SOCK=$DIR/containerd/containerd.sock
  (( ${#SOCK} < 100 )) || die "the containerd socket path $SOCK is too long for a unix socket: use a shorter --dir"
  rm -f "$DIR/stopping"
  echo "$DIR" > "$ACTIVE_FILE"
  # What teardown needs, written before anything starts so that a failed start is torn down too.
  local d pre=()
  for d in "${HOST_DIRS[@]}" /run/netns; do [[ -e "$d" ]] && pre+=("$d"); done
  for d in /sys/fs/cgroup/*/kubepods; do [[ -e "$d" ]] && pre+=("$d"); done
  cat > "$DIR/node.conf" <<EOF
NODE_NAME=$NODE_NAME
SOCK=$SOCK
BIN=$BIN
KUBECTL=$KUBECTL
KUBECONFIG_FILE=$KUBECONFIG_FILE
CP_DIR=$CP_DIR
PREEXISTING="${pre[*]}"
NETNS_BEFORE="$(ls /run/netns 2>/dev/null | tr '\n' ' ')"
EOF
  { iptables-save 2>/dev/null || true; } > "$DIR/iptables.before"
  { ip6tables-save 2>/dev/null || true; } > "$DIR/ip6tables.before"
  start_watchdog

  # The pod network: the bridge is made here, with an address (the CNI bridge plugin would make
  # it without one, isGateway being false), so that the host's probes of pod IPs stay local
  # instead of leaving through the default route; ip_forward stays as it is.
  write_cni_config
  { ip link add "$BRIDGE" type bridge && ip addr add "$BRIDGE_IP/${POD_SUBNET#*/}" dev "$BRIDGE" &&
    ip link set "$BRIDGE" up; } > "$DIR/logs/bridge.log" 2>&1 ||
    fail_step "pod network bridge" "could not create the bridge $BRIDGE (iproute2 installed? bridge module?)" "$DIR/logs/bridge.log"
  # containerd
  write_containerd_config
  local t_cd; t_cd=$(now_ms)
  spawn containerd containerd --config "$DIR/containerd/config.toml"
  wait_step containerd "$DIR/pids/containerd.pid" "$DIR/logs/containerd.log" \
    "check containerd's log above; is another containerd using $DIR? is runc installed (tools/setup.sh)?" \
    containerd_up
  log "containerd up in $(( $(now_ms) - t_cd )) ms"

  # images
  local t_img; t_img=$(now_ms)
  "$SCRIPT_DIR/build_images.sh" --import "$SOCK" >> "$DIR/logs/images.log" 2>&1 8>&- ||
    fail_step images "tools/build_images.sh failed (gcc -static needs libc6-dev; umoci and skopeo come from tools/setup.sh)" "$DIR/logs/images.log"
  log "images imported in $(( $(now_ms) - t_img )) ms"

  # kubelet
  write_kubelet_config
  local t_kl; t_kl=$(now_ms)
  spawn kubelet "$BIN/kubelet" --config="$DIR/kubelet-config.yaml" \
    --kubeconfig="$KUBECONFIG_FILE" --root-dir="$DIR/kubelet" --cert-dir="$DIR/kubelet-certs" \
    --node-ip="$NODE_IP" --v=1
  wait_step kubelet "$DIR/pids/kubelet.pid" "$DIR/logs/kubelet.log" \
    "check the kubelet's log above (cgroups? containerd's CRI plugin? see docs/real-node.md)" \
    curl -sf "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
  wait_step "node registration" "$DIR/pids/kubelet.pid" "$DIR/logs/kubelet.log" \
    "the kubelet did not register Node $NODE_NAME with the API server ($AIOPS_K8S_SERVER)" \
    api_node get node "$NODE_NAME"

  # kube-scheduler
  SCHED_PORT=$(free_port)
  spawn kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$KUBECONFIG_FILE" \
    --authentication-kubeconfig="$KUBECONFIG_FILE" --authorization-kubeconfig="$KUBECONFIG_FILE" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHED_PORT"
  wait_step kube-scheduler "$DIR/pids/kube-scheduler.pid" "$DIR/logs/kube-scheduler.log" \
    "check kube-scheduler's log above" curl -sfk "https://127.0.0.1:$SCHED_PORT/healthz"

  wait_step "node Ready" "$DIR/pids/kubelet.pid" "$DIR/logs/kubelet.log" \
    "the Node did not turn Ready: look for NetworkReady/CNI or runtime errors in the kubelet's and containerd's logs" \
    node_ready
  log "node Ready $(( $(now_ms) - t_kl )) ms after the kubelet started"
  # No nodelifecycle controller runs: the kubelet's registration taint stays unless removed.
  api_node taint node "$NODE_NAME" node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true
  local taints
  taints=$(api_node get node "$NODE_NAME" -o jsonpath='{.spec.taints}{.spec.unschedulable}')
  [[ -z "$taints" ]] ||
    fail_step "schedulable" "Node $NODE_NAME still has taints or is cordoned: $taints" "$DIR/logs/kubelet.log"

  local t1; t1=$(now_ms)
  write_env "$(( t1 - t0 ))"
  log "node $NODE_NAME ready and schedulable in $(( t1 - t0 )) ms (state in $DIR)"
  log "use it with: source $DIR/node.env; \$AIOPS_NODE_CTR images ls"
  echo "$DIR"
}

# --- teardown ------------------------------------------------------------------------------------

load_conf() {
  [[ -n "$DIR" ]] || die "--dir (or --control-plane-dir) is required"
  [[ -f "$DIR/node.conf" ]] || return 1
  # shellcheck disable=SC1091
  source "$DIR/node.conf"
}

ctr_ns() { timeout 15 ctr --address "$SOCK" --namespace k8s.io "$@"; }

running_tasks() { ctr_ns tasks ls 2>/dev/null | awk 'NR > 1 && $3 == "RUNNING"' | wc -l; }

new_netns() {
  local f n
  for f in /run/netns/*; do
    [[ -e "$f" ]] || continue
    n=${f#/run/netns/}
    [[ " $NETNS_BEFORE " == *" $n "* ]] || echo "$n"
  done
  return 0
}

is_preexisting() { [[ " $PREEXISTING " == *" $1 "* ]]; }

# Mount points under the given folders, deepest first.
mounts_under() {
  local prefixes=("$@")
  awk '{print $5}' /proc/self/mountinfo | while read -r m; do
    for p in "${prefixes[@]}"; do
      if [[ "$m" == "$p" || "$m" == "$p"/* ]]; then echo "$m"; break; fi
    done
  done | awk '{print length($0) " " $0}' | sort -rn | cut -d' ' -f2- | uniq
}

node_mount_roots() {
  local roots=("$DIR") d
  for d in /var/lib/kubelet /run/containerd; do is_preexisting "$d" || roots+=("$d"); done
  for d in $(new_netns); do roots+=("/run/netns/$d"); done
  printf '%s\n' "${roots[@]}"
}

# Our shims: containerd-shim-runc-v2 processes started with our socket as -address.
our_shims() {
  local p cmdline
  for p in /proc/[0-9]*; do
    cmdline=$(tr '\0' ' ' 2>/dev/null < "$p/cmdline") || continue
    [[ "$cmdline" == *containerd-shim* && "$cmdline" == *"-address $SOCK "* ]] && echo "${p#/proc/}"
  done
  return 0
}

kubepods_cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods; do
    [[ -d "$d" ]] && ! is_preexisting "$d" && echo "$d"
  done
  return 0
}

# New KUBE-/CNI- chains since start, per table, as "table chain" lines (from iptables-save).
new_chains() {  # new_chains iptables-save-command before-file
  local save=$1 before=$2
  command -v "$save" >/dev/null || return 0
  "$save" 2>/dev/null | awk -v before="$before" '
    BEGIN { while ((getline line < before) > 0) { if (line ~ /^\*/) t = substr(line, 2); else if (line ~ /^:/) { split(substr(line, 2), a, " "); seen[t " " a[1]] = 1 } } }
    /^\*/ { t = substr($0, 2); next }
    /^:/ { split(substr($0, 2), a, " "); c = a[1]; if (!((t " " c) in seen) && c ~ /^(KUBE-|CNI-)/) print t " " c }'
}

remove_chains() {  # remove_chains iptables-command iptables-save-command before-file
  local ipt=$1 save=$2 before=$3 table chain
  new_chains "$save" "$before" | while read -r table chain; do
    # Rules that jump to the chain, then the chain itself.
    "$save" -t "$table" 2>/dev/null | grep -E -- "^-A .* -j $chain( |$)" | sed 's/^-A /-D /' |
      while read -r rule; do eval "$ipt -t $table $rule" 2>/dev/null || true; done
    "$ipt" -t "$table" -F "$chain" 2>/dev/null || true
    "$ipt" -t "$table" -X "$chain" 2>/dev/null || true
  done
}

kill_cgroup_procs() {
  local cg f pid
  for cg in $(kubepods_cgroups); do
    while read -r f; do
      while read -r pid; do kill -KILL "$pid" 2>/dev/null || true; done < "$f"
    done < <(find "$cg" -name cgroup.procs 2>/dev/null)
  done
}

teardown() {
  load_conf || { log "no $DIR/node.conf: nothing was started"; return 0; }
  touch "$DIR/stopping"
  local t0; t0=$(now_ms)

  # 1. Pods first, through the API, so the kubelet stops them and CRI tears their networks down.
  if pid_alive "$DIR/pids/kubelet.pid" && api_node get node "$NODE_NAME" >/dev/null 2>&1; then
    api_node cordon "$NODE_NAME" >/dev/null 2>&1 || true
    stop_one "$DIR/pids/kube-scheduler.pid"
    api_node delete pods --all-namespaces --field-selector "spec.nodeName=$NODE_NAME" \
      --grace-period=1 --wait=false >/dev/null 2>&1 || true
    # Bounded; cut short when the API server goes away (the control plane's watchdog may stop
    # it at the same time), since the kubelet then never hears of the deletions.
    local deadline=$(( $(date +%s) + 30 )) i=0
    while (( $(date +%s) < deadline )); do
      [[ $(running_tasks) -eq 0 && -z "$(new_netns)" ]] && break
      if (( ++i % 3 == 0 )) && ! api_node get --raw /readyz >/dev/null 2>&1; then
        log "the API server went away while pods were being deleted; stopping them through containerd"
        break
      fi
      sleep 0.3
    done
    log "pods deleted in $(( $(now_ms) - t0 )) ms ($(running_tasks) containers still running)"
    api_node delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  # 2. The kubelet and the scheduler.
  stop_one "$DIR/pids/kube-scheduler.pid"
  stop_one "$DIR/pids/kubelet.pid"
  log "kubelet stopped at $(( $(now_ms) - t0 )) ms"
  # 3. Whatever still runs, through containerd (container records go with containerd's root);
  #    then containerd and its shims.
  if pid_alive "$DIR/pids/containerd.pid"; then
    local id tasks
    tasks=$(ctr_ns tasks ls -q 2>/dev/null || true)
    if [[ -n "$tasks" ]]; then
      for id in $tasks; do ctr_ns tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true; done
      sleep 0.3
      for id in $tasks; do ctr_ns tasks delete -f "$id" >/dev/null 2>&1 || true; done
    fi
  fi
  stop_one "$DIR/pids/containerd.pid"
  log "containerd stopped at $(( $(now_ms) - t0 )) ms"
  kill_cgroup_procs
  local pids
  pids=$(our_shims)
  if [[ -n "$pids" ]]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    for _ in $(seq 1 30); do [[ -z "$(our_shims)" ]] && break; sleep 0.1; done
  fi
  # 4. Mounts (container root filesystems, shm, volumes, network namespaces), deepest first.
  local m roots
  for _ in 1 2 3; do
    mapfile -t roots < <(node_mount_roots)
    local left=0
    while read -r m; do
      [[ -n "$m" ]] || continue
      left=1
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "${roots[@]}")
    [[ $left -eq 0 ]] && break
  done
  # 5. Network namespaces, the bridge, iptables chains.
  local n
  for n in $(new_netns); do ip netns delete "$n" 2>/dev/null || rm -f "/run/netns/$n"; done
  ip link delete "$BRIDGE" 2>/dev/null || true
  remove_chains iptables iptables-save "$DIR/iptables.before"
  remove_chains ip6tables ip6tables-save "$DIR/ip6tables.before"
  # 6. cgroups (children first; a cgroup empties a moment after its last process died).
  local cg
  for _ in 1 2 3 4 5; do
    local busy=0
    for cg in $(kubepods_cgroups); do
      find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [[ -d "$cg" ]] && busy=1
    done
    [[ $busy -eq 0 ]] && break
    kill_cgroup_procs
    sleep 0.2
  done
  # 7. Folders: the host ones the node created, and the node's own runtime state.
  local d
  for d in "${HOST_DIRS[@]}"; do
    is_preexisting "$d" && continue
    if [[ -n "$(mounts_under "$d")" ]]; then log "warning: $d still has mounts; not removed"; continue; fi
    rm -rf --one-file-system "$d"
  done
  # containerd creates /run/netns for the pods' namespaces; remove it again if it is empty.
  is_preexisting /run/netns || rmdir /run/netns 2>/dev/null || true
  for d in "$DIR/containerd" "$DIR/kubelet" "$DIR/cni/ipam"; do
    if [[ -n "$(mounts_under "$d")" ]]; then log "warning: $d still has mounts; not removed"; continue; fi
    rm -rf --one-file-system "$d"
  done
  if [[ "$(cat "$ACTIVE_FILE" 2>/dev/null)" == "$DIR" ]]; then rm -f "$ACTIVE_FILE"; fi
  log "stopped in $(( $(now_ms) - t0 )) ms ($DIR)"
  check_clean || log "warning: the node left something behind (see above)"
}

# Prints what a stopped node left behind; returns 1 if anything.
check_clean() {
  local dirty=0 p
  load_conf || return 0
  for p in kubelet kube-scheduler containerd; do
    if pid_alive "$DIR/pids/$p.pid"; then log "left: $p still runs"; dirty=1; fi
  done
  p=$(our_shims | tr '\n' ' ')
  if [[ -n "$p" ]]; then log "left: containerd shims $p"; dirty=1; fi
  mapfile -t roots < <(node_mount_roots)
  p=$(mounts_under "${roots[@]}" /var/lib/kubelet | tr '\n' ' ')
  if [[ -n "$p" ]]; then log "left: mounts $p"; dirty=1; fi
  p=$(new_netns | tr '\n' ' ')
  if [[ -n "$p" ]]; then log "left: network namespaces $p"; dirty=1; fi
  if ip link show "$BRIDGE" >/dev/null 2>&1; then log "left: bridge $BRIDGE"; dirty=1; fi
  p=$( { new_chains iptables-save "$DIR/iptables.before"; new_chains ip6tables-save "$DIR/ip6tables.before"; } | tr '\n' ' ')
  if [[ -n "$p" ]]; then log "left: iptables chains $p"; dirty=1; fi
  p=$(kubepods_cgroups | tr '\n' ' ')
  if [[ -n "$p" ]]; then log "left: cgroups $p"; dirty=1; fi
  for p in "${HOST_DIRS[@]}" /run/netns; do
    if ! is_preexisting "$p" && [[ -e "$p" ]]; then log "left: $p"; dirty=1; fi
  done
  return $dirty
}

cmd_stop() {
  [[ -n "$DIR" ]] || die "--dir (or --control-plane-dir) is required"
  [[ -d "$DIR/pids" ]] || { log "no node in $DIR"; return 0; }
  teardown
  # The watchdog goes last (it holds the lock), so that it still covers a stop that fails halfway.
  release_watchdog
}

cmd_status() {
  [[ -n "$DIR" ]] || die "--dir (or --control-plane-dir) is required"
  local rc=0 name
  for name in containerd kubelet kube-scheduler watchdog; do
    if pid_alive "$DIR/pids/$name.pid"; then echo "$name: running"; else echo "$name: stopped"; rc=1; fi
  done
  if load_conf && [[ $rc -eq 0 ]]; then
    if node_ready 2>/dev/null; then echo "node $NODE_NAME: Ready"; else echo "node $NODE_NAME: not Ready"; rc=1; fi
  fi
  return $rc
}

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) [[ -f "$DIR/node.env" ]] || die "no $DIR/node.env"; cat "$DIR/node.env" ;;
  check-clean) [[ -n "$DIR" ]] || die "--dir is required"; check_clean ;;
  *) usage ;;
esac
