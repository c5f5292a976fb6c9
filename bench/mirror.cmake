# CR mirror on a real local control plane (etcd + kube-apiserver from tools/control_plane.sh):
# API writes per object state change and append-to-visible lag in the storm of 10,000 anomalies
# over 1,000 resources, server-side apply rate with and without the client's rate limiter, and
# append-to-applied lag one alert at a time (README.md). Needs the test support library
# (AIOPS_BUILD_TESTS=ON) and the control-plane binaries (tools/build_control_plane.sh).
# Run: build/bench/mirror_bench --benchmark_counters_tabular=true
add_executable(mirror_bench mirror_bench.cc)
target_link_libraries(mirror_bench
  PRIVATE aiops::k8s_sync aiops::server aiops_test_support benchmark::benchmark_main aiops_options)
target_compile_definitions(mirror_bench PRIVATE AIOPS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
