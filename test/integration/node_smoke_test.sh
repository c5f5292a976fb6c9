#!/usr/bin/env bash
# Smoke test of the real test node (tools/node.sh) on the real control plane
# (tools/control_plane.sh): a kubelet, kube-scheduler and containerd running the locally built
# images (tools/build_images.sh). Five Deployments at once:
#   (a) aiops-workload in OOM mode under a 64Mi limit: lastState.terminated OOMKilled, exit code
#       137, restartCount rising;
#   (b) exit 1: lastState.terminated reason Error, exit code 1, restartCount >= 2, and
#       `kubectl logs` (API server -> kubelet) shows the container's output;
#   (c) a failing readiness probe (`cat /tmp/ready`): Running, Ready=False ContainersNotReady; then
#       `kubectl exec -- touch /tmp/ready` (API server -> kubelet -> CRI) turns it Ready;
#   (d) a missing image localhost/does-not-exist:v1: ErrImagePull / ImagePullBackOff;
#   (e) an httpGet readiness probe of aiops-workload's `serve` mode turns Ready once /tmp/ready
#       exists (the kubelet reaches the pod's IP over the node's bridge).
# Then `node.sh stop`, and the machine is checked for leftovers: no kubelet, containerd or shim
# processes, no mounts, no new network namespaces, veths or bridge, no KUBE-/CNI- iptables
# chains, no kubepods cgroups, none of the host folders the node creates.
# Needs root; fails (never skips) when the binaries are missing. Prints timings and
# 'N passed, N failed'.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP="$ROOT/tools/control_plane.sh"
NODE="$ROOT/tools/node.sh"
NS=node-smoke
WAIT_S=${AIOPS_NODE_SMOKE_WAIT_S:-120}

