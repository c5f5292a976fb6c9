#!/usr/bin/env bash
# The README's main command: a local demo of chatcli-aiops on its embedded defaults (RocksDB
# event log in a temporary folder, the built-in rules analyzer, a real local Kubernetes control
# plane and a real node). It builds what is missing, starts the control plane and a node (kubelet,
# containerd, kube-scheduler: tools/node.sh, images built locally), installs the CRDs, runs
# `aiops run`, creates a Deployment whose container needs more memory than its limit, so the
# kernel OOM-kills it for real, and follows the incident until the operator has remediated and
# verified it (the new pods actually run); then it shows the incident's timeline and audits the
# log with `aiops replay --verify`.
#
#   tools/demo.sh [--keep] [--standin] [--aiops PATH]
#     --keep        leaves the control plane, the node and the operator running, and prints how
#                   to look around and how to stop them
#     --standin     no real node: the kubelet stand-in (tools/kubelet_standin.sh) writes pod status
#                   and plays the failure. Only for machines where a node cannot run (not root, no
#                   memory cgroup); the real node is the default, and a failure to start it stops
#                   the demo with the reason instead of falling back silently
#     --aiops PATH  uses this aiops binary and skips the set-up and build steps (the apt step,
#                   the control plane's build, cmake and ninja): the control-plane binaries must
#                   already be built (the ctest demo_integration_test passes the built aiops)
# Environment: AIOPS_BUILD_DIR (default build), AIOPS_SKIP_SETUP=1 to skip the apt step,
# AIOPS_DEMO_SCENARIO = oom (default) | crashloop (crashloop: stand-in only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
BUILD_DIR=${AIOPS_BUILD_DIR:-build}
SCENARIO=${AIOPS_DEMO_SCENARIO:-oom}
KEEP=0
STANDIN=0
PREBUILT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --keep) KEEP=1; shift ;;
    --standin) STANDIN=1; shift ;;
    --aiops)
      [[ $# -ge 2 ]] || { echo "demo: --aiops needs the path of an aiops binary" >&2; exit 2; }
      PREBUILT=$2; shift 2 ;;
    *) echo "demo: unknown argument '$1' (usage: tools/demo.sh [--keep] [--standin] [--aiops PATH])" >&2; exit 2 ;;
  esac
done
if [[ -n "$PREBUILT" && ! -x "$PREBUILT" ]]; then
  echo "demo: --aiops '$PREBUILT' is not an executable file" >&2
  exit 2
fi

START=$(date +%s)
step() { printf '\n\033[1m==> [%3ds] %s\033[0m\n' "$(( $(date +%s) - START ))" "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d /tmp/aiops-demo.XXXXXX)
CP_DIR="$WORK/control-plane"
DATA_DIR="$WORK/data"
OPERATOR_PID=""
KUBELET_PID=""

cleanup() {
  local code=$?
  if [[ $KEEP == 1 && $code == 0 ]]; then
    return  # the last step printed how to look around and how to stop everything
  fi
  [[ -n "$KUBELET_PID" ]] && kill "$KUBELET_PID" 2>/dev/null || true
  [[ -n "$OPERATOR_PID" ]] && kill "$OPERATOR_PID" 2>/dev/null && wait "$OPERATOR_PID" 2>/dev/null || true
  # The node before the control plane (its pods are deleted through the API server).
  [[ -f "$CP_DIR/node/node.env" ]] && tools/node.sh stop --control-plane-dir "$CP_DIR" >/dev/null 2>&1 || true
  [[ -d "$CP_DIR" ]] && tools/control_plane.sh stop --dir "$CP_DIR" >/dev/null 2>&1 || true
  if [[ $code != 0 && -f "$WORK/operator.log" ]]; then
    printf '\nlast operator log lines (%s):\n' "$WORK/operator.log" >&2
    tail -n 30 "$WORK/operator.log" >&2
  fi
  [[ $code == 0 ]] && rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -n "$PREBUILT" ]]; then
  step "using the prebuilt $PREBUILT (--aiops: no set-up or build steps)"
  AIOPS=$(cd "$(dirname "$PREBUILT")" && pwd)/$(basename "$PREBUILT")
else
  if [[ "${AIOPS_SKIP_SETUP:-0}" != 1 ]]; then
    step "installing Debian packages (tools/setup.sh; skipped when present)"
    tools/setup.sh
  fi
  step "building the Kubernetes control plane (cached after the first build: ~6 min cold)"
  tools/build_control_plane.sh
  step "building aiops ($BUILD_DIR)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$BUILD_DIR" aiops | tail -n 1
  AIOPS="$ROOT/$BUILD_DIR/src/server/aiops"
fi

# With --keep nothing is tied to this shell: the control plane and the node keep running after
# the demo exits, until stopped as the last step prints.
OWNER=(--owner-pid $$)
[[ $KEEP == 1 ]] && OWNER=()
step "starting a local control plane (etcd, kube-apiserver, kube-controller-manager)"
tools/control_plane.sh start --dir "$CP_DIR" "${OWNER[@]}" >/dev/null
set -a
# shellcheck disable=SC1091
source "$CP_DIR/control-plane.env"
set +a
export KUBECONFIG="$AIOPS_K8S_KUBECONFIG"
k() { "$AIOPS_K8S_KUBECTL" "$@"; }
info "API server $AIOPS_K8S_SERVER"

if [[ $STANDIN == 0 ]]; then
  step "starting a real node (containerd, kubelet, kube-scheduler; images built locally)"
  if ! tools/node.sh start --control-plane-dir "$CP_DIR" "${OWNER[@]}" >"$WORK/node.log" 2>&1; then
    tail -n 25 "$WORK/node.log" | sed 's/^/    /' >&2
    die "the real node could not start (above: the step that failed and its fix). On a machine
      where a node cannot run (not root, no memory cgroup), run the demo with the kubelet
      stand-in instead: tools/demo.sh --standin"
  fi
  set -a
  # shellcheck disable=SC1091
  source "$CP_DIR/node/node.env"
  set +a
  info "node $AIOPS_NODE_NAME Ready in ${AIOPS_NODE_STARTUP_MS} ms; image $AIOPS_NODE_WORKLOAD_IMAGE"
  [[ "$SCENARIO" == oom ]] || die "AIOPS_DEMO_SCENARIO=$SCENARIO needs --standin (the real node plays oom)"
else
  step "no real node (--standin): the kubelet stand-in writes pod status and plays the failure"
fi

step "installing the CRDs (platform.chatcli.io/v1alpha1)"
k apply --server-side -f deploy/crd/bases >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
k get crd -o custom-columns=NAME:.metadata.name --no-headers | sed 's/^/    /'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
GRPC_PORT=$(free_port)
cat >"$WORK/config.json" <<EOF
{
  "clusterId": "demo",
  "dataDir": "$DATA_DIR",
  "httpListen": "127.0.0.1:$HTTP_PORT",
  "grpcListen": "127.0.0.1:$GRPC_PORT",
  "leaderElection": {"enabled": true, "namespace": "default"},
  "watcher": {"targets": [{"namespace": "demo"}]},
  "analyzer": {"provider": "builtin"}
}
EOF

step "starting the operator: aiops run (log in $DATA_DIR, built-in analyzer)"
# As the operator's image runs it (Dockerfile): malloc on transparent huge pages.
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
  "$AIOPS" run --config "$WORK/config.json" --kubeconfig "$KUBECONFIG" >"$WORK/operator.log" 2>&1 &
OPERATOR_PID=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$OPERATOR_PID" 2>/dev/null || die "the operator exited (see $WORK/operator.log)"
  sleep 0.2
done
curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null || die "the operator never became ready"
info "ready: leader, log open; http :$HTTP_PORT (/healthz /readyz /metrics), grpc :$GRPC_PORT"

if [[ $STANDIN == 0 ]]; then
  step "creating Deployment demo/web: 1 replica that needs 96 MiB under a 64Mi memory limit"
  k create namespace demo >/dev/null
  k -n demo apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: $AIOPS_NODE_WORKLOAD_IMAGE
        imagePullPolicy: Never
        args: [alloc, "96"]
        resources: {limits: {memory: 64Mi}}
EOF
  info "the container allocates 96 MiB at start: the kernel OOM-kills it, the kubelet restarts it"
  step "waiting for the real OOM kill"
  reason=""
  for _ in $(seq 1 120); do
    reason=$(k -n demo get pods -l app=web -o jsonpath='{.items[0].status.containerStatuses[0].lastState.terminated.reason}' 2>/dev/null || true)
    [[ "$reason" == OOMKilled ]] && break
    sleep 0.5
  done
  [[ "$reason" == OOMKilled ]] || die "the container was not OOM-killed within 60 s"
  k -n demo get pods -l app=web -o jsonpath='{range .items[*]}    pod {.metadata.name}: restarts {.status.containerStatuses[0].restartCount}, last terminated {.status.containerStatuses[0].lastState.terminated.reason} (exit code {.status.containerStatuses[0].lastState.terminated.exitCode}){"\n"}{end}'
else
  step "creating namespace demo and Deployment demo/web (2 replicas)"
  k create namespace demo >/dev/null
  k -n demo create deployment web --image=registry.local/web:1.0 --replicas=2 >/dev/null
  bash tools/kubelet_standin.sh node >/dev/null
  for _ in $(seq 1 60); do
    [[ $(k -n demo get pods -l app=web --no-headers 2>/dev/null | wc -l) -ge 2 ]] && break
    sleep 0.5
  done
  bash tools/kubelet_standin.sh run demo app=web | sed 's/^/    /'
  # The stand-in keeps playing the kubelet for the pods of later rollouts.
  bash tools/kubelet_standin.sh loop demo app=web 1 >"$WORK/kubelet.log" 2>&1 &
  KUBELET_PID=$!
  k -n demo rollout status deployment/web --timeout=60s | sed 's/^/    /'

  POD=$(k -n demo get pods -l app=web -o jsonpath='{.items[0].metadata.name}')
  step "playing a failure: pod $POD is ${SCENARIO} (kubelet stand-in)"
  case "$SCENARIO" in
    oom) bash tools/kubelet_standin.sh fail demo "$POD" oom 4 | sed 's/^/    /' ;;
    crashloop) bash tools/kubelet_standin.sh fail demo "$POD" crashloop 5 | sed 's/^/    /' ;;
    *) die "unknown AIOPS_DEMO_SCENARIO '$SCENARIO' (oom | crashloop)" ;;
  esac
