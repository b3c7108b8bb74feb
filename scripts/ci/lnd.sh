#!/usr/bin/env bash
# LND on a real regtest network (issue 5).
#
# 1. Builds btcd v0.24.2 (+btcctl) and lnd v0.20.0-beta (+lncli) from the Go
#    module proxy, once, into a cache outside the repository
#    ($VASPD_LN_BIN, default $HOME/.cache/vaspd-lnbin). A cache holding the
#    right versions is reused as is; anything else is rebuilt.
#    lnd cannot be built with `go install pkg@version` (its go.mod has replace
#    directives), so it is built inside its downloaded module directory
#    (../shared/docs/lightning.md §1.3, recipe A), with the build tag
#    invoicesrpc, as lnd's release binaries are: vaspd cancels, through the
#    invoices sub-server, the invoice of a payment it made by its books
#    (docs/lightning-lnd.md). The tags are recorded in $BIN/BUILD_TAGS: a
#    cache built with others is rebuilt.
# 2. Runs the tests that need those binaries (lightning/regtest and the LND
#    backend's contract-suite run in lightning/lnd) with VASPD_LN_BIN set.
#
# Cold (empty Go caches): ~4-5 minutes of build on an idle 2-core machine
# (4m26s of CPU measured) plus 1-2 minutes of tests. Warm: the build step is
# a version check (lnd --version), then only the tests run.
#
# Usage: scripts/ci/lnd.sh            build if needed, then test
#        scripts/ci/lnd.sh --build    build if needed, print the directory
set -euo pipefail
cd "$(dirname "$0")/../.."

BTCD_VERSION=v0.24.2
LND_VERSION=v0.20.0-beta
LND_TAGS="invoicesrpc"
BIN="${VASPD_LN_BIN:-$HOME/.cache/vaspd-lnbin}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

have_versions() {
  [ -x "$BIN/btcd" ] && [ -x "$BIN/btcctl" ] && [ -x "$BIN/lnd" ] && [ -x "$BIN/lncli" ] || return 1
  "$BIN/btcd" --version 2>/dev/null | grep -q "version ${BTCD_VERSION#v}" || return 1
  "$BIN/lnd" --version 2>/dev/null | grep -q "version ${LND_VERSION#v}" || return 1
  "$BIN/lncli" --version 2>/dev/null | grep -q "version ${LND_VERSION#v}" || return 1
  [ "$(cat "$BIN/BUILD_TAGS" 2>/dev/null)" = "$LND_TAGS" ] || return 1
}

TMP=""
trap '[ -z "$TMP" ] || rm -rf "$TMP"' EXIT

build() {
  local tmp start
  start=$(date +%s)
  mkdir -p "$(dirname "$BIN")"
  tmp=$(mktemp -d "$BIN.build.XXXXXX")
  TMP=$tmp
  echo "building btcd $BTCD_VERSION and lnd $LND_VERSION (tags: $LND_TAGS) into $BIN"
  GOBIN="$tmp" timeout 600 go install -ldflags "-s -w" \
    "github.com/btcsuite/btcd@$BTCD_VERSION" "github.com/btcsuite/btcd/cmd/btcctl@$BTCD_VERSION"
  local dir
  # (from outside the repository, so vaspd's go.mod and go.sum stay untouched)
  dir=$(cd "$tmp" && GOFLAGS= timeout 600 go mod download -json "github.com/lightningnetwork/lnd@$LND_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "lnd $LND_VERSION: module download failed"; return 1; }
  (cd "$dir" && GOFLAGS=-buildvcs=false timeout 1500 go build -tags "$LND_TAGS" -ldflags "-s -w" -o "$tmp/" ./cmd/lnd ./cmd/lncli)
  echo "$LND_TAGS" > "$tmp/BUILD_TAGS"
  rm -rf "$BIN"
  mv "$tmp" "$BIN"
  TMP=""
  echo "built in $(( $(date +%s) - start ))s"
}

if have_versions; then
  echo "reusing btcd $BTCD_VERSION / lnd $LND_VERSION (tags: $LND_TAGS) in $BIN"
else
  build
  have_versions || { echo "built binaries do not report the pinned versions"; exit 1; }
fi
[ "${1:-}" = "--build" ] && { echo "$BIN"; exit 0; }

export VASPD_LN_BIN="$BIN"
# -p 1: each package starts its own btcd + two lnd (lightning/lnd shares one
# network between its two regtest tests); on two cores run them one at a time.
TESTS="TestNetwork TestStartAgainAfterStall TestRegtest TestRegtestContract TestPaymentOverLND"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
timeout 900 go test -count=1 -p 1 -timeout 12m -v -run "^($(echo $TESTS | tr ' ' '|'))\$" \
  ./lightning/regtest/ ./lightning/lnd/ ./internal/e2e/ 2>&1 | grep -Ev '^=== (RUN|PAUSE|CONT)' | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || exit "$rc"
# A suite that skips (binaries not found, a renamed test) would pass while
# proving nothing: every test must have run and passed.
for t in $TESTS; do
  grep -q "^--- PASS: $t " "$log" || { echo "lnd: $t did not run and pass (skipped or missing)" >&2; exit 1; }
done
