// Package ledger is vaspd's double-entry book of money: every balance
// change is a posting, and postings come in movements that sum to zero in
// every currency, so money is never created or lost — only moved.
//
// # Accounts and signs
//
// Each [Account] has a balance per currency, in the currency's smallest unit
// (msats for [BTC]). A balance is what the VASP owes the account's owner:
//
//   - user:<id> — a user's spendable money; never negative, and never
//     credited beyond [MaxBalance] (9e15) per currency together with what
//     the user has held: a failed payment's release always fits.
//   - hold:<id> — a user's money reserved for outgoing payments in flight;
//     never negative, and so within the cap too.
//   - system:node — the bitcoin on our Lightning node, negative by what the
//     node holds for the ledger.
//   - system:fiat — the platform's fiat rails, negative by the fiat the
//     platform holds for its users.
//   - system:fx — the exchange desk; its balances are the VASP's currency
//     position (the spread accumulates here).
//   - system:fees — fixed fees earned (positive) and routing fees paid
//     (negative).
//   - system:overpaid — what payers paid on top of incoming invoices'
//     amounts: money the VASP holds that no user was credited with, for
//     the platform to refund or keep.
//   - system:unmatched — what arrived for incoming invoices reported
//     settled for less than their amounts: money the VASP holds that no
//     user was credited with (the payment failed), for the platform to
//     refund or keep.
//
// The platform keeps what system:overpaid and system:unmatched hold with
// [Keep] (into system:fees), recorded by [Ledger.TransferCovered], which
// refuses to take more than they hold; [Ledger.SystemBalances] reads every
// system account. Refunds happen outside vaspd (paying a payer back needs
// an invoice from them).
//
// Because every movement sums to zero, the sum of all balances in a currency
// is always zero; [Ledger.Check] audits that and more.
//
// # Recording movements
//
// [Ledger.Transfer] records a [Movement] inside the caller's *store.Tx, so a
// payment's state change, its money movement and the webhook that announces
// it commit together. The movement's ID is its idempotency key: a second
// Transfer with the same ID returns the first result (Replayed set), and one
// with the same ID but different postings fails with
// [ErrIdempotencyConflict]. Debits of user and hold accounts are conditional
// UPDATEs (balance + amount >= 0), so no interleaving of concurrent
// payments can overdraw them, on SQLite or PostgreSQL; an overdraft fails
// with [ErrInsufficientFunds] and leaves the transaction usable (Transfer
// runs under a savepoint).
//
// The flows build their movements with [Deposit], [Withdrawal], [Receive],
// [Reserve], [Settle] and [Release]. An outgoing payment is three steps,
// each a movement in the flow's own transaction:
//
//	execute:  Reserve  user → hold              (fails if the user lacks funds)
//	success:  Settle   hold → fx/fees, fx → node (the bitcoin leaves)
//	failure:  Release  hold → user
//
// Postings and movements are append-only (database triggers refuse UPDATE
// and DELETE); corrections are new movements.
package ledger
