#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a few seconds on its
# committed corpus (test/fuzz/corpus/<target>/), which is read, never written.
#   tools/fuzz_smoke.sh [SECONDS_PER_TARGET=20]
# A crash leaves its input in build-fuzz/artifacts/; commit it to the corpus with a regression
# unit test once fixed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-20}
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DAIOPS_FUZZ=ON -DAIOPS_BUILD_TESTS=OFF -DAIOPS_BUILD_BENCH=OFF >/dev/null
targets=(record_decoder export_file analysis_answer)
ninja -C build-fuzz "${targets[@]/%/_fuzz}"
mkdir -p build-fuzz/artifacts
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  echo "== ${t}_fuzz for ${seconds}s"
  build-fuzz/test/fuzz/${t}_fuzz -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/"$t"- "$work" "test/fuzz/corpus/$t" 2>&1 |
    grep -E "stat::number_of_executed_units|stat::new_units_added|ERROR|SUMMARY|Done" || true
  rm -rf "$work"
  # libFuzzer exits non-zero on a crash; the pipe above hides it, so check for artifacts.
  if compgen -G "build-fuzz/artifacts/$t-*" >/dev/null; then
    echo "fuzz smoke: $t found a crashing input (build-fuzz/artifacts/)" >&2
    exit 1
  fi
done
echo "fuzz smoke passed"
