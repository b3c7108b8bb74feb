// Package vaspd holds the domain vocabulary shared by every part of vaspd, a
// self-hosted UMA (Universal Money Address) VASP in one Go binary.
//
// The root package deliberately imports nothing else of ours. It defines what
// the rest of the tree talks about:
//
//   - typed identifiers of the form "<Type>:<uuidv7>" (User:…, Quote:…, Webhook:…),
//   - the platform-API error value [Error] with its HTTP status and stable code,
//   - API permissions (VIEW, TRANSACT, MANAGE),
//   - an injectable [Clock], so that schedules and expiries can be tested
//     with a [FakeClock].
//
// The machinery lives in packages named for what they do: store (SQLite and
// PostgreSQL), uma (the wire protocol), webhook (signing and receiving),
// delivery (the durable webhook sender), lightning (embedded node and LND),
// api (HTTP) and cmd/vaspd (wiring). The README's architecture section shows
// how a request flows through them.
package vaspd
