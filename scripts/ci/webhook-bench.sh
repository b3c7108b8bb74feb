#!/usr/bin/env bash
# The webhook engine's benchmarks (not part of CI by default: numbers, not a
# pass/fail check). Prints JSON lines:
#   1. bench/webhooks: raw loopback POST rate, durable end-to-end deliveries/s,
#      enqueue→delivered p50/p99 at a fixed rate, and the isolation run
#      (100 timing-out endpoints beside one healthy one), on SQLite and
#      PostgreSQL, with each goal and whether it was met;
#   2. bench/river: riverqueue/river against vaspd's delivery queue on the same
#      workload, on SQLite, then on PostgreSQL.
# See docs/webhook-engine-benchmarks.md for how to read them. Takes ~3 minutes.
# Set WEBHOOK_BENCH_SKIP_RIVER=1 to skip part 2.
set -euo pipefail
cd "$(dirname "$0")/../.."

export VASPD_TEST_POSTGRES_URL="${VASPD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
db=sqlite
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  db=sqlite,postgres
else
  echo "PostgreSQL is not reachable: SQLite only" >&2
fi
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/webhooks" ./bench/webhooks
timeout 600 "$bin/webhooks" bench -db "$db" -n 10000 -c 16 -rate 200 -dur 10s -dead 100

if [ "${WEBHOOK_BENCH_SKIP_RIVER:-}" = "1" ]; then exit 0; fi
(cd bench/river && go build -o "$bin/river" .)
timeout 600 "$bin/river" -db sqlite -n 5000 -c 16 -rounds 2
if [ "$db" = "sqlite,postgres" ]; then
  timeout 600 "$bin/river" -db postgres -url "$VASPD_TEST_POSTGRES_URL" -n 5000 -c 16 -rounds 2
fi
