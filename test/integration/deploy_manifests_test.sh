#!/usr/bin/env bash
# Integration test of deploy/ against a real kube-apiserver (tools/control_plane.sh):
#   - `kubectl kustomize deploy/` builds, and the result applies server-side as real objects;
#   - the objects exist with the shape the operator's runtime contract needs (StatefulSet, PVC
#     template, ConfigMap with a config.json that parses, Services, RBAC);
#   - kube-controller-manager's StatefulSet controller creates the pod and the log's PVC, so the
#     pod template passes admission (PodSecurity "restricted" is enforced on the namespace);
#   - every sample applies with the CRDs installed, and every CRD has a sample;
#   - RBAC is least privilege: `kubectl auth can-i --as=<the operator's ServiceAccount>` for
#     allowed and denied requests, then real requests with a TokenRequest token of that
#     ServiceAccount (including the API server's escalation check on the watcher Role);
#   - with the aiops binary (first argument, or AIOPS_BIN; ctest passes it): `aiops run` with the
#     shipped config.json and that ServiceAccount's token takes the Lease, becomes ready,
#     reconciles the sample Instance (every object, the watcher Role in both target namespaces,
#     status.observedGeneration; then 2 replicas, the Service deleted and recreated headless),
#     turns an Alertmanager alert into an Issue, AIInsight and RemediationPlan, stops cleanly on
#     SIGTERM within the pod's grace period, logged no Forbidden answer from start to stop, and
#     its event log holds both Instance generations as instance_spec_observed.
# Usage: test/integration/deploy_manifests_test.sh [path/to/aiops]
# Fails (never skips) when the control-plane binaries are missing. Prints 'N passed, N failed'.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CP="$ROOT/tools/control_plane.sh"
NS=chatcli-aiops
SA=chatcli-aiops
AS="system:serviceaccount:$NS:$SA"

die() { printf 'deploy_manifests_test: error: %s\n' "$*" >&2; exit 1; }

BIN=${AIOPS_K8S_BIN_DIR:-$("$ROOT/tools/build_control_plane.sh" --print-bin-dir)}
for b in etcd kube-apiserver kube-controller-manager kubectl; do
  [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run tools/build_control_plane.sh first (this test needs the real control plane and is never skipped)"
done
command -v python3 >/dev/null || die "python3 not found (needed to check JSON)"
AIOPS_BIN=${1:-${AIOPS_BIN:-}}
if [[ -n "$AIOPS_BIN" ]]; then
  [[ -x "$AIOPS_BIN" ]] || die "the aiops binary '$AIOPS_BIN' is not an executable file"
else
  echo "NOTE: no aiops binary given (argument or AIOPS_BIN): the 'aiops run' part of this test does not run" >&2
fi
DAEMON_PID=""

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aiops-deploy-test.XXXXXX")
cleanup() {
  local rc=$?
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  if [[ -f "$WORK/cp/control-plane.env" ]]; then
    "$CP" stop --dir "$WORK/cp" >/dev/null 2>&1 || echo "warning: control_plane.sh stop failed" >&2
  fi
  if [[ $rc -ne 0 && -d "$WORK/cp/logs" ]]; then
    echo "(control-plane logs kept in $WORK/cp/logs)" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

AIOPS_K8S_BIN_DIR=$BIN "$CP" start --dir "$WORK/cp" --owner-pid $$ >/dev/null ||
  die "tools/control_plane.sh start failed"
# shellcheck disable=SC1091
source "$WORK/cp/control-plane.env"
k() { "$AIOPS_K8S_KUBECTL" --kubeconfig "$AIOPS_K8S_KUBECONFIG" "$@"; }

passed=0; failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'FAIL: %s\n' "$*"; }
# check DESCRIPTION COMMAND...: the command must succeed.
check() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then pass; else fail "$what"; printf '%s\n' "$out" | tail -n 5 | sed 's/^/    /'; fi
}
# equal DESCRIPTION ACTUAL EXPECTED
equal() {
  if [[ "$2" == "$3" ]]; then pass; else fail "$1: got '$2', want '$3'"; fi
}
# forbidden DESCRIPTION COMMAND...: the command must fail with a Forbidden answer.
forbidden() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then
    fail "$what: succeeded, expected Forbidden"
  elif grep -qi "forbidden" <<< "$out"; then
    pass
  else
    fail "$what: failed but not with Forbidden:"; printf '%s\n' "$out" | tail -n 3 | sed 's/^/    /'
  fi
}
# wait_for SECONDS COMMAND...
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || return 1
    sleep 0.5
  done
}
jp() { k get "$@"; }  # jp KIND NAME -n NS -o jsonpath=...

