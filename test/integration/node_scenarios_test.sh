#!/usr/bin/env bash
# Integration scenarios of the operator (`aiops run`) on REAL containers (issue #19 item 6): one
# control plane (tools/control_plane.sh) and one real node (tools/node.sh: kubelet, kube-scheduler,
# containerd, the locally built aiops-workload images) for the whole script; one namespace, one
# `aiops run` process and one data folder per scenario. The scenarios run side by side (one
# start cost, the slowest scenario sets the wall time):
#   1 oom       a Deployment `alloc 96` under a 64Mi limit: real OOMKilled (exit 137) ->
#               AdjustResources raises the limit + restart -> Resolved; the limit raised, the new
#               pod Running and Ready with no restart.
#   2 crash     a healthy Deployment (:1 sleep), then a rollout to :2 `exit 1` -> crash loop
#               from the restart counts -> RollbackDeployment -> Resolved; pods on the :1 template.
#   3 notready  a rollout to a revision whose readiness probe never passes -> PodNotReady /
#               DeploymentFailing -> RollbackDeployment -> Resolved.
#   4 image     a rollout to localhost/does-not-exist:v1 -> ImagePullBackOff -> RollbackDeployment
#               -> Resolved.
#   5 escalate  a single-revision Deployment `exit 1` (the crash is in every revision): the
#               operator restarts it, verification fails, it re-analyses, and the issue ends
#               Escalated; no plan repeated; afterwards new anomalies join the escalated issue
#               (AnomalyCorrelated reason escalation_hold) and the Issue count stays 1.
# Each scenario checks the cluster's final state and the event log after its operator stopped
# (`aiops log show --json`, `aiops incident list --data-dir --json`, `aiops replay --verify`), and
# prints its timings from the log's event times (break -> first alert, -> first anomaly, -> first
# action, -> Resolved/Escalated). Then `node.sh stop`, and the machine is checked for leftovers
# as in node_smoke_test.sh.
#
#   node_scenarios_test.sh --aiops PATH [--only "1 3 ..."]
# Needs root; fails (never skips) when the binaries are missing. Prints 'N passed, N failed'.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP="$ROOT/tools/control_plane.sh"
NODE="$ROOT/tools/node.sh"
AIOPS=""
ONLY="1 2 3 4 5"
WAIT_S=${AIOPS_NODE_SCENARIOS_WAIT_S:-300}   # break -> terminal state, per scenario
HOLD_S=${AIOPS_NODE_SCENARIOS_HOLD_S:-25}    # scenario 5: watched after the escalation

