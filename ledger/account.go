package ledger

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/vaspd/vaspd"
)

// Account names a ledger account. Its prefix says what kind it is:
//
//	user:<userId>   a user's spendable balance          never negative
//	hold:<userId>   a user's funds reserved for payments never negative
//	system:<name>   the VASP's own books                may go negative
//
// Balances are what the VASP owes the account's owner. A user account of
// 1000 USD means we owe the user $10.00; a system account is the other side
// of every movement, so the node's bitcoin account is negative by what the
// node holds for the ledger (see the package documentation).
type Account string

// System accounts used by vaspd's flows.
const (
	// Node is the bitcoin (BTC, msats) on our Lightning node: negative by
	// the msats the node holds; incoming payments push it down, outgoing
	// payments (plus routing fees) bring it back up.
	Node Account = "system:node"
	// FX is the exchange desk: it takes one currency and gives another at
	// the quoted rate. Its balance per currency is the VASP's open position,
	// and its value at mid rates is the spread earned.
	FX Account = "system:fx"
	// Fees collects fixed fees (positive: revenue) and pays Lightning
	// routing fees (negative: cost).
	Fees Account = "system:fees"
	// FiatRails is the platform's fiat money in and out (bank transfers the
	// platform reports as deposits and withdrawals): negative by the fiat
	// the platform holds for its users.
	FiatRails Account = "system:fiat"
	// Overpaid is money the VASP holds that no user was credited with: what
	// payers paid on top of an incoming payment's invoice amount (Lightning
	// lets a payer overpay an invoice; lnd settles it for what was paid).
	// The user gets the quoted amount, priced for the invoice amount, and
	// the excess, which the node did receive, is booked here so that
	// system:node matches the node: positive by the msats the platform may
	// refund (outside vaspd) or keep (Keep).
	Overpaid Account = "system:overpaid"
	// Unmatched is money the node received that no user was credited with
	// because it matched no payment as quoted: what arrived for an incoming
	// invoice reported settled for less than its amount. The user's amount
	// was priced for the whole invoice, so crediting it would credit money
	// that never arrived, and crediting part of it would apply a rate locked
	// for another amount: the payment fails, and what the node did receive
	// is booked here so that system:node matches the node. Positive by the
	// msats the platform may refund to the payer (outside vaspd) or keep
	// (Keep).
	Unmatched Account = "system:unmatched"
)

// UserAccount is userID's spendable balance.
func UserAccount(userID string) Account { return Account("user:" + userID) }

// HoldAccount is userID's reserved funds: money taken from the user for an
// outgoing payment that has not yet succeeded or failed.
func HoldAccount(userID string) Account { return Account("hold:" + userID) }

// SystemAccount names one of the VASP's own accounts ("system:<name>").
func SystemAccount(name string) Account { return Account("system:" + name) }

var systemNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// MayGoNegative reports whether the account may hold a negative balance:
// only system accounts may.
func (a Account) MayGoNegative() bool { return strings.HasPrefix(string(a), "system:") }

// UserID returns the user a user or hold account belongs to.
func (a Account) UserID() (string, bool) {
	kind, rest, ok := strings.Cut(string(a), ":")
	if !ok || (kind != "user" && kind != "hold") {
		return "", false
	}
	return rest, true
}

// Validate checks that a is a well-formed account name.
func (a Account) Validate() error {
	kind, rest, ok := strings.Cut(string(a), ":")
	if !ok {
		return fmt.Errorf("account %q: want user:<id>, hold:<id> or system:<name>", vaspd.Truncate(string(a), 80))
	}
	switch kind {
	case "user", "hold":
		if _, err := vaspd.ParseID(vaspd.IDUser, rest); err != nil {
			return fmt.Errorf("account %q: %w", vaspd.Truncate(string(a), 80), err)
		}
	case "system":
		if !systemNameRE.MatchString(rest) {
			return fmt.Errorf("account %q: system account names are lower-case letters, digits, _ . -", vaspd.Truncate(string(a), 80))
		}
	default:
		return fmt.Errorf("account %q: unknown kind %q", vaspd.Truncate(string(a), 80), vaspd.Truncate(kind, 80))
	}
	return nil
}

// SystemAccounts lists the system accounts vaspd's flows book to, in the
// order the platform API shows them.
var SystemAccounts = []Account{Node, FX, Fees, FiatRails, Overpaid, Unmatched}
