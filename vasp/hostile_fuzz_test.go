package vasp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// fuzzSending are the sending currencies of FuzzQuoteHostileReceiver's
// Service (its rates file), chosen by the fuzzer: a fixed fee and no upper
// limit (USD), a rate that is not a whole number of msats (EUR, with a
// fee), no spread and no decimals (SAT).
var fuzzSending = []rates.CurrencyConfig{
	{Code: "USD", Decimals: 2, MsatsPerUnit: "10000", SpreadBps: 50, FixedFee: 7, Min: 1},
	{Code: "EUR", Decimals: 2, MsatsPerUnit: "1000000/92", SpreadBps: 50, FixedFee: 3, Min: 1, Max: 100_000_000},
	{Code: "SAT", Decimals: 0, MsatsPerUnit: "1000", Min: 1, Max: 100_000_000},
}

// receiverCase is one run of FuzzQuoteHostileReceiver: what the receiver
// says at the lookup and in its payreq answer, and what our platform asks.
type receiverCase struct {
	// The lnurlp answer: minSendable/maxSendable and its one currency (EUR).
	MinSendable, MaxSendable int64
	Decimals                 int64
	Multiplier               float64
	ConvMin, ConvMax         int64
	// The quote request: the sending currency (fuzzSending[Sending %
	// len]), the locked side and amount.
	Sending        uint8
	ReceiverLocked bool
	Amount         int64
	// The payreq answer's conversion: decimals, multiplier, fee (msats),
	// another currency code than asked, and converted.amount as an offset
	// from the honest one (the amount asked receiver-locked, else
	// round((msats − fee) / multiplier)).
	RespDecimals   int64
	RespMultiplier float64
	RespFee        int64
	OtherCode      bool
	AmountDelta    int64
	// The invoice: its msats as an offset from the honest amount (the
	// msats asked sender-locked, else round(amount × multiplier + fee)),
	// its expiry (1 s to a year) and its age (negative: dated in the
	// future), in seconds.
	InvoiceDelta int64
	Expiry       int64
	Age          int64
	// The payee's utxoCallback.
	UtxoCallback string
	// The user's balance at execute: the quote's total plus FundDelta
	// (at least 0).
	FundDelta int64
}

// honestCase is a receiver answering as it should, and a platform asking
// for 1000 USD cents sender-locked with the money to pay them.
func honestCase() receiverCase {
	return receiverCase{MinSendable: 1000, MaxSendable: 1e12, Decimals: 2, Multiplier: 1000, ConvMin: 1, ConvMax: 1e9,
		Amount: 1000, RespDecimals: 2, RespMultiplier: 1000, Expiry: 60}
}

// fuzzGBP is a valid currency the receiver offers besides the fuzzer's EUR.
var fuzzGBP = uma.Currency{Code: "GBP", Name: "Pound", Symbol: "£", Decimals: 2, Multiplier: 1150, Convertible: uma.Convertible{Min: 1, Max: 1e9}}

// lookupEUR is the EUR c's receiver offers.
func lookupEUR(c receiverCase) uma.Currency {
	return uma.Currency{Code: "EUR", Name: "Euro", Symbol: "€", Decimals: int(c.Decimals), Multiplier: c.Multiplier,
		Convertible: uma.Convertible{Min: c.ConvMin, Max: c.ConvMax}}
}

// fuzzDB is the database a fuzz target reuses across its inputs:
// PostgreSQL when VASPD_TEST_POSTGRES_URL is set, else SQLite.
func fuzzDB(f *testing.F) *store.DB {
	if os.Getenv(storetest.PostgresEnv) != "" {
		return storetest.Postgres(f)
	}
	return storetest.SQLite(f)
}

