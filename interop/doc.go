// Package interop proves that vaspd's uma package interoperates with the
// official UMA SDKs: uma-go-sdk v1.5.1 (a Go module dependency of this
// separate module only, so vaspd itself never links it) and the JS SDK
// @uma-sdk/core 1.5.0 (installed with `npm ci` in js/ and driven through one
// node process by internal/jssdk).
//
// For every signed message — LNURLP request (incl. version negotiation and
// local domains), LNURLP response, PayRequest (v1 and v0.3, string and
// number amounts), PayReqResponse (v1 and v0.3, utxos and routes),
// post-transaction callback — plus the key document (/.well-known/lnurlpubkey),
// travel-rule ECIES, UMA invoices and low/high-S signatures, the tests run
// both directions: the SDK builds and signs and we parse and verify; we build
// and sign and the SDK parses and verifies; each with a negative control.
// Where an SDK has a known bug that breaks one direction, the test asserts
// the SDK's behaviour (so a fixed SDK shows up as a failure) and that our
// side tolerates it; ../docs/interop.md lists them.
//
// Without node or `npm ci`, the JS tests skip with a one-line reason;
// VASPD_INTEROP_REQUIRE_JS=1 (set by scripts/ci/interop.sh) makes that a
// failure.
//
// The benchmarks (package bench: `go test -run '^$' -bench . ./bench/`, or
// `go run ./cmd/umabench` for one JSON line) time the same operations in our
// package and in uma-go-sdk in one run.
package interop
