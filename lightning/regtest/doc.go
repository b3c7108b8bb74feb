// Package regtest runs a real, private Lightning network for tests: one btcd
// in regtest mode and two lnd nodes, "alice" and "bob", all on free loopback
// ports in a temporary directory, with a funded channel between them.
//
// It exists so the LND backend (lightning/lnd) and the end-to-end VASP tests
// exercise real lnd behaviour — real BOLT11, real HTLCs, real settle indexes —
// instead of a mock that can only agree with its author.
//
// The binaries are not part of the repository. They are built from the Go
// module proxy at pinned versions (btcd v0.24.2, lnd v0.20.0-beta) by
// scripts/ci/lnd.sh into a cache directory named by the VASPD_LN_BIN
// environment variable. [BinDir] reports whether they are there; tests call
// [Skip] first so that a plain `go test ./...` on a machine without them skips
// with one line instead of failing.
//
// Start brings the network up in about 15 seconds on two cores:
//
//  1. btcd starts; alice's wallet address is fetched; btcd restarts with
//     --miningaddr because btcd does not implement generatetoaddress.
//  2. 500 blocks are mined (btcd activates segwit only at height 432).
//  3. both lnd nodes wait until synced and SERVER_ACTIVE, alice connects to
//     bob and opens a channel that pushes half of its capacity to bob, so
//     each side can pay the other.
//
// Every process runs in its own process group and, on Linux, dies with the
// test binary (PR_SET_PDEATHSIG), so an interrupted test leaves nothing
// behind; Close stops lnd before btcd (lnd otherwise spends up to 20 s per
// retry reconnecting to a vanished btcd) and removes the directory.
package regtest