// FuzzQuoteHostileReceiver: a receiving VASP (newHostile's, answering
// with real signatures and invoices of a real node) chooses every number
// it sends us — its lnurlp's minSendable, maxSendable and currency
// (decimals, multiplier, convertible range; it offers a valid GBP too),
// its payreq answer's
// conversion (amount, decimals, multiplier, fee, currency), the invoice's
// amount, expiry and date, its utxoCallback — and our platform the locked
// side, amount and sending currency of the quote and the user's balance.
// Lookup, CreateQuote and (when a quote is made) ExecuteQuote run on the
// real Service, ledger and embedded node. Properties:
//
//   - every refusal is a *vaspd.Error with a status and code the platform
//     API documents for its step (lookup: 424 LNURLP_REQUEST_FAILED; quote:
//     400 INVALID_INPUT or AMOUNT_OUT_OF_RANGE, 424 PAYREQ_REQUEST_FAILED;
//     execute: 400 INSUFFICIENT_BALANCE, 409 QUOTE_EXPIRED), never a panic,
//     an untyped error or a 5xx; its message says what was wrong (not
//     merely that the receiver answered HTTP 200);
//   - a lookup is refused only for a minSendable..maxSendable that is no
//     range (0 ≤ min ≤ max); it offers EUR exactly when its numbers are
//     valid by UMA's rules, and GBP;
//   - a quote made is consistent: it holds the receiver's invoice, whose
//     amount is the quote's msats; sender-locked, the user spends exactly
//     the amount asked, the msats are what our rate gives for it less our
//     fee, within the receiver's minSendable..maxSendable, and
//     converted.amount is the receiver's own conversion of them (UMA's
//     rounding margin of 1 unit + 1 ppb); receiver-locked, the receiver
//     gets exactly the amount asked, within its convertible range, the
//     invoice is at most round(amount × converted.multiplier +
//     converted.fee) (UMA's margin of 2 msats + 1 ppb) and the user spends
//     ceil(msats / our rate) + our fee; in both, the receiving amount and
//     fee are what the receiver promised, in the decimals its lookup
//     advertised, our fee is our rate's, the total is within our range, and
//     the quote expires with its invoice, at most an hour after it is made
//     (all checked here in exact integers and rationals);
//   - money is never created or lost: after each run every movement and
//     every currency's postings sum to zero (ledger.Check); the user's
//     balance is what it was less exactly the quote's total if the payment
//     completed (the node then holds exactly the quote's msats less, the
//     fee account has our fee and the desk the rest), unchanged otherwise,
//     and nothing stays reserved; the transaction carries the quote's
//     amounts; executing the quote again answers the same transaction and
//     moves nothing;
//   - a utxoCallback kept is a URL we may call (https, or http to a local
//     host, no credentials, at most 2000 bytes);
//   - nothing overflows int64 silently: every amount above is checked
//     against its exact value, so a wrapped product or sum fails a check.
//
// Each run is bounded (local servers, counterparty and pay timeouts of a
// few seconds). The seeds, the shapes of the hand-picked cases of
// TestQuoteHostileReceiver and sender_hostile_test.go, run as a test. The
// database is set up once per process and shared by the runs (each has
// its own user): PostgreSQL when VASPD_TEST_POSTGRES_URL is set.
func FuzzQuoteHostileReceiver(f *testing.F) {
	for _, c := range fuzzSeeds() {
		f.Add(c.MinSendable, c.MaxSendable, c.Decimals, c.Multiplier, c.ConvMin, c.ConvMax, c.Sending, c.ReceiverLocked, c.Amount,
			c.RespDecimals, c.RespMultiplier, c.RespFee, c.OtherCode, c.AmountDelta, c.InvoiceDelta, c.Expiry, c.Age, c.UtxoCallback, c.FundDelta)
	}
	db := fuzzDB(f)
	h := newHostile(f, db)
	cfg := rates.Config{Currencies: fuzzSending}
	p, err := rates.NewConfigProvider(cfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	h.s = h.w.service(f, func(o *vasp.Options) {
		o.Clock, o.Rates = vaspd.SystemClock{}, p
		o.CounterpartyTimeout, o.PayTimeout = 3*time.Second, 3*time.Second
	})
	// A second process of our node, on a clock of its own: invoices dated
	// in the past or future.
	aged := vaspd.NewFakeClock(time.Now())
	agedNode, err := embedded.Open(f.Context(), db, embedded.Options{Clock: aged})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = agedNode.Close() })
	info, err := h.w.node.Info(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, minSendable, maxSendable, decimals int64, multiplier float64, convMin, convMax int64,
		sending uint8, receiverLocked bool, amount, respDecimals int64, respMultiplier float64, respFee int64,
		otherCode bool, amountDelta, invoiceDelta, expiry, age int64, utxoCallback string, fundDelta int64) {
		c := receiverCase{minSendable, maxSendable, decimals, multiplier, convMin, convMax, sending, receiverLocked, amount,
			respDecimals, respMultiplier, respFee, otherCode, amountDelta, invoiceDelta, expiry, age, utxoCallback, fundDelta}
		r := &receiverRun{t: t, h: h, c: c, aged: aged, agedNode: agedNode, network: info.Network, cur: fuzzSending[int(sending)%len(fuzzSending)]}
		r.run()
	})
}

// receiverRun is one run of FuzzQuoteHostileReceiver.
type receiverRun struct {
	t        *testing.T
	h        *hostile
	c        receiverCase
	aged     *vaspd.FakeClock
	agedNode *embedded.Node
	network  string
	cur      rates.CurrencyConfig // our sending currency

	mu     sync.Mutex
	answer sentAnswer // the receiver's last payreq answer
}

// sentAnswer is what the receiver answered a payreq.
type sentAnswer struct {
	ok        bool // an invoice was made and the answer sent
	invoice   string
	msats     int64
	expiresAt time.Time
	conv      uma.Converted
	asked     int64  // the payreq's amount
	callback  string // utxoCallback, as JSON carried it
}

