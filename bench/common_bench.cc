// Checksums on the event log's write and read paths: CRC32C frames every value, SHA-256 chains
// every event. Compare CRC32C against SHA-256 over the same sizes to see what framing costs, and
// CRC32C's table path (the fallback for CPUs without SSE4.2) against what Extend uses here.
#include <string>

#include <benchmark/benchmark.h>

#include "common/crc32c.h"
#include "common/sha256.h"

namespace {

void BM_Crc32c(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    benchmark::DoNotOptimize(aiops::common::crc32c::Value(data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(256)->Arg(4096)->Arg(65536);

void BM_Crc32cTables(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        aiops::common::crc32c::internal::ExtendPortable(0, data.data(), data.size()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32cTables)->Arg(256)->Arg(4096)->Arg(65536);

void BM_Sha256(  // NOLINT(readability-identifier-naming): benchmark convention
    benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) {
    benchmark::DoNotOptimize(aiops::common::Sha256Of(data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(256)->Arg(4096)->Arg(65536);

}  // namespace
