package vasp

import (
	"math"
	"math/big"
)

// The bound of an auto-refresh. The receiver prices each refresh anew,
// and it is a counterparty: hostile, or only moving its price. The
// platform showed its user the terms the quote was made with ("you pay
// $11.00, Bob receives €10.00") and executes the same quote id, and an
// execute debits whatever the quote's terms are then. So a refresh whose
// new terms are worse for our user than those by more than
// QuoteRefreshMaxChangeBps is not written:
//
//   - receiver-locked: the debit (sending amount, our fee included, as
//     execute reserves it: Quote.debit) may grow to at most the first
//     debit × (1 + tolerance), rounded down;
//   - sender-locked: the receiver's credit (receiving currency's smallest
//     unit) may fall to at least the first credit × (1 − tolerance),
//     rounded up, and the debit may not grow at all (it is the locked
//     amount: it cannot, but it is checked).
//
// Rounding is toward our user, in integers: a tolerance smaller than one
// unit of a small amount allows no change of it.
//
// The first terms are stored with the quote (initial_sending_amount,
// initial_receiving_amount, migration 0616) and never change, so that
// refreshes within the tolerance each cannot walk the price away step by
// step; the tolerance is the setting's when the refresh runs (an operator
// tightening it means it for the quotes already held, which live an hour
// at most). A quote made before the migration and refreshed since has
// none: it is bounded by the terms it holds at each refresh.
//
// A refused refresh stops the quote's auto-refresh (refreshRefused): its
// receiver would answer the same a pass later, and its terms expire within
// the refresh lead anyway. A manual refresh (RefreshQuote) makes a new
// quote, whose terms the platform shows anew: not bounded, and the bound
// of its own refreshes.

// DefaultQuoteRefreshMaxChangeBps is Options.QuoteRefreshMaxChangeBps's
// default, 2 %. What moves a held quote's price for our user is the
// exchange rate between its two currencies, the receiver's fee and both
// sides' spreads: bitcoin's own move cancels out while both VASPs price at
// the market. A major currency pair seldom moves 2 % within the hour a
// quote is held at most; a receiver raising its fee or spread is not the
// price the user was shown. Past it the platform shows its user a new
// quote (POST /quotes/{id}/refresh).
const DefaultQuoteRefreshMaxChangeBps = 200

// bpsScale is one in basis points.
const bpsScale = 10_000

// quoteAmounts are what a refresh of a quote is judged by.
type quoteAmounts struct {
	Debit  int64 // what our user is debited: the sending currency's smallest unit, our fee included
	Credit int64 // what the receiver is credited: the receiving currency's smallest unit
}

// debit is what executing q debits its user, in the sending currency's
// smallest unit: the amount ExecuteQuote reserves, our fee (Fee) included
// (the receiver's fee is in the invoice, Msats, that amount pays for).
func (q Quote) debit() int64 { return q.SendingAmount }

// amounts are q's current terms as a refresh judges them.
func (q Quote) amounts() quoteAmounts {
	return quoteAmounts{Debit: q.debit(), Credit: q.ReceivingAmount}
}

// refreshBound is the terms a refresh of q is bounded by: the first ones,
// or for a quote made before they were kept, its current ones.
func (q Quote) refreshBound() quoteAmounts {
	if q.initial != nil {
		return *q.initial
	}
	return q.amounts()
}

// refreshAllowed reports whether terms now of a quote locked on side are
// within bps basis points of the terms was, for our user (see above).
func refreshAllowed(side string, was, now quoteAmounts, bps int64) bool {
	maxDebit, minCredit := was.Debit, was.Credit
	switch side {
	case LockedReceiving:
		maxDebit = scaleBps(was.Debit, bpsScale+bps, false)
	case LockedSending:
		minCredit = scaleBps(was.Credit, bpsScale-bps, true)
	}
	return now.Debit <= maxDebit && now.Credit >= minCredit
}

// scaleBps is v × factor / 10 000, rounded up if ceil, else down, for v ≥ 0
// and factor ≥ 0; math.MaxInt64 if that does not fit (no debit is more).
// In big integers: v may be up to 9e15 and factor 15 000, past int64.
func scaleBps(v, factor int64, ceil bool) int64 {
	n := new(big.Int).Mul(big.NewInt(v), big.NewInt(factor))
	if ceil {
		n.Add(n, big.NewInt(bpsScale-1))
	}
	n.Quo(n, big.NewInt(bpsScale)) // n ≥ 0: truncation is the floor
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}
