#!/usr/bin/env bash
# A real local Kubernetes control plane for tests and the demo: etcd, kube-apiserver and
# kube-controller-manager on free loopback ports, with generated certificates, a static
# bearer-token user, a client-certificate user and a service-account signing key.
#
#   tools/control_plane.sh start [--dir DIR] [--owner-pid PID] [--no-controller-manager]
#                                [--apiserver-arg=--flag=value ...]
#   tools/control_plane.sh stop --dir DIR
#   tools/control_plane.sh restart-apiserver --dir DIR
#   tools/control_plane.sh status --dir DIR
#   tools/control_plane.sh env --dir DIR          # print the environment file (KEY=VALUE lines)
#
# `start` prints the state folder on stdout as its last line and writes DIR/control-plane.env:
#   AIOPS_K8S_SERVER, AIOPS_K8S_CA_FILE, AIOPS_K8S_TOKEN (system:masters), AIOPS_K8S_VIEWER_TOKEN
#   (authenticated, no RBAC grants), AIOPS_K8S_CLIENT_CERT_FILE / _KEY_FILE (system:masters),
#   AIOPS_K8S_KUBECONFIG (token user; context aiops-cert uses the certificate), AIOPS_K8S_KUBECTL,
#   AIOPS_K8S_ETCD, AIOPS_K8S_DIR.
# With --owner-pid, a watchdog stops everything when that process exits (even by kill -9), so a
# crashed test leaks no processes. Extra apiserver flags also come from AIOPS_APISERVER_ARGS.
# Binaries come from tools/build_control_plane.sh's cache (or AIOPS_K8S_BIN_DIR).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
READY_TIMEOUT_S=${AIOPS_K8S_READY_TIMEOUT_S:-120}

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { printf '[control-plane] error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,21p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }

CMD=${1:-}
[[ -n "$CMD" ]] || usage
shift
DIR=""
OWNER_PID=""
WITH_KCM=1
EXTRA_APISERVER_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#--dir=}; shift ;;
    --owner-pid) OWNER_PID=$2; shift 2 ;;
    --owner-pid=*) OWNER_PID=${1#--owner-pid=}; shift ;;
    --no-controller-manager) WITH_KCM=0; shift ;;
    --from-watchdog) FROM_WATCHDOG=1; shift ;;
    --apiserver-arg) EXTRA_APISERVER_ARGS+=("$2"); shift 2 ;;
    --apiserver-arg=*) EXTRA_APISERVER_ARGS+=("${1#--apiserver-arg=}"); shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if [[ -n "${AIOPS_APISERVER_ARGS:-}" ]]; then
  read -r -a env_args <<< "$AIOPS_APISERVER_ARGS"
  EXTRA_APISERVER_ARGS+=("${env_args[@]}")
fi

# --- processes -----------------------------------------------------------------------------------

