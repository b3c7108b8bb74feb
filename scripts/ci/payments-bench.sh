#!/usr/bin/env bash
# The UMA payments benchmark (issue 6; numbers, not a pass/fail check unless
# PAYMENTS_BENCH_CHECK=1): prints one JSON line per database with the
# secp256k1 bound of this machine, the payreqs/s a receiving vaspd handles
# end to end and its ratio to the bound, and two-VASP payment latency p50/p99
# (execute of prepared quotes; lookup+quote+execute). SQLite always,
# PostgreSQL when it is reachable. See docs/payments-benchmarks.md.
# Takes under 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."

export VASPD_TEST_POSTGRES_URL="${VASPD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}"
dbs=sqlite
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  dbs="sqlite postgres"
else
  echo "PostgreSQL is not reachable: SQLite only" >&2
fi
check=()
if [ "${PAYMENTS_BENCH_CHECK:-}" = "1" ]; then check=(-check); fi
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/payments" ./bench/payments
for db in $dbs; do
  timeout 180 "$bin/payments" -db "$db" "${check[@]}"
done
