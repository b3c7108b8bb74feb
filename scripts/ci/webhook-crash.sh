#!/usr/bin/env bash
# The webhook engine's crash test (issue "Proof required"): the real daemon,
# `vaspd serve`, delivers webhooks while it is killed with SIGKILL at random
# moments and restarted. The driver (bench/webhooks crash -vaspd) enqueues
# thousands of events in its own transactions (some rolled back) into the
# database the daemons share, and a local receiver records every webhookId.
# At the end every committed event must have been delivered, with its stored
# bytes and a valid signature, nothing rolled back may have been delivered, a
# duplicate is only allowed when a process was SIGKILLed between the previous
# attempt and the repeat (and never on the connection of an earlier attempt),
# and no delivery may be attempted twice at once (the receiver watches for
# overlap). Runs on SQLite, on PostgreSQL, and with two vaspd processes
# sharing PostgreSQL; then once with the harness's own worker processes,
# whose requests name their sender, so that duplicates are checked per
# process. One more SQLite run has 12 endpoints: every event must reach each
# of them, and 12 is more than SQLite's fan-out chunk (8), so every event is
# wide and its deliveries are written by the daemon's deferred fan-out, in
# chunks the kills cut mid-way. Bounded: each run gives up after 100 s; all
# take about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL="${VASPD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/vaspd" ./cmd/vaspd
go build -o "$bin/webhooks" ./bench/webhooks

echo "--- vaspd serve, SQLite, one process"
timeout 120 "$bin/webhooks" crash -vaspd "$bin/vaspd" -db sqlite -events 3000 -kills 6
echo "--- vaspd serve, SQLite, one process, 12 endpoints (wide events: deferred fan-out)"
# 1500 events × 12 endpoints = 18000 deliveries; enqueued at 150/s so that
# wide events keep coming while the kills happen.
timeout 120 "$bin/webhooks" crash -vaspd "$bin/vaspd" -db sqlite -endpoints 12 -events 1500 -rate 150 -kills 6

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL is not reachable at 127.0.0.1:5432: the PostgreSQL runs are required" >&2
  exit 1
fi
echo "--- vaspd serve, PostgreSQL, one process"
timeout 120 "$bin/webhooks" crash -vaspd "$bin/vaspd" -db postgres -pg "$PG_URL" -events 3000 -kills 6
echo "--- vaspd serve, PostgreSQL, two processes"
timeout 120 "$bin/webhooks" crash -vaspd "$bin/vaspd" -db postgres -pg "$PG_URL" -procs 2 -events 4000 -kills 8
echo "--- harness workers (sender ids), PostgreSQL, two processes"
timeout 120 "$bin/webhooks" crash -db postgres -pg "$PG_URL" -procs 2 -events 3000 -kills 6
