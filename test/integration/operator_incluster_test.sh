#!/usr/bin/env bash
# The operator IN-CLUSTER on the real test node (issue #19 items 4 and 7): its own container image
# built without a Docker daemon (tools/build_operator_image.sh, prebuilt mode: the Dockerfile's
# runtime stage plus the aiops binary under test), imported into the node's containerd, and the
# shipped StatefulSet (deploy/) applied with `kubectl apply -k` of a test overlay generated here:
#   - image localhost/chatcli-aiops:dev, imagePullPolicy Never;
#   - hostNetwork with KUBERNETES_SERVICE_HOST=127.0.0.1 / KUBERNETES_SERVICE_PORT=<API port>
#     (the API server listens on loopback; its `kubernetes` Service has no usable endpoint here),
#     and the namespace's Pod Security level relaxed to `privileged` for it (hostNetwork is not
#     allowed under `restricted`);
#   - free host ports for gRPC and HTTP (config.json and the container ports, which the probes
#     name), a config watching one namespace with short windows;
#   - the bearer-token Secret the shipped config expects;
#   - a hostPath PersistentVolume pre-bound to the claim data-chatcli-aiops-0 (no provisioner runs
#     here), its folder owned by 65532 (fsGroup does not apply to hostPath volumes).
# Then: the pod Ready; the Lease taken by it; a Deployment `alloc 96` under a 64Mi limit in the
# watched namespace is OOM-killed by the kernel and the Issue ends Resolved with the limit raised
# and the new pod Running/Ready; `kubectl delete pod` of the operator, the StatefulSet brings it
# back on the same PVC, and the incident is still in its history (`aiops incident list` over the
# gRPC port from the host, and `kubectl exec ... aiops incident list --data-dir` in the pod).
# Finally node and control plane stopped and the machine checked for leftovers (as
# node_scenarios_test.sh). Prints TIMING lines.
#
#   operator_incluster_test.sh --aiops PATH
# Needs root; fails (never skips) when the binaries are missing. Prints 'N passed, N failed'.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP="$ROOT/tools/control_plane.sh"
NODE="$ROOT/tools/node.sh"
IMAGE_SCRIPT="$ROOT/tools/build_operator_image.sh"
AIOPS=""
WAIT_S=${AIOPS_INCLUSTER_WAIT_S:-300}   # break -> Resolved
IMAGE=localhost/chatcli-aiops:dev
NS=chatcli-aiops                        # the operator's namespace (deploy/)
POD=chatcli-aiops-0
PVC=data-chatcli-aiops-0
WNS=incluster-oom                       # the watched namespace
APP=oomapp
DATA_LOG=/var/lib/chatcli-aiops/log     # dataDir (deploy/manager/config.json) + /log

die() { printf 'operator_incluster_test: error: %s\n' "$*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --aiops) [[ $# -ge 2 ]] || die "--aiops needs a path"; AIOPS=$2; shift 2 ;;
    *) die "unknown argument '$1' (usage: operator_incluster_test.sh --aiops PATH)" ;;
  esac
done
[[ -n "$AIOPS" && -x "$AIOPS" ]] || die "--aiops PATH (an executable aiops binary) is required"
AIOPS=$(cd "$(dirname "$AIOPS")" && pwd)/$(basename "$AIOPS")

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T_START=$(now_ms)

