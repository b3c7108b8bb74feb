package ledger

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
)

// BTC is the ledger's bitcoin currency code. Its amounts are millisatoshis
// (msats), the unit Lightning settles in, so incoming and outgoing payments
// are recorded without rounding. (The SAT currency that users may hold is an
// ordinary priced currency, in satoshis; converting between the two goes
// through the FX account like any other currency.)
const BTC = "BTC"

// Movement is one money movement: two or more postings that sum to zero in
// every currency. Its ID is the idempotency key: recording the same ID twice
// is a no-op that returns the first result, and recording it with different
// content is an error.
type Movement struct {
	// ID is chosen by the caller and unique forever, e.g.
	// "payment/Transaction:…/reserve" or "deposit/<Idempotency-Key>".
	// 1 to 200 printable ASCII characters.
	ID string
	// Kind classifies the movement ("deposit", "withdrawal", "receive",
	// "reserve", "settle", "release", …): lower-case letters, digits and _.
	// For kinds "deposit" and "withdrawal" a non-empty Reference is unique.
	Kind string
	// Reference ties the movement to the outside world (a payment id, the
	// platform's transfer reference). Optional, at most 200 characters.
	Reference string
	// Postings are the balance changes, in order.
	Postings []Posting

	// CreatedAt is set when the movement is recorded.
	CreatedAt time.Time
	// Replayed is set by Transfer when the movement had already been
	// recorded by an earlier call with the same ID and content.
	Replayed bool

	buildErr error // set by the flow builders on bad inputs
}

// Posting changes one account's balance in one currency. Amounts are in the
// currency's smallest unit (msats for BTC), positive to credit the account
// and negative to debit it, never zero.
type Posting struct {
	Account  Account `json:"account"`
	Currency string  `json:"currency"`
	Amount   int64   `json:"amount"`
}

// MaxPostings bounds a movement's size.
const MaxPostings = 64

// Errors. Those a platform client can cause are *vaspd.Error values that
// wrap these sentinels, so both errors.Is(err, ledger.ErrInsufficientFunds)
// and the API's error rendering work.
var (
	// ErrInsufficientFunds: a posting would take an account that may not go
	// negative below zero. Nothing of the movement was recorded.
	ErrInsufficientFunds = errors.New("ledger: insufficient funds")
	// ErrIdempotencyConflict: the movement ID was already used for a
	// different movement.
	ErrIdempotencyConflict = errors.New("ledger: movement id reused with different content")
	// ErrReferenceExists: a deposit or withdrawal with this reference was
	// already recorded under another ID.
	ErrReferenceExists = errors.New("ledger: reference already used")
	// ErrInvalidMovement: the movement is malformed (unbalanced, bad
	// account or currency, …) — a programming error in the caller.
	ErrInvalidMovement = errors.New("ledger: invalid movement")
	// ErrNotFound: no movement with that ID.
	ErrNotFound = errors.New("ledger: movement not found")
	// ErrOverflow: a user's available and held balances together would
	// exceed MaxBalance, or a system account's balance is beyond the int64
	// range.
	ErrOverflow = errors.New("ledger: balance overflow")
)

// MaxBalance caps what each user has in each currency, available (user:)
// and held (hold:) together (9e15, the largest amount the API accepts,
// about 2^53): a movement that would credit a user's account beyond it
// fails with ErrOverflow. Moving money between a user's two accounts (a
// reservation, a release) leaves the sum alone, so it is never refused
// for the cap: a failed payment's money always goes back. Far below the int64
// range, it keeps the sums of many balances (a system account's is minus
// the sum of what everyone else holds) within range for any realistic
// number of accounts, and Balances reads them without overflowing in SQL.
const MaxBalance = 9_000_000_000_000_000