# --- build and apply -----------------------------------------------------------------------------

k kustomize "$ROOT/deploy" > "$WORK/deploy.yaml" || die "kubectl kustomize deploy/ failed"
k kustomize "$ROOT/deploy/samples" > "$WORK/samples.yaml" || die "kubectl kustomize deploy/samples/ failed"
for kind in Namespace CustomResourceDefinition ServiceAccount ClusterRole ClusterRoleBinding Role \
            RoleBinding ConfigMap Service StatefulSet; do
  if grep -q "^kind: $kind\$" "$WORK/deploy.yaml"; then pass; else fail "deploy/ builds no $kind"; fi
done
if grep -q "^kind: Instance\$" "$WORK/deploy.yaml"; then fail "deploy/ must not include samples"; else pass; fi

if k apply --server-side --field-manager=deploy-test -f "$WORK/deploy.yaml" > "$WORK/apply.out" 2>&1; then
  pass
else
  cat "$WORK/apply.out" >&2
  die "kubectl apply --server-side -k deploy/ failed"
fi
if grep -qi "violate PodSecurity" "$WORK/apply.out"; then
  fail "the StatefulSet's pod template violates PodSecurity restricted:"; grep -i podsecurity "$WORK/apply.out"
else
  pass
fi

# --- the objects -------------------------------------------------------------------------------

check "namespace $NS" k get namespace "$NS"
for crd in anomalies issues aiinsights remediationplans runbooks instances; do
  check "CRD $crd established" k wait --for condition=established --timeout=60s \
    "crd/$crd.platform.chatcli.io"
done
check "ServiceAccount" k -n "$NS" get serviceaccount "$SA"
check "ClusterRole" k get clusterrole chatcli-aiops-manager
check "ClusterRoleBinding" k get clusterrolebinding chatcli-aiops-manager
check "Role for leases" k -n "$NS" get role chatcli-aiops-leader-election
check "RoleBinding for leases" k -n "$NS" get rolebinding chatcli-aiops-leader-election
check "Service" k -n "$NS" get service chatcli-aiops
check "StatefulSet" k -n "$NS" get statefulset chatcli-aiops

equal "ClusterRoleBinding subject" \
  "$(jp clusterrolebinding chatcli-aiops-manager -o jsonpath='{.subjects[0].kind}/{.subjects[0].namespace}/{.subjects[0].name}')" \
  "ServiceAccount/$NS/$SA"
equal "leases RoleBinding subject" \
  "$(jp -n "$NS" rolebinding chatcli-aiops-leader-election -o jsonpath='{.subjects[0].namespace}/{.subjects[0].name}')" \
  "$NS/$SA"

# No wildcard anywhere in the operator's roles, and no bind/escalate/impersonate verbs.
for role in "clusterrole chatcli-aiops-manager" "role -n $NS chatcli-aiops-leader-election"; do
  # shellcheck disable=SC2086
  if k get $role -o json | python3 -c '
import json, sys
rules = json.load(sys.stdin)["rules"]
bad = [r for r in rules
       if any("*" in v for key in ("verbs", "resources", "apiGroups", "resourceNames", "nonResourceURLs")
              for v in r.get(key, []))
       or set(r.get("verbs", [])) & {"bind", "escalate", "impersonate", "deletecollection"}
       or r.get("nonResourceURLs")]
sys.exit(1 if bad or not rules else 0)'; then pass; else fail "$role has a wildcard or a too-wide verb"; fi
done

sts() { jp -n "$NS" statefulset chatcli-aiops -o jsonpath="$1"; }
C='{.spec.template.spec.containers[0]'
equal "replicas" "$(sts '{.spec.replicas}')" 1
equal "serviceName" "$(sts '{.spec.serviceName}')" chatcli-aiops-headless
equal "governing Service is headless" \
  "$(jp -n "$NS" service chatcli-aiops-headless -o jsonpath='{.spec.clusterIP}')" None