die() { printf 'node_scenarios_test: error: %s\n' "$*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --aiops) [[ $# -ge 2 ]] || die "--aiops needs a path"; AIOPS=$2; shift 2 ;;
    --only) [[ $# -ge 2 ]] || die "--only needs a list of scenario numbers"; ONLY=$2; shift 2 ;;
    *) die "unknown argument '$1' (usage: node_scenarios_test.sh --aiops PATH [--only \"1 2\"])" ;;
  esac
done
[[ -n "$AIOPS" && -x "$AIOPS" ]] || die "--aiops PATH (an executable aiops binary) is required"
AIOPS=$(cd "$(dirname "$AIOPS")" && pwd)/$(basename "$AIOPS")

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
T_START=$(now_ms)

[[ $(id -u) -eq 0 ]] || die "needs root (the node runs containerd, runc and a kubelet)"
BIN=${AIOPS_K8S_BIN_DIR:-$("$ROOT/tools/build_control_plane.sh" --print-bin-dir)}
for b in etcd kube-apiserver kube-controller-manager kubectl kubelet kube-scheduler; do
  [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run tools/build_control_plane.sh first (this test is never skipped)"
done
command -v python3 >/dev/null || die "python3 not found"
command -v curl >/dev/null || die "curl not found"

# shellcheck source=node_test_lib.sh
source "$ROOT/test/integration/node_test_lib.sh"
node_test_machine_before || die "the machine's picture before the test could not be taken"

WORK=$(mktemp -d /tmp/aiops-scen.XXXXXX)   # short: containerd's socket lives below it
NODE_DIR=$WORK/cp/node
declare -A OPID=() NSOF=() DATA=() HTTP=() GRPC=() TBREAK=() TEND=() FINAL=() TESC=() NOTE=()
cleanup() {
  local rc=$?
  for i in "${!OPID[@]}"; do
    [[ -n "${OPID[$i]}" ]] && kill "${OPID[$i]}" 2>/dev/null && wait "${OPID[$i]}" 2>/dev/null || true
  done
  node_test_stop
  if [[ $rc -ne 0 ]]; then
    echo "(operator logs and data kept in $WORK/s*; node logs in $NODE_DIR/logs)" >&2
  else
    rm -rf --one-file-system "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP  # the EXIT trap cleans up

timing() { printf 'TIMING %-52s %7s ms\n' "$1" "$2"; }

node_test_start "node start (waits for the host lock)"
IMG=localhost/aiops-workload

k apply --server-side -f "$ROOT/deploy/crd/bases" >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null

# --- per-scenario operator ------------------------------------------------------------------------

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_operator() {  # start_operator I NS
  local i=$1 ns=$2 d="$WORK/s$1"
  mkdir -p "$d"
  NSOF[$i]=$ns; DATA[$i]=$d/data; HTTP[$i]=$(free_port); GRPC[$i]=$(free_port)
  # Short windows so that a scenario takes seconds, not minutes: not-ready/unavailable after
  # 20 s, a 30 s verification window (a rollout here completes in 2-5 s; the verifier passes
  # once complete and 5 s without a new failure), a 1 s cooldown, 2 attempts.
  cat >"$d/config.json" <<EOF
{
  "clusterId": "scen-$i",
  "dataDir": "${DATA[$i]}",
  "httpListen": "127.0.0.1:${HTTP[$i]}",
  "grpcListen": "127.0.0.1:${GRPC[$i]}",
  "leaderElection": {"enabled": true, "namespace": "$ns"},
  "watcher": {"restartsMin": 3, "crashLoopRestartsMin": 2, "restartWindowSeconds": 600,
              "notReadySeconds": 20, "unavailableSeconds": 20, "targets": [{"namespace": "$ns"}]},
  "analyzer": {"provider": "builtin"},
  "pipeline": {"verificationWindowMs": "30000", "maxRemediationAttempts": 2,
               "safety": {"resourceCooldownMs": "1000"}}
}
EOF
  "$AIOPS" run --config "$d/config.json" --kubeconfig "$AIOPS_K8S_KUBECONFIG" >"$d/operator.log" 2>&1 &
  OPID[$i]=$!
}

wait_operator_ready() {  # wait_operator_ready I
  local i=$1
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:${HTTP[$i]}/readyz" >/dev/null 2>&1 && return 0
    kill -0 "${OPID[$i]}" 2>/dev/null || { tail -n 20 "$WORK/s$i/operator.log" >&2; die "operator $i exited"; }
    sleep 0.2
  done
  tail -n 20 "$WORK/s$i/operator.log" >&2
  die "operator $i never became ready"
}

stop_operator() {  # stop_operator I: SIGTERM; true when it exited 0
  local i=$1 pid=${OPID[$1]} rc=0
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  OPID[$i]=""
  return $rc
}

# --- workloads ------------------------------------------------------------------------------------

deployment() {  # deployment NS NAME IMAGE ARGS_JSON [EXTRA_CONTAINER_YAML]
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: $2, namespace: $1}
spec:
  replicas: 1
  revisionHistoryLimit: 10
  selector: {matchLabels: {app: $2}}
  template:
    metadata: {labels: {app: $2}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: $3
        imagePullPolicy: IfNotPresent
        args: $4
${5:-}
EOF
}
new_namespace() {
  k create namespace "$1" >/dev/null
  for _ in $(seq 1 100); do k -n "$1" get serviceaccount default >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "namespace $1 has no default ServiceAccount"
}
rollout_done() {  # rollout_done NS NAME: the rollout complete (no old replica left)
  k -n "$1" rollout status "deployment/$2" --timeout=1s >/dev/null 2>&1 &&
    [[ "$(k -n "$1" get deployment "$2" -o jsonpath='{.status.replicas}/{.status.updatedReplicas}/{.status.readyReplicas}')" == 1/1/1 ]]
}
wait_rollout() {  # wait_rollout NS NAME SECONDS
  local end=$(( $(date +%s) + $3 ))
  while (( $(date +%s) < end )); do rollout_done "$1" "$2" && return 0; sleep 0.5; done
  return 1
}
issue_states() { k -n "$1" get issues -o jsonpath='{range .items[*]}{.status.state}{" "}{end}' 2>/dev/null || true; }

# Pod facts for one Deployment's pods: "name phase ready restarts image args last-reason/exit".
PODS_PY=$(cat <<'PY'
import json, sys
for p in json.load(sys.stdin)["items"]:
    if p["metadata"].get("deletionTimestamp"):
        continue
    st = p.get("status", {})
    ready = [c.get("status") for c in st.get("conditions", []) if c["type"] == "Ready"]
    cs = (st.get("containerStatuses") or [{}])[0]
    c = p["spec"]["containers"][0]
    last = cs.get("lastState", {}).get("terminated", {})
    print(p["metadata"]["name"], st.get("phase", ""), (ready or [""])[0], cs.get("restartCount", 0),
          c["image"], ",".join(c.get("args", [])), "%s/%s" % (last.get("reason", ""), last.get("exitCode", "")))
PY
)
pods() { k -n "$1" get pods -l "app=$2" -o json | python3 -c "$PODS_PY"; }

# --- the log's facts --------------------------------------------------------------------------------

# Reads `aiops log show --json` (one event per line) and prints KEY=VALUE facts; argv: break time
# (unix ms).
FACTS_PY=$(cat <<'PY'
import json, sys
brk = int(sys.argv[1])
ev = []
for line in open(sys.argv[2]):
    line = line.strip()
    if line:
        ev.append(json.loads(line))
KINDS = ["alert_observed", "anomaly_recorded", "issue_opened", "anomaly_correlated",
         "analysis_completed", "plan_created", "action_started", "action_succeeded",
         "action_failed", "verification_passed", "verification_failed", "issue_resolved",
         "issue_escalated", "plan_rolled_back", "duplicate_suppressed"]
def kind(e):
    for k in KINDS:
        if k in e:
            return k
    return ""
def t(e):
    return int(e.get("logical_time_ms", 0))
first = {}
count = {}
for e in ev:
    k = kind(e)
    if not k:
        continue
    count[k] = count.get(k, 0) + 1
    first.setdefault(k, e)
out = {}
for k in KINDS:
    out["count." + k] = count.get(k, 0)
    if k in first:
        out["after." + k] = t(first[k]) - brk
issues = [e["issue_opened"]["issue_name"] if "issue_name" in e["issue_opened"] else "?" for e in ev if "issue_opened" in e]
out["issues"] = " ".join(issues)
out["alert_types"] = " ".join(sorted({e["alert_observed"].get("type", "") for e in ev if "alert_observed" in e}))
plans = [e["plan_created"] for e in ev if "plan_created" in e]
out["plans"] = " ".join(p.get("plan_name", "?") for p in plans)
acts = [",".join(a.get("type", "?") for a in p.get("actions", [])) for p in plans]
out["plan_actions"] = " ".join(acts)
sigs = [json.dumps(p.get("actions", []), sort_keys=True) for p in plans]
out["plans_distinct"] = "yes" if len(set(sigs)) == len(sigs) else "no"
esc = [e for e in ev if "issue_escalated" in e]
if esc:
    out["escalation_reason"] = esc[0]["issue_escalated"].get("reason", "")
    out["escalation_detail"] = esc[0]["issue_escalated"].get("detail", "").replace("\n", " ")[:300]
    te = t(esc[0])
    held = [e for e in ev if "anomaly_correlated" in e and t(e) >= te]
    out["after_escalation.correlated"] = len(held)
    out["after_escalation.held"] = sum(1 for e in held if e["anomaly_correlated"].get("reason") == "escalation_hold")
    out["after_escalation.issue_opened"] = sum(1 for e in ev if "issue_opened" in e and t(e) > te)
    out["after_escalation.plan_created"] = sum(1 for e in ev if "plan_created" in e and t(e) > te)
    out["after_escalation.last_event_ms"] = max(t(e) for e in ev) - te
vf = [e["verification_failed"].get("reason", "").replace("\n", " ")[:200] for e in ev if "verification_failed" in e]
out["verification_failed_reasons"] = " | ".join(vf)
res = [e for e in ev if "issue_resolved" in e]
if res:
    out["resolved_plan"] = res[0]["issue_resolved"].get("plan_name", "")
for k, v in out.items():
    print("%s=%s" % (k, v))
PY
)
lf() { sed -n "s/^$1=//p" "$2" | head -n 1; }

INCIDENTS_PY=$(cat <<'PY'
import json, sys
text = sys.stdin.read().strip()
items = []
try:
    doc = json.loads(text)
    items = doc if isinstance(doc, list) else doc.get("incidents", doc.get("issues", [doc]))
except ValueError:
    items = [json.loads(l) for l in text.splitlines() if l.strip()]
def g(d, *names):
    for n in names:
        if n in d:
            return d[n]
    return ""
print(len(items), " ".join(str(g(i, "state")) for i in items))
PY
)

# --- scenarios: set up ------------------------------------------------------------------------------

selected() { [[ " $ONLY " == *" $1 "* ]]; }
declare -A APP=([1]=oomapp [2]=crashapp [3]=probeapp [4]=imageapp [5]=loopapp)
declare -A NSN=([1]=scen-oom [2]=scen-crash [3]=scen-notready [4]=scen-image [5]=scen-escalate)

t=$(now_ms)
for i in $ONLY; do
  new_namespace "${NSN[$i]}"
  start_operator "$i" "${NSN[$i]}"
done
for i in $ONLY; do wait_operator_ready "$i"; done
timing "operators ready ($(echo $ONLY | wc -w))" $(( $(now_ms) - t ))

# The healthy first revision of the rollout scenarios.
t=$(now_ms)
for i in 2 3 4; do
  selected $i || continue
  deployment "${NSN[$i]}" "${APP[$i]}" "$IMG:1" '["sleep"]' | k apply -f - >/dev/null
done
for i in 2 3 4; do
  selected $i || continue
  wait_rollout "${NSN[$i]}" "${APP[$i]}" 60 || die "scenario $i: the healthy revision never rolled out"
done
timing "healthy first revisions rolled out" $(( $(now_ms) - t ))

# --- the breaks ---------------------------------------------------------------------------------------

if selected 1; then
  deployment "${NSN[1]}" "${APP[1]}" "$IMG:1" '["alloc", "96"]' \
'        resources:
          requests: {memory: 32Mi}
          limits: {memory: 64Mi}' | k apply -f - >/dev/null
  TBREAK[1]=$(now_ms)
fi
if selected 2; then
  k -n "${NSN[2]}" patch deployment "${APP[2]}" --type=json -p \
    '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"'"$IMG"':2"},
      {"op":"replace","path":"/spec/template/spec/containers/0/args","value":["exit","1"]}]' >/dev/null
  TBREAK[2]=$(now_ms)
fi
if selected 3; then
  k -n "${NSN[3]}" patch deployment "${APP[3]}" --type=json -p \
    '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"'"$IMG"':2"},
      {"op":"replace","path":"/spec/template/spec/containers/0/args","value":["ready-file","/tmp/ready"]},
      {"op":"add","path":"/spec/template/spec/containers/0/readinessProbe",
       "value":{"exec":{"command":["cat","/tmp/ready"]},"periodSeconds":1,"failureThreshold":1}}]' >/dev/null
  TBREAK[3]=$(now_ms)
fi
if selected 4; then
  k -n "${NSN[4]}" patch deployment "${APP[4]}" --type=json -p \
    '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"localhost/does-not-exist:v1"}]' >/dev/null
  TBREAK[4]=$(now_ms)
fi
if selected 5; then
  deployment "${NSN[5]}" "${APP[5]}" "$IMG:1" '["exit", "1"]' | k apply -f - >/dev/null
  TBREAK[5]=$(now_ms)
fi
say "broken: scenarios $ONLY"

# --- follow the issues ----------------------------------------------------------------------------------

declare -A LAST=() MAXISSUES=()
deadline=$(( $(date +%s) + WAIT_S ))
while (( $(date +%s) < deadline )); do
  pending=0
  for i in $ONLY; do
    [[ -n "${TEND[$i]:-}" ]] && continue
    pending=1
    st=$(issue_states "${NSN[$i]}")
    n=$(wc -w <<<"$st")
    (( n > ${MAXISSUES[$i]:-0} )) && MAXISSUES[$i]=$n
    line="issues: ${st:-none}"
    if [[ "$line" != "${LAST[$i]:-}" ]]; then say "($i ${NSN[$i]}) $line"; LAST[$i]=$line; fi
    if [[ $i == 5 ]]; then
      # Escalated; then watched for HOLD_S more: the Issue count must stay 1.
      if [[ -z "${TESC[5]:-}" && " $st " == *" Escalated "* ]]; then TESC[5]=$(now_ms); fi
      if [[ -n "${TESC[5]:-}" ]] && (( $(now_ms) - TESC[5] >= HOLD_S * 1000 )); then
        TEND[5]=$(now_ms); FINAL[5]=$st
      fi
    elif [[ " $st " == *" Resolved "* || " $st " == *" Escalated "* ]]; then
      TEND[$i]=$(now_ms); FINAL[$i]=$st
    fi
  done
  (( pending )) || break
  sleep 1
done
for i in $ONLY; do
  [[ -n "${TEND[$i]:-}" ]] || { FINAL[$i]=$(issue_states "${NSN[$i]}"); NOTE[$i]="timed out after ${WAIT_S}s"; }
done

# --- the cluster's final state ----------------------------------------------------------------------------

# Pods of a remediated Deployment: rollout complete, one pod Running and Ready, and no restart
# while watched for 8 s (an OOM would restart it within a second or two).
healthy_for() {  # healthy_for I EXPECT_IMAGE EXPECT_ARGS
  local i=$1 ns=${NSN[$1]} app=${APP[$1]} p
  wait_rollout "$ns" "$app" 60 || { echo "  rollout not complete: $(pods "$ns" "$app" | tr '\n' ';')"; return 1; }
  sleep 8
  p=$(pods "$ns" "$app")
  echo "  pods: $p"
  [[ $(wc -l <<<"$p") -eq 1 ]] || return 1
  read -r _ phase ready restarts image args _ <<<"$p"
  [[ $phase == Running && $ready == True && $restarts == 0 && $image == "$2" && $args == "$3" ]]
}
for i in $ONLY; do
  ns=${NSN[$i]}; app=${APP[$i]}
  say "($i $ns) final issues: ${FINAL[$i]:-none} ${NOTE[$i]:-}"
  case $i in
    1)
      check "(1) the Issue ends Resolved (${FINAL[1]})" test "${FINAL[1]}" == "Resolved "
      lim=$(k -n "$ns" get deployment "$app" -o jsonpath='{.spec.template.spec.containers[0].resources.limits.memory}')
      echo "  memory limit now: $lim"
      check "(1) the memory limit was raised above 96Mi (now '$lim')" python3 - "$lim" <<'PY'
