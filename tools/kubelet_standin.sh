#!/usr/bin/env bash
# A kubelet stand-in for the local control plane (no kubelet runs there): it creates a Node,
# binds pending pods to it and writes pod status, so that Deployments become available and
# failures can be played. Uses the kubectl of tools/build_control_plane.sh.
#
#   tools/kubelet_standin.sh --kubeconfig FILE node [NAME]
#       create (or refresh) a Ready node (default name aiops-node)
#   tools/kubelet_standin.sh --kubeconfig FILE run NAMESPACE [SELECTOR]
#       bind the namespace's pods (matching the label SELECTOR) to the node and report them
#       Running and Ready, every container started
#   tools/kubelet_standin.sh --kubeconfig FILE start NAMESPACE [SELECTOR]
#       like run, but only for pods not yet Running (new pods of a rollout); failed pods stay
#   tools/kubelet_standin.sh --kubeconfig FILE loop NAMESPACE [SELECTOR] [SECONDS]
#       `start` every SECONDS (default 1) until killed: the kubelet of a rollout
#   tools/kubelet_standin.sh --kubeconfig FILE fail NAMESPACE POD MODE [RESTARTS]
#       report a failure of every container of POD; MODE is one of
#         oom        last termination OOMKilled, not ready, RESTARTS more restarts (default 3)
#         crashloop  waiting CrashLoopBackOff, not ready, RESTARTS more restarts
#         imagepull  waiting ImagePullBackOff, not ready
#         notready   running but not ready (since 10 minutes ago: past the detector's
#                    default threshold at once)
#         notready-now  running but not ready since now (no backdating: the detector's
#                    not-ready threshold runs from now, and only its periodic re-check fires)
#   tools/kubelet_standin.sh --kubeconfig FILE heal NAMESPACE POD
#       report POD Running and Ready again (restart count kept)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KUBECONFIG_FILE=""
if [[ "${1:-}" == "--kubeconfig" ]]; then KUBECONFIG_FILE=$2; shift 2; fi
[[ -n "$KUBECONFIG_FILE" ]] || KUBECONFIG_FILE=${KUBECONFIG:-}
[[ -n "$KUBECONFIG_FILE" ]] || { echo "kubelet-standin: --kubeconfig FILE is required" >&2; exit 2; }
KUBECTL="${AIOPS_K8S_KUBECTL:-$("$SCRIPT_DIR/build_control_plane.sh" --print-bin-dir)/kubectl}"
NODE=${AIOPS_STANDIN_NODE:-aiops-node}

k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
ago() { date -u -d "-$1 seconds" +%Y-%m-%dT%H:%M:%SZ; }

cmd_node() {
  local name=${1:-$NODE}
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","labels":{"kubernetes.io/hostname":"%s"}},"spec":{}}' \
    "$name" "$name" | k apply -f - >/dev/null
  k patch node "$name" --subresource=status --type=merge -p "{\"status\":{
    \"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"KubeletReady\",
      \"message\":\"kubelet stand-in\",\"lastHeartbeatTime\":\"$(now)\",\"lastTransitionTime\":\"$(now)\"}],
    \"capacity\":{\"cpu\":\"64\",\"memory\":\"256Gi\",\"pods\":\"500\"},
    \"allocatable\":{\"cpu\":\"64\",\"memory\":\"256Gi\",\"pods\":\"500\"}}}" >/dev/null
  echo "node $name ready"
}

# The containerStatuses array of pod $2 in namespace $1: template $3 once per container, with
# the word NAME replaced by the container's name.
container_statuses() {
  local ns=$1 pod=$2 template=$3 out="" c
  for c in $(k -n "$ns" get pod "$pod" -o jsonpath='{.spec.containers[*].name}'); do
    out+="${out:+,}${template//NAME/$c}"
  done
  echo "[$out]"
}

