package vasp_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/webhook"
)

// TestPaymentAmountsAtCurrencyExtremes pays, sender- and receiver-locked,
// receivers converting to a currency of 0 decimals (a yen of ~6667 msats)
// and one of 8 whose smallest unit is worth far less than a msat, each
// answering by the UMA rounding rules with a fee: what our user is
// debited is the quote's totalSendingAmount, our fee goes to system:fees,
// the exchange desk takes the rest and gives the invoice's msats, which
// leave the node (with the routing fee, paid by system:fees), and the
// transaction shown (the webhook's sentAmount, fees and receivedAmount)
// is what was posted and quoted, its exchangeRate the quote's.
func TestPaymentAmountsAtCurrencyExtremes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 10_000_000)
		l := ledger.New(db, nil)
		paid := 0
		for _, cur := range []uma.Currency{
			{Code: "JPY", Name: "Yen", Symbol: "¥", Decimals: 0, Multiplier: 6666.666666666667, Convertible: uma.Convertible{Min: 1, Max: 1e12}},
			{Code: "TINY", Name: "Tiny", Symbol: "t", Decimals: 8, Multiplier: 0.0123, Convertible: uma.Convertible{Min: 1, Max: 1e17}},
		} {
			const recvFee = 7
			h.lnurlp = func(r *uma.LnurlpResponse) { r.Currencies = []uma.Currency{cur} }
			h.payreq = h.honest(t, cur, recvFee)
			lk := h.lookup(t)
			for _, tc := range []struct {
				side   string
				amount int64
			}{{vasp.LockedSending, 1234}, {vasp.LockedReceiving, 777}, {vasp.LockedReceiving, 123_456}, {vasp.LockedSending, 1}} {
				name := fmt.Sprintf("%s %s %d", cur.Code, tc.side, tc.amount)
				q, err := h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: lk.ID, SendingCurrency: "USD", ReceivingCurrency: cur.Code,
					LockedSide: tc.side, Amount: tc.amount})
				if err != nil {
					// 777 of TINY is 17 msats, below the minSendable.
					t.Logf("%s: not quoted: %v", name, err)
					continue
				}
				paid++
				before := balances(t, l, db, h.w.alice.UserID)
				fees, fx, node := sysBalance(t, l, db, ledger.Fees, "USD"), sysBalance(t, l, db, ledger.FX, "USD"), sysBalance(t, l, db, ledger.Node, "BTC")
				fxBTC, feesBTC := sysBalance(t, l, db, ledger.FX, "BTC"), sysBalance(t, l, db, ledger.Fees, "BTC")
				tr, err := h.s.ExecuteQuote(t.Context(), q.ID, "")
				if err != nil || tr.Status != vasp.StatusCompleted {
					t.Fatalf("%s: executed %+v, %v", name, tr, err)
				}
				after := balances(t, l, db, h.w.alice.UserID)
				if d := before - after; d != q.SendingAmount {
					t.Errorf("%s: alice debited %d USD, quote's totalSendingAmount %d", name, d, q.SendingAmount)
				}
				if d := sysBalance(t, l, db, ledger.Fees, "USD") - fees; d != q.Fee {
					t.Errorf("%s: fees +%d USD, quote's fee %d", name, d, q.Fee)
				}
				if d := sysBalance(t, l, db, ledger.FX, "USD") - fx; d != q.SendingAmount-q.Fee {
					t.Errorf("%s: fx +%d USD, want %d", name, d, q.SendingAmount-q.Fee)
				}
				if d := fxBTC - sysBalance(t, l, db, ledger.FX, "BTC"); d != q.Msats {
					t.Errorf("%s: fx gave %d msats, the invoice is %d", name, d, q.Msats)
				}
				routing := feesBTC - sysBalance(t, l, db, ledger.Fees, "BTC")
				got := mustGet(t, h.s, tr.ID)
				if d := sysBalance(t, l, db, ledger.Node, "BTC") - node; d != q.Msats+routing || routing != got.Details.RoutingFeeMsats {
					t.Errorf("%s: node +%d msats, invoice %d + routing %d (transaction says %d)", name, d, q.Msats, routing, got.Details.RoutingFeeMsats)
				}
				out, ok := h.s.Render(t.Context(), got).(webhook.OutgoingTransaction)
				if !ok || out.SentAmount.Amount != q.SendingAmount || out.Fees == nil || *out.Fees != q.Fee ||
					out.ReceivedAmount == nil || out.ReceivedAmount.Amount != q.ReceivingAmount || out.ReceivedAmount.Currency.Decimals != cur.Decimals {
					t.Errorf("%s: shown %+v (fees %v, received %+v); quote sends %d, fee %d, receives %d", name, out, out.Fees, out.ReceivedAmount,
						q.SendingAmount, q.Fee, q.ReceivingAmount)
				}
				// The quote's exchangeRate (api.renderQuote): sent, our
				// fee excluded, per unit received, as a JSON number.
				rate, _ := new(big.Rat).SetFrac64(q.SendingAmount-q.Fee, q.ReceivingAmount).Float64()
				if want, _ := json.Marshal(rate); string(out.ExchangeRate) != string(want) {
					t.Errorf("%s: transaction's exchangeRate %q, the quote's %s", name, out.ExchangeRate, want)
				}
				if tc.side == vasp.LockedReceiving && q.ReceivingAmount != tc.amount || tc.side == vasp.LockedSending && q.SendingAmount != tc.amount {
					t.Errorf("%s: quote sends %d, receives %d", name, q.SendingAmount, q.ReceivingAmount)
				}
			}
		}
		if paid < 7 {
			t.Fatalf("%d payments made of 8", paid)
		}
	})
}

// honest answers a payreq as an UMA receiver converting to cur with a
// fee of fee msats: the invoice and converted amount by the UMA rules.
func (h *hostile) honest(t *testing.T, cur uma.Currency, fee int64) func(http.ResponseWriter, *uma.PayRequest) {
	reply := func(pr *uma.PayRequest, resp *uma.PayReqResponse) {
		msats, amount := pr.Amount, pr.Amount
		var err error
		if pr.SendingCurrency == "" {
			amount, err = uma.ConvertedAmountForMsats(msats, cur.Multiplier, fee)
		} else {
			msats, err = uma.InvoiceMsatsForAmount(amount, cur.Multiplier, fee)
		}
		if err != nil {
			t.Errorf("honest receiver: %v", err)
		}
		resp.PR = h.invoice(t, msats, time.Minute)
		resp.Converted = &uma.Converted{Amount: amount, CurrencyCode: cur.Code, Decimals: cur.Decimals, Multiplier: cur.Multiplier, Fee: fee}
	}
	return h.reply(reply)
}

func balances(t *testing.T, l *ledger.Ledger, db *store.DB, userID string) int64 {
	t.Helper()
	bs, err := l.UserBalances(t.Context(), db, userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if b.Currency == "USD" {
			return b.Available
		}
	}
	return 0
}

func sysBalance(t *testing.T, l *ledger.Ledger, db *store.DB, acct ledger.Account, currency string) int64 {
	t.Helper()
	b, err := l.Balance(t.Context(), db, acct, currency)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
