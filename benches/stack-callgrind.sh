#!/usr/bin/env bash
# Instructions per unary call, counted by valgrind's callgrind: the same figures whatever else
# the machine is doing (BENCHMARKS.md, "The per-call stack against bare tonic"). For each
# target it starts the server under callgrind, warms it with 2,000 calls, zeroes the counters,
# sends REESTR_BENCH_CALLS calls with h2load (-c 8 -m 32 -t 1), dumps the counters and divides
# the server's instructions by the calls. Targets: bare tonic Health/Check (benches/bare-tonic),
# reestr Health/Check, reestr GetItem and ValidateCode of SOATO item 1726 (`reestr seed`).
#
#   benches/stack-callgrind.sh                  # release binaries of this checkout
#   REESTR_BENCH_CALLS=20000 REESTR_BENCH_KEEP=/tmp/cg benches/stack-callgrind.sh
#
# REESTR_BENCH_KEEP keeps the callgrind files there (callgrind_annotate --inclusive=yes FILE);
# REESTR_BENCH_REESTR measures another reestr binary (an older build, say) instead.
# Installs valgrind and h2load (nghttp2-client) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=${REESTR_BENCH_CALLS:-20000}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/reestr-target}"

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v h2load >/dev/null || missing+=(nghttp2-client)
if ((${#missing[@]})); then
    apt-get update
    apt-get install -y "${missing[@]}"
fi

cargo build --release -p reestr -p reestr-bench-bare-tonic
reestr=${REESTR_BENCH_REESTR:-$CARGO_TARGET_DIR/release/reestr}
bare=$CARGO_TARGET_DIR/release/reestr-bench-bare-tonic

work=$(mktemp -d)
keep=${REESTR_BENCH_KEEP:-$work}
mkdir -p "$keep"
cleanup() {
    pkill -f "callgrind-out-file=$keep/" 2>/dev/null || true
    pkill -f "serve --data-dir $work/data" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# A gRPC frame around a protobuf message with one string field 1 (or none).
frame() {
    python3 -c '
import sys
text = sys.argv[1].encode()
msg = bytes([0x0a, len(text)]) + text if text else b""
sys.stdout.buffer.write(b"\0" + len(msg).to_bytes(4, "big") + msg)' "$1"
}
frame "" >"$work/check.bin"
frame "classifiers/soato/versions/latest/items/1726" >"$work/getitem.bin"
python3 -c '
import sys
def field(n, text):
    return bytes([n << 3 | 2, len(text)]) + text
msg = field(1, b"classifiers/soato") + field(2, b"1726")
sys.stdout.buffer.write(b"\0" + len(msg).to_bytes(4, "big") + msg)' >"$work/validate.bin"

port_of() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The seeded data directory: SOATO published, the administrator's token.
port=$(port_of)
"$reestr" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/seed.log" 2>&1 &
for _ in $(seq 1 100); do grep -q serving "$work/seed.log" && break; sleep 0.1; done
"$reestr" seed --data-dir "$work/data" --server "http://127.0.0.1:$port" >/dev/null
pkill -INT -f "serve --data-dir $work/data"
while pgrep -f "serve --data-dir $work/data" >/dev/null; do sleep 0.1; done
token=$(cat "$work/data/admin.token")

load() { # load PORT PATH BODY N
    h2load -n "$4" -c 8 -m 32 -t 1 -d "$3" -H "content-type: application/grpc" -H "te: trailers" \
        -H "authorization: Bearer $token" "http://127.0.0.1:$1$2" |
        awk '/^requests:/ { if ($8 != $2) { print "h2load: " $0 > "/dev/stderr"; exit 1 } }'
}

# measure LABEL PATH BODY COMMAND...: instructions per call of one target.
measure() {
    local label=$1 path=$2 body=$3
    shift 3
    local port out
    port=$(port_of)
    out="$keep/$(echo "$label" | tr ' /' '--').callgrind"
    rm -f "$out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$@" "127.0.0.1:$port" \
        >"$work/valgrind.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1 600); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; then
            break
        fi
        sleep 0.2
    done
    load "$port" "$path" "$body" 2000
    callgrind_control -z "$pid" >/dev/null
    load "$port" "$path" "$body" "$calls"
    callgrind_control -d "$pid" >/dev/null
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # The dump after zeroing is the file with the highest part number.
    local dump
    dump=$(ls -v "$out".* 2>/dev/null | tail -n 1)
    local total
    total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    printf '%-24s %12d instructions per call\n' "$label" "$((total / calls))"
    printf '%s\t%d\n' "$label" "$((total / calls))" >>"$work/figures"
}

echo "callgrind, $calls calls per target after 2,000 to warm up; h2load -c 8 -m 32 -t 1"
measure "bare Check" /grpc.health.v1.Health/Check "$work/check.bin" "$bare"
for target in "reestr Check:/grpc.health.v1.Health/Check:check" \
    "GetItem:/reestr.v1.ClassifierService/GetItem:getitem" \
    "ValidateCode:/reestr.v1.ClassifierService/ValidateCode:validate"; do
    IFS=: read -r label path body <<<"$target"
    measure "$label" "$path" "$work/$body.bin" \
        "$reestr" serve --data-dir "$work/data" --rate-limit-per-second 0 --listen
done

python3 - "$work/figures" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
bare = int(rows[0][1])
print("\n| target | instructions per call | ÷ bare Check |\n|---|---|---|")
for label, value in rows:
    print(f"| {label} | {int(value):,} | {int(value) / bare:.2f} |")
PY
