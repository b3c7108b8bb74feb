package ledger

// Builders for the movements vaspd's flows record. Each returns a Movement
// to pass to Transfer inside the flow's own transaction. They net postings
// per account and currency, so a same-currency flow (a user holding SAT paid
// in BTC is not one: SAT and BTC differ) does not produce canceling pairs.
//
// Movement kinds: deposit, withdrawal, receive, receive_unmatched, reserve,
// settle, release, and keep (system.go).

// Deposit credits userID with amount of currency that arrived on the
// platform's fiat rails.
func Deposit(id, userID, currency string, amount int64, reference string) Movement {
	return build(id, "deposit", reference).
		require(amount > 0, "amount must be positive").
		add(FiatRails, currency, -amount).
		add(UserAccount(userID), currency, amount).
		movement()
}

// Withdrawal debits userID by amount of currency paid out on the platform's
// fiat rails. Fails with ErrInsufficientFunds if the user lacks the amount.
func Withdrawal(id, userID, currency string, amount int64, reference string) Movement {
	return build(id, "withdrawal", reference).
		require(amount > 0, "amount must be positive").
		add(UserAccount(userID), currency, -amount).
		add(FiatRails, currency, amount).
		movement()
}

// Receive describes a settled incoming Lightning payment credited to a user.
type Receive struct {
	ID        string // movement id, e.g. "receive/<payment hash>"
	Reference string // e.g. the transaction id
	UserID    string
	Msats     int64  // the invoice amount, which the user's Amount was priced for
	PaidMsats int64  // what arrived on the node: Msats or more (an overpaid invoice); 0 is Msats
	FeeMsats  int64  // our fixed fee, part of Msats (UMA converted.fee)
	Currency  string // what the user is credited in
	Amount    int64  // credited, in Currency's smallest unit, at the locked rate
}

// Movement builds the postings:
//
//	BTC:      node −PaidMsats, fees +FeeMsats, fx +(Msats−FeeMsats),
//	          overpaid +(PaidMsats−Msats)
//	Currency: fx −Amount, user +Amount
//
// The FX account ends up long bitcoin and short the user's currency by the
// spread-adjusted amounts: the spread stays in FX. An overpayment's excess
// is no one's credit (the user's Amount was locked for Msats): it goes to
// Overpaid, in the same movement, so the node's account still moves by
// what the node received.
func (r Receive) Movement() Movement {
	paid := r.PaidMsats
	if paid == 0 {
		paid = r.Msats
	}
	return build(r.ID, "receive", r.Reference).
		require(r.Msats > 0 && r.Amount > 0, "msats and amount must be positive").
		require(r.FeeMsats >= 0 && r.FeeMsats < r.Msats, "fee must be at least 0 and below msats").
		require(paid >= r.Msats, "paid msats must be at least msats").
		add(Node, BTC, -paid).
		add(Fees, BTC, r.FeeMsats).
		add(FX, BTC, r.Msats-r.FeeMsats).
		add(Overpaid, BTC, paid-r.Msats). // dropped when zero
		add(FX, r.Currency, -r.Amount).
		add(UserAccount(r.UserID), r.Currency, r.Amount).
		movement()
}

// ReceiveUnmatched books paidMsats that arrived on the node for an
// incoming payment that credits no one (an invoice reported settled for
// less than its amount, which fails the payment):
//
//	BTC: node −paidMsats, unmatched +paidMsats
//
// Give it the id the payment's Receive would have had: one of the two is
// ever booked.
func ReceiveUnmatched(id, reference string, paidMsats int64) Movement {
	return build(id, "receive_unmatched", reference).
		require(paidMsats > 0, "paid msats must be positive").
		add(Node, BTC, -paidMsats).
		add(Unmatched, BTC, paidMsats).
		movement()
}

// Reserve moves amount of currency from the user's balance to their hold
// account when an outgoing payment is executed. It fails with
// ErrInsufficientFunds if the user lacks the amount — the check that makes
// a payment unable to overdraw.
func Reserve(id, userID, currency string, amount int64, reference string) Movement {
	return build(id, "reserve", reference).
		require(amount > 0, "amount must be positive").
		add(UserAccount(userID), currency, -amount).
		add(HoldAccount(userID), currency, amount).
		movement()
}