fi

step "following the incident (Issue, AIInsight, RemediationPlan custom resources)"
last=""
state=""
for _ in $(seq 1 240); do
  state=$(k -n demo get issues -o jsonpath='{.items[0].status.state}' 2>/dev/null || true)
  plans=$(k -n demo get remediationplans -o jsonpath='{range .items[*]}{.metadata.name}={.status.state} {end}' 2>/dev/null || true)
  line="issue: ${state:-none}  plans: ${plans:-none}"
  # Causality first: a plan is shown once its issue is (the mirror may write it first).
  [[ -n "$state" && "$line" != "$last" ]] && info "$line" && last=$line
  [[ "$state" == Resolved || "$state" == Escalated ]] && break
  sleep 1
done
echo
k -n demo get anomalies,issues,aiinsights,remediationplans 2>&1 | sed 's/^/    /'
[[ "$state" == Resolved ]] || die "the issue did not end Resolved (state: ${state:-none})"

ISSUE=$(k -n demo get issues -o jsonpath='{.items[0].metadata.name}')
step "the incident's timeline from the event log: aiops incident show $ISSUE"
"$AIOPS" incident show "$ISSUE" --server "127.0.0.1:$GRPC_PORT" | sed 's/^/    /'

step "what the remediation changed on demo/web"
k -n demo get deployment web -o jsonpath='{range .spec.template.spec.containers[*]}    container {.name}: resources {.resources}{"\n"}{end}'
k -n demo get deployment web -o jsonpath='    annotations: {.spec.template.metadata.annotations}{"\n"}'
if [[ $STANDIN == 0 ]]; then
  step "the new pod runs: checked 10 s after the resolution (Running, Ready, no restart)"
  sleep 10
  k -n demo get pods -l app=web -o wide | sed 's/^/    /'
  pods=$(k -n demo get pods -l app=web -o jsonpath='{range .items[*]}{.status.phase}/{.status.containerStatuses[0].ready}/{.status.containerStatuses[0].restartCount} {end}')
  [[ "$pods" == "Running/true/0 " ]] ||
    die "the remediated Deployment's pod is not running cleanly: $pods (phase/ready/restarts)"
