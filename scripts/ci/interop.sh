#!/usr/bin/env bash
# Interop proof of issue 3: vaspd's uma package against the official SDKs,
# in both directions, for every message type, ECIES and invoices —
# uma-go-sdk v1.5.1 (a Go dependency of the separate module interop/) and
# @uma-sdk/core 1.5.0 from npm, driven through node by the Go tests.
#
# `npm ci` installs the JS SDK from interop/js/package-lock.json (exact
# versions and integrity hashes) into interop/js/node_modules (gitignored),
# with npm's download cache outside the repository. Needs go, node and npm:
# there is no skip here — VASPD_INTEROP_REQUIRE_JS makes a missing JS SDK a
# test failure. Also checks gofmt, go vet and staticcheck for the interop
# module (the root module's ./... does not reach it) and runs every
# benchmark once. About 30 s with warm caches, about a minute cold on an
# idle 2-core machine; the whole script is bounded to 170 s.
set -euo pipefail
if [ -z "${VASPD_INTEROP_BOUNDED:-}" ]; then
  export VASPD_INTEROP_BOUNDED=1
  exec timeout --kill-after=5 170 bash "$0" "$@"
fi
cd "$(dirname "$0")/../.."

CACHE="${VASPD_CI_CACHE:-$HOME/.cache/vaspd-ci}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
for tool in go node npm; do
  command -v "$tool" >/dev/null || { echo "interop: $tool is required" >&2; exit 1; }
done
[ -d ../shared/uma-vectors ] || echo "interop: ../shared/uma-vectors absent; the shared ECIES vector will be skipped"

start=$(date +%s)
step() { printf '=== interop: %s (%ds)\n' "$*" "$(( $(date +%s) - start ))"; }

step "npm ci (interop/js, cache $CACHE/npm)"
# --ignore-scripts: nothing from the registry runs at install time; the
# secp256k1 package then uses its bundled prebuild or its pure-JS fallback.
timeout 40 npm ci --prefix interop/js --cache "$CACHE/npm" --prefer-offline \
  --no-audit --no-fund --ignore-scripts --loglevel=error

cd interop
step "go test (uma-go-sdk v1.5.1 and @uma-sdk/core 1.5.0, both directions)"
export VASPD_INTEROP_REQUIRE_JS=1
timeout 110 go test -count=1 -timeout 60s ./...

step "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
timeout 60 go vet ./...
if [ -x "$CACHE/bin/staticcheck" ]; then
  timeout 90 "$CACHE/bin/staticcheck" ./...
else
  echo "interop: staticcheck not installed in $CACHE/bin (.ci/run installs it); skipped"
fi

step "benchmarks, one iteration each (ours vs uma-go-sdk; numbers: go run ./cmd/umabench)"
timeout 30 go test -count=1 -run '^$' -bench . -benchtime 1x ./bench/ >/dev/null

step "passed"
