#!/usr/bin/env bash
# Purity lint for the deterministic layers (src/projections, src/stages): no clocks, randomness,
# threads, I/O, environment or hash-ordered containers. Escape hatch for a line that is pure
# anyway: append "// purity-ok: <why>". Usage: tools/check_purity.sh [DIR...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dirs=("$@")
[[ ${#dirs[@]} -gt 0 ]] || dirs=(src/projections src/stages)
banned='#include <(chrono|ctime|time\.h|random|thread|mutex|shared_mutex|condition_variable|future|atomic|fstream|filesystem|iostream|cstdio|stdio\.h|unistd\.h|sys/[a-z_]+\.h|unordered_map|unordered_set)>'
banned+='|#include [<"](rocksdb|httplib|grpcpp|grpc/|curl|absl/random|absl/synchronization|absl/time/clock|absl/container/(flat|node)_hash_(map|set)|common/clock\.h)'
banned+='|system_clock|steady_clock|high_resolution_clock|absl::Now|std::rand|[^a-z_]rand\(|random_device|mt19937'
banned+='|getenv|std::thread|std::async|std::mutex|absl::Mutex|fopen|std::cout|std::cerr|printf'
banned+='|unordered_(map|set)|flat_hash_(map|set)|node_hash_(map|set)'
existing=()
for d in "${dirs[@]}"; do [[ -d "$d" ]] && existing+=("$d"); done
[[ ${#existing[@]} -gt 0 ]] || { echo "purity check: nothing to check"; exit 0; }
hits=$(grep -rnE --include='*.h' --include='*.cc' "$banned" "${existing[@]}" \
       | grep -vE 'purity-ok:|^[^:]+:[0-9]+:[[:space:]]*//' || true)
if [[ -n "$hits" ]]; then
  printf '%s\n' "$hits"
  echo "purity check failed: the lines above bring a clock, randomness, threads, I/O, the" \
       "environment or a hash-ordered container into a deterministic layer" >&2
  exit 1
fi
echo "purity check passed (${existing[*]})"
