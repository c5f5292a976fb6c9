# CR mirror on a real local control plane (etcd + kube-apiserver from tools/control_plane.sh):
# API writes per object state change in an anomaly storm, server-side apply rate with and without
# the client's rate limiter, and append-to-applied lag (README.md). Needs the test support library
# (AIOPS_BUILD_TESTS=ON) and the control-plane binaries (tools/build_control_plane.sh).
# Run: build/bench/mirror_bench --benchmark_counters_tabular=true
add_executable(mirror_bench mirror_bench.cc)
target_link_libraries(mirror_bench
  PRIVATE aiops::k8s_sync aiops::server aiops_test_support benchmark::benchmark_main aiops_options)
target_compile_definitions(mirror_bench PRIVATE AIOPS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