die() { printf 'node_smoke_test: error: %s\n' "$*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T_START=$(now_ms)

[[ $(id -u) -eq 0 ]] || die "needs root (the node runs containerd, runc and a kubelet)"
BIN=${AIOPS_K8S_BIN_DIR:-$("$ROOT/tools/build_control_plane.sh" --print-bin-dir)}
for b in etcd kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler; do
  [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run tools/build_control_plane.sh first (this test is never skipped)"
done
command -v python3 >/dev/null || die "python3 not found (needed to read pod status JSON)"

# shellcheck source=node_test_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/node_test_lib.sh"
node_test_machine_before || die "the machine's picture before the test could not be taken"

# A short path: containerd's socket lives below it.
WORK=$(mktemp -d /tmp/aiops-node.XXXXXX)
NODE_DIR=$WORK/cp/node
cleanup() {
  local rc=$?
  node_test_stop
  if [[ $rc -ne 0 ]]; then
    echo "(logs kept in $WORK/cp/logs and $NODE_DIR/logs)" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
}
trap cleanup EXIT

timing() { printf 'TIMING %-44s %6d ms\n' "$1" "$2"; }

node_test_start "node cold start (containerd, images, kubelet, Ready)"

# --- workloads -----------------------------------------------------------------------------------

deployment() {  # deployment NAME IMAGE ARGS_JSON [EXTRA_CONTAINER_YAML]
  cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: $2
        imagePullPolicy: IfNotPresent
        args: $3
${4:-}
EOF
}
k create namespace "$NS" >/dev/null
# The namespace's default ServiceAccount comes from kube-controller-manager; pods wait for it.
for _ in $(seq 1 100); do k -n "$NS" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.1; done
t_apply=$(now_ms)
{
  deployment oom "$AIOPS_NODE_WORKLOAD_IMAGE" '["oom", "16", "50"]' \
'        resources:
          requests: {memory: 32Mi}
          limits: {memory: 64Mi}'
  deployment crash "$AIOPS_NODE_WORKLOAD_IMAGE" '["exit", "1"]'
  deployment notready "$AIOPS_NODE_WORKLOAD_IMAGE" '["ready-file", "/tmp/ready"]' \
'        readinessProbe:
          exec: {command: [cat, /tmp/ready]}
          periodSeconds: 1
          failureThreshold: 1'
  deployment missing localhost/does-not-exist:v1 '["sleep"]'
  deployment httpready "$AIOPS_NODE_WORKLOAD_IMAGE" '["serve", "8080"]' \
'        readinessProbe:
          httpGet: {path: /ready, port: 8080}
          periodSeconds: 1
          failureThreshold: 1'
} | k apply -f - >/dev/null

# One status read per poll; prints "app.key=value" facts for the checks below.
FACTS_PY=$(cat <<'PY'
import json, sys
for p in json.load(sys.stdin)["items"]:
    app = p["metadata"]["labels"].get("app", "?")
    st = p.get("status", {})
    conds = {c["type"]: c for c in st.get("conditions", [])}
    cs = (st.get("containerStatuses") or [{}])[0]
    last = cs.get("lastState", {}).get("terminated", {})
    waiting = cs.get("state", {}).get("waiting", {})
    ready = conds.get("Ready", {})
    print("%s.phase=%s" % (app, st.get("phase", "")))
    print("%s.restarts=%s" % (app, cs.get("restartCount", 0)))
    print("%s.last=%s/%s" % (app, last.get("reason", ""), last.get("exitCode", "")))
    print("%s.waiting=%s" % (app, waiting.get("reason", "")))
    print("%s.ready=%s/%s" % (app, ready.get("status", ""), ready.get("reason", "")))
    print("%s.pod=%s" % (app, p["metadata"]["name"]))
PY
)
facts() { k -n "$NS" get pods -o json | python3 -c "$FACTS_PY"; }
fact() { sed -n "s/^$1=//p" <<<"$FACTS" | head -n 1; }

declare -A done_at=()
oom_first_restarts=""
deadline=$(( $(date +%s) + WAIT_S ))
while (( $(date +%s) < deadline )); do
  FACTS=$(facts 2>/dev/null || true)
  el=$(( $(now_ms) - t_apply ))
  if [[ -z "${done_at[oom]:-}" && "$(fact oom.last)" == OOMKilled/137 ]]; then
    r=$(fact oom.restarts)
    if [[ -z "$oom_first_restarts" ]]; then oom_first_restarts=$r
    elif (( r > oom_first_restarts )); then done_at[oom]=$el; fi
  fi
  if [[ -z "${done_at[crash]:-}" && "$(fact crash.last)" == Error/1 && $(fact crash.restarts) -ge 2 ]]; then
    done_at[crash]=$el
  fi
  if [[ -z "${done_at[notready]:-}" && "$(fact notready.phase)" == Running &&
        "$(fact notready.ready)" == False/ContainersNotReady ]]; then
    done_at[notready]=$el
  fi
  case "$(fact missing.waiting)" in
    ErrImagePull|ImagePullBackOff|ErrImageNeverPull) [[ -n "${done_at[missing]:-}" ]] || done_at[missing]=$el ;;
  esac
  [[ ${#done_at[@]} -eq 4 ]] && break
  sleep 0.5
done
FACTS=$(facts 2>/dev/null || true)
check_wait() {  # check_wait KEY DESCRIPTION STATUS
  if [[ -n "${done_at[$1]:-}" ]]; then
    pass; timing "($1) $2" "${done_at[$1]}"
  else
    fail "($1) $2 not seen within ${WAIT_S}s; last: $3"
  fi
}
check_wait oom "OOMKilled/137, restartCount rising" \
  "$(fact oom.last) restarts=$(fact oom.restarts) (first seen $oom_first_restarts)"
check_wait crash "Error/1, restartCount >= 2" "$(fact crash.last) restarts=$(fact crash.restarts)"
check_wait notready "Running, Ready=False ContainersNotReady" \
  "phase=$(fact notready.phase) ready=$(fact notready.ready)"
check_wait missing "ErrImagePull/ImagePullBackOff" "waiting=$(fact missing.waiting)"

# logs and exec go API server -> kubelet (--kubelet-preferred-address-types=Hostname,...).
# Between two restarts of a crash loop the current container is itself dead, and the kubelet's
# container GC has already removed the one lastState names, so `logs --previous` answers "unable
# to retrieve container logs"; the current (dead) container's log holds the same output then.
t=$(now_ms)
logs_ok=""
for _ in $(seq 1 20); do
  if k -n "$NS" logs "$(fact crash.pod)" --previous 2>/dev/null | grep -q "exiting with code 1"; then
    logs_ok="--previous"; break
  fi
  if k -n "$NS" logs "$(fact crash.pod)" 2>/dev/null | grep -q "exiting with code 1"; then
    logs_ok="current"; break
  fi
  sleep 0.5
done
if [[ -n "$logs_ok" ]]; then
  pass; timing "kubectl logs of the crash pod ($logs_ok)" $(( $(now_ms) - t ))
else
  fail "kubectl logs of the crash pod: $(k -n "$NS" logs "$(fact crash.pod)" 2>&1 | tail -n 2)"
fi
t=$(now_ms)
if k -n "$NS" exec "$(fact notready.pod)" -- touch /tmp/ready >/dev/null 2>&1; then
  ready=""
  for _ in $(seq 1 60); do
    FACTS=$(facts 2>/dev/null || true)
    ready=$(fact notready.ready)
    [[ "$ready" == True/ ]] && break
    sleep 0.5
  done
  if [[ "$ready" == True/ ]]; then pass; timing "exec touch /tmp/ready -> Ready=True" $(( $(now_ms) - t ))
  else fail "after exec touch /tmp/ready the pod is still not Ready ($ready)"; fi
else
  fail "kubectl exec into the notready pod: $(k -n "$NS" exec "$(fact notready.pod)" -- touch /tmp/ready 2>&1 | tail -n 2)"
fi

# An httpGet probe from the kubelet (host network) to the pod's IP: 503 until /tmp/ready exists,
# then 200. It only turns Ready if the probe reaches the pod over the node's bridge (without the
# bridge's address it would leave through the default route and get someone else's answer).
t=$(now_ms)
ready=""
if k -n "$NS" exec "$(fact httpready.pod)" -- touch /tmp/ready >/dev/null 2>&1; then
  for _ in $(seq 1 60); do
    FACTS=$(facts 2>/dev/null || true)
    ready=$(fact httpready.ready)
    [[ "$ready" == True/ ]] && break
    sleep 0.5
  done
fi
if [[ "$ready" == True/ ]]; then pass; timing "httpGet readiness on the pod IP -> Ready=True" $(( $(now_ms) - t ))
else fail "httpGet readiness probe pod not Ready after touch /tmp/ready ($ready): $(k -n "$NS" get events --field-selector involvedObject.name="$(fact httpready.pod)" 2>&1 | grep -i probe | tail -n 1)"; fi

# --- teardown and leftovers -----------------------------------------------------------------------

t=$(now_ms)
if "$NODE" stop --dir "$NODE_DIR" 2>"$WORK/stop.log"; then pass; else fail "node.sh stop failed: $(tail -n 5 "$WORK/stop.log")"; fi
timing "node stop" $(( $(now_ms) - t ))
# Independent checks of the machine (holding the node lock), then node.sh's own.
NODE_TEST_MOUNT_ROOTS="$WORK" node_test_machine_after "*$BIN/kubelet*" "*$BIN/kube-scheduler*" \
  "*containerd*$WORK*" "*containerd-shim*"
if "$NODE" check-clean --dir "$NODE_DIR" 2>"$WORK/check.log"; then pass; else fail "node.sh check-clean: $(cat "$WORK/check.log")"; fi

timing "whole test" $(( $(now_ms) - T_START ))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