func (r *receiverRun) run() {
	t, h, c := r.t, r.h, r.c
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	h.fail = t.Errorf
	user := vasp.Recipient{UserID: vaspd.NewID(vaspd.IDUser), PlatformUserID: "p-fuzz", Local: "alice", Name: "Alice"}
	h.w.users[user.UserID] = user
	defer delete(h.w.users, user.UserID)
	h.lnurlp = func(resp *uma.LnurlpResponse) {
		resp.MinSendable, resp.MaxSendable = c.MinSendable, c.MaxSendable
		resp.Currencies = []uma.Currency{lookupEUR(c), fuzzGBP}
	}
	h.payreq = r.payreq
	l := ledger.New(h.w.db, nil)
	defer func() {
		if err := l.Check(context.WithoutCancel(ctx), h.w.db); err != nil {
			t.Fatal(err)
		}
	}()

	lookup, err := h.s.LookupReceiver(ctx, user.UserID, "$bob@"+h.domain)
	if err != nil {
		wantRefusal(t, "lookup", err, "424 "+vaspd.CodeLnurlpRequestFailed)
		t.Logf("lookup refused: %v %v", err, vaspd.AsError(err).Details)
		if 0 <= c.MinSendable && c.MinSendable <= c.MaxSendable {
			t.Fatalf("lookup of a receiver offering %+v refused: %v", fuzzGBP, err)
		}
		return
	}
	// EUR is offered if valid by UMA's rules, GBP always.
	valid := c.Multiplier > 0 && !math.IsInf(c.Multiplier, 0) && 0 <= c.Decimals && c.Decimals <= uma.MaxDecimals &&
		0 <= c.ConvMin && c.ConvMin <= c.ConvMax
	want := []uma.Currency{fuzzGBP}
	if valid {
		want = []uma.Currency{lookupEUR(c), fuzzGBP}
	}
	if !slices.Equal(lookup.Response.Currencies, want) {
		t.Fatalf("lookup offers %+v, want %+v", lookup.Response.Currencies, want)
	}
	side := vasp.LockedSending
	if c.ReceiverLocked {
		side = vasp.LockedReceiving
	}
	q, err := h.s.CreateQuote(ctx, vasp.QuoteRequest{LookupID: lookup.ID, SendingCurrency: r.cur.Code, ReceivingCurrency: "EUR",
		LockedSide: side, Amount: c.Amount})
	r.mu.Lock()
	sent := r.answer
	r.mu.Unlock()
	if err != nil {
		wantRefusal(t, "quote", err, "400 "+vaspd.CodeInvalidInput, "400 "+vaspd.CodeAmountOutOfRange, "424 "+vaspd.CodePayreqRequestFailed)
		t.Logf("quote refused: %v", err)
		if n := r.count(ctx, `SELECT COUNT(*) FROM uma_quotes WHERE lookup_id = $1`, lookup.ID); n != 0 {
			t.Fatalf("refused quote, yet %d stored", n)
		}
		return
	}
	r.checkQuote(ctx, lookup, q, sent)
	r.execute(ctx, l, user, q, sent)
}

// payreq answers a payreq with c's numbers, signed, with an invoice of
// our node (dated Age seconds ago).
func (r *receiverRun) payreq(rw http.ResponseWriter, pr *uma.PayRequest) {
	c, h := r.c, r.h
	var honestMsats, honestAmount int64
	var err error
	if pr.SendingCurrency == "" { // sender-locked: msats asked
		honestMsats = pr.Amount
		honestAmount, err = uma.ConvertedAmountForMsats(pr.Amount, c.RespMultiplier, max(c.RespFee, 0))
	} else {
		honestAmount = pr.Amount
		honestMsats, err = uma.InvoiceMsatsForAmount(pr.Amount, c.RespMultiplier, max(c.RespFee, 0))
	}
	if err != nil {
		honestMsats, honestAmount = 0, 0 // the offsets are the numbers
	}
	msats := satAdd(honestMsats, c.InvoiceDelta)
	expiry := time.Duration(uint64(c.Expiry)%uint64(lightning.MaxInvoiceExpiry/time.Second)+1) * time.Second
	node := h.w.node
	if c.Age != 0 {
		// Within ±400 days: the invoice's timestamp stays a valid one.
		r.aged.Set(time.Now().Add(-time.Duration(c.Age%(400*86400)) * time.Second))
		node = r.agedNode
	}
	inv, err := node.CreateInvoice(context.Background(), lightning.InvoiceRequest{AmountMsat: msats, Expiry: expiry,
		DescriptionHash: lightning.Hash(uma.DescriptionHash("[]", nil))})
	if err != nil {
		// No such invoice (a negative amount, or over 21M BTC): the
		// receiver fails.
		http.Error(rw, "no invoice", http.StatusInternalServerError)
		return
	}
	code := "EUR"
	if c.OtherCode {
		code = "GBP"
	}
	conv := uma.Converted{Amount: satAdd(honestAmount, c.AmountDelta), CurrencyCode: code, Decimals: int(c.RespDecimals),
		Multiplier: c.RespMultiplier, Fee: c.RespFee}
	resp := &uma.PayReqResponse{PR: inv.PaymentRequest, Converted: &conv,
		PayeeData: &uma.PayeeData{Identifier: "$bob@" + h.domain,
			Compliance: &uma.CompliancePayeeData{NodePubKey: h.nodeKey, UtxoCallback: c.UtxoCallback}}}
	if err := resp.Sign(h.keys.Signing, pr.PayerData.Identifier, time.Now()); err != nil {
		r.t.Errorf("sign the payreq answer: %v", err)
	}
	b, err := resp.MarshalJSON()
	if err != nil {
		// A multiplier JSON cannot carry (NaN, ±Inf): what a receiver
		// that sends garbage looks like.
		b = []byte(`{"pr":"` + inv.PaymentRequest + `","converted":{"multiplier":"NaN"}}`)
	} else {
		r.mu.Lock()
		var cb string
		raw, _ := json.Marshal(c.UtxoCallback)
		_ = json.Unmarshal(raw, &cb) // invalid UTF-8 is sent as U+FFFD
		r.answer = sentAnswer{ok: true, invoice: inv.PaymentRequest, msats: msats, expiresAt: inv.ExpiresAt, conv: conv, asked: pr.Amount, callback: cb}
		r.mu.Unlock()
	}
	_, _ = rw.Write(b)
}

