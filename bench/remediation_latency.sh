#!/usr/bin/env bash
# Load driver (issue #6): detection latency and time to the first remediation, end to end on the
# local control plane with the real `aiops run` (built-in analyzer, synced RocksDB log).
#
#   bench/remediation_latency.sh [ROUNDS]      (default 20)
#
# For each round a fresh Deployment (2 replicas) gets one pod OOM-killed by the kubelet stand-in.
# Measured per round, from the operator's log after it stopped:
#   detection:   the OOMKilled status patch sent to the API server (curl, timed just before the
#                request; an upper bound by the request's own few ms) -> the alert_observed
#                event's logical time (stamped by the detector on arrival)
#   first action: that alert -> the first action_succeeded of its incident
#   resolved:     that alert -> issue_resolved (includes the rollout done by the stand-in loop)
# Prints p50 / p90 / p99 / max of each. Needs a built `aiops` (AIOPS_BUILD_DIR, default build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
ROUNDS=${1:-20}
AIOPS="$ROOT/${AIOPS_BUILD_DIR:-build}/src/server/aiops"
[[ -x "$AIOPS" ]] || { echo "build aiops first (ninja -C build aiops)" >&2; exit 1; }
tools/build_control_plane.sh >/dev/null

WORK=$(mktemp -d /tmp/aiops-latency.XXXXXX)
OPERATOR_PID=""
KUBELET_PID=""
cleanup() {
  [[ -n "$KUBELET_PID" ]] && kill "$KUBELET_PID" 2>/dev/null || true
  [[ -n "$OPERATOR_PID" ]] && kill "$OPERATOR_PID" 2>/dev/null || true
  tools/control_plane.sh stop --dir "$WORK/cp" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

tools/control_plane.sh start --dir "$WORK/cp" --owner-pid $$ >/dev/null
set -a
# shellcheck disable=SC1091
source "$WORK/cp/control-plane.env"
set +a
export KUBECONFIG="$AIOPS_K8S_KUBECONFIG"
k() { "$AIOPS_K8S_KUBECTL" "$@"; }
k apply --server-side -f deploy/crd/bases >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
k create namespace lat >/dev/null
bash tools/kubelet_standin.sh node >/dev/null

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(port)
cat >"$WORK/config.json" <<EOF
{"clusterId": "bench", "dataDir": "$WORK/data", "httpListen": "127.0.0.1:$HTTP",
 "grpcListen": "", "leaderElection": {"enabled": false},
 "watcher": {"targets": [{"namespace": "lat"}]}, "reconcileInstances": false}
EOF
"$AIOPS" run --config "$WORK/config.json" --kubeconfig "$KUBECONFIG" >"$WORK/operator.log" 2>&1 &
OPERATOR_PID=$!
until curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null; do sleep 0.2; done
bash tools/kubelet_standin.sh loop lat "" 1 >/dev/null 2>&1 &
KUBELET_PID=$!

: >"$WORK/patches.tsv"
for i in $(seq 1 "$ROUNDS"); do
  name="app-$i"
  k -n lat create deployment "$name" --image=registry.local/app:1 --replicas=2 >/dev/null
  k -n lat rollout status "deployment/$name" --timeout=60s >/dev/null
  pod=$(k -n lat get pods -l "app=$name" -o jsonpath='{.items[0].metadata.name}')
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  body="{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"lastTransitionTime\":\"$now\"}],\"containerStatuses\":[{\"name\":\"app\",\"ready\":false,\"restartCount\":1,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"running\":{\"startedAt\":\"$now\"}},\"lastState\":{\"terminated\":{\"reason\":\"OOMKilled\",\"exitCode\":137,\"startedAt\":\"$now\",\"finishedAt\":\"$now\"}}}]}}"
  sent=$(date +%s%3N)
  curl -sf --cacert "$AIOPS_K8S_CA_FILE" -H "Authorization: Bearer $AIOPS_K8S_TOKEN" \
    -H 'Content-Type: application/merge-patch+json' -X PATCH --data "$body" \
    "$AIOPS_K8S_SERVER/api/v1/namespaces/lat/pods/$pod/status" >/dev/null
  printf '%s\t%s\n' "$name" "$sent" >>"$WORK/patches.tsv"
  # Wait for this round's issue to end before the next, so rounds do not overlap.
  for _ in $(seq 1 120); do
    state=$(k -n lat get issues -l "platform.chatcli.io/signal=oom_kill" \
      -o jsonpath="{range .items[?(@.spec.resource.name==\"$name\")]}{.status.state}{end}" 2>/dev/null || true)
    [[ "$state" == Resolved || "$state" == Escalated ]] && break
    sleep 0.5
  done
  printf '.'
done
echo
kill "$KUBELET_PID"; KUBELET_PID=""
kill -TERM "$OPERATOR_PID"; wait "$OPERATOR_PID" || true; OPERATOR_PID=""
"$AIOPS" log show --dir "$WORK/data/log" --json --limit 1000000 >"$WORK/log.jsonl"

python3 - "$WORK/patches.tsv" "$WORK/log.jsonl" "$ROUNDS" <<'EOF'
import json, sys
patches = dict(line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line)
events = [json.loads(l) for l in open(sys.argv[2]) if l.strip().startswith("{")]
first_alert, incident_of, first_action, resolved = {}, {}, {}, {}
for e in events:
    t = int(e.get("logical_time_ms", 0))
    if "alert_observed" in e:
        a = e["alert_observed"]
        if a.get("type") == "OOMKilled":
            first_alert.setdefault(a.get("deployment"), (t, int(e["sequence"])))
    if "issue_opened" in e:
        o = e["issue_opened"]
        incident_of[e.get("incident_id")] = o["resource"]["name"]
    if "action_succeeded" in e:
        first_action.setdefault(e.get("incident_id"), t)
    if "issue_resolved" in e:
        resolved.setdefault(e.get("incident_id"), t)
def stats(name, xs):
    xs = sorted(xs)
    if not xs:
        print(f"{name:<14} no samples"); return
    q = lambda p: xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]
    print(f"{name:<14} n={len(xs):<3} p50={q(.5):>6} ms  p90={q(.9):>6} ms  p99={q(.99):>6} ms  max={xs[-1]:>6} ms")
det = [first_alert[d][0] - int(ts) for d, ts in patches.items() if d in first_alert]
act, res = [], []
for inc, dep in incident_of.items():
    if dep in first_alert and inc in first_action:
        act.append(first_action[inc] - first_alert[dep][0])
    if dep in first_alert and inc in resolved:
        res.append(resolved[inc] - first_alert[dep][0])
print(f"rounds: {sys.argv[3]}, alerts seen: {len(det)}, incidents: {len(incident_of)}")
stats("detection", det)
stats("first action", act)
stats("resolved", res)
EOF
