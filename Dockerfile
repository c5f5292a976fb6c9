# The operator image: `aiops` on Debian 12, nothing else.
#   docker build -t REGISTRY/chatcli-aiops:TAG .        (from the repository root)
# Without a Docker daemon (the project's machines): tools/build_operator_image.sh, which runs
# `buildah bud` on a local Debian 12 base made with mmdebstrap (BASE_IMAGE/RUNTIME_IMAGE below)
# and either builds the default target (`--full`: this whole file, compiling the project) or the
# `prebuilt` target (the default there, for CI): the runtime stage plus an aiops binary built
# outside, from a build context folder holding only `aiops`. See docs/deployment.md, "Building the
# image without Docker".
#   stages: build (compile) -> runtime (libraries, user) -> prebuilt | the final image
# Builders skip stages the target does not use (BuildKit, and buildah's --skip-unused-stages,
# on by default), so a default build never needs the prebuilt binary, nor `--target prebuilt`
# the compile. (Docker's legacy builder, DOCKER_BUILDKIT=0, builds every stage: there the
# default build would stop at the prebuilt stage's `COPY aiops`. Use BuildKit or buildah.)

# Base images: Debian 12 (bookworm). Override to use a local or mirrored copy, e.g.
#   --build-arg BASE_IMAGE=localhost/debian:12 --build-arg RUNTIME_IMAGE=localhost/debian:12-slim
ARG BASE_IMAGE=debian:12
ARG RUNTIME_IMAGE=debian:12-slim

# --- build: the Debian packages of tools/setup.sh that the `aiops` target needs ---------------
FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates \
      libgrpc++-dev libgrpc-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev \
      librocksdb-dev libcpp-httplib-dev nlohmann-json3-dev libfmt-dev libabsl-dev libssl-dev \
      libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Tests and benchmarks off: GoogleTest and Google Benchmark are not needed for the binary.
# .dockerignore leaves out .git, so `aiops --version` reports "unknown" (no git describe).
# RelWithDebInfo (-O2 -g -DNDEBUG), the configuration CI and every developer build compile with
# -Werror: Release (-O3) is never compiled here, and g++ 12 warns differently at -O3, so -Werror
# could fail on a build nobody ran. `install -s` strips the debug information from the image.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DAIOPS_BUILD_TESTS=OFF -DAIOPS_BUILD_BENCH=OFF \
 && cmake --build /build --target aiops \
 && install -D -m 0755 -s /build/src/server/aiops /out/usr/local/bin/aiops

# --- runtime: the shared libraries `ldd aiops` lists, by Debian package --------------------------
# RocksDB is linked statically (Debian's CMake package imports librocksdb.a); its compression
# libraries are shared. libc6, libstdc++6 and libgcc-s1 are already in debian:12-slim.
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libabsl20220623 libgrpc++1.51 libgrpc29 libprotobuf32 libre2-9 libc-ares2 \
      libcpp-httplib0.11 libssl3 libbrotli1 zlib1g \
      libfmt9 libyaml-cpp0.7 \
      libsnappy1v5 liblz4-1 libzstd1 libbz2-1.0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 aiops \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/chatcli-aiops \
      --no-create-home --shell /usr/sbin/nologin aiops \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/chatcli-aiops
USER 65532:65532
# glibc's malloc asks for transparent huge pages (where the node's THP mode is madvise or always):
# the pipeline state's tables are read at random, and on 4 KiB pages a storm's lookups spend much
# of their time on TLB misses (docs/operations.md, "Memory").
ENV GLIBC_TUNABLES=glibc.malloc.hugetlb=1
EXPOSE 50051 8080
VOLUME ["/var/lib/chatcli-aiops"]
ENTRYPOINT ["/usr/local/bin/aiops"]
CMD ["run", "--config", "/etc/chatcli-aiops/config.json"]

# --- prebuilt: the runtime stage plus an `aiops` built outside the image -------------------------
# `--target prebuilt` with a build context folder holding only the (stripped) binary `aiops`, built
# on Debian 12 with the libraries above (tools/build_operator_image.sh --prebuilt PATH prepares it).
FROM runtime AS prebuilt
COPY aiops /usr/local/bin/aiops

# --- the image (default target): the runtime stage plus the binary compiled in `build` ----------
FROM runtime
COPY --from=build /out/ /
