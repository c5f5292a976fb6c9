# AI analysis: built-in analyses per second, prompt building + answer parsing overhead per call.
# Included from bench/CMakeLists.txt. Run: build/bench/analysis_bench
#   --benchmark_counters_tabular=true
add_executable(analysis_bench ${CMAKE_CURRENT_LIST_DIR}/analysis_bench.cc)
target_link_libraries(analysis_bench
  PRIVATE aiops::analysis benchmark::benchmark_main aiops_options)