var (
	kindRE     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	currencyRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,7}$`)
)

// ValidCurrency reports whether code is a well-formed currency code.
func ValidCurrency(code string) bool { return currencyRE.MatchString(code) }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidMovement, fmt.Sprintf(format, args...))
}

// Validate checks the movement's shape and that it balances: every
// currency's postings sum to exactly zero.
func (m *Movement) Validate() error {
	if m.buildErr != nil {
		return m.buildErr
	}
	if m.ID == "" || len(m.ID) > 200 {
		return invalid("id must be 1 to 200 characters")
	}
	for i := 0; i < len(m.ID); i++ {
		if c := m.ID[i]; c < 0x21 || c > 0x7e {
			return invalid("id must be printable ASCII without spaces")
		}
	}
	if !kindRE.MatchString(m.Kind) {
		return invalid("kind %q: want lower-case letters, digits and _", vaspd.Truncate(m.Kind, 80))
	}
	if len(m.Reference) > 200 || !utf8.ValidString(m.Reference) || strings.ContainsFunc(m.Reference, isControl) {
		return invalid("reference must be at most 200 characters of printable UTF-8")
	}
	if len(m.Postings) < 2 || len(m.Postings) > MaxPostings {
		return invalid("a movement needs 2 to %d postings, got %d", MaxPostings, len(m.Postings))
	}
	sums := map[string]int64{}
	for i, p := range m.Postings {
		if err := p.Account.Validate(); err != nil {
			return invalid("posting %d: %v", i, err)
		}
		if !currencyRE.MatchString(p.Currency) {
			return invalid("posting %d: currency %q", i, vaspd.Truncate(p.Currency, 80))
		}
		if p.Amount == 0 || p.Amount == math.MinInt64 {
			return invalid("posting %d: amount must be non-zero", i)
		}
		s, ok := add(sums[p.Currency], p.Amount)
		if !ok {
			return invalid("postings in %s overflow", p.Currency)
		}
		sums[p.Currency] = s
	}
	for cur, s := range sums {
		if s != 0 {
			return invalid("postings in %s sum to %d, not zero", cur, s)
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// sameContent reports whether two movements record the same thing (for
// idempotent replays): kind, reference and the same postings in any order.
func sameContent(a, b Movement) bool {
	if a.Kind != b.Kind || a.Reference != b.Reference || len(a.Postings) != len(b.Postings) {
		return false
	}
	return slices.Equal(sortedPostings(a.Postings), sortedPostings(b.Postings))
}

func sortedPostings(ps []Posting) []Posting {
	out := slices.Clone(ps)
	slices.SortFunc(out, comparePosting)
	return out
}

func comparePosting(x, y Posting) int {
	if c := strings.Compare(string(x.Account), string(y.Account)); c != 0 {
		return c
	}
	if c := strings.Compare(x.Currency, y.Currency); c != 0 {
		return c
	}
	switch {
	case x.Amount < y.Amount:
		return -1
	case x.Amount > y.Amount:
		return 1
	}
	return 0
}

type balanceKey struct {
	account  Account
	currency string
}

// netChanges sums postings per (account, currency), drops zero nets and
// returns them sorted, so concurrent movements touch balance rows in one
// global order.
func netChanges(ps []Posting) ([]Posting, error) {
	nets := map[balanceKey]int64{}
	for _, p := range ps {
		k := balanceKey{p.Account, p.Currency}
		s, ok := add(nets[k], p.Amount)
		if !ok {
			return nil, fmt.Errorf("%w: %s %s", ErrOverflow, p.Account, p.Currency)
		}
		nets[k] = s
	}
	out := make([]Posting, 0, len(nets))
	for k, v := range nets {
		if v != 0 {
			out = append(out, Posting{Account: k.account, Currency: k.currency, Amount: v})
		}
	}
	slices.SortFunc(out, comparePosting)
	return out, nil
}

func add(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// insufficient builds the client-facing error for an overdraft.
func insufficient(acct Account, currency string, available, needed int64) error {
	return &vaspd.Error{
		Status:  http.StatusBadRequest,
		Code:    vaspd.CodeInsufficientBalance,
		Message: fmt.Sprintf("insufficient %s balance: %d available, %d needed", currency, available, needed),
		Details: map[string]any{"currency": currency, "available": available, "required": needed},
		Err:     fmt.Errorf("%w: %s %s", ErrInsufficientFunds, acct, currency),
	}
}

func idempotencyConflict(id string) error {
	return &vaspd.Error{
		Status:  http.StatusUnprocessableEntity,
		Code:    vaspd.CodeIdempotencyKeyReused,
		Message: "this idempotency key was already used for a different request",
		Err:     fmt.Errorf("%w: %s", ErrIdempotencyConflict, vaspd.Truncate(id, 80)),
	}
}

func referenceExists(kind, ref string) error {
	return &vaspd.Error{
		Status:  http.StatusConflict,
		Code:    vaspd.CodeConflict,
		Message: fmt.Sprintf("a %s with reference %q already exists", kind, vaspd.Truncate(ref, 80)),
		Err:     ErrReferenceExists,
	}
}
