# Sourced by the tests that run the real node (node_smoke_test.sh, node_scenarios_test.sh,
# operator_incluster_test.sh): a picture of the machine before the test and the check, after the
# node stopped, that the test left nothing behind. Both hold the host's node lock
# (tools/node.sh's), so another node on the machine (a person's, another test's) is neither in the
# picture nor taken for a leftover. Also what the three share: the pass/fail counters, the node
# and control plane started and stopped. The caller defines die, now_ms, T_START and timing,
# and sets $CP, $NODE, $NODE_DIR, $BIN and $WORK (they are read when the functions run).
# shellcheck shell=bash

NODE_TEST_LOCK=${AIOPS_NODE_LOCK_FILE:-/run/chatcli-aiops-node.lock}
NODE_TEST_HOST_DIRS=(/var/lib/kubelet /var/log/containers /var/log/pods /var/lib/cni /run/containerd
                     /run/netns)

_node_test_lock() {  # holds the node lock on fd 7 (waits for another node to stop)
  exec 7>>"$NODE_TEST_LOCK"
  flock -w 900 7
}

_node_test_machine() {  # prints: dirs|netns|veth count|bridges|KUBE-/CNI- chain count
  local d dirs=""
  for d in "${NODE_TEST_HOST_DIRS[@]}" /sys/fs/cgroup/*/kubepods; do [[ -e "$d" ]] && dirs+="$d "; done
  printf '%s|%s|%s|%s|%s\n' "$dirs" \
    "$(ls /run/netns 2>/dev/null | sort | tr '\n' ' ' || true)" \
    "$(ip -o link show type veth 2>/dev/null | wc -l)" \
    "$(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | sort | tr '\n' ' ')" \
    "$( { iptables-save 2>/dev/null; ip6tables-save 2>/dev/null; } | grep -cE '^:(KUBE-|CNI-)' || true)"
}

# The machine before the test (call before tools/node.sh start).
node_test_machine_before() {
  _node_test_lock || { echo "another node held $NODE_TEST_LOCK for 15 minutes" >&2; return 1; }
  NODE_TEST_BEFORE=$(_node_test_machine)
  flock -u 7
}

# After tools/node.sh stop: no process matching any of the glob patterns given, no mount below the
# roots in $NODE_TEST_MOUNT_ROOTS (space-separated; the node's and the kubelet's are always
# checked), no new network namespace, veth, bridge, iptables chain or host folder, and the node's
# bridge $AIOPS_NODE_BRIDGE gone. One pass or fail per check.
node_test_machine_after() {
  if ! _node_test_lock; then fail "another node held $NODE_TEST_LOCK for 15 minutes after this test's"; return; fi
  local p cmd pat procs=""
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' 2>/dev/null < "$p/cmdline") || continue
    for pat in "$@"; do
      # shellcheck disable=SC2053  # a glob on purpose
      if [[ "$cmd" == $pat ]]; then procs+="${p#/proc/}:${cmd:0:60} "; break; fi
    done
  done
  if [[ -z "$procs" ]]; then pass; else fail "processes left: $procs"; fi
  local roots="${NODE_TEST_MOUNT_ROOTS:-} /var/lib/kubelet /run/containerd /run/netns/cni-"
  local mounts
  mounts=$(awk '{print $5}' /proc/self/mountinfo |
           grep -E "^($(echo $roots | tr ' ' '|'))" || true)
  if [[ -z "$mounts" ]]; then pass; else fail "mounts left: $(echo $mounts)"; fi
  local before_dirs before_netns before_veth before_bridges before_chains
  local after_dirs after_netns after_veth after_bridges after_chains
  IFS='|' read -r before_dirs before_netns before_veth before_bridges before_chains <<<"$NODE_TEST_BEFORE"
  IFS='|' read -r after_dirs after_netns after_veth after_bridges after_chains <<<"$(_node_test_machine)"
  local w new=""
  for w in $after_netns; do [[ " $before_netns " == *" $w "* ]] || new+="$w "; done
  if [[ -z "$new" ]]; then pass; else fail "new network namespaces left: $new"; fi
  if ! ip link show "$AIOPS_NODE_BRIDGE" >/dev/null 2>&1; then pass; else fail "bridge $AIOPS_NODE_BRIDGE left"; fi
  new=""
  for w in $after_bridges; do [[ " $before_bridges " == *" $w "* ]] || new+="$w "; done
  if [[ -z "$new" ]]; then pass; else fail "new bridges left: $new"; fi
  if (( after_veth <= before_veth )); then pass; else fail "veth interfaces: $before_veth before, $after_veth after"; fi
  if (( after_chains <= before_chains )); then pass; else fail "KUBE-/CNI- iptables chains: $before_chains before, $after_chains after"; fi
  new=""
  for w in $after_dirs; do [[ " $before_dirs " == *" $w "* ]] || new+="$w "; done
  if [[ -z "$new" ]]; then pass; else fail "left behind: $new"; fi
  # The lock stays held until the test exits (fd 7): checks the caller adds run under it too.
}

# One check each: pass, fail DESCRIPTION, check DESCRIPTION COMMAND..., and a timestamped line.
passed=0; failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }
check() {
  local what=$1; shift
  if "$@"; then pass; else fail "$what"; fi
}
say() { printf '[%4ds] %s\n' $(( ($(now_ms) - T_START) / 1000 )) "$*"; }

# Starts the control plane in $WORK/cp and the node on it (timing both; NODE_LABEL names the
# node's timing line), sources their environment files and defines k (kubectl on them).
node_test_start() {
  local node_label=$1 t
  t=$(now_ms)
  AIOPS_K8S_BIN_DIR=$BIN "$CP" start --dir "$WORK/cp" --owner-pid $$ >/dev/null ||
    die "tools/control_plane.sh start failed"
  timing "control plane start" $(( $(now_ms) - t ))
  t=$(now_ms)
  "$NODE" start --control-plane-dir "$WORK/cp" --owner-pid $$ >/dev/null || die "tools/node.sh start failed"
  timing "$node_label" $(( $(now_ms) - t ))
  # shellcheck disable=SC1091
  source "$WORK/cp/control-plane.env"
  # shellcheck disable=SC1091
  source "$NODE_DIR/node.env"
}
k() { "$AIOPS_K8S_KUBECTL" --kubeconfig "$AIOPS_K8S_KUBECONFIG" "$@"; }

# The node, then the control plane, stopped if they were started (for the caller's EXIT trap).
node_test_stop() {
  if [[ -f "$NODE_DIR/node.conf" ]]; then
    "$NODE" stop --dir "$NODE_DIR" >/dev/null 2>&1 || echo "warning: node.sh stop failed" >&2
  fi
  if [[ -f "$WORK/cp/control-plane.env" ]]; then
    "$CP" stop --dir "$WORK/cp" >/dev/null 2>&1 || echo "warning: control_plane.sh stop failed" >&2
  fi
}
