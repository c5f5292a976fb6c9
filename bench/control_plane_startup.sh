#!/usr/bin/env bash
# Measures the test control plane's start-up (certificates, etcd, kube-apiserver /readyz and
# kube-controller-manager /healthz) and stop times over N runs; prints each run and the median.
#   bench/control_plane_startup.sh [N=5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-5}
starts=(); stops=()
for i in $(seq 1 "$n"); do
  dir=$(mktemp -d)
  t0=$(date +%s%N)
  tools/control_plane.sh start --dir "$dir" --owner-pid $$ >/dev/null 2>&1
  t1=$(date +%s%N)
  tools/control_plane.sh stop --dir "$dir" >/dev/null 2>&1
  t2=$(date +%s%N)
  rm -rf "$dir"
  starts+=($(( (t1 - t0) / 1000000 ))); stops+=($(( (t2 - t1) / 1000000 )))
  echo "run $i: start ${starts[-1]} ms, stop ${stops[-1]} ms"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median over $n runs: start $(median "${starts[@]}") ms, stop $(median "${stops[@]}") ms" \
     "($(nproc) cores, $(uname -m))"
