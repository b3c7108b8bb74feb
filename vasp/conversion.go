package vasp

import (
	"fmt"
	"net/http"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/uma"
)

// priceConversion checks a receiver's conversion (converted) of the
// invoice of invMsats it answered quote request in with, against the
// currency theirs its lookup offered, and prices the quote: what our
// user spends and our fee, in rate's currency. sendConv is our own
// conversion of a sender-locked amount (the msats asked). lookup is the
// receiver's lookup answer, whose minSendable/maxSendable (msats) bound
// the invoice. Used for UMA receivers and for plain LNURL-pay ones
// offering LUD-21 currencies.
func priceConversion(in QuoteRequest, rate rates.Rate, sendConv rates.Conversion, theirs uma.Currency, conv *uma.Converted, invMsats int64, lookup *uma.LnurlpResponse) (sending, fee int64, err error) {
	if conv == nil || conv.CurrencyCode != theirs.Code {
		return 0, 0, quoteStep.failed("the receiver did not convert to %s", theirs.Code)
	}
	// converted.amount is in the unit converted.decimals says; we record
	// and show it in the currency's smallest unit as the lookup advertised
	// it (ReceivingCurrencyInfo). Another unit (whole euros where the
	// lookup said cents) would book the payee's amount a power of ten off.
	if conv.Decimals != theirs.Decimals {
		return 0, 0, quoteStep.failed("the receiver's conversion has %d decimals; its lookup advertised %d for %s",
			conv.Decimals, theirs.Decimals, theirs.Code)
	}
	if err := rateWithinLookup(theirs, conv); err != nil {
		return 0, 0, err
	}
	if conv.Amount < 0 || conv.Fee < 0 {
		return 0, 0, quoteStep.failed("the receiver's conversion has a negative amount (%d) or fee (%d)", conv.Amount, conv.Fee)
	}
	// The fee is part of the invoice (UMAD-05/06): one larger than the
	// whole invoice is no conversion our platform could be shown. It is
	// not bounded otherwise, unlike the multiplier (rateWithinLookup):
	// the lookup states no fee to hold it to, and a fixed fee is rightly
	// a large share of a small payment. It is the receiver's price, in
	// the quote's totals and receiverFeeMsats before anything is paid
	// (README, counterparty failures).
	if conv.Fee > invMsats {
		return 0, 0, quoteStep.failed("the receiver's fee of %d msats is more than its invoice of %d msats", conv.Fee, invMsats)
	}
	if in.LockedSide == LockedSending {
		if invMsats != sendConv.Msats {
			return 0, 0, quoteStep.failed("the receiver's invoice is for %d msats, not the %d asked", invMsats, sendConv.Msats)
		}
		// converted.amount is what the payee is credited: round((msats −
		// fee) / multiplier) by the receiver's own conversion (UMAD-06).
		// Receivers round differently (Go/JS round, Python and we floor)
		// and the multiplier is a float: a margin of 1 unit + 1 ppb
		// covers both. Anything else (0: the payee credited nothing) is not
		// the payment our user is shown.
		want, err := uma.ConvertedAmountForMsats(invMsats, conv.Multiplier, conv.Fee)
		if err != nil {
			return 0, 0, quoteStep.failed("the receiver's conversion cannot be checked: %v", uma.AsError(err).Reason)
		}
		if want <= 0 || conv.Amount <= 0 {
			// Less than one unit at the receiver's own rate and fee,
			// before rounding (a receiver flooring 0.9 unit credits
			// nothing, as one rounding 0.4): the amount our user asked is
			// too small for this receiver, not a fault of its answer
			// (creditsSomething refuses the plain cases before it is
			// asked). Nothing for a unit or more is the receiver's.
			if float64(invMsats-conv.Fee) < conv.Multiplier {
				return 0, 0, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
					"%d %s is %d msats, which less the receiver's fee of %d msats buys less than 1 %s (smallest unit) at its rate of %v msats per unit: the payee would be credited nothing",
					in.Amount, rate.Currency.Code, invMsats, conv.Fee, theirs.Code, conv.Multiplier)
			}
			return 0, 0, quoteStep.failed("the receiver credits the payee nothing for %d msats (fee %d msats)", invMsats, conv.Fee)
		}
		if d := conv.Amount - want; d > 1+want/1_000_000_000 || -d > 1+want/1_000_000_000 {
			return 0, 0, quoteStep.failed("the receiver converts %d msats to %d %s, its own rate gives %d",
				invMsats, conv.Amount, theirs.Code, want)
		}
		return in.Amount, sendConv.FeeAmount, nil
	} else {
		if conv.Amount != in.Amount {
			return 0, 0, quoteStep.failed("the receiver converted %d, not the %d asked", conv.Amount, in.Amount)
		}
		// The invoice is amount × multiplier + fee by the receiver's own
		// conversion (UMAD-05). Peers round differently (Go rounds the
		// product, then adds the fee; we ceil with the exact rate) and the
		// multiplier is a float: a margin of 2 msats + 1 ppb covers both.
		// Less is the receiver's loss; more is not what it agreed to.
		want, err := uma.InvoiceMsatsForAmount(in.Amount, conv.Multiplier, conv.Fee)
		if err != nil {
			return 0, 0, quoteStep.failed("the receiver's conversion cannot be checked: %v", uma.AsError(err).Reason)
		}
		if invMsats-2-want/1_000_000_000 > want {
			return 0, 0, quoteStep.failed("the receiver's invoice is for %d msats, its conversion of %d %s for %d",
				invMsats, in.Amount, theirs.Code, want)
		}
		// The lookup's msats range holds for the invoice its conversion
		// makes, as for the msats a sender-locked quote asks (quoteTerms,
		// plainAmount): the receiver said it takes no other payment.
		if lo, hi := lookup.MinSendable, lookup.MaxSendable; invMsats < lo || invMsats > hi {
			return 0, 0, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
				"%d %s is an invoice of %d msats; the receiver accepts %d to %d msats", in.Amount, theirs.Code, invMsats, lo, hi)
		}
		c, err := rate.SendForMsats(invMsats)
		if err != nil {
			return 0, 0, quoteInput("cannot send %d msats in %s: %v", invMsats, rate.Currency.Code, err)
		}
		if err := sendingInRange(rate, c.Amount); err != nil {
			return 0, 0, err
		}
		return c.Amount, c.FeeAmount, nil
	}
}