// checkQuote checks a quote made against what the lookup offered, the
// receiver answered and our rates say.
func (r *receiverRun) checkQuote(ctx context.Context, lookup vasp.Lookup, q vasp.Quote, sent sentAnswer) {
	t, c := r.t, r.c
	if !sent.ok {
		t.Fatalf("quote %+v made without an answer of the receiver's", q)
	}
	eur, ok := uma.FindCurrency(lookup.Response.Currencies, "EUR")
	if !ok {
		t.Fatalf("quote in EUR, which the lookup does not offer: %+v", lookup.Response.Currencies)
	}
	// Its rate no worse than the lookup's by more than the bound, its
	// invoice within the lookup's msats range.
	if sent.conv.Multiplier/eur.Multiplier > 1+float64(vasp.MaxReceiverRateChangeBps)/10_000 {
		t.Fatalf("quote made at a multiplier of %v, the lookup's %v", sent.conv.Multiplier, eur.Multiplier)
	}
	if lo, hi := lookup.Response.MinSendable, lookup.Response.MaxSendable; q.Msats < lo || q.Msats > hi {
		t.Fatalf("quote's invoice of %d msats outside the lookup's [%d, %d]", q.Msats, lo, hi)
	}
	// The invoice is the receiver's, for the quote's msats.
	inv, err := bolt11.Decode(q.Invoice, r.network)
	if err != nil || q.Invoice != sent.invoice || inv.AmountMsat != q.Msats || q.Msats != sent.msats || q.Msats <= 0 {
		t.Fatalf("quote holds invoice for %d msats (%v), quote says %d, the receiver sent one for %d", inv.AmountMsat, err, q.Msats, sent.msats)
	}
	if q.PaymentHash != inv.PaymentHash.String() {
		t.Fatalf("quote's payment hash %s, its invoice's %s", q.PaymentHash, inv.PaymentHash)
	}
	// What the receiver promised, in the unit its lookup advertised.
	if q.ReceivingCurrency != "EUR" || sent.conv.CurrencyCode != "EUR" || q.ReceivingAmount != sent.conv.Amount ||
		q.ReceiverFeeMsats != sent.conv.Fee || q.ReceivingAmount < 0 || q.ReceiverFeeMsats < 0 {
		t.Fatalf("quote receiving %d %s (fee %d msats); the receiver converted to %+v", q.ReceivingAmount, q.ReceivingCurrency, q.ReceiverFeeMsats, sent.conv)
	}
	if sent.conv.Decimals != eur.Decimals || q.ReceivingCurrencyInfo.Decimals != eur.Decimals || int64(eur.Decimals) != c.Decimals {
		t.Fatalf("quote in EUR with %d decimals (converted %d), the lookup advertised %d", q.ReceivingCurrencyInfo.Decimals, sent.conv.Decimals, eur.Decimals)
	}
	mult := exactFloat(t, sent.conv.Multiplier)
	margin := func(want *big.Int, units int64) *big.Int { // units + 1 ppb of want
		m := new(big.Int).Quo(want, big.NewInt(1_000_000_000))
		return m.Add(m.Abs(m), big.NewInt(units))
	}
	send := r.sendMultiplier()
	fee := r.cur.FixedFee
	if q.Fee != fee {
		t.Fatalf("quote's fee %d %s, our rate's %d", q.Fee, q.SendingCurrency, fee)
	}
	if c.ReceiverLocked {
		if q.ReceivingAmount != c.Amount || sent.asked != c.Amount {
			t.Fatalf("receiver-locked to %d, quote receives %d (asked %d)", c.Amount, q.ReceivingAmount, sent.asked)
		}
		if c.Amount < eur.Convertible.Min || (eur.Convertible.Max > 0 && c.Amount > eur.Convertible.Max) {
			t.Fatalf("receiving %d, outside the convertible range %+v", c.Amount, eur.Convertible)
		}
		// invoice ≤ round(amount × multiplier + fee) + margin
		promised := new(big.Rat).Mul(new(big.Rat).SetInt64(c.Amount), mult)
		promised.Add(promised, new(big.Rat).SetInt64(sent.conv.Fee))
		want := roundHalfUp(promised)
		if limit := new(big.Int).Add(want, margin(want, 2)); big.NewInt(q.Msats).Cmp(limit) > 0 {
			t.Fatalf("receiver-locked invoice for %d msats; the receiver promised %d %s at %v msats + %d fee = %s msats",
				q.Msats, c.Amount, "EUR", sent.conv.Multiplier, sent.conv.Fee, want)
		}
		// We spend ceil(msats / our rate) + our fee.
		units := new(big.Rat).Quo(new(big.Rat).SetInt64(q.Msats), send)
		total := new(big.Int).Add(ceilRat(units), big.NewInt(fee))
		if !total.IsInt64() || total.Int64() != q.SendingAmount {
			t.Fatalf("receiver-locked: %d msats cost %s %s at our rate, quote says %d", q.Msats, total, r.cur.Code, q.SendingAmount)
		}
	} else {
		if q.SendingAmount != c.Amount {
			t.Fatalf("sender-locked to %d, quote spends %d", c.Amount, q.SendingAmount)
		}
		// msats = floor((amount − fee) × our rate): exactly the invoice.
		msats := floorRat(new(big.Rat).Mul(new(big.Rat).SetInt64(c.Amount-fee), send))
		if !msats.IsInt64() || msats.Int64() != q.Msats || sent.asked != q.Msats {
			t.Fatalf("sender-locked: %d %s deliver %s msats at our rate, quote pays %d (asked %d)", c.Amount, r.cur.Code, msats, q.Msats, sent.asked)
		}
		if q.Msats < c.MinSendable || (c.MaxSendable > 0 && q.Msats > c.MaxSendable) {
			t.Fatalf("sender-locked: %d msats outside the receiver's [%d, %d]", q.Msats, c.MinSendable, c.MaxSendable)
		}
		// converted.amount = round((msats − fee) / multiplier) ± margin, > 0.
		if sent.conv.Fee > q.Msats {
			t.Fatalf("sender-locked: fee %d msats above the invoice's %d", sent.conv.Fee, q.Msats)
		}
		want := roundHalfUp(new(big.Rat).Quo(new(big.Rat).SetInt64(q.Msats-sent.conv.Fee), mult))
		d := new(big.Int).Sub(big.NewInt(q.ReceivingAmount), want)
		if q.ReceivingAmount <= 0 || d.Abs(d).Cmp(margin(want, 1)) > 0 {
			t.Fatalf("sender-locked: %d msats − %d fee at %v msats per unit is %s, the receiver credits %d",
				q.Msats, sent.conv.Fee, sent.conv.Multiplier, want, q.ReceivingAmount)
		}
	}
	if q.SendingAmount <= 0 || q.SendingAmount < r.cur.Min || (r.cur.Max > 0 && q.SendingAmount > r.cur.Max) || q.Fee > q.SendingAmount {
		t.Fatalf("quote spends %d %s (fee %d), our range is [%d, %d]", q.SendingAmount, r.cur.Code, q.Fee, r.cur.Min, r.cur.Max)
	}
	if q.ExpiresAt.After(sent.expiresAt) || q.ExpiresAt.Sub(q.CreatedAt) > time.Hour {
		t.Fatalf("quote made %s expires %s; its invoice %s", q.CreatedAt, q.ExpiresAt, sent.expiresAt)
	}
	// Stored as made.
	got, err := r.h.s.GetQuote(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SendingAmount != q.SendingAmount || got.Fee != q.Fee || got.Msats != q.Msats || got.ReceivingAmount != q.ReceivingAmount ||
		got.ReceiverFeeMsats != q.ReceiverFeeMsats || got.Invoice != q.Invoice || !got.ExpiresAt.Equal(q.ExpiresAt) {
		t.Fatalf("quote stored as %+v, made as %+v", got, q)
	}
}

// execute funds the user with the quote's total plus FundDelta and
// executes q, checking what moved.
func (r *receiverRun) execute(ctx context.Context, l *ledger.Ledger, user vasp.Recipient, q vasp.Quote, sent sentAnswer) {
	t, h, c := r.t, r.h, r.c
	db := h.w.db
	funds := min(max(satAdd(q.SendingAmount, c.FundDelta), 0), ledger.MaxBalance)
	if funds > 0 {
		id := vaspd.NewID("Test")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			_, err := l.Transfer(ctx, tx, ledger.Deposit("deposit/"+id, user.UserID, q.SendingCurrency, funds, id))
			return err
		})
		if err != nil {
			t.Fatalf("deposit %d: %v", funds, err)
		}
	}
	cur := q.SendingCurrency
	balance := func(acct ledger.Account, currency string) int64 {
		b, err := l.Balance(context.WithoutCancel(ctx), db, acct, currency)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	node0, fx0, fees0 := balance(ledger.Node, ledger.BTC), balance(ledger.FX, cur), balance(ledger.Fees, cur)
	tr, err := h.s.ExecuteQuote(ctx, q.ID, "")
	userBal, hold := balance(ledger.UserAccount(user.UserID), cur), balance(ledger.HoldAccount(user.UserID), cur)
	if hold != 0 {
		t.Fatalf("after execute (%v, %s), %d %s still reserved", err, tr.Status, hold, cur)
	}
	if err != nil {
		wantRefusal(t, "execute", err, "400 "+vaspd.CodeInsufficientBalance, "409 "+vaspd.CodeQuoteExpired)
		t.Logf("execute refused: %v", err)
		if userBal != funds {
			t.Fatalf("refused execute (%v) left the user %d of %d", err, userBal, funds)
		}
		if e := vaspd.AsError(err); e.Code == vaspd.CodeInsufficientBalance && funds >= q.SendingAmount {
			t.Fatalf("execute refused for want of %d, the user has %d", q.SendingAmount, funds)
		}
		return
	}
	if tr.Amount != q.SendingAmount || tr.Fee != q.Fee || tr.Msats != q.Msats || tr.Currency != cur ||
		tr.CounterAmount != q.ReceivingAmount || tr.Invoice != q.Invoice {
		t.Fatalf("transaction %+v for quote %+v", tr, q)
	}
	if cb := tr.Details.UtxoCallback; cb != "" && (cb != sent.callback || !callableURL(cb)) {
		t.Fatalf("utxoCallback %q kept", cb)
	}
	t.Logf("executed: %s %s, %d %s for %d msats", tr.Status, tr.FailureReason, q.SendingAmount, cur, q.Msats)
	switch tr.Status {
	case vasp.StatusCompleted:
		if funds < q.SendingAmount {
			t.Fatalf("paid %d %s from a balance of %d", q.SendingAmount, cur, funds)
		}
		if userBal != funds-q.SendingAmount {
			t.Fatalf("paid: the user has %d, had %d, the quote's total is %d", userBal, funds, q.SendingAmount)
		}
		node, fx, fees := balance(ledger.Node, ledger.BTC)-node0, balance(ledger.FX, cur)-fx0, balance(ledger.Fees, cur)-fees0
		if node != q.Msats || fx != q.SendingAmount-q.Fee || fees != q.Fee {
			t.Fatalf("paid %d msats for %d %s (fee %d): node moved %d msats, desk %d, fees %d", q.Msats, q.SendingAmount, cur, q.Fee, node, fx, fees)
		}
		hash, err := lightning.ParseHash(q.PaymentHash)
		if err != nil {
			t.Fatal(err)
		}
		if inv, err := h.w.node.LookupInvoice(ctx, hash); err != nil || inv.AmountPaidMsat != q.Msats {
			t.Fatalf("the receiver's invoice was paid %d msats (%v), the quote says %d", inv.AmountPaidMsat, err, q.Msats)
		}
	case vasp.StatusFailed:
		if userBal != funds {
			t.Fatalf("failed payment left the user %d of %d", userBal, funds)
		}
	default:
		t.Fatalf("execute left the payment %s (the embedded node pays itself at once)", tr.Status)
	}
	// Executed again (a retried request): the same transaction, nothing moves.
	again, err := h.s.ExecuteQuote(ctx, q.ID, "")
	if err != nil || again.ID != tr.ID || again.Status != tr.Status {
		t.Fatalf("execute again: %+v %v, first %s %s", again, err, tr.ID, tr.Status)
	}
	if b := balance(ledger.UserAccount(user.UserID), cur); b != userBal {
		t.Fatalf("execute again: the user has %d, had %d", b, userBal)
	}
}