# A process spawned a moment ago may still be the forked shell that has not exec'd its binary
# (pid_alive would call it dead), so start-up waits only ask whether the PID still exists; the
# PID was written by this run, so it cannot be a recycled one.
pid_exists() {
  local pidfile=$1 pid _
  [[ -f "$pidfile" ]] || return 1
  read -r pid _ < "$pidfile"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# Our PID files hold "pid binary-path"; a PID is only signalled while /proc says it still runs
# that binary, so a recycled PID is never killed.
pid_alive() {
  local pidfile=$1 pid exe
  pid_exists "$pidfile" || return 1
  read -r pid exe < "$pidfile"
  [[ -z "$exe" ]] && return 0
  local cmdline
  cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmdline" == *"$exe"* ]]
}

stop_one() {
  local pidfile=$1 pid exe
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  read -r pid exe < "$pidfile"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

# Starts "$@" in its own session with output to logs/NAME.log and records its PID.
spawn() {
  local name=$1; shift
  setsid "$@" >> "$DIR/logs/$name.log" 2>&1 < /dev/null &
  echo "$! $1" > "$DIR/pids/$name.pid"
}

# --- ports ---------------------------------------------------------------------------------------

USED_PORTS=" "
free_port() {
  local listening port
  listening=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | tr '\n' ' ')
  for _ in $(seq 1 200); do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
    [[ " $listening " == *" $port "* || "$USED_PORTS" == *" $port "* ]] && continue
    USED_PORTS+="$port "
    echo "$port"
    return 0
  done
  die "no free loopback port found"
}

# --- waiting -------------------------------------------------------------------------------------

# wait_until NAME PIDFILE COMMAND...: polls COMMAND until it succeeds, failing early (with the
# tail of the process's log) if the process dies.
wait_until() {
  local name=$1 pidfile=$2; shift 2
  local deadline=$(( $(date +%s) + READY_TIMEOUT_S ))
  while ! "$@" >/dev/null 2>&1; do
    if ! pid_exists "$pidfile"; then
      log "$name exited during start-up; last lines of $DIR/logs/$name.log:"
      tail -n 25 "$DIR/logs/$name.log" >&2 || true
      return 1
    fi
    if (( $(date +%s) >= deadline )); then
      log "$name not ready after ${READY_TIMEOUT_S}s; last lines of $DIR/logs/$name.log:"
      tail -n 25 "$DIR/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

# --- certificates and credentials ----------------------------------------------------------------

make_pki() {
  local pki=$DIR/pki
  mkdir -p "$pki"
  ( cd "$pki"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -days 7 -subj "/CN=aiops-test-ca" -out ca.crt 2>/dev/null
    cat > serving.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1
EOF
    cat > client.ext <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
    openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key 2>/dev/null
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
      -extfile serving.ext -out apiserver.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out admin.key 2>/dev/null
    openssl req -new -key admin.key -subj "/O=system:masters/CN=aiops-admin" -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
      -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext ca.srl
    chmod 600 ./*.key )
  [[ -s "$pki/admin.crt" && -s "$pki/apiserver.crt" && -s "$pki/sa.pub" ]] ||
    die "openssl failed to create the certificates in $pki"
}

write_kubeconfig() {
  local file=$1 default_user=$2
  cat > "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: aiops-test
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $DIR/pki/ca.crt
users:
- name: aiops-token
  user:
    token: $TOKEN
- name: aiops-cert
  user:
    client-certificate: $DIR/pki/admin.crt
    client-key: $DIR/pki/admin.key
contexts:
- name: aiops-test
  context: {cluster: aiops-test, user: aiops-token, namespace: default}
- name: aiops-cert
  context: {cluster: aiops-test, user: aiops-cert, namespace: default}
current-context: $default_user
EOF
  chmod 600 "$file"
}

# --- components ----------------------------------------------------------------------------------

start_etcd() {
  spawn etcd "$BIN/etcd" --name=aiops-test --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="aiops-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level=warn
  wait_until etcd "$DIR/pids/etcd.pid" curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

apiserver_args() {
  local admission=()
  [[ $WITH_KCM -eq 1 ]] || admission=(--disable-admission-plugins=ServiceAccount)
  # A node of tools/node.sh has its kubelet on 127.0.0.1 and a non-loopback InternalIP: reach it
  # (kubectl logs/exec) by its host name, which resolves to loopback. Harmless without a node.
  local kubelet_addr=(--kubelet-preferred-address-types=Hostname,InternalIP)
  [[ " ${EXTRA_APISERVER_ARGS[*]} " != *" --kubelet-preferred-address-types"* ]] || kubelet_addr=()
  printf '%s\n' \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 \
    --secure-port="$API_PORT" --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --cert-dir="$DIR/pki" --tls-cert-file="$DIR/pki/apiserver.crt" \
    --tls-private-key-file="$DIR/pki/apiserver.key" --client-ca-file="$DIR/pki/ca.crt" \
    --token-auth-file="$DIR/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer="https://127.0.0.1:$API_PORT" \
    --service-account-key-file="$DIR/pki/sa.pub" \
    --service-account-signing-key-file="$DIR/pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --allow-privileged=true \
    "${admission[@]}" "${kubelet_addr[@]}" "${EXTRA_APISERVER_ARGS[@]}"
}

readyz() {
  curl -sf --cacert "$DIR/pki/ca.crt" -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$API_PORT/readyz"
}

start_apiserver() {
  local args=()
  mapfile -t args < "$DIR/apiserver.args"
  spawn kube-apiserver "$BIN/kube-apiserver" "${args[@]}"
  wait_until kube-apiserver "$DIR/pids/kube-apiserver.pid" readyz
}

start_kcm() {
  spawn kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$DIR/admin.kubeconfig" --authentication-kubeconfig="$DIR/admin.kubeconfig" \
    --authorization-kubeconfig="$DIR/admin.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" \
    --service-account-private-key-file="$DIR/pki/sa.key" --root-ca-file="$DIR/pki/ca.crt" \
    --cluster-signing-cert-file="$DIR/pki/ca.crt" --cluster-signing-key-file="$DIR/pki/ca.key" \
    --service-cluster-ip-range=10.0.0.0/24 --controllers='*,-nodelifecycle'
  wait_until kube-controller-manager "$DIR/pids/kube-controller-manager.pid" \
    curl -sfk "https://127.0.0.1:$KCM_PORT/healthz"
}

start_watchdog() {
  # Runs in its own session, outliving this script, until the owner exits (then it stops the
  # control plane) or `stop` kills it.
  setsid bash -c '
    owner=$1; self=$2; dir=$3
    while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done
    "$self" stop --dir "$dir" --from-watchdog
  ' watchdog "$OWNER_PID" "$SELF" "$DIR" >> "$DIR/logs/watchdog.log" 2>&1 < /dev/null &
  echo "$! bash" > "$DIR/pids/watchdog.pid"
}

write_env() {
  cat > "$DIR/control-plane.env" <<EOF
AIOPS_K8S_DIR=$DIR
AIOPS_K8S_SERVER=https://127.0.0.1:$API_PORT
AIOPS_K8S_CA_FILE=$DIR/pki/ca.crt
AIOPS_K8S_TOKEN=$TOKEN
AIOPS_K8S_VIEWER_TOKEN=$VIEWER_TOKEN
AIOPS_K8S_CLIENT_CERT_FILE=$DIR/pki/admin.crt
AIOPS_K8S_CLIENT_KEY_FILE=$DIR/pki/admin.key
AIOPS_K8S_KUBECONFIG=$DIR/kubeconfig
AIOPS_K8S_KUBECTL=$BIN/kubectl
AIOPS_K8S_ETCD=http://127.0.0.1:$ETCD_PORT
AIOPS_K8S_BIN_DIR=$BIN
AIOPS_K8S_API_PORT=$API_PORT
AIOPS_K8S_ETCD_PORT=$ETCD_PORT
AIOPS_K8S_ETCD_PEER_PORT=$ETCD_PEER_PORT
AIOPS_K8S_KCM_PORT=${KCM_PORT:-}
AIOPS_K8S_WITH_KCM=$WITH_KCM
EOF
}

load_env() {
  [[ -n "$DIR" ]] || die "--dir is required"
  [[ -f "$DIR/control-plane.env" ]] || die "$DIR/control-plane.env not found: not a control-plane folder"
  # shellcheck disable=SC1091
  source "$DIR/control-plane.env"
  API_PORT=$AIOPS_K8S_API_PORT; TOKEN=$AIOPS_K8S_TOKEN; BIN=$AIOPS_K8S_BIN_DIR
}

stop_all() {
  for name in kube-controller-manager kube-apiserver etcd; do stop_one "$DIR/pids/$name.pid"; done
}

# --- commands ------------------------------------------------------------------------------------

cmd_start() {
  BIN=${AIOPS_K8S_BIN_DIR:-$("$SCRIPT_DIR/build_control_plane.sh" --print-bin-dir)}
  for b in etcd kube-apiserver kube-controller-manager kubectl; do
    [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing: run tools/build_control_plane.sh first"
  done
  for t in openssl curl ss setsid; do command -v "$t" >/dev/null || die "'$t' not found: run tools/setup.sh"; done
  if [[ -z "$DIR" ]]; then DIR=$(mktemp -d "${TMPDIR:-/tmp}/aiops-k8s.XXXXXX"); fi
  mkdir -p "$DIR/logs" "$DIR/pids"
  DIR=$(cd "$DIR" && pwd)
  if pid_alive "$DIR/pids/kube-apiserver.pid"; then die "a control plane already runs in $DIR"; fi

  local t0; t0=$(date +%s%N)
  make_pki
  TOKEN=$(openssl rand -hex 24)
  VIEWER_TOKEN=$(openssl rand -hex 24)
  printf '%s,aiops-test,aiops-test-uid,"system:masters"\n%s,aiops-viewer,aiops-viewer-uid\n' \
    "$TOKEN" "$VIEWER_TOKEN" > "$DIR/tokens.csv"
  chmod 600 "$DIR/tokens.csv"

  if [[ -n "$OWNER_PID" ]]; then start_watchdog; fi
  # A port can be taken between choosing and binding it; retry with new ports.
  local attempt
  for attempt in 1 2 3; do
    ETCD_PORT=$(free_port); ETCD_PEER_PORT=$(free_port); API_PORT=$(free_port); KCM_PORT=$(free_port)
    write_kubeconfig "$DIR/kubeconfig" aiops-test
    write_kubeconfig "$DIR/admin.kubeconfig" aiops-cert
    write_env
    rm -rf "$DIR/etcd"
    if start_etcd; then
      apiserver_args > "$DIR/apiserver.args"
      if start_apiserver; then
        if [[ $WITH_KCM -eq 0 ]] || start_kcm; then
          local t1; t1=$(date +%s%N)
          log "ready in $(( (t1 - t0) / 1000000 )) ms: https://127.0.0.1:$API_PORT (state in $DIR)"
          log "use it with: export KUBECONFIG=$DIR/kubeconfig; $BIN/kubectl get ns"
          echo "$(( (t1 - t0) / 1000000 ))" > "$DIR/startup-ms"
          echo "$DIR"
          return 0
        fi
      fi
    fi
    stop_all
    if grep -qs "address already in use" "$DIR"/logs/*.log; then
      log "a port was taken (attempt $attempt); retrying with new ports"
      : > "$DIR/logs/etcd.log"; : > "$DIR/logs/kube-apiserver.log"; : > "$DIR/logs/kube-controller-manager.log"
      continue
    fi
    break
  done
  FROM_WATCHDOG=0 cmd_stop
  die "the control plane did not start (logs in $DIR/logs)"
}

cmd_stop() {
  [[ -n "$DIR" ]] || die "--dir is required"
  [[ -d "$DIR/pids" ]] || return 0
  stop_all
  # The watchdog goes last, so that it still covers a stop that fails halfway.
  if [[ -f "$DIR/pids/watchdog.pid" ]]; then
    local pid; read -r pid _ < "$DIR/pids/watchdog.pid"
    rm -f "$DIR/pids/watchdog.pid"
    [[ "${FROM_WATCHDOG:-0}" == 1 ]] || kill -TERM "$pid" 2>/dev/null || true
  fi
  log "stopped ($DIR)"
}

cmd_restart_apiserver() {
  load_env
  stop_one "$DIR/pids/kube-apiserver.pid"
  start_apiserver || die "kube-apiserver did not come back"
  log "kube-apiserver restarted on https://127.0.0.1:$API_PORT"
}

cmd_status() {
  [[ -n "$DIR" ]] || die "--dir is required"
  local rc=0
  for name in etcd kube-apiserver kube-controller-manager watchdog; do
    if pid_alive "$DIR/pids/$name.pid"; then echo "$name: running"; else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

case "$CMD" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart-apiserver) cmd_restart_apiserver ;;
  status) cmd_status ;;
  env) load_env; cat "$DIR/control-plane.env" ;;
  *) usage ;;
esac