import re, sys
m = re.fullmatch(r"(\d+)(Mi|Gi|M|G)?", sys.argv[1])
mult = {"Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20, None: 1 / 2**20}
sys.exit(0 if m and int(m.group(1)) * mult[m.group(2)] > 96 else 1)
PY
      check "(1) the new pod Running, Ready, no restarts" healthy_for 1 "$IMG:1" "alloc,96" ;;
    2)
      check "(2) the Issue ends Resolved (${FINAL[2]})" test "${FINAL[2]}" == "Resolved "
      check "(2) pods run the :1 template (sleep), Ready, no restarts" healthy_for 2 "$IMG:1" "sleep" ;;
    3)
      check "(3) the Issue ends Resolved (${FINAL[3]})" test "${FINAL[3]}" == "Resolved "
      check "(3) pods run the :1 template without the probe, Ready" healthy_for 3 "$IMG:1" "sleep"
      probe=$(k -n "$ns" get deployment "$app" -o jsonpath='{.spec.template.spec.containers[0].readinessProbe}')
      check "(3) the failing readiness probe is gone from the template ('$probe')" test -z "$probe" ;;
    4)
      check "(4) the Issue ends Resolved (${FINAL[4]})" test "${FINAL[4]}" == "Resolved "
      check "(4) pods run the :1 template, Ready" healthy_for 4 "$IMG:1" "sleep" ;;
    5)
      check "(5) the one Issue ends Escalated (${FINAL[5]:-none})" test "${FINAL[5]:-}" == "Escalated "
      check "(5) at most one Issue ever seen (max ${MAXISSUES[5]:-0})" test "${MAXISSUES[5]:-0}" -le 1
      echo "  pods: $(pods "$ns" "$app" | tr '\n' ';')" ;;
  esac