// Release returns a reservation to the user when an outgoing payment fails.
func Release(id, userID, currency string, amount int64, reference string) Movement {
	return build(id, "release", reference).
		require(amount > 0, "amount must be positive").
		add(HoldAccount(userID), currency, -amount).
		add(UserAccount(userID), currency, amount).
		movement()
}

// Settle describes an outgoing payment that succeeded, paid from a
// reservation of Amount.
type Settle struct {
	ID              string // movement id, e.g. "settle/<payment hash>"
	Reference       string
	UserID          string
	Currency        string // the reserved currency
	Amount          int64  // the reserved amount (all of it is consumed)
	FeeAmount       int64  // our fixed fee, part of Amount
	Msats           int64  // the invoice amount paid
	RoutingFeeMsats int64  // what the node paid in routing fees
	// PaidMsats is what the node reports it paid, fees apart, when that
	// is not Msats (0: Msats). Nodes pay an invoice's amount exactly, so
	// this is a node misreporting, or paying what it was not asked: the
	// books follow the node all the same.
	PaidMsats int64
}

// Movement builds the postings:
//
//	Currency: hold −Amount, fees +FeeAmount, fx +(Amount−FeeAmount)
//	BTC:      fx −Msats, node +(Paid+RoutingFeeMsats), fees −(RoutingFeeMsats+Paid−Msats)
//
// where Paid is PaidMsats, or Msats when 0. Routing fees are a cost to the
// fees account, not to the user, whose price was locked by the quote; so
// is what the node paid beyond the invoice (and what it paid short of it
// is the fees account's), so that system:node moves by what left the node.
func (s Settle) Movement() Movement {
	paid := s.Msats
	if s.PaidMsats != 0 {
		paid = s.PaidMsats
	}
	return build(s.ID, "settle", s.Reference).
		require(s.Msats > 0 && s.Amount > 0, "msats and amount must be positive").
		require(s.FeeAmount >= 0 && s.FeeAmount <= s.Amount, "fee must be 0 to amount").
		require(s.RoutingFeeMsats >= 0, "routing fee must not be negative").
		require(s.PaidMsats >= 0, "paid msats must not be negative").
		add(HoldAccount(s.UserID), s.Currency, -s.Amount).
		add(Fees, s.Currency, s.FeeAmount).
		add(FX, s.Currency, s.Amount-s.FeeAmount).
		add(FX, BTC, -s.Msats).
		add(Node, BTC, paid+s.RoutingFeeMsats).
		add(Fees, BTC, -s.RoutingFeeMsats-(paid-s.Msats)).
		movement()
}

type builder struct {
	m     Movement
	index map[balanceKey]int
}

func build(id, kind, ref string) *builder {
	return &builder{m: Movement{ID: id, Kind: kind, Reference: ref}, index: map[balanceKey]int{}}
}

// require records a problem with the flow's inputs; Transfer then rejects
// the movement with ErrInvalidMovement instead of recording, say, a negative
// deposit (which would balance, and be a withdrawal in disguise).
func (b *builder) require(ok bool, problem string) *builder {
	if !ok && b.m.buildErr == nil {
		b.m.buildErr = invalid("%s: %s", b.m.Kind, problem)
	}
	return b
}

// add nets amount into the posting for (acct, currency). Overflow here would
// need amounts near 2^63; Validate catches any resulting imbalance.
func (b *builder) add(acct Account, currency string, amount int64) *builder {
	k := balanceKey{acct, currency}
	if i, ok := b.index[k]; ok {
		b.m.Postings[i].Amount += amount
		return b
	}
	b.index[k] = len(b.m.Postings)
	b.m.Postings = append(b.m.Postings, Posting{Account: acct, Currency: currency, Amount: amount})
	return b
}

// movement drops zero postings. A movement left with fewer than two
// postings (e.g. a zero amount) is rejected by Transfer's validation.
func (b *builder) movement() Movement {
	out := b.m.Postings[:0]
	for _, p := range b.m.Postings {
		if p.Amount != 0 {
			out = append(out, p)
		}
	}
	b.m.Postings = out
	return b.m
}