func (r *receiverRun) count(ctx context.Context, query string, args ...any) int {
	var n int
	if err := r.h.w.db.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// sendMultiplier is msats delivered per unit of our sending currency:
// msatsPerUnit × (10000 − spread) / 10000.
func (r *receiverRun) sendMultiplier() *big.Rat {
	mid, ok := new(big.Rat).SetString(r.cur.MsatsPerUnit)
	if !ok {
		r.t.Fatalf("msatsPerUnit %q", r.cur.MsatsPerUnit)
	}
	return mid.Mul(mid, big.NewRat(10000-r.cur.SpreadBps, 10000))
}

// wantRefusal fails t unless err is a *vaspd.Error with one of the
// "status CODE"s allowed for step, and a message.
func wantRefusal(t *testing.T, step string, err error, allowed ...string) {
	t.Helper()
	var e *vaspd.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: untyped error %v", step, err)
	}
	if got := fmt.Sprintf("%d %s", e.Status, e.Code); !slices.Contains(allowed, got) || e.Message == "" {
		t.Fatalf("%s: %s (%v), want one of %v", step, got, err, allowed)
	}
	// An answer refused says what was wrong with it: that the receiver
	// answered HTTP 200 is no reason.
	if strings.HasSuffix(e.Message, "HTTP 200") {
		t.Fatalf("%s: refused with %q", step, e.Message)
	}
}