equal "serviceAccountName" "$(sts '{.spec.template.spec.serviceAccountName}')" "$SA"
equal "volumeClaimTemplate" "$(sts '{.spec.volumeClaimTemplates[0].metadata.name}')" data
equal "log mount" "$(sts "$C.volumeMounts[?(@.name==\"data\")].mountPath}")" /var/lib/chatcli-aiops
equal "config mount" "$(sts "$C.volumeMounts[?(@.name==\"config\")].mountPath}")" \
  /etc/chatcli-aiops/config.json
equal "token Secret is optional" \
  "$(sts '{.spec.template.spec.volumes[?(@.name=="token")].secret.optional}')" true
equal "args" "$(sts "$C.args}")" '["run","--config","/etc/chatcli-aiops/config.json"]'
equal "POD_NAME from the downward API" \
  "$(sts "$C.env[?(@.name==\"POD_NAME\")].valueFrom.fieldRef.fieldPath}")" metadata.name
equal "POD_NAMESPACE from the downward API" \
  "$(sts "$C.env[?(@.name==\"POD_NAMESPACE\")].valueFrom.fieldRef.fieldPath}")" metadata.namespace
equal "liveness probe" "$(sts "$C.livenessProbe.httpGet.path}"):$(sts "$C.livenessProbe.httpGet.port}")" \
  "/healthz:http"
equal "readiness probe" "$(sts "$C.readinessProbe.httpGet.path}")" /readyz
equal "container ports" "$(sts "$C.ports[*].name}")" "grpc http"
equal "container port numbers" "$(sts "$C.ports[*].containerPort}")" "50051 8080"
equal "runAsNonRoot" "$(sts "$C.securityContext.runAsNonRoot}")" true
equal "readOnlyRootFilesystem" "$(sts "$C.securityContext.readOnlyRootFilesystem}")" true
equal "capabilities dropped" "$(sts "$C.securityContext.capabilities.drop}")" '["ALL"]'
equal "allowPrivilegeEscalation" "$(sts "$C.securityContext.allowPrivilegeEscalation}")" false
equal "runAsUser" "$(sts '{.spec.template.spec.securityContext.runAsUser}')" 65532
check "memory limit set" test -n "$(sts "$C.resources.limits.memory}")"
check "cpu request set" test -n "$(sts "$C.resources.requests.cpu}")"
grace=$(sts '{.spec.template.spec.terminationGracePeriodSeconds}')
if [[ "$grace" =~ ^[0-9]+$ ]] && (( grace >= 30 )); then pass; else fail "terminationGracePeriodSeconds $grace < 30"; fi

equal "Service ports" \
  "$(jp -n "$NS" service chatcli-aiops -o jsonpath='{range .spec.ports[*]}{.name}={.port} {end}')" \
  "grpc=50051 http=8080 "
equal "Service selects the operator" \
  "$(jp -n "$NS" service chatcli-aiops -o jsonpath='{.spec.selector.app\.kubernetes\.io/component}')" operator

# Every object carries app.kubernetes.io/name=chatcli-aiops.
for obj in namespace/$NS clusterrole/chatcli-aiops-manager clusterrolebinding/chatcli-aiops-manager \
           crd/issues.platform.chatcli.io; do
  equal "label on $obj" "$(jp "$obj" -o jsonpath='{.metadata.labels.app\.kubernetes\.io/name}')" chatcli-aiops
done
for obj in serviceaccount/$SA role/chatcli-aiops-leader-election service/chatcli-aiops \
           statefulset/chatcli-aiops; do
  equal "label on $obj" "$(jp -n "$NS" "$obj" -o jsonpath='{.metadata.labels.app\.kubernetes\.io/name}')" chatcli-aiops
done

# The ConfigMap the StatefulSet names exists and its config.json parses, with leader election on
# and the data directory on the PVC.
cm=$(sts '{.spec.template.spec.volumes[?(@.name=="config")].configMap.name}')
check "ConfigMap $cm" k -n "$NS" get configmap "$cm"
equal "ConfigMap label" \
  "$(jp -n "$NS" configmap "$cm" -o jsonpath='{.metadata.labels.app\.kubernetes\.io/component}')" config
jp -n "$NS" configmap "$cm" -o jsonpath='{.data.config\.json}' > "$WORK/config.json"
check "config.json parses (python3 -m json.tool)" python3 -m json.tool "$WORK/config.json"
check "config.json: leader election on, dataDir on the PVC, ports 50051/8080" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["leaderElection"]["enabled"] is True, "leaderElection.enabled"
assert c["dataDir"] == "/var/lib/chatcli-aiops", "dataDir"
assert c["grpcListen"].endswith(":50051") and c["httpListen"].endswith(":8080"), "listen"
assert c["authTokenFile"].startswith("/etc/chatcli-aiops/token/"), "authTokenFile"
' "$WORK/config.json"