// creditsSomething refuses, before the receiver is asked, a sender-locked
// amount of msats that buys less than one smallest unit of the receiver's
// currency theirs at the multiplier its lookup advertised, or less than
// the least it takes (convertible.min): the receiver would credit the
// payee nothing, or refuse the payreq (a receiver applies its range to
// what it credits, however the amount was locked), a payreq and its
// platform's approval spent for it. The advertised multiplier is an
// estimate that moves with bitcoin's price: the amount is refused only if
// it buys too little at a rate better for our user by
// MaxReceiverRateChangeBps too, so that one a move of the rate could make
// enough is still quoted (and refused after the receiver's answer if it
// is not).
func creditsSomething(in QuoteRequest, rate rates.Rate, theirs uma.Currency, msats int64) error {
	// theirs.Multiplier > 0 (usableCurrencies); in floats, as it is one.
	least := max(theirs.Convertible.Min, 1)
	if float64(msats)*(1+float64(MaxReceiverRateChangeBps)/bpsScale) >= float64(least)*theirs.Multiplier {
		return nil
	}
	if least > 1 {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
			"%d %s is %d msats, less than the %d %s (smallest unit) the receiver accepts at least, at its rate of %v msats per unit",
			in.Amount, rate.Currency.Code, msats, least, theirs.Code, theirs.Multiplier)
	}
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
		"%d %s is %d msats, less than 1 %s (smallest unit) at the receiver's rate of %v msats per unit: the payee would be credited nothing",
		in.Amount, rate.Currency.Code, msats, theirs.Code, theirs.Multiplier)
}

