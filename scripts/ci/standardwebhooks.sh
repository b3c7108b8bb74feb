#!/usr/bin/env bash
# Cross-check of vaspd's webhook signatures with the npm standardwebhooks
# library (issue 4, "Receiving"): Node verifies Standard Webhooks v1
# signatures (plus X-UMAaas-Signature and v1a with Node's crypto) that the Go
# package webhook produced, and Go verifies what the npm library signed.
#
# The library is installed with `npm ci` from the lockfile in
# webhook/testdata/standardwebhooks (exact versions and integrity hashes)
# into a cache directory outside the repository. Needs node and npm; there
# is no skip: CI must run this check. About 10 s with a warm build cache;
# bounded by timeouts (npm 45 s, go test build + run 150 s).
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${VASPD_CI_CACHE:-$HOME/.cache/vaspd-ci}"
SRC=webhook/testdata/standardwebhooks
for tool in node npm go; do
  command -v "$tool" >/dev/null || { echo "standardwebhooks: $tool is required" >&2; exit 1; }
done

# One install per lockfile content: a changed pin gets a fresh directory.
# The stamp is written only after npm ci succeeded: an install cut short
# (timeout, killed run) can leave standardwebhooks/ without its
# dependencies, and must not be reused by every later run.
lockhash=$(sha256sum "$SRC/package.json" "$SRC/package-lock.json" | sha256sum | cut -c1-16)
DIR="$CACHE/npm-standardwebhooks-$lockhash"
if [ ! -f "$DIR/.installed" ]; then
  rm -rf "$DIR" && mkdir -p "$DIR"
  cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
  timeout 45 npm ci --prefix "$DIR" --no-audit --no-fund --ignore-scripts --loglevel=error
  touch "$DIR/.installed"
fi

export VASPD_STANDARDWEBHOOKS_MODULES="$DIR/node_modules"
out=$(timeout 150 go test -count=1 -timeout 60s -run '^TestStandardWebhooksNPM$' -v ./webhook/ 2>&1) || {
  echo "$out"; exit 1
}
echo "$out" | grep -E 'npm standardwebhooks|^(--- |ok|FAIL)' || true
# A skip would mean the cross-check did not happen: that is a failure here.
echo "$out" | grep -q -- '--- PASS: TestStandardWebhooksNPM' || { echo "$out"; echo "standardwebhooks: the cross-check did not run" >&2; exit 1; }
echo "standardwebhooks: cross-check passed"