done

# --- the logs ------------------------------------------------------------------------------------------------

for i in $ONLY; do
  d="$WORK/s$i"; log="${DATA[$i]}/log"; failed_before=$failed
  check "($i) the operator exits 0 on SIGTERM" stop_operator "$i"
  "$AIOPS" log show --dir "$log" --json >"$d/events.jsonl" 2>"$d/show.err" ||
    fail "($i) aiops log show: $(cat "$d/show.err")"
  python3 -c "$FACTS_PY" "${TBREAK[$i]}" "$d/events.jsonl" >"$d/facts" || fail "($i) reading the log's events"
  F=$d/facts
  if "$AIOPS" replay --verify --dir "$log" >"$d/replay.out" 2>&1; then pass
  else fail "($i) aiops replay --verify: $(tail -n 5 "$d/replay.out")"; fi
  inc=$("$AIOPS" incident list --data-dir "$log" --json 2>"$d/inc.err" | python3 -c "$INCIDENTS_PY" 2>>"$d/inc.err" || true)
  echo "  ($i) incident list: $inc"
  echo "  ($i) alerts: $(lf alert_types "$F"); plans: $(lf plans "$F") [$(lf plan_actions "$F")]"
  case $i in
    1|2|3|4)
      check "($i) incident list: 1 incident, Resolved (got '$inc')" test "$inc" == "1 Resolved"
      check "($i) the log has an IssueResolved" test "$(lf count.issue_resolved "$F")" -ge 1
      check "($i) the log has a VerificationPassed" test "$(lf count.verification_passed "$F")" -ge 1 ;;
  esac
  case $i in
    1) check "(1) an OOMKilled alert, and the plan raises the limit (AdjustResources)" \
         bash -c '[[ " $1 " == *" OOMKilled "* && "$2" == *AdjustResources* ]]' _ "$(lf alert_types "$F")" "$(lf plan_actions "$F")" ;;
    2) check "(2) a CrashLoopBackOff alert, and the plan rolls back" \
         bash -c '[[ " $1 " == *" CrashLoopBackOff "* && "$2" == *RollbackDeployment* ]]' _ "$(lf alert_types "$F")" "$(lf plan_actions "$F")" ;;
    3) check "(3) a PodNotReady or DeploymentFailing alert, and the plan rolls back" \
         bash -c '[[ ( " $1 " == *" PodNotReady "* || " $1 " == *" DeploymentFailing "* ) && "$2" == *RollbackDeployment* ]]' _ "$(lf alert_types "$F")" "$(lf plan_actions "$F")" ;;
    4) check "(4) an ImagePullBackOff alert, and the plan rolls back" \
         bash -c '[[ " $1 " == *" ImagePullBackOff "* && "$2" == *RollbackDeployment* ]]' _ "$(lf alert_types "$F")" "$(lf plan_actions "$F")" ;;
    5)
      echo "  (5) verification failed: $(lf verification_failed_reasons "$F")"
      echo "  (5) escalated: $(lf escalation_reason "$F"): $(lf escalation_detail "$F")"
      check "(5) incident list: 1 incident, Escalated (got '$inc')" test "$inc" == "1 Escalated"
      check "(5) one IssueOpened in the whole log" test "$(lf count.issue_opened "$F")" -eq 1
      check "(5) at least one VerificationFailed" test "$(lf count.verification_failed "$F")" -ge 1
      check "(5) no plan repeated (plans: $(lf plan_actions "$F"))" test "$(lf plans_distinct "$F")" == yes
      check "(5) escalated with a reason ('$(lf escalation_reason "$F")')" test -n "$(lf escalation_reason "$F")"
      check "(5) no plan and no issue after the escalation" \
        test "$(lf after_escalation.plan_created "$F")/$(lf after_escalation.issue_opened "$F")" == 0/0
      check "(5) anomalies after the escalation join it (escalation_hold: $(lf after_escalation.held "$F") of $(lf after_escalation.correlated "$F"))" \
        bash -c '(( $1 >= 1 && $1 == $2 ))' _ "$(lf after_escalation.held "$F")" "$(lf after_escalation.correlated "$F")"
      check "(5) the log was watched >= $((HOLD_S - 5)) s after the escalation ($(lf after_escalation.last_event_ms "$F") ms)" \
        test "$(lf after_escalation.last_event_ms "$F")" -ge $(( (HOLD_S - 5) * 1000 )) ;;
  esac
  end=issue_resolved; [[ $i == 5 ]] && end=issue_escalated
  timing "($i ${NSN[$i]}) break -> first alert" "$(lf after.alert_observed "$F")"
  timing "($i ${NSN[$i]}) break -> first anomaly" "$(lf after.anomaly_recorded "$F")"
  timing "($i ${NSN[$i]}) break -> first action started" "$(lf after.action_started "$F")"
  timing "($i ${NSN[$i]}) break -> ${end#issue_}" "$(lf after.$end "$F")"
  if (( failed > failed_before )); then  # the evidence, for the report
    echo "---- ($i) evidence: aiops incident show, operator warnings, pods (data kept in $d)"
    for issue in $(lf issues "$F"); do
      "$AIOPS" incident show "$issue" --data-dir "$log" 2>&1 | tail -n 60 | sed 's/^/    /'
    done
    grep -E '"level":"(warn|error)"' "$d/operator.log" | grep -v authTokenFile | tail -n 20 | sed 's/^/    /'
    k -n "${NSN[$i]}" get deployment,replicasets,pods -o wide 2>&1 | sed 's/^/    /'
    echo "----"
  fi
done

# --- teardown and leftovers (as node_smoke_test.sh) -----------------------------------------------------------

t=$(now_ms)
if "$NODE" stop --dir "$NODE_DIR" 2>"$WORK/stop.log"; then pass; else fail "node.sh stop failed: $(tail -n 5 "$WORK/stop.log")"; fi
timing "node stop" $(( $(now_ms) - t ))
if "$NODE" check-clean --dir "$NODE_DIR" 2>"$WORK/check.log"; then pass; else fail "node.sh check-clean: $(cat "$WORK/check.log")"; fi
NODE_TEST_MOUNT_ROOTS="$WORK" node_test_machine_after "*$BIN/kubelet*" "*$BIN/kube-scheduler*" \
  "*containerd*$WORK*" "*containerd-shim*" "*$AIOPS run --config $WORK*"

timing "whole test" $(( $(now_ms) - T_START ))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