// callableURL is the rule for a URL a counterparty gives us to call:
// https, or http to a local host; absolute, without credentials; at most
// 2000 bytes.
func callableURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || len(s) > 2000 || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && uma.IsLocalDomain(u.Host))
}

// exactFloat is f's exact value (a binary float is a rational).
func exactFloat(t *testing.T, f float64) *big.Rat {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		t.Fatalf("multiplier %v accepted", f)
	}
	return new(big.Rat).SetFloat64(f)
}

func floorRat(x *big.Rat) *big.Int {
	q, m := new(big.Int).QuoRem(x.Num(), x.Denom(), new(big.Int))
	if m.Sign() < 0 {
		q.Sub(q, big.NewInt(1))
	}
	return q
}

func ceilRat(x *big.Rat) *big.Int {
	return new(big.Int).Neg(floorRat(new(big.Rat).Neg(x)))
}

// roundHalfUp rounds a non-negative x half up.
func roundHalfUp(x *big.Rat) *big.Int {
	return floorRat(new(big.Rat).Add(x, big.NewRat(1, 2)))
}

// satAdd is a + b, saturating at the ends of int64.
func satAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// fuzzSeeds are the hand-picked cases' shapes (TestQuoteHostileReceiver,
// TestLookupCurrencies, TestQuoteNegativeConversion, TestQuoteLifeBounded,
// TestQuoteUtxoCallbackURL, TestQuoteReceiverLockedInvoiceAmount,
// TestQuoteSendingCurrencyRange, TestQuoteSenderLockedConvertedAmount,
// TestQuoteConversionDecimals) and extremes. The honest sender-locked
// case is 1000 USD cents: 993 after our fee of 7, 9,880,350 msats at
// 9950 msats a cent, 9880 EUR cents at the receiver's 1000.
func fuzzSeeds() []receiverCase {
	seed := func(edit func(c *receiverCase)) receiverCase {
		c := honestCase()
		edit(&c)
		return c
	}
	recvLocked := func(edit func(c *receiverCase)) receiverCase { // 12345 EUR cents, 500 msats fee: 12,345,500 msats
		return seed(func(c *receiverCase) {
			c.ReceiverLocked, c.Amount, c.RespFee = true, 12345, 500
			edit(c)
		})
	}
	const honestMsats, honestEUR = 9_880_350, 9880
	huge := math.MaxInt64
	return []receiverCase{
		honestCase(),
		recvLocked(func(c *receiverCase) {}),
		// The payreq answer (TestQuoteHostileReceiver).
		seed(func(c *receiverCase) { c.InvoiceDelta = 1 }),
		seed(func(c *receiverCase) { c.OtherCode = true }),
		seed(func(c *receiverCase) { c.RespMultiplier = math.NaN() }),
		// Negative conversions.
		seed(func(c *receiverCase) { c.AmountDelta = -honestEUR - 1 }),
		seed(func(c *receiverCase) { c.RespFee = -5000 }),
		recvLocked(func(c *receiverCase) { c.RespFee = -5000 }),
		// Receiver-locked invoice amounts: one msat more, less, twice, a sat more.
		recvLocked(func(c *receiverCase) { c.InvoiceDelta = 1 }),
		recvLocked(func(c *receiverCase) { c.InvoiceDelta = 2 }),
		recvLocked(func(c *receiverCase) { c.InvoiceDelta = 3 }),
		recvLocked(func(c *receiverCase) { c.InvoiceDelta = -500 }),
		recvLocked(func(c *receiverCase) { c.InvoiceDelta = 12_345_500 }),
		recvLocked(func(c *receiverCase) { c.InvoiceDelta = 1000 }),
		recvLocked(func(c *receiverCase) { c.RespMultiplier = 0 }),
		// Sender-locked converted amounts.
		seed(func(c *receiverCase) { c.AmountDelta = 1 }),
		seed(func(c *receiverCase) { c.AmountDelta = -1 }),
		seed(func(c *receiverCase) { c.AmountDelta = 2 }),
		seed(func(c *receiverCase) { c.RespFee = 1500 }),
		seed(func(c *receiverCase) { c.AmountDelta = -honestEUR }),
		seed(func(c *receiverCase) { c.AmountDelta = -honestEUR / 2 }),
		seed(func(c *receiverCase) { c.AmountDelta = honestEUR }),
		seed(func(c *receiverCase) { c.RespFee, c.AmountDelta = 5000, 5 }),
		seed(func(c *receiverCase) { c.RespFee = honestMsats + 1 }),
		seed(func(c *receiverCase) { c.RespFee = honestMsats }),
		seed(func(c *receiverCase) { c.RespMultiplier = 0 }),
		// Decimals of the conversion.
		seed(func(c *receiverCase) { c.RespDecimals, c.RespMultiplier = 0, 100_000 }),
		recvLocked(func(c *receiverCase) { c.RespDecimals = 0 }),
		seed(func(c *receiverCase) { c.RespDecimals = 9 }),
		recvLocked(func(c *receiverCase) { c.RespDecimals = 1000 }),
		// The lookup's currency.
		seed(func(c *receiverCase) { c.Multiplier = -1000 }),
		seed(func(c *receiverCase) { c.Multiplier = 0 }),
		seed(func(c *receiverCase) { c.Decimals, c.RespDecimals = 40, 40 }),
		seed(func(c *receiverCase) { c.Decimals, c.RespDecimals = 9, 9 }),
		seed(func(c *receiverCase) { c.Decimals, c.RespDecimals = 0, 0 }),
		seed(func(c *receiverCase) { c.ConvMin, c.ConvMax = 100, 10 }),
		seed(func(c *receiverCase) { c.ConvMin = -1 }),
		recvLocked(func(c *receiverCase) { c.ConvMax = 12344 }),
		recvLocked(func(c *receiverCase) { c.ConvMin, c.ConvMax = 0, 0 }),
		// minSendable, maxSendable.
		seed(func(c *receiverCase) { c.MinSendable = honestMsats + 1 }),
		seed(func(c *receiverCase) { c.MaxSendable = honestMsats - 1 }),
		seed(func(c *receiverCase) { c.MinSendable, c.MaxSendable = honestMsats, honestMsats }),
		seed(func(c *receiverCase) { c.MinSendable, c.MaxSendable = -1, 0 }),
		seed(func(c *receiverCase) { c.MinSendable, c.MaxSendable = 5, 1 }),
		// The invoice's life: a year, dated in the future, expired, a second.
		seed(func(c *receiverCase) { c.Expiry = 300 * 86400 }),
		seed(func(c *receiverCase) { c.Age, c.Expiry = -3600, 7200 }),
		seed(func(c *receiverCase) { c.Age, c.Expiry = 120, 60 }),
		seed(func(c *receiverCase) { c.Expiry = 0 }),
		// utxoCallback.
		seed(func(c *receiverCase) { c.UtxoCallback = "https://pay.example.com/utxo?txid=1" }),
		seed(func(c *receiverCase) { c.UtxoCallback = "http://localhost:1/utxo" }),
		seed(func(c *receiverCase) { c.UtxoCallback = "http://pay.example.com/utxo" }),
		seed(func(c *receiverCase) { c.UtxoCallback = "https://user:pw@pay.example.com/utxo" }),
		seed(func(c *receiverCase) { c.UtxoCallback = "gopher://pay.example.com/utxo" }),
		// Our sending range and currencies (EUR: max 10^8, SAT: no decimals).
		seed(func(c *receiverCase) { c.Sending, c.Amount = 1, 100_000_001 }),
		seed(func(c *receiverCase) { c.Sending, c.Amount = 2, 5000 }),
		recvLocked(func(c *receiverCase) { c.Sending = 1 }),
		recvLocked(func(c *receiverCase) { c.Sending = 2 }),
		recvLocked(func(c *receiverCase) { c.Sending, c.Amount, c.ConvMax = 1, 999_999_999, 1e12 }),
		seed(func(c *receiverCase) { c.Amount = 7 }),
		seed(func(c *receiverCase) { c.Amount = 8 }),
		// The user's balance: one short, plenty; more than the node has.
		seed(func(c *receiverCase) { c.FundDelta = -1 }),
		seed(func(c *receiverCase) { c.FundDelta = -1000 }),
		seed(func(c *receiverCase) { c.FundDelta = 1_000_000 }),
		seed(func(c *receiverCase) { c.Amount = 20_000_000 }),
		recvLocked(func(c *receiverCase) { c.Amount, c.ConvMax = 200_000_000, 1e12 }),
		// Extremes.
		seed(func(c *receiverCase) { c.Multiplier, c.RespMultiplier = 1e300, 1e300 }),
		seed(func(c *receiverCase) { c.Multiplier, c.RespMultiplier = 5e-324, 5e-324 }),
		seed(func(c *receiverCase) { c.RespMultiplier = 1e-9 }),
		recvLocked(func(c *receiverCase) { c.RespMultiplier = 1e300 }),
		recvLocked(func(c *receiverCase) { c.RespMultiplier = 5e-324 }),
		recvLocked(func(c *receiverCase) { c.Amount, c.ConvMax, c.RespMultiplier = 1e18, int64(huge), 1 }),
		recvLocked(func(c *receiverCase) { c.Amount, c.ConvMax = int64(huge), int64(huge) }),
		seed(func(c *receiverCase) { c.Amount = int64(huge) }),
		seed(func(c *receiverCase) { c.Sending, c.Amount = 2, int64(huge) }),
		seed(func(c *receiverCase) { c.RespFee = int64(huge) }),
		recvLocked(func(c *receiverCase) { c.RespFee = int64(huge) }),
		seed(func(c *receiverCase) { c.InvoiceDelta = int64(huge) }),
		seed(func(c *receiverCase) { c.InvoiceDelta = math.MinInt64 }),
		seed(func(c *receiverCase) { c.AmountDelta = int64(huge) }),
		seed(func(c *receiverCase) { c.MinSendable, c.MaxSendable = int64(huge), math.MinInt64 }),
		seed(func(c *receiverCase) { c.ConvMin, c.ConvMax = math.MinInt64, int64(huge) }),
		seed(func(c *receiverCase) { c.Expiry, c.Age = int64(huge), math.MinInt64 }),
		seed(func(c *receiverCase) { c.FundDelta = int64(huge) }),
	}
}