# kube-controller-manager creates the pod and the log's PVC: the template passes admission.
if wait_for 90 k -n "$NS" get pod chatcli-aiops-0; then
  pass
  equal "pod config volume" \
    "$(jp -n "$NS" pod chatcli-aiops-0 -o jsonpath='{.spec.volumes[?(@.name=="config")].configMap.name}')" "$cm"
else
  fail "the StatefulSet controller created no pod chatcli-aiops-0; events:"
  k -n "$NS" get events 2>&1 | tail -n 5 | sed 's/^/    /'
fi
if wait_for 60 k -n "$NS" get pvc data-chatcli-aiops-0; then pass; else fail "no PVC data-chatcli-aiops-0"; fi

# Applying again changes nothing.
gen=$(sts '{.metadata.generation}')
check "re-apply" k apply --server-side --field-manager=deploy-test -f "$WORK/deploy.yaml"
equal "StatefulSet generation after re-apply" "$(sts '{.metadata.generation}')" "$gen"

# --- samples -----------------------------------------------------------------------------------

k create namespace production >/dev/null
for kind in $(grep -h '^    kind: ' "$ROOT"/deploy/crd/bases/*.yaml | awk '{print $2}'); do
  if grep -q "^kind: $kind\$" "$WORK/samples.yaml"; then pass; else fail "no sample for $kind"; fi
done
check "samples apply server-side" k apply --server-side --field-manager=deploy-test -f "$WORK/samples.yaml"
check "sample Instance" k get instance chatcli-prod -n default
check "sample Anomaly" k -n production get anomaly watcher-highrestartcount-api-gateway-1234567890
check "sample Issue" k -n production get issue api-gateway-pod-restart-1771276354
check "sample AIInsight" k -n production get aiinsight api-gateway-pod-restart-1771276354-insight
check "sample RemediationPlan" k -n production get remediationplan api-gateway-pod-restart-1771276354-plan-1
check "sample Runbook" k -n production get runbook high-error-rate-runbook

# --- RBAC: kubectl auth can-i as the ServiceAccount -----------------------------------------------

can() {  # can yes|no VERB RESOURCE [kubectl args]
  local want=$1; shift
  local got
  if k auth can-i --as="$AS" "$@" >/dev/null 2>&1; then got=yes; else got=no; fi
  if [[ $got == "$want" ]]; then pass; else fail "can-i $*: got $got, want $want"; fi
}
P=platform.chatcli.io
can yes patch deployments.apps -n production
can yes update deployments.apps -n production
can yes patch deployments.apps --subresource=scale -n production
can yes list replicasets.apps --all-namespaces
can yes watch pods --all-namespaces
can yes create events -n production
can yes get secrets -n default
can yes get pods --subresource=log -n production
can yes list statefulsets.apps --all-namespaces
can yes watch daemonsets.apps --all-namespaces
can yes list jobs.batch --all-namespaces
can yes watch cronjobs.batch --all-namespaces
can yes create configmaps -n production
can yes delete services -n default
can yes create persistentvolumeclaims -n default
can yes create serviceaccounts -n default
can yes create roles.rbac.authorization.k8s.io -n production
can yes create rolebindings.rbac.authorization.k8s.io -n production
for r in anomalies issues aiinsights remediationplans runbooks; do
  can yes create "$r.$P" -n production
  can yes patch "$r.$P" --subresource=status -n production
done
# Instances are read; only their status is written (server-side apply: PATCH).
can yes get "instances.$P" -n default
can yes list "instances.$P" --all-namespaces
can yes watch "instances.$P" --all-namespaces
can yes patch "instances.$P" --subresource=status -n default
can yes update "instances.$P" --subresource=finalizers -n default
can yes get leases.coordination.k8s.io -n "$NS"
can yes create leases.coordination.k8s.io -n "$NS"
can yes update leases.coordination.k8s.io -n "$NS"

can no '*' '*' --all-namespaces
can no delete pods -n production
can no create pods -n production
can no create pods --subresource=exec -n production
can no list secrets -n default
can no list secrets --all-namespaces
can no watch secrets --all-namespaces
for v in create update patch delete; do
  can no "$v" "instances.$P" -n default
done
can no update "instances.$P" --subresource=status -n default
can no get "instances.$P" --subresource=status -n default
can no create statefulsets.apps -n production
can no patch daemonsets.apps -n production
can no delete jobs.batch -n production
can no create cronjobs.batch -n production
can no create pods --subresource=attach -n production
can no create pods --subresource=portforward -n production
can no create secrets -n default
can no update secrets -n default
can no delete secrets -n default
can no delete namespaces
can no create namespaces
can no delete customresourcedefinitions.apiextensions.k8s.io
can no create customresourcedefinitions.apiextensions.k8s.io
can no create clusterroles.rbac.authorization.k8s.io
can no create clusterrolebindings.rbac.authorization.k8s.io
can no bind roles.rbac.authorization.k8s.io -n production
can no escalate roles.rbac.authorization.k8s.io -n production
can no bind clusterroles.rbac.authorization.k8s.io
can no get nodes
can no list nodes
can no patch nodes
can no delete nodes
can no delete replicasets.apps -n production
can no update deployments.apps --subresource=status -n production
can no deletecollection deployments.apps -n production
can no delete events -n production
can no create serviceaccounts --subresource=token -n default
can no impersonate users
can no update leases.coordination.k8s.io -n default
can no create leases.coordination.k8s.io -n kube-system
can no delete leases.coordination.k8s.io -n "$NS"
can no list leases.coordination.k8s.io -n "$NS"
can no create statefulsets.apps -n "$NS"
can no update "issues.$P" --subresource=finalizers -n production

# --- RBAC: real requests with a TokenRequest token of the ServiceAccount ------------------------

TOKEN=$(k -n "$NS" create token "$SA" --duration=10m) || die "TokenRequest for $SA failed"
cat > "$WORK/sa.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "$AIOPS_K8S_SERVER", certificate-authority: "$AIOPS_K8S_CA_FILE"}
users:
- name: u
  user: {token: "$TOKEN"}
contexts:
- name: c
  context: {cluster: c, user: u, namespace: production}
current-context: c
EOF
chmod 600 "$WORK/sa.kubeconfig"
s() { "$AIOPS_K8S_KUBECTL" --kubeconfig "$WORK/sa.kubeconfig" "$@"; }

# Fixtures, as the admin: a Deployment to remediate and a Secret an Instance names.
k -n production create deployment web --image=registry.k8s.io/pause:3.10 >/dev/null
k -n production create secret generic chatcli-api-keys --from-literal=ANTHROPIC_API_KEY=x >/dev/null

equal "token identity" "$(s auth whoami -o jsonpath='{.status.userInfo.username}')" "$AS"
check "SA reads an Instance's Secret" s get secret chatcli-api-keys
check "SA lists pods in all namespaces" s get pods --all-namespaces
check "SA patches a Deployment" s patch deployment web --type=merge \
  -p '{"metadata":{"annotations":{"platform.chatcli.io/applied-action":"plan-1/0"}}}'
check "SA scales a Deployment" s scale deployment web --replicas=2
check "SA rollout-restarts a Deployment" s rollout restart deployment web
check "SA applies an Issue server-side" s apply --server-side --field-manager=chatcli-aiops -f - <<'EOF'
apiVersion: platform.chatcli.io/v1alpha1
kind: Issue
metadata:
  name: web-pod-restart-1
  namespace: production
spec:
  severity: high
  source: watcher
  signalType: pod_restart
  description: test
  resource: {kind: Deployment, name: web, namespace: production}
  riskScore: 20
EOF
check "SA writes a ConfigMap" s create configmap web-config --from-literal=k=v
check "SA creates an event" s create -f - <<'EOF'
apiVersion: v1
kind: Event
metadata: {name: web.test, namespace: production}
involvedObject: {kind: Deployment, name: web, namespace: production, apiVersion: apps/v1}
reason: RemediationStarted
message: test
type: Normal
source: {component: chatcli-aiops}
EOF
lease() {  # lease NAMESPACE HOLDER
  cat <<EOF
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: rbac-probe, namespace: $1}
spec: {holderIdentity: $2, leaseDurationSeconds: 15}
EOF
}
check "SA creates its Lease" s create -f <(lease "$NS" chatcli-aiops-0)
check "SA reads its Lease" s -n "$NS" get lease rbac-probe
rv=$(s -n "$NS" get lease rbac-probe -o jsonpath='{.metadata.resourceVersion}' 2>/dev/null || true)
check "SA updates its Lease (PUT)" s replace -f <(lease "$NS" chatcli-aiops-1 |
  sed "s/metadata: {/metadata: {resourceVersion: \"$rv\", /")
equal "Lease holder after update" \
  "$(k -n "$NS" get lease rbac-probe -o jsonpath='{.spec.holderIdentity}')" chatcli-aiops-1
forbidden "SA creates a Lease in another namespace" s create -f <(lease default chatcli-aiops-0)

# The watcher Role of an Instance: allowed without bind/escalate because the operator holds
# every permission it grants (the widest watcher Role: targets of every kind, logs read); a Role
# granting more is refused by the escalation check.
check "SA creates the watcher Role" s create -f - <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: chatcli-prod-watcher, namespace: production}
rules:
- {apiGroups: [""], resources: [pods, events, services], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [pods/log], verbs: [get]}
- {apiGroups: [apps], resources: [daemonsets, deployments, replicasets, statefulsets], verbs: [get, list, watch]}
- {apiGroups: [batch], resources: [cronjobs, jobs], verbs: [get, list, watch]}
EOF
check "SA binds the watcher Role" s create rolebinding chatcli-prod-watcher \
  --role=chatcli-prod-watcher --serviceaccount=default:chatcli-prod
forbidden "SA creates a Role granting more than it holds" s create role too-wide \
  --verb=delete --resource=pods
forbidden "SA binds cluster-admin" s create rolebinding admin-grab \
  --clusterrole=cluster-admin --serviceaccount=default:chatcli-prod
forbidden "SA writes a Secret" s create secret generic stolen --from-literal=a=b
forbidden "SA lists Secrets" s get secrets
forbidden "SA patches a Secret" s annotate secret chatcli-api-keys stolen=yes
k -n production get secret chatcli-api-keys -o json > "$WORK/secret.json"
forbidden "SA updates a Secret (PUT)" s replace -f "$WORK/secret.json"
forbidden "SA deletes a Secret" s delete secret chatcli-api-keys --wait=false
forbidden "SA writes an Instance" s -n default patch instance chatcli-prod --type=merge \
  -p '{"spec":{"replicas":3}}'
forbidden "SA deletes an Instance" s -n default delete instance chatcli-prod --wait=false
forbidden "SA deletes a namespace" s delete namespace production --wait=false
forbidden "SA deletes a CRD" s delete crd issues.platform.chatcli.io --wait=false
forbidden "SA reads nodes" s get nodes
forbidden "SA creates a ClusterRole" s create clusterrole grab --verb=get --resource=pods
forbidden "SA creates a pod" s run shell --image=registry.k8s.io/pause:3.10 --restart=Never
if wait_for 60 bash -c "'$AIOPS_K8S_KUBECTL' --kubeconfig '$AIOPS_K8S_KUBECONFIG' -n production get rs -l app=web -o name | grep -q ."; then
  rs=$(k -n production get rs -l app=web -o jsonpath='{.items[0].metadata.name}')
  forbidden "SA deletes a ReplicaSet" s delete replicaset "$rs" --wait=false
else
  fail "kube-controller-manager created no ReplicaSet for deployment web"
fi
forbidden "SA requests a ServiceAccount token" s -n "$NS" create token "$SA"
# pods/exec through the real exec path: kubectl reads the pod (allowed) and then POSTs the exec
# subresource, which RBAC refuses before anything reaches a kubelet.
k -n production run exec-target --image=registry.k8s.io/pause:3.10 --restart=Never >/dev/null
forbidden "SA execs into a pod (pods/exec)" s exec exec-target -- true
check "the Secret was not written" bash -c "! '$AIOPS_K8S_KUBECTL' --kubeconfig '$AIOPS_K8S_KUBECONFIG' -n production get secret stolen"
check "the Secret was neither changed nor deleted" bash -c "[[ -z \$('$AIOPS_K8S_KUBECTL' --kubeconfig '$AIOPS_K8S_KUBECONFIG' -n production get secret chatcli-api-keys -o jsonpath='{.metadata.annotations.stolen}') ]]"
check "the Instance was not written" bash -c "[[ \$('$AIOPS_K8S_KUBECTL' --kubeconfig '$AIOPS_K8S_KUBECONFIG' -n default get instance chatcli-prod -o jsonpath='{.spec.replicas}') == 1 ]]"
check "the namespace survived" k get namespace production

# --- aiops run with the shipped config and the ServiceAccount's token -------------------------

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

if [[ -n "$AIOPS_BIN" ]]; then
  # The shipped config, with only the token file moved out of the pod's paths; the data folder
  # and the listen addresses come from flags, as an operator would override them.
  openssl rand -hex 24 > "$WORK/api-token"
  python3 - "$WORK/config.json" "$WORK/api-token" > "$WORK/daemon-config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["authTokenFile"] = sys.argv[2]
print(json.dumps(c, indent=2))
PY
  HTTP_PORT=$(free_port); GRPC_PORT=$(free_port)
  k -n production create deployment shop --image=registry.k8s.io/pause:3.10 >/dev/null
  # What the sample Instance (default/chatcli-prod) names, so that its reconcile goes all the
  # way under the token: the second target's namespace and the three Secrets.
  k create namespace batch >/dev/null
  k -n default create secret generic chatcli-api-keys --from-literal=ANTHROPIC_API_KEY=x >/dev/null
  k -n default create secret generic chatcli-server-token --from-literal=token=t0ken >/dev/null
  k -n default create secret generic chatcli-tls --from-literal=tls.crt=CERT \
    --from-literal=tls.key=KEY --from-literal=ca.crt=CA >/dev/null
  POD_NAME=chatcli-aiops-0 POD_NAMESPACE=$NS "$AIOPS_BIN" run --config "$WORK/daemon-config.json" \
    --data-dir "$WORK/data" --kubeconfig "$WORK/sa.kubeconfig" \
    --grpc-listen "127.0.0.1:$GRPC_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
    > "$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  H="http://127.0.0.1:$HTTP_PORT"
  if wait_for 90 curl -sf "$H/readyz"; then
    pass
  else
    fail "aiops run did not become ready with the shipped config and the ServiceAccount's token:"
    tail -n 15 "$WORK/daemon.log" | sed 's/^/    /'
  fi
  check "/healthz" curl -sf "$H/healthz"
  holder=$(k -n "$NS" get lease chatcli-aiops-leader -o jsonpath='{.spec.holderIdentity}' 2>&1 || true)
  if [[ "$holder" == chatcli-aiops-0* ]]; then pass; else fail "Lease chatcli-aiops-leader holder '$holder', want chatcli-aiops-0..."; fi
  if curl -sf "$H/metrics" | grep -q '^aiops_leader 1'; then pass; else fail "/metrics has no 'aiops_leader 1'"; fi

  alert='{"version":"4","status":"firing","receiver":"chatcli-aiops","groupKey":"{}:{}",
    "alerts":[{"status":"firing","labels":{"alertname":"KubePodCrashLooping","namespace":"production",
    "deployment":"shop","severity":"critical"},"annotations":{"summary":"shop restarts"}}]}'
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$H/webhook/alertmanager" \
    -H 'Content-Type: application/json' -d "$alert")
  equal "webhook without the token" "$code" 401
  code=$(curl -s -o "$WORK/webhook.out" -w '%{http_code}' -X POST "$H/webhook/alertmanager" \
    -H "Authorization: Bearer $(cat "$WORK/api-token")" -H 'Content-Type: application/json' -d "$alert")
  equal "webhook with the token" "$code" 200
  issue_for_shop() {
    k -n production get issues.platform.chatcli.io -o jsonpath='{.items[*].spec.resource.name}' |
      tr ' ' '\n' | grep -qx shop
  }
  if wait_for 60 issue_for_shop; then
    pass
  else
    fail "no Issue CR for deployment shop was mirrored (webhook answered: $(cat "$WORK/webhook.out" 2>/dev/null))"
    tail -n 15 "$WORK/daemon.log" | sed 's/^/    /'
  fi

  # The Instance reconciler under the token: every object of the sample Instance, the watcher
  # Role in each target namespace, and the status.
  I=chatcli-prod
  gi() { k -n default get instance "$I" -o jsonpath="$1"; }
  reconciled() { [[ -n "$(gi '{.status.observedGeneration}')" && "$(gi '{.status.observedGeneration}')" == "$(gi '{.metadata.generation}')" ]]; }
  if wait_for 60 reconciled; then
    pass
  else
    fail "Instance $I: status.observedGeneration '$(gi '{.status.observedGeneration}')' never reached generation $(gi '{.metadata.generation}')"
    tail -n 15 "$WORK/daemon.log" | sed 's/^/    /'
  fi
  check "Instance Deployment" k -n default get deployment "$I"
  check "Instance Service" k -n default get service "$I"
  check "Instance env ConfigMap" k -n default get configmap "$I"
  check "Instance watch ConfigMap" k -n default get configmap "$I-watch-config"
  check "Instance ServiceAccount" k -n default get serviceaccount "$I"
  for target_ns in production batch; do
    check "watcher Role in $target_ns" k -n "$target_ns" get role "default-$I-watcher"
    check "watcher RoleBinding in $target_ns" k -n "$target_ns" get rolebinding "default-$I-watcher"
  done
  equal "Instance Progressing reason" \
    "$(gi '{.status.conditions[?(@.type=="Progressing")].reason}')" RolloutInProgress
  cluster_ip=$(k -n default get service "$I" -o jsonpath='{.spec.clusterIP}' 2>&1 || true)
  if [[ -n "$cluster_ip" && "$cluster_ip" != None ]]; then pass; else fail "Instance Service clusterIP '$cluster_ip' at 1 replica"; fi
  equal "Instance pods take the env ConfigMap" \
    "$(k -n default get deployment "$I" -o jsonpath='{.spec.template.spec.containers[0].envFrom[0].configMapRef.name}')" "$I"
  # Scale to 2: the Service turns headless, which is a delete and a create under the token.
  check "patch the Instance to 2 replicas" k -n default patch instance "$I" --type=merge \
    -p '{"spec":{"replicas":2}}'
  headless() { [[ "$(k -n default get service "$I" -o jsonpath='{.spec.clusterIP}')" == None ]]; }
  if wait_for 60 headless; then pass; else fail "Instance Service did not turn headless at 2 replicas"; fi
  if wait_for 60 reconciled; then pass; else fail "Instance generation 2 was not observed in status"; fi
  equal "Instance observedGeneration" "$(gi '{.status.observedGeneration}')" 2
  equal "Instance Deployment replicas" "$(k -n default get deployment "$I" -o jsonpath='{.spec.replicas}')" 2

  # The analysis and remediation effectors have worked on the shop Issue: its AIInsight exists
  # and its RemediationPlan left Pending (or waits for approval).
  shop_worked() {
    local issue
    issue=$(k -n production get issues -o jsonpath='{range .items[?(@.spec.resource.name=="shop")]}{.metadata.name}{end}')
    [[ -n "$issue" ]] || return 1
    k -n production get aiinsights -o jsonpath='{.items[*].spec.issueRef.name}' | tr ' ' '\n' | grep -qx "$issue" || return 1
    k -n production get remediationplans \
      -o jsonpath="{range .items[?(@.spec.issueRef.name==\"$issue\")]}{.status.state}{'\n'}{end}" |
      grep -Eqx 'WaitingApproval|Executing|Verifying|Completed|Failed|RolledBack'
  }
  if wait_for 90 shop_worked; then
    pass
  else
    fail "the shop Issue got no AIInsight or no RemediationPlan past Pending"
    k -n production get issues,aiinsights,remediationplans 2>&1 | tail -n 8 | sed 's/^/    /'
  fi

  kill -TERM "$DAEMON_PID"
  stopped=0
  for _ in $(seq 1 300); do
    kill -0 "$DAEMON_PID" 2>/dev/null || { stopped=1; break; }
    sleep 0.1
  done
  if [[ $stopped -eq 1 ]]; then
    rc=0; wait "$DAEMON_PID" || rc=$?
    equal "aiops run exit status after SIGTERM" "$rc" 0
  else
    fail "aiops run still running 30 s after SIGTERM (the pod's grace period is 60 s)"
  fi
  DAEMON_PID=""
  # Everything the daemon did under the token, from start to stop: no call refused by RBAC.
  if grep -Eiq 'forbidden|\b403\b' "$WORK/daemon.log"; then
    fail "aiops run was refused a call by RBAC:"
    grep -Ei 'forbidden|\b403\b' "$WORK/daemon.log" | head -n 5 | sed 's/^/    /'
  else
    pass
  fi
  # Both generations of the Instance's spec reached the event log as InstanceSpecObserved.
  if [[ $stopped -eq 1 ]]; then
    "$AIOPS_BIN" log show --dir "$WORK/data/log" --json --limit 1000000 > "$WORK/events.jsonl" 2>&1 || true
    observed=$(python3 - "$WORK/events.jsonl" <<'PY'
import json, sys
gens = []
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("instance_spec_observed", "instanceSpecObserved"):
                return v
            r = find(v)
            if r is not None:
                return r
    return None
for line in open(sys.argv[1]):
    try:
        o = find(json.loads(line))
    except ValueError:
        continue
    if o and o.get("name") == "chatcli-prod":
        gens.append(str(o.get("generation")))
print(",".join(gens))
PY
)
    equal "generations of chatcli-prod recorded as instance_spec_observed in the log" "$observed" "1,2"
  fi
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
