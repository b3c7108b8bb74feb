#!/usr/bin/env bash
# The Prometheus alerting rules in deploy/prometheus: promtool checks them and
# runs their unit tests (vaspd-alerts.test.yml: each alert fires when it
# should, and not before). That the rules name only metrics and labels vaspd
# serves is checked by the Go test TestMetricsDocumentedAndAlertable
# (internal/daemon), in go test ./...
#
# promtool comes from Debian's prometheus package (pinned below, the one
# Debian 12 ships; its candidate if the pin is gone from the archive),
# unpacked into a cache directory outside the repository: nothing is
# installed on the system. A promtool already on PATH is used as it is.
# About 10 s with nothing cached.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE="${VASPD_CI_CACHE:-$HOME/.cache/vaspd-ci}"
PIN="2.42.0+ds-5+deb12u1"
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
  DIR="$CACHE/promtool-deb"
  PROMTOOL="$DIR/usr/bin/promtool"
  if [ ! -x "$PROMTOOL" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && { timeout 120 apt-get download "prometheus=$PIN" 2>/dev/null || timeout 120 apt-get download prometheus; })
    rm -rf "$DIR" && mkdir -p "$DIR"
    dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
    mkdir -p "$DIR/usr/bin" && mv "$tmp/x/usr/bin/promtool" "$PROMTOOL"
  fi
fi
"$PROMTOOL" --version 2>&1 | head -1
cd deploy/prometheus
timeout 60 "$PROMTOOL" check rules vaspd-alerts.yml
timeout 60 "$PROMTOOL" test rules vaspd-alerts.test.yml