# report NAMESPACE POD READY CONTAINER_TEMPLATE [READY_SINCE]
report() {
  local ns=$1 pod=$2 ready=$3 template=$4 since=${5:-$(now)}
  local statuses
  statuses=$(container_statuses "$ns" "$pod" "$template")
  k -n "$ns" patch pod "$pod" --subresource=status --type=merge -p "{\"status\":{
    \"phase\":\"Running\",\"hostIP\":\"10.0.0.10\",\"podIP\":\"10.1.0.$((RANDOM % 250 + 2))\",
    \"startTime\":\"$(now)\",
    \"conditions\":[
      {\"type\":\"PodScheduled\",\"status\":\"True\",\"lastTransitionTime\":\"$(now)\"},
      {\"type\":\"Initialized\",\"status\":\"True\",\"lastTransitionTime\":\"$(now)\"},
      {\"type\":\"ContainersReady\",\"status\":\"$ready\",\"lastTransitionTime\":\"$since\"},
      {\"type\":\"Ready\",\"status\":\"$ready\",\"lastTransitionTime\":\"$since\"}],
    \"containerStatuses\":$statuses}}" >/dev/null
}

restarts_of() {
  k -n "$1" get pod "$2" -o jsonpath='{.status.containerStatuses[0].restartCount}' 2>/dev/null || true
}

cmd_run() {
  local ns=$1 selector=${2:-} only_new=${3:-} pod nodename phase
  local pods
  pods=$(k -n "$ns" get pods ${selector:+-l "$selector"} \
    -o jsonpath='{range .items[*]}{.metadata.name}{"|"}{.status.phase}{"|"}{.spec.nodeName}{"|"}{.metadata.deletionTimestamp}{"\n"}{end}')
  while IFS='|' read -r pod phase nodename deleting; do
    [[ -n "$pod" && -z "$deleting" ]] || continue  # terminating pods are left to be deleted
    if [[ -n "$only_new" && "$phase" == Running ]]; then continue; fi
    if [[ -z "$nodename" ]]; then
      printf '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"%s"},"target":{"apiVersion":"v1","kind":"Node","name":"%s"}}' \
        "$pod" "$NODE" | k create --raw "/api/v1/namespaces/$ns/pods/$pod/binding" -f - >/dev/null
    fi
    report "$ns" "$pod" True "{\"name\":\"NAME\",\"ready\":true,\"started\":true,\"restartCount\":0,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"running\":{\"startedAt\":\"$(now)\"}}}"
    echo "pod $ns/$pod running"
  done <<< "$pods"
}

cmd_fail() {
  local ns=$1 pod=$2 mode=$3 more=${4:-3}
  local previous restarts
  previous=$(restarts_of "$ns" "$pod")
  previous=${previous:-0}
  restarts=$((previous + more))
  case "$mode" in
    oom)
      report "$ns" "$pod" False "{\"name\":\"NAME\",\"ready\":false,\"restartCount\":$restarts,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"running\":{\"startedAt\":\"$(now)\"}},\"lastState\":{\"terminated\":{\"reason\":\"OOMKilled\",\"exitCode\":137,\"startedAt\":\"$(ago 60)\",\"finishedAt\":\"$(now)\"}}}" ;;
    crashloop)
      report "$ns" "$pod" False "{\"name\":\"NAME\",\"ready\":false,\"restartCount\":$restarts,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":\"back-off restarting failed container\"}},\"lastState\":{\"terminated\":{\"reason\":\"Error\",\"exitCode\":1,\"startedAt\":\"$(ago 30)\",\"finishedAt\":\"$(now)\"}}}" ;;
    imagepull)
      report "$ns" "$pod" False "{\"name\":\"NAME\",\"ready\":false,\"restartCount\":$previous,\"image\":\"standin\",\"imageID\":\"\",\"state\":{\"waiting\":{\"reason\":\"ImagePullBackOff\",\"message\":\"image not found\"}}}" ;;
    notready-now)
      report "$ns" "$pod" False "{\"name\":\"NAME\",\"ready\":false,\"restartCount\":$previous,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"running\":{\"startedAt\":\"$(ago 600)\"}}}" "$(now)" ;;
    notready)
      report "$ns" "$pod" False "{\"name\":\"NAME\",\"ready\":false,\"restartCount\":$previous,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"running\":{\"startedAt\":\"$(ago 600)\"}}}" "$(ago 600)" ;;
    *) echo "kubelet-standin: unknown failure mode '$mode'" >&2; exit 2 ;;
  esac
  echo "pod $ns/$pod: $mode"
}

cmd_heal() {
  local ns=$1 pod=$2 previous
  previous=$(restarts_of "$ns" "$pod")
  previous=${previous:-0}
  report "$ns" "$pod" True "{\"name\":\"NAME\",\"ready\":true,\"started\":true,\"restartCount\":$previous,\"image\":\"standin\",\"imageID\":\"standin\",\"state\":{\"running\":{\"startedAt\":\"$(now)\"}}}"
  echo "pod $ns/$pod healthy"
}

case "${1:-}" in
  node) shift; cmd_node "$@" ;;
  run) shift; [[ $# -ge 1 ]] || { echo "usage: run NAMESPACE [SELECTOR]" >&2; exit 2; }; cmd_run "$@" ;;
  start) shift; [[ $# -ge 1 ]] || { echo "usage: start NAMESPACE [SELECTOR]" >&2; exit 2; }
    cmd_run "$1" "${2:-}" new ;;
  loop) shift; [[ $# -ge 1 ]] || { echo "usage: loop NAMESPACE [SELECTOR] [SECONDS]" >&2; exit 2; }
    while true; do cmd_run "$1" "${2:-}" new || true; sleep "${3:-1}"; done ;;
  fail) shift; [[ $# -ge 3 ]] || { echo "usage: fail NAMESPACE POD MODE [RESTARTS]" >&2; exit 2; }; cmd_fail "$@" ;;
  heal) shift; [[ $# -eq 2 ]] || { echo "usage: heal NAMESPACE POD" >&2; exit 2; }; cmd_heal "$@" ;;
  *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
