# capkv container image.
#
#   docker build -t capkv .
#   docker run --rm --name capkv --cpus=2 --memory=2g -p 7171:7171 -p 9171:9171 capkv
#
# No flags are needed: capkv reads its memory budget from the container's
# cgroup limit (2 GiB above, minus headroom) and sizes its worker threads
# from the CPU quota (2 above). Every flag also has a CAPKV_* environment
# variable (`docker run -e CAPKV_LOG_FORMAT=json ...`).
#
# Stages
#   chef     the Rust toolchain plus cargo-chef (built once, cached)
#   planner  reduces the workspace to recipe.json: manifests, lockfile and
#            target skeletons, nothing of the source
#   builder  builds the dependencies from recipe.json (this layer only
#            changes when the manifests or Cargo.lock change), then the server
#   runtime  distroless: glibc + libgcc, no shell, no package manager
#
# The build context is the whole workspace: the server package at the root
# and the load driver in capkv-bench/ (.dockerignore keeps both), because
# cargo loads every member's manifest and targets before it builds anything.
# Only the server package is built (-p capkv): nothing of the load driver,
# not even its dependencies, is compiled here.
#
# Why cargo-chef rather than "copy Cargo.toml, build a dummy src/main.rs":
# the dummy trick has to mirror every target the manifest declares (benches,
# tests, examples, build.rs) or cargo refuses to load the manifest, and a
# stale dummy artefact can be mistaken for the real one. cargo-chef computes
# the skeleton from the manifests themselves. BuildKit cache mounts
# (--mount=type=cache) would be faster on one machine, but their contents are
# not exported to the GitHub Actions cache (type=gha), whereas this layer is.

# Builder: Debian 12 (bookworm), the same glibc (2.36) as the runtime image,
# so the binary never needs a newer glibc than the runtime has. The full
# (non-slim) image already ships make and a C compiler, which
# tikv-jemalloc-sys needs to build jemalloc; no apt-get step is required.
# Tag and digest pinned together (multi-arch index digest of rust:1.95.0-bookworm).
FROM rust:1.95.0-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS chef
WORKDIR /build
RUN cargo install cargo-chef --locked --version 0.1.78

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
# Dependencies only (tokio, clap, tracing, jemalloc, ...): cached until the
# manifests change.
RUN cargo chef cook --release --locked -p capkv --bin capkv --recipe-path recipe.json
COPY . .
# The release profile keeps line tables (debug = "line-tables-only") for
# profiling and backtraces. In the image they would cost ~21 MB: a stand-in
# binary with capkv's dependencies measured 24.9 MB as built, 3.5 MB without
# DWARF. Ship the binary without DWARF but with its symbol table (panic
# backtraces keep function names); the full binary stays in this stage for
# `docker build --target builder` when file:line detail is needed.
RUN cargo build --release --locked -p capkv --bin capkv \
    && objcopy --strip-debug target/release/capkv /build/capkv

# Runtime: distroless "cc" = glibc, libgcc_s, libstdc++, CA certificates and
# tzdata, nothing else; the ":nonroot" variant runs as uid/gid 65532.
# The digest is the one public Dockerfiles pinned for this tag; it could not
# be re-checked against the registry from the machine that wrote this file
# (no registry access there). Refresh it with
#   crane digest gcr.io/distroless/cc-debian12:nonroot
# (or let Renovate/Dependabot do it) whenever Trivy reports a fixed CVE.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f AS runtime

LABEL org.opencontainers.image.title="capkv" \
      org.opencontainers.image.description="In-memory key-value cache that never outgrows its memory limit (seed line protocol + RESP2)" \
      org.opencontainers.image.licenses="MIT"

COPY --from=builder /build/capkv /usr/local/bin/capkv

# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532

# 7171: seed line protocol and RESP2 (one port, chosen by the first byte).
# 6379: Redis's protocol only (RESP2/RESP3, inline commands as Redis parses
#       them), for redis-cli, telnet and Redis tooling (--redis-port, 0
#       disables).
# 6380: 7171's protocols over TLS, when --tls-port 6380 (CAPKV_TLS_PORT) is set with
#       a certificate and key; off by default.
# 9171: Prometheus /metrics, /healthz, /readyz (--metrics-port, 0 disables).
#       No password on it: it serves counters and health, never keys or
#       values; keep it to the monitoring network (--metrics-bind, a
#       NetworkPolicy, or do not publish it).
EXPOSE 7171 6379 6380 9171

# Secrets (the password, an ACL file, TLS key and certificates) are never
# baked into the image and never passed as a flag or env value (those show in
# `docker inspect`, `ps` and crash reports): mount them read-only and point
# the *_FILE flags at the files. They must be readable by uid/gid 65532:
#   docker run --rm --name capkv --memory=2g -p 7171:7171 -p 6380:6380 \
#     -v "$PWD/secrets/auth:/etc/capkv/auth:ro" \
#     -v "$PWD/secrets/tls:/etc/capkv/tls:ro" \
#     -e CAPKV_REQUIREPASS_FILE=/etc/capkv/auth/password \
#     -e CAPKV_TLS_PORT=6380 \
#     -e CAPKV_TLS_CERT_FILE=/etc/capkv/tls/tls.crt \
#     -e CAPKV_TLS_KEY_FILE=/etc/capkv/tls/tls.key \
#     -e CAPKV_TLS_CA_CERT_FILE=/etc/capkv/tls/ca.crt \
#     capkv
# (Kubernetes: k8s/overlays/secure, the same paths from Secrets.)

# Health checks: the image has no shell, curl or nc, so a Docker HEALTHCHECK
# has nothing to run and none is declared. Orchestrators probe from outside:
# Kubernetes uses HTTP GET /healthz and /readyz on 9171 (k8s/base), or a TCP
# connect to 7171 when metrics are disabled. If plain-Docker health status is
# ever needed, the way to add it without a shell is a client mode in the
# binary itself, e.g.
#   HEALTHCHECK CMD ["/usr/local/bin/capkv", "--health-check"]
# (connect to 127.0.0.1:7171, send PING, expect PONG, exit 0/1). It does not
# exist yet; see docs/OPERATIONS.md.

# SIGTERM (docker stop, Kubernetes) makes capkv stop accepting, finish
# in-flight replies and exit 0 within --shutdown-timeout (default 10s).
# `docker stop` waits 10s by default: use `docker stop -t 15` to give the
# drain its full deadline.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/capkv"]