// buysAtMostMax refuses, before the receiver is asked, a sender-locked
// amount of msats that buys more than the most the receiver takes of its
// currency theirs (convertible.max; 0 a bound as any, UMA's 0 <= min <=
// max) at the multiplier its lookup advertised: it would refuse the
// payreq, as it would one buying less than its min (creditsSomething).
// The margin points the other way: the amount is refused only if it buys
// too much at a rate worse for our user by MaxReceiverRateChangeBps too
// (the most a payreq answer may move it, rateWithinLookup), and a
// receiver's fee only lowers what it buys.
func buysAtMostMax(in QuoteRequest, rate rates.Rate, theirs uma.Currency, msats int64) error {
	// theirs.Multiplier > 0 (usableCurrencies); in floats, as it is one.
	most := theirs.Convertible.Max
	if float64(msats) <= float64(most)*theirs.Multiplier*(1+float64(MaxReceiverRateChangeBps)/bpsScale) {
		return nil
	}
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
		"%d %s is %d msats, more than the %d %s (smallest unit) the receiver accepts at most, at its rate of %v msats per unit",
		in.Amount, rate.Currency.Code, msats, most, theirs.Code, theirs.Multiplier)
}

// sendingInRange applies our range for the sending currency (the rates
// file's min/max, as for what we receive) to what our user spends, fee
// included.
func sendingInRange(rate rates.Rate, amount int64) error {
	if rate.InRange(amount) {
		return nil
	}
	max := "no limit"
	if rate.Max > 0 {
		max = fmt.Sprint(rate.Max)
	}
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange, "sending %d %s is outside our range [%d, %s]",
		amount, rate.Currency.Code, rate.Min, max)
}

// sendForAmount prices our user spending amount, fee included, after
// our range for the sending currency: an amount it cannot convert (past
// int64 in msats, or not above our fee) is out of range too.
func sendForAmount(rate rates.Rate, amount int64) (rates.Conversion, error) {
	if err := sendingInRange(rate, amount); err != nil {
		return rates.Conversion{}, err
	}
	c, err := rate.SendForAmount(amount)
	if err != nil {
		return rates.Conversion{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange, "cannot send %d %s: %v", amount, rate.Currency.Code, err)
	}
	return c, nil
}

// MaxReceiverRateChangeBps bounds how much worse for our user a
// receiver's payreq answer may convert than its lookup advertised: its
// converted.multiplier (msats per smallest unit of the receiving
// currency) at most the lookup's multiplier × (1 + 10 %). The lookup's
// rate is what the platform was shown (estimatedExchangeRate) and is not
// locked (UMAaaS: "subject to change when calling the quotes endpoint"):
// the receiver's multiplier moves with bitcoin's price between lookup and
// quote, which follows within minutes, and a refresh sends the payreq
// again from the same lookup up to an hour later. 10 % is past what
// bitcoin moves in such a time but for a crash; a receiver showing a good
// rate at the lookup and charging a far worse one at the payreq (a
// bait-and-switch, our user charged, or its payee credited, the worse) is
// refused. A better rate is not bounded. The platform then looks the
// receiver up again, which gets it the current rate.
const MaxReceiverRateChangeBps = 1000

// rateWithinLookup checks a receiver's conversion conv against theirs, the
// currency as its lookup offered it (MaxReceiverRateChangeBps).
func rateWithinLookup(theirs uma.Currency, conv *uma.Converted) error {
	// theirs.Multiplier > 0 (usableCurrencies); the ratio, not a product,
	// so that a huge multiplier does not overflow to +Inf on both sides.
	if conv.Multiplier/theirs.Multiplier <= 1+float64(MaxReceiverRateChangeBps)/bpsScale {
		return nil
	}
	return quoteStep.failed("the receiver converts at %v msats per smallest unit of %s, more than %d %% above the %v its lookup advertised: look the receiver up again for its current rate",
		conv.Multiplier, theirs.Code, MaxReceiverRateChangeBps/100, theirs.Multiplier)
}
