#!/usr/bin/env bash
# Runs every fuzz target of the uma package, of its bech32 decoder and of
# the JSON duplicate-key scan (internal/jsonkeys) for a
# short, bounded time (default 3 s each, 17 targets: about a minute of
# fuzzing after the build). A crasher makes the script fail and is saved to
# uma/testdata/fuzz/<Target>/ (or uma/internal/bech32/testdata/...): check it
# in with the fix, it then runs as a regression test in `go test`.
#
# Usage: scripts/ci/uma-fuzz.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/ci/go75804.sh

per="${1:-3}"
par="${UMA_FUZZ_PARALLEL:-2}" # the CI machine has two cores
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fuzz_pkg() {
	local pkg="$1" name="$2"
	# Build the coverage-instrumented test binary once (bounded), then run
	# each target with it from the package directory. Minimisation is capped
	# at 1 s: by default each new interesting input may hold a worker for
	# 60 s, which would eat the whole budget of a short run.
	timeout 600 go test -c -fuzz=. -o "$work/$name.test" "./$pkg"
	local targets
	targets=$("$work/$name.test" -test.list '^Fuzz' | grep '^Fuzz' || true)
	for t in $targets; do
		echo "== fuzz $pkg $t (${per}s)"
		if ! (cd "$pkg" && timeout $((per + 60)) "$work/$name.test" -test.run '^$' -test.fuzz "^${t}\$" \
			-test.fuzztime "${per}s" -test.fuzzminimizetime 1s -test.parallel "$par" -test.fuzzcachedir "$work/cache-$name" >"$work/log" 2>&1); then
			if go75804_only "$work/log"; then
				echo "   (ignored go#75804 shutdown race at the fuzztime deadline; no crasher)"
				continue
			fi
			cat "$work/log"
			echo "uma-fuzz: FAIL $pkg $t (crasher, if any, in $pkg/testdata/fuzz/$t/)" >&2
			exit 1
		fi
		grep -E '^fuzz: elapsed' "$work/log" | tail -n 1 || true
	done
}

fuzz_pkg uma uma
fuzz_pkg uma/internal/bech32 bech32
# The duplicate-key scan every uma parser runs, against a json.Decoder walk.
fuzz_pkg internal/jsonkeys jsonkeys
echo "uma-fuzz: ok"