[[ $(id -u) -eq 0 ]] || die "needs root (the node runs containerd, runc and a kubelet; buildah)"
BIN=${AIOPS_K8S_BIN_DIR:-$("$ROOT/tools/build_control_plane.sh" --print-bin-dir)}
for b in etcd kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler; do
  [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run tools/build_control_plane.sh first (this test is never skipped)"
done
for tool in python3 openssl buildah mmdebstrap ctr; do
  command -v "$tool" >/dev/null || die "'$tool' not found: run tools/setup.sh"
done

# shellcheck source=node_test_lib.sh
source "$ROOT/test/integration/node_test_lib.sh"
node_test_machine_before || die "the machine's picture before the test could not be taken"

WORK=$(mktemp -d /tmp/aiops-incl.XXXXXX)   # short: containerd's socket lives below it
NODE_DIR=$WORK/cp/node
cleanup() {
  local rc=$?
  node_test_stop
  if [[ $rc -ne 0 ]]; then
    rm -f "$WORK/chatcli-aiops-dev.tar"
    echo "(overlay, operator logs and the PV's data kept in $WORK; node logs in $NODE_DIR/logs)" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP  # the EXIT trap cleans up

timing() { printf 'TIMING %-52s %7s ms\n' "$1" "$2"; }

# --- 1. the image (before the node: the build does not hold the node lock) ----------------------

t=$(now_ms)
"$IMAGE_SCRIPT" --prebuilt "$AIOPS" --tag "$IMAGE" --archive "$WORK/chatcli-aiops-dev.tar" \
  > "$WORK/image.out" 2> "$WORK/image.log" || { cat "$WORK/image.log" >&2; die "tools/build_operator_image.sh failed"; }
T_IMAGE=$(( $(now_ms) - t ))
grep TIMINGS "$WORK/image.log" | sed 's/^/  /'
timing "image build (prebuilt, buildah)" "$T_IMAGE"

# --- 2. control plane, node, image import ------------------------------------------------------------

node_test_start "node start (waits for the host lock)"
API_PORT=${AIOPS_K8S_SERVER##*:}
API_PORT=${API_PORT%%/*}

t=$(now_ms)
ctr --address "$AIOPS_NODE_CONTAINERD_SOCKET" --namespace k8s.io images import --snapshotter overlayfs \
  "$WORK/chatcli-aiops-dev.tar" >/dev/null || die "ctr images import of the operator image failed"
rm -f "$WORK/chatcli-aiops-dev.tar"
timing "image import into the node's containerd" $(( $(now_ms) - t ))

# --- 3. the overlay over deploy/ ------------------------------------------------------------------------

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0",0)); print(s.getsockname()[1])'; }
GRPC_PORT=$(free_port); HTTP_PORT=$(free_port)
while [[ $HTTP_PORT == "$GRPC_PORT" ]]; do HTTP_PORT=$(free_port); done
TOKEN=$(openssl rand -hex 32)
printf '%s' "$TOKEN" > "$WORK/token"; chmod 600 "$WORK/token"
PV_DIR=$WORK/pv-data
# The PV's folder: the pod runs as 65532, and fsGroup is not applied to hostPath volumes.
install -d -o 65532 -g 65532 -m 0750 "$PV_DIR"
OV=$WORK/overlay
mkdir -p "$OV"
DEPLOY_REL=$(python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$ROOT/deploy" "$OV")
# deploy/manager/config.json with the test's ports, one watched namespace and short windows (as
# node_scenarios_test.sh); the rest (dataDir, authTokenFile, leader election) as shipped.
python3 - "$ROOT/deploy/manager/config.json" "$OV/config.json" "$GRPC_PORT" "$HTTP_PORT" "$WNS" <<'PY'
import json, sys
src, dst, grpc, http, wns = sys.argv[1:]
c = json.load(open(src))
c["clusterId"] = "incluster"
c["grpcListen"] = "0.0.0.0:" + grpc
c["httpListen"] = "0.0.0.0:" + http
c["watcher"].update({"targets": [{"namespace": wns}], "crashLoopRestartsMin": 2,
                     "notReadySeconds": 20, "unavailableSeconds": 20})
c["pipeline"] = {"verificationWindowMs": "30000", "maxRemediationAttempts": 2,
                 "safety": {"resourceCooldownMs": "1000"}}
json.dump(c, open(dst, "w"), indent=2)
PY
cat > "$OV/kustomization.yaml" <<EOF
# Generated by test/integration/operator_incluster_test.sh: deploy/ on the test node.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $DEPLOY_REL
- pv.yaml
images:
- name: chatcli-aiops
  newName: ${IMAGE%:*}
  newTag: ${IMAGE##*:}
configMapGenerator:
- name: chatcli-aiops-config
  namespace: $NS
  behavior: replace
  files:
  - config.json
secretGenerator:
- name: chatcli-aiops-token
  namespace: $NS
  files:
  - token
  options:
    disableNameSuffixHash: true
patches:
# hostNetwork is not allowed at the shipped 'restricted' level.
- target: {kind: Namespace, name: $NS}
  patch: |-
    - op: replace
      path: /metadata/labels/pod-security.kubernetes.io~1enforce
      value: privileged
    - op: replace
      path: /metadata/labels/pod-security.kubernetes.io~1warn
      value: privileged
- target: {kind: StatefulSet, name: chatcli-aiops}
  patch: |-
    - op: add
      path: /spec/template/spec/hostNetwork
      value: true
    - op: replace
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: Never
    - op: replace
      path: /spec/template/spec/containers/0/ports/0/containerPort
      value: $GRPC_PORT
    - op: replace
      path: /spec/template/spec/containers/0/ports/1/containerPort
      value: $HTTP_PORT
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value: {name: KUBERNETES_SERVICE_HOST, value: "127.0.0.1"}
    - op: add
      path: /spec/template/spec/containers/0/env/-
      value: {name: KUBERNETES_SERVICE_PORT, value: "$API_PORT"}
EOF
cp "$WORK/token" "$OV/token"
# No provisioner runs here: a hostPath PV pre-bound to the StatefulSet's claim (which names no
# StorageClass, and the cluster has no default one).
cat > "$OV/pv.yaml" <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: chatcli-aiops-incluster-test
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: $NS, name: $PVC}
  hostPath: {path: $PV_DIR, type: Directory}
EOF

# --- 4. apply, pod Ready, Lease ----------------------------------------------------------------------------

k create namespace "$WNS" >/dev/null
t=$(now_ms)
k kustomize "$OV" > "$WORK/rendered.yaml" || die "kubectl kustomize of the overlay failed"
k apply --server-side -f "$WORK/rendered.yaml" > "$WORK/apply.log" 2>&1 || { cat "$WORK/apply.log" >&2; die "kubectl apply -k of the overlay failed"; }
say "applied deploy/ + overlay (gRPC :$GRPC_PORT, HTTP :$HTTP_PORT, API :$API_PORT)"

pod_uid() { k -n "$NS" get pod "$POD" -o jsonpath='{.metadata.uid}' 2>/dev/null || true; }
pod_ready() { [[ $(k -n "$NS" get pod "$POD" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; }
evidence() {
  echo "---- evidence"
  k -n "$NS" get statefulset,pod,pvc -o wide 2>&1 | sed 's/^/    /'
  k get pv -o wide 2>&1 | sed 's/^/    /'
  k -n "$NS" describe pod "$POD" 2>&1 | tail -n 25 | sed 's/^/    /'
  k -n "$NS" logs "$POD" --tail=30 2>&1 | sed 's/^/    /'
  k -n "$NS" logs "$POD" --previous --tail=30 2>/dev/null | sed 's/^/    (previous) /'
  echo "----"
}
wait_pod_ready() {  # wait_pod_ready SECONDS [NOT_UID]: Ready, and (if given) not the pod NOT_UID
  local end=$(( $(date +%s) + $1 )) u
  while (( $(date +%s) < end )); do
    u=$(pod_uid)
    if [[ -n "$u" && ( -z "${2:-}" || "$u" != "$2" ) ]] && pod_ready; then return 0; fi
    sleep 0.5
  done
  return 1
}
if wait_pod_ready 240; then
  T_READY=$(( $(now_ms) - t )); pass
  timing "apply -> operator pod Ready" "$T_READY"
else
  fail "the operator pod never became Ready"; evidence; die "cannot go on without the operator"
fi
UID1=$(pod_uid)
PVC_UID=$(k -n "$NS" get pvc "$PVC" -o jsonpath='{.metadata.uid}')
check "the PVC $PVC is Bound to the test PV" test \
  "$(k -n "$NS" get pvc "$PVC" -o jsonpath='{.status.phase}/{.spec.volumeName}')" == "Bound/chatcli-aiops-incluster-test"
check "the pod runs $IMAGE" test "$(k -n "$NS" get pod "$POD" -o jsonpath='{.spec.containers[0].image}')" == "$IMAGE"
check "the operator answers /readyz on the host port" curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" -o /dev/null

holder() { k -n "$NS" get lease chatcli-aiops-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true; }
h=""
for _ in $(seq 1 60); do h=$(holder); [[ "$h" == *"$POD"* ]] && break; sleep 0.5; done
echo "  lease holder: ${h:-none}"
H1=$h
check "the Lease chatcli-aiops-leader in $NS is held by $POD ('$h')" bash -c '[[ "$1" == *"$2"* ]]' _ "$h" "$POD"

# --- 5. a real OOM kill, remediated by the in-cluster operator ------------------------------------------------

cat <<EOF | k apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: $APP, namespace: $WNS}
spec:
  replicas: 1
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: $APP}}
  template:
    metadata: {labels: {app: $APP}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: localhost/aiops-workload:1
        imagePullPolicy: IfNotPresent
        args: ["alloc", "96"]
        resources:
          requests: {memory: 32Mi}
          limits: {memory: 64Mi}
EOF
TBREAK=$(now_ms)
say "broken: $WNS/$APP alloc 96 under a 64Mi limit"
issue_states() { k -n "$WNS" get issues -o jsonpath='{range .items[*]}{.status.state}{" "}{end}' 2>/dev/null || true; }
last=""; T_ISSUE=""; T_RESOLVED=""; final=""
deadline=$(( $(date +%s) + WAIT_S ))
while (( $(date +%s) < deadline )); do
  st=$(issue_states)
  [[ -n "$st" && -z "$T_ISSUE" ]] && T_ISSUE=$(now_ms)
  if [[ "$st" != "$last" ]]; then say "issues: ${st:-none}"; last=$st; fi
  if [[ " $st " == *" Resolved "* || " $st " == *" Escalated "* ]]; then T_RESOLVED=$(now_ms); final=$st; break; fi
  sleep 1
done
[[ -n "$final" ]] || final=$(issue_states)
check "the Issue ends Resolved ('$final')" test "$final" == "Resolved "
[[ -n "$T_ISSUE" ]] && timing "break -> Issue CR seen" $(( T_ISSUE - TBREAK ))
[[ -n "$T_RESOLVED" ]] && timing "break -> Issue Resolved" $(( T_RESOLVED - TBREAK ))
[[ -n "$T_ISSUE" && -n "$T_RESOLVED" ]] && timing "Issue CR seen (detection) -> Resolved" $(( T_RESOLVED - T_ISSUE ))
lim=$(k -n "$WNS" get deployment "$APP" -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}')
echo "  memory limit now: $lim"
check "the memory limit was raised above 96Mi (now '$lim')" python3 - "$lim" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+)(Mi|Gi|M|G)?", sys.argv[1])
mult = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20, None: 1 / 2**20}
sys.exit(0 if m and int(m.group(1)) * mult[m.group(2)] > 96 else 1)
PY
workload_healthy() {  # one pod, Running, Ready, no restart while watched for 8 s
  local end=$(( $(date +%s) + 60 )) p
  while (( $(date +%s) < end )); do
    [[ "$(k -n "$WNS" get deployment "$APP" -o jsonpath='{.status.replicas}/{.status.updatedReplicas}/{.status.readyReplicas}')" == 1/1/1 ]] && break
    sleep 0.5
  done
  sleep 8
  p=$(k -n "$WNS" get pods -l "app=$APP" -o jsonpath='{range .items[*]}{.status.phase}/{.status.conditions[?(@.type=="Ready")].status}/{.status.containerStatuses[0].restartCount}{" "}{end}')
  echo "  workload pods (phase/ready/restarts): $p"
  [[ "$p" == "Running/True/0 " ]]
}
check "the new workload pod Running, Ready, no restarts" workload_healthy

INCIDENTS_PY=$(cat <<'PY'
import json, sys
text = sys.stdin.read().strip()
items = []
try:
    doc = json.loads(text)
    items = doc if isinstance(doc, list) else doc.get("incidents", doc.get("issues", [doc]))
except ValueError:
    items = [json.loads(l) for l in text.splitlines() if l.strip()]
print(len(items), " ".join(str(i.get("state", "")) for i in items))
PY
)
grpc_incidents() {
  "$AIOPS" incident list --server "127.0.0.1:$GRPC_PORT" --token-file "$WORK/token" --json 2>>"$WORK/inc.err" |
    python3 -c "$INCIDENTS_PY" 2>>"$WORK/inc.err" || true
}
inc1=$(grpc_incidents)
echo "  incident list over gRPC (host -> hostNetwork port): $inc1"
check "incident list over gRPC before the restart: 1 Resolved (got '$inc1')" test "$inc1" == "1 Resolved"

# The log's own timings (the pod's log, opened read-only next to the running operator).
EV_PY=$(cat <<'PY'
import json, sys
first = {}
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    for k in ("alert_observed", "anomaly_recorded", "issue_opened", "action_started", "issue_resolved"):
        if k in e and k not in first:
            first[k] = int(e.get("logical_time_ms", 0))
brk = int(sys.argv[1])
for k, v in first.items():
    print("%s %d" % (k, v - brk))
PY
)
if k -n "$NS" exec "$POD" -- aiops log show --dir "$DATA_LOG" --json > "$WORK/events.jsonl" 2>"$WORK/events.err"; then
  python3 -c "$EV_PY" "$TBREAK" < "$WORK/events.jsonl" > "$WORK/facts" || true
  while read -r kind ms; do timing "break -> $kind (the pod's log)" "$ms"; done < "$WORK/facts"
  a=$(awk '$1=="alert_observed"{print $2}' "$WORK/facts"); r=$(awk '$1=="issue_resolved"{print $2}' "$WORK/facts")
  [[ -n "$a" && -n "$r" ]] && timing "first alert (detection) -> Resolved (the pod's log)" $(( r - a ))
else
  echo "  (aiops log show in the pod: $(tail -n 2 "$WORK/events.err"))"
fi

# --- 6. the operator pod deleted: back on the same PVC, with its history -------------------------------------

t=$(now_ms)
k -n "$NS" delete pod "$POD" --wait=false >/dev/null
if wait_pod_ready 240 "$UID1"; then
  T_RESTART=$(( $(now_ms) - t )); pass
  timing "kubectl delete pod -> operator pod Ready again" "$T_RESTART"
else
  fail "the StatefulSet did not bring the operator pod back Ready"; evidence
fi
check "a new pod (uid changed)" test "$(pod_uid)" != "$UID1"
check "the same PVC (uid unchanged)" test "$(k -n "$NS" get pvc "$PVC" -o jsonpath='{.metadata.uid}')" == "$PVC_UID"
check "the new pod mounts claim $PVC" test \
  "$(k -n "$NS" get pod "$POD" -o jsonpath='{.spec.volumes[?(@.name=="data")].persistentVolumeClaim.claimName}')" == "$PVC"
# The new pod's identity differs from the old one's (POD_NAME plus a suffix): it takes the Lease
# over from the deleted pod (released on SIGTERM, or expired).
h=""; T_LEASE=""
for _ in $(seq 1 180); do
  h=$(holder)
  if [[ "$h" == *"$POD"* && "$h" != "$H1" ]]; then T_LEASE=$(( $(now_ms) - t )); break; fi
  sleep 0.5
done
echo "  lease holder now: ${h:-none} (before: $H1)"
check "the Lease is taken by the new pod ('$h', before '$H1')" bash -c '[[ "$1" == *"$2"* && "$1" != "$3" ]]' _ "$h" "$POD" "$H1"
[[ -n "$T_LEASE" ]] && timing "kubectl delete pod -> Lease taken by the new pod" "$T_LEASE"
inc2=""
for _ in $(seq 1 20); do inc2=$(grpc_incidents); [[ "$inc2" == "1 Resolved" ]] && break; sleep 0.5; done
echo "  incident list over gRPC after the restart: $inc2"
check "the earlier incident is still there over gRPC: 1 Resolved (got '$inc2')" test "$inc2" == "1 Resolved"
inc3=$(k -n "$NS" exec "$POD" -- aiops incident list --data-dir "$DATA_LOG" --json 2>"$WORK/exec.err" |
       python3 -c "$INCIDENTS_PY" 2>>"$WORK/exec.err" || true)
echo "  kubectl exec $POD -- aiops incident list --data-dir $DATA_LOG: $inc3"
check "the earlier incident is in the pod's log (kubectl exec, --data-dir): 1 Resolved (got '$inc3'; $(tail -n 1 "$WORK/exec.err"))" \
  test "$inc3" == "1 Resolved"
check "the Issue CR still Resolved, no new Issue ('$(issue_states)')" test "$(issue_states)" == "Resolved "
restarts=$(k -n "$NS" get pod "$POD" -o jsonpath='{.status.containerStatuses[0].restartCount}')
check "the new operator container did not restart ($restarts)" test "$restarts" == 0
(( failed == 0 )) || evidence

# --- 7. teardown and leftovers (as node_scenarios_test.sh) ------------------------------------------------------

t=$(now_ms)
if "$NODE" stop --dir "$NODE_DIR" 2>"$WORK/stop.log"; then pass; else fail "node.sh stop failed: $(tail -n 5 "$WORK/stop.log")"; fi
timing "node stop" $(( $(now_ms) - t ))
grep -E "pods deleted|stopped at|stopped in" "$WORK/stop.log" | sed 's/^/  /' || true
if "$NODE" check-clean --dir "$NODE_DIR" 2>"$WORK/check.log"; then pass; else fail "node.sh check-clean: $(cat "$WORK/check.log")"; fi
OPIMG_CACHE="${AIOPS_K8S_CACHE:-${HOME:-/root}/.cache/chatcli-aiops}/operator-image"
NODE_TEST_MOUNT_ROOTS="$WORK $OPIMG_CACHE" node_test_machine_after "*$BIN/kubelet*" \
  "*$BIN/kube-scheduler*" "*containerd*$WORK*" "*containerd-shim*" \
  "*aiops run --config /etc/chatcli-aiops*"
# No buildah working container left in the image script's store. Checked under the store's lock
# (a `--full` build running by hand meanwhile holds it and has containers of its own: then skipped).
bctr=$(flock -n "$OPIMG_CACHE/.lock" buildah --root "$OPIMG_CACHE/store/root" \
         --runroot "$OPIMG_CACHE/store/runroot" --storage-driver vfs containers -q 2>/dev/null) || bctr="(store busy)"
if [[ -z "$bctr" ]]; then pass
elif [[ "$bctr" == "(store busy)" ]]; then echo "  (buildah store busy with another build: its containers not checked)"; pass
else fail "buildah containers left in $OPIMG_CACHE/store: $bctr"; fi
if ss -Htln "( sport = :$GRPC_PORT or sport = :$HTTP_PORT )" 2>/dev/null | grep -q .; then
  fail "the operator's host ports $GRPC_PORT/$HTTP_PORT still listening"
else pass; fi

timing "whole test" $(( $(now_ms) - T_START ))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
