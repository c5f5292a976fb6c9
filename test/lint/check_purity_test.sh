#!/usr/bin/env bash
# Tests tools/check_purity.sh: each banned construct alone makes it fail, and pure code, comments
# and "purity-ok" lines pass. Prints 'N passed, N failed'.
set -uo pipefail
lint="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tools/check_purity.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0; failed=0

expect() {  # expect pass|fail LINE
  local want=$1 line=$2
  rm -rf "$tmp/d"; mkdir -p "$tmp/d"
  printf '#pragma once\n%s\n' "$line" > "$tmp/d/x.h"
  if bash "$lint" "$tmp/d" >/dev/null 2>&1; then got=pass; else got=fail; fi
  if [[ $got == "$want" ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: expected $want for: $line"; fi
}

for bad in '#include <chrono>' '#include <random>' '#include <thread>' '#include <mutex>' \
           '#include <fstream>' '#include <filesystem>' '#include <iostream>' '#include <unordered_map>' \
           '#include <rocksdb/db.h>' '#include <httplib.h>' '#include <grpcpp/grpcpp.h>' \
           '#include <absl/random/random.h>' '#include <absl/synchronization/mutex.h>' \
           '#include "common/clock.h"' '#include <absl/container/flat_hash_map.h>' \
           'auto t = std::chrono::system_clock::now();' 'auto t = absl::Now();' 'int r = std::rand();' \
           'std::random_device rd;' 'const char* h = getenv("HOME");' 'std::unordered_set<int> s;' \
           'absl::flat_hash_map<int, int> m;' 'std::thread t;' 'std::cout << 1;'; do
  expect fail "$bad"
done
for good in '#include <map>' '#include <string>' '#include <absl/container/btree_map.h>' \
            'std::map<std::string, int> m;' '// absl::Now() is banned here' \
            'absl::flat_hash_map<int, int> index;  // purity-ok: never iterated' \
            'int64_t now_ms = event.logical_time_ms();'; do
  expect pass "$good"
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
