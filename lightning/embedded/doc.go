// Package embedded is vaspd's default Lightning backend: a node that lives
// in vaspd's own database, signs real BOLT11 invoices with its own key, and
// pays other vaspd processes over a loopback "devnet". It needs no bitcoind,
// no lnd and no account anywhere, and its money is not real: invoices are
// made for a test network only (lnbcrt by default), and mainnet is refused
// both when opening the node and when paying.
//
// # Identity
//
// Open generates a secp256k1 key on first start and stores it as a store
// secret (Options.KeyName); every later Open, in any process sharing the
// database, is the same node. Invoices carry a random preimage and payment
// secret, the request's description hash and expiry, lnd's default final
// CLTV delta (80) and lnd's feature bits (var_onion_optin and
// payment_secret required, basic_mpp optional); lnd's zpay32 decodes them
// to the node's pubkey.
//
// # Paying
//
// Pay decodes and verifies the invoice (signature, network, expiry,
// amount) and records the payment IN_FLIGHT with amount and fee debited in
// one transaction — the balance can never go below zero — before anything
// is delivered. A payment to the node itself settles both halves in one
// transaction. A payment to another node goes to the devnet peer serving
// the payee's pubkey: POST <peer>/devnet/v1/pay with the invoice, amount and
// payer pubkey, authenticated with a shared secret (Authorization: Bearer).
// The payee settles its invoice and returns the preimage; the payer accepts
// it only if sha256(preimage) is the payment hash. A definite refusal fails
// the payment and returns the debit; an unknown outcome (timeout, 5xx)
// keeps it in flight, to be asked again.
//
// # Crash safety
//
// Everything is in the database (migration 0100). The payee's answer is
// idempotent per payer, so repeating a delivery after a crash returns the
// same preimage and credits once. Each attempt records that its request
// is about to leave (migration 0624, sent_attempt) in a commit before
// sending it. The payer fails a payment without the payee's refusal only
// when no attempt can have reached the payee: no other attempt's request
// may have left, and this one found no peer, or its connection was never
// made, or the payee's devnet refused it unread (400, 401, 404, 405); an
// attempt claimed but never sent (a crash in between) does not keep the
// payment in flight for good. Payments left in
// flight are retried in the background after Open, every RetryInterval.
// Settlements get dense, increasing settle indexes under the node row's
// lock, which is the cursor of SubscribeSettled.
//
// # Testing knobs
//
// SetBalance is a faucet; SetFaults makes outgoing payments fail with a
// reason, settle late, or stay in flight. The contract suite in
// lightning/lightningtest runs against this package on SQLite and
// PostgreSQL. The devnet protocol, fee model and configuration are
// described in docs/lightning.md.
package embedded