fi

step "metrics (excerpt of /metrics)"
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | grep -E '^aiops_(incidents|actions_total|mirror_lag)' | sed 's/^/    /'

if [[ $KEEP == 1 ]]; then
  step "done in $(( $(date +%s) - START ))s; left running (--keep)"
  info "look around:"
  info "  export KUBECONFIG=$KUBECONFIG"
  info "  $AIOPS_K8S_KUBECTL get anom,iss,ai,rp,rb -A"
  info "  $AIOPS incident list --server 127.0.0.1:$GRPC_PORT"
  info "  curl -s http://127.0.0.1:$HTTP_PORT/metrics | grep ^aiops_"
  info "  operator log: $WORK/operator.log; data: $DATA_DIR"
  info "stop everything:"
  stop="kill $OPERATOR_PID"
  [[ -n "$KUBELET_PID" ]] && stop+="; kill $KUBELET_PID"
  [[ $STANDIN == 0 ]] && stop+="; tools/node.sh stop --control-plane-dir $CP_DIR"
  info "  $stop; tools/control_plane.sh stop --dir $CP_DIR; rm -rf $WORK"
  exit 0
fi
step "stopping the operator (SIGTERM) and auditing the log: aiops replay --verify"
kill "$KUBELET_PID" 2>/dev/null || true
KUBELET_PID=""
kill -TERM "$OPERATOR_PID"
wait "$OPERATOR_PID" || die "the operator did not exit cleanly"
OPERATOR_PID=""
"$AIOPS" log verify --dir "$DATA_DIR/log" | sed 's/^/    /'
"$AIOPS" replay --verify --dir "$DATA_DIR/log" | sed 's/^/    /'

step "done in $(( $(date +%s) - START ))s: the issue was detected, analyzed, remediated, verified and Resolved"
