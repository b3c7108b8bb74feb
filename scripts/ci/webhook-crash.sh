#!/usr/bin/env bash
# The webhook engine's crash test (issue "Proof required"): worker processes
# enqueue thousands of events in their own transactions (some rolled back) and
# deliver them to a local receiver that records every webhookId; they are
# killed with SIGKILL at random moments and restarted. At the end every
# committed event must have been delivered, with its stored bytes and a valid
# signature, nothing rolled back may have been delivered, a duplicate is only
# allowed after a kill and always carries the same webhookId, and no delivery
# may be attempted by two processes at once (the receiver watches for overlap).
# Runs on SQLite, on PostgreSQL, and with two processes sharing PostgreSQL.
# Bounded: each run gives up after 100 s; the three take well under 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL="${VASPD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/webhooks" ./bench/webhooks

echo "--- SQLite, one process"
timeout 120 "$bin/webhooks" crash -db sqlite -events 3000 -kills 6

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL is not reachable at 127.0.0.1:5432: the PostgreSQL runs are required" >&2
  exit 1
fi
echo "--- PostgreSQL, one process"
timeout 120 "$bin/webhooks" crash -db postgres -pg "$PG_URL" -events 3000 -kills 6
echo "--- PostgreSQL, two processes"
timeout 120 "$bin/webhooks" crash -db postgres -pg "$PG_URL" -procs 2 -events 4000 -kills 8
