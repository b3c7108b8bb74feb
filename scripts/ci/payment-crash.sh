#!/usr/bin/env bash
# The payment crash test (internal/paycrash; driver: bench/payments crash):
# two real `vaspd serve` processes, a sending VASP and a receiving one, each
# with its own database and embedded Lightning node on a loopback devnet,
# pay each other through the platform API (lookup, quote, execute with an
# Idempotency-Key, retried with the same key when the answer is lost; a
# deposit every ten payments) while the sender, the receiver or both are
# SIGKILLed 12 times at random moments with payments in flight (quotes
# claimed, Lightning payments on their way, paid but not booked) and started
# again on the same database and address (one restart in three SIGKILLed
# again while it starts). A fifth of the payments are auto-refresh quotes
# (12 s invoices, renewed in place while executed and killed; some executes
# racing a refresh), a sixth UMA requests each paid with two quotes executed
# at once. Once every payment has ended it
# checks, through the platform API and read-only SQL, that every executed
# quote has one transaction, COMPLETED or FAILED; a completed one credited
# once at the quoted amount, a failed one debiting nothing; both users'
# balances as the payments say; both ledgers balancing; no invoice paid
# twice and the nodes' money agreeing with the books; each payment's end
# announced once to each platform (one webhookId); an auto-refresh quote
# paid once on its last terms, no superseded invoice paid; an UMA request
# paid once, the other execute refused naming the quote paying it. One
# JSON line per run;
# a broken promise exits 1 naming it. Runs on SQLite, then PostgreSQL (a
# schema per VASP, dropped after), then PostgreSQL in cluster mode (-cluster:
# each VASP two `vaspd serve` processes sharing its schema behind a
# round-robin front on its domain address, which sends a request another
# process could not connect to on to the other; a kill strikes one of a
# VASP's processes or, one time in three, both). Bounded: each run gives up
# after 85 s and is killed at 100 s; they take 40, 50 and 50 s on the 2-core
# machine.
set -euo pipefail
cd "$(dirname "$0")/../.."

PG_URL="${VASPD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/vaspd" ./cmd/vaspd
go build -o "$bin/payments" ./bench/payments

echo "--- two vaspd serve, SQLite"
timeout 100 "$bin/payments" crash -vaspd "$bin/vaspd" -db sqlite -payments 120 -kills 12

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "PostgreSQL is not reachable at 127.0.0.1:5432: the PostgreSQL run is required" >&2
  exit 1
fi
echo "--- two vaspd serve, PostgreSQL"
timeout 100 "$bin/payments" crash -vaspd "$bin/vaspd" -db postgres -pg "$PG_URL" -payments 120 -kills 12
echo "--- two VASPs of two vaspd serve each, PostgreSQL"
timeout 100 "$bin/payments" crash -vaspd "$bin/vaspd" -db postgres -pg "$PG_URL" -cluster -payments 120 -kills 12
