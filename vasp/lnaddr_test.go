package vasp_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// lnaddr is a plain LNURL-pay service (a Lightning Address wallet) that
// issues real invoices of the world's embedded node, and a sending
// Service that may pay Lightning Addresses.
type lnaddr struct {
	*hostile
	plain *httptest.Server
	addr  string // "bob@localhost:port"

	mu sync.Mutex
	// lnurlp is the lnurlp answer (a JSON object) before edit; answer, if
	// set, replaces the callback's whole answer.
	lnurlp  map[string]any
	answer  func(rw http.ResponseWriter, r *http.Request) bool
	asked   []string // the callback queries received
	invoice func(req *lightning.InvoiceRequest)
	// converted edits the LUD-21 conversion answered (convert=EUR, at
	// 1000 msats a cent, no fee).
	converted func(c map[string]any)
}

const plainMetadata = `[["text/plain","Pay bob"],["text/identifier","bob@wallet"]]`

func newLnaddr(t *testing.T, db *store.DB, tune func(*vasp.Options)) *lnaddr {
	t.Helper()
	a := &lnaddr{hostile: newHostile(t, db)}
	a.plain = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if r.URL.Path == "/.well-known/lnurlp/bob" || r.URL.Path == "/.well-known/lnurlp/$bob" {
			b, _ := json.Marshal(a.lnurlp)
			_, _ = rw.Write(b)
			return
		}
		if r.URL.Path != "/cb" {
			rw.WriteHeader(404)
			return
		}
		a.asked = append(a.asked, r.URL.RawQuery)
		if a.answer != nil && a.answer(rw, r) {
			return
		}
		amount, code, _ := strings.Cut(r.URL.Query().Get("amount"), ".")
		msats, err := strconv.ParseInt(amount, 10, 64)
		if err != nil || code != "" && code != r.URL.Query().Get("convert") {
			rw.WriteHeader(400)
			return
		}
		var converted map[string]any
		if code != "" {
			msats *= 1000
		}
		if r.URL.Query().Get("convert") != "" {
			converted = map[string]any{"amount": msats / 1000, "currencyCode": "EUR", "decimals": 2, "multiplier": 1000, "fee": 0}
			if a.converted != nil {
				a.converted(converted)
			}
		}
		meta, _ := a.lnurlp["metadata"].(string)
		req := lightning.InvoiceRequest{AmountMsat: msats, Expiry: time.Minute,
			DescriptionHash: lightning.Hash(sha256.Sum256([]byte(meta + r.URL.Query().Get("payerdata"))))}
		if a.invoice != nil {
			a.invoice(&req)
		}
		inv, err := a.w.node.CreateInvoice(r.Context(), req)
		if err != nil {
			rw.WriteHeader(500)
			return
		}
		b, _ := json.Marshal(map[string]any{"pr": inv.PaymentRequest, "routes": []any{}, "converted": converted})
		_, _ = rw.Write(b)
	}))
	t.Cleanup(a.plain.Close)
	a.addr = "bob@localhost:" + strings.TrimPrefix(a.plain.URL, "http://127.0.0.1:")
	a.reset()
	a.s = a.w.service(t, func(o *vasp.Options) {
		o.Clock, o.PayLightningAddresses = vaspd.SystemClock{}, true
		if tune != nil {
			tune(o)
		}
	})
	return a
}

// reset makes the service honest again.
func (a *lnaddr) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lnurlp = map[string]any{"tag": "payRequest", "callback": a.plain.URL + "/cb", "minSendable": 1000,
		"maxSendable": 1_000_000_000, "metadata": plainMetadata, "commentAllowed": 50}
	a.answer, a.invoice, a.asked, a.converted = nil, nil, nil, nil
}

func (a *lnaddr) edit(f func(a *lnaddr)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

func (a *lnaddr) lookupPlain(t *testing.T) vasp.Lookup {
	t.Helper()
	l, err := a.s.LookupReceiver(t.Context(), a.w.alice.UserID, a.addr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (a *lnaddr) quotePlain(t *testing.T, l vasp.Lookup, side string, amount int64) (vasp.Quote, error) {
	return a.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "SAT",
		LockedSide: side, Amount: amount, Description: "for lunch"})
}

func (a *lnaddr) balance(t *testing.T) int64 {
	t.Helper()
	b, err := ledger.New(a.w.db, nil).Balance(t.Context(), a.w.db, ledger.UserAccount(a.w.alice.UserID), "USD")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Off (the default), a Lightning Address is refused as before: written
// without "$" it is not an UMA address, and nothing is asked of it.
func TestLightningAddressOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, func(o *vasp.Options) { o.PayLightningAddresses = false })
		_, err := a.s.LookupReceiver(t.Context(), a.w.alice.UserID, a.addr)
		wantStatus(t, err, 400, vaspd.CodeInvalidInput)
		// The message tells a platform what it wrote and what to do: an
		// UMA address takes "$", a Lightning Address needs the setting.
		if m := vaspd.AsError(err).Message; !strings.Contains(m, "Lightning Address") || !strings.Contains(m, "pay-lightning-addresses") || !strings.Contains(m, "$") {
			t.Fatalf("message %q does not say the address is a Lightning Address, nor how to pay it", m)
		}
		// A lookup made while it was on is neither quoted nor executed.
		on := newLnaddr(t, db, nil)
		l := on.lookupPlain(t)
		on.fund(t, 100_000)
		q, err := on.quotePlain(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		off := on.w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{} })
		_, err = off.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "SAT",
			LockedSide: vasp.LockedSending, Amount: 1000})
		wantStatus(t, err, 400, vaspd.CodeInvalidReceiver)
		_, err = off.ExecuteQuote(t.Context(), q.ID, "")
		wantStatus(t, err, 400, vaspd.CodeInvalidReceiver)
		if got := on.balance(t); got != 100_000 {
			t.Fatalf("balance %d after refused execute, want 100000", got)
		}
	})
}

// On, a Lightning Address is looked up unsigned, quoted on either side in
// SAT with our rates and fee, and paid once: the receiver's invoice
// settles, the sender is debited exactly the quote, OUTGOING_PAYMENT is
// sent, the transaction shows the address, and the books balance.
func TestLightningAddressPaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.fund(t, 100_000)
		l := a.lookupPlain(t)
		if l.Receiver != a.addr || len(l.Response.Currencies) != 1 || l.Response.Currencies[0].Code != "SAT" ||
			l.Response.MinSendable != 1000 || l.Response.MaxSendable != 1_000_000_000 {
			t.Fatalf("lookup %+v, currencies %+v", l, l.Response.Currencies)
		}
		q, err := a.quotePlain(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if q.Receiver != a.addr || q.ReceivingCurrency != "SAT" || q.SendingAmount != 1000 || q.Msats <= 0 ||
			q.ReceivingAmount != q.Msats/1000 || q.Fee < 0 {
			t.Fatalf("sender-locked quote %+v", q)
		}
		if asked := a.asked[len(a.asked)-1]; !strings.Contains(asked, "amount="+fmt.Sprint(q.Msats)) || !strings.Contains(asked, "comment=for+lunch") {
			t.Fatalf("callback asked %q", asked)
		}
		// Written with "$", it is an UMA address, and this answer no UMA one.
		_, err = a.s.LookupReceiver(t.Context(), a.w.alice.UserID, "$"+a.addr)
		wantStatus(t, err, 400, vaspd.CodeInvalidReceiver)
		if m := vaspd.AsError(err).Message; !strings.Contains(m, "write it without $") {
			t.Fatalf("message %q does not say how to pay it", m)
		}
		// Receiver-locked: 5000 sat is 5,000,000 msats exactly.
		rq, err := a.quotePlain(t, l, vasp.LockedReceiving, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if rq.Msats != 5_000_000 || rq.ReceivingAmount != 5000 || rq.SendingAmount <= rq.Fee || rq.Fee < 0 {
			t.Fatalf("receiver-locked quote %+v", rq)
		}
		tr, err := a.s.ExecuteQuote(t.Context(), q.ID, "key-1")
		if err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute: %+v %v", tr, err)
		}
		again, err := a.s.ExecuteQuote(t.Context(), q.ID, "key-1")
		if err != nil || again.ID != tr.ID {
			t.Fatalf("execute again: %+v %v", again, err)
		}
		if tr.Counterparty != a.addr || tr.Amount != 1000 || tr.Details.UtxoCallback != "" {
			t.Fatalf("transaction %+v", tr)
		}
		inv, err := a.w.node.LookupInvoice(t.Context(), mustHash(t, q.PaymentHash))
		if err != nil || inv.State != lightning.InvoiceSettled {
			t.Fatalf("receiver's invoice: %+v %v", inv, err)
		}
		if got := a.balance(t); got != 100_000-1000 {
			t.Fatalf("balance %d, want %d", got, 100_000-1000)
		}
		wantOutgoingHook(t, db, tr.ID, a.addr, "COMPLETED")
		// The address's domain, were it to serve UMA keys, cannot tell us
		// about the payment: there was no UMA counterparty.
		domain := strings.TrimPrefix(a.addr, "bob@")
		keys := a.w.counterparty(t, domain)
		cb := uma.PostTransactionCallback{VaspDomain: domain, TransactionStatus: uma.TransactionCompleted,
			Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}}}
		wantCode(t, a.s.ReceiveUtxoCallback(t.Context(), q.ID, signedCallback(t, keys.Signing, time.Now(), cb)), uma.CodeRequestNotFound)
		if n := utxoCallbackRows(t, db, tr.ID); n != 0 {
			t.Fatalf("%d callbacks kept about a plain payment", n)
		}
		ts, err := a.s.ListTransactions(t.Context(), vasp.TransactionFilter{Receiver: a.addr}, "", 10)
		if err != nil || len(ts) != 1 || ts[0].ID != tr.ID {
			t.Fatalf("transactions to %s: %+v %v", a.addr, ts, err)
		}
		// A refresh asks the callback again, for a new invoice.
		before := len(a.asked)
		nq, err := a.s.RefreshQuote(t.Context(), rq.ID)
		if err != nil || nq.PaymentHash == rq.PaymentHash || len(a.asked) != before+1 {
			t.Fatalf("refresh: %+v %v", nq, err)
		}
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}

// wantOutgoingHook checks that an OUTGOING_PAYMENT webhook of transaction
// id in status was enqueued, naming receiver.
func wantOutgoingHook(t *testing.T, db *store.DB, id, receiver, status string) {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT payload FROM webhook_events WHERE type = 'OUTGOING_PAYMENT'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []string
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var m struct {
			Transaction struct{ ID, Status, ReceiverUmaAddress string }
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Transaction.ID == id && m.Transaction.Status == status && m.Transaction.ReceiverUmaAddress == receiver {
			return
		}
		seen = append(seen, string(b))
	}
	t.Fatalf("no OUTGOING_PAYMENT %s of %s to %s among %q", status, id, receiver, seen)
}

func mustHash(t *testing.T, s string) lightning.Hash {
	t.Helper()
	h, err := lightning.ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A plain receiver asking for payer data (LUD-18) is sent only what it
// asks, and its invoice commits to the metadata and that payer data as
// sent; payer data it requires and the platform did not give is refused
// before anything is asked.
func TestLightningAddressPayerData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.edit(func(a *lnaddr) {
			a.lnurlp["payerData"] = map[string]any{"name": map[string]bool{"mandatory": true}, "identifier": map[string]bool{"mandatory": false}}
		})
		l := a.lookupPlain(t)
		if _, err := a.quotePlain(t, l, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
		q, _ := url.ParseQuery(a.asked[len(a.asked)-1])
		if got, want := q.Get("payerdata"), `{"identifier":"$alice@`+ourDomain+`","name":"Alice"}`; got != want {
			t.Fatalf("payerdata %q, want %q", got, want)
		}
		a.edit(func(a *lnaddr) {
			a.lnurlp["payerData"] = map[string]any{"identifier": map[string]bool{"mandatory": true}}
		})
		if _, err := a.quotePlain(t, a.lookupPlain(t), vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
		q, _ = url.ParseQuery(a.asked[len(a.asked)-1])
		if got, want := q.Get("payerdata"), `{"identifier":"$alice@`+ourDomain+`"}`; got != want {
			t.Fatalf("payerdata %q, want %q (only what is asked)", got, want)
		}
		a.edit(func(a *lnaddr) { a.lnurlp["payerData"] = map[string]any{"email": map[string]bool{"mandatory": true}} })
		l = a.lookupPlain(t)
		before := len(a.asked)
		_, err := a.quotePlain(t, l, vasp.LockedSending, 1000)
		wantStatus(t, err, 400, vaspd.CodeMissingMandatoryUserInfo)
		if len(a.asked) != before {
			t.Fatal("the callback was asked without the payer data it requires")
		}
	})
}

// A plain payment that fails (an invoice of a node ours cannot reach)
// fails as an UMA one does: FAILED, the user's money given back once, an
// OUTGOING_PAYMENT webhook, the books balanced; and it can be retried.
func TestLightningAddressPaymentFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.fund(t, 100_000)
		l := a.lookupPlain(t)
		a.edit(func(a *lnaddr) {
			a.answer = func(rw http.ResponseWriter, r *http.Request) bool {
				key, _ := secp256k1.GeneratePrivateKey()
				msats, _ := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
				pr, err := bolt11.Encode(bolt11.Request{Network: "regtest", PaymentHash: lightning.Hash{3}, PaymentAddr: lightning.Hash{4},
					AmountMsat: msats, DescriptionHash: lightning.Hash(sha256.Sum256([]byte(plainMetadata))), Timestamp: time.Now(), Expiry: time.Minute}, key)
				if err != nil {
					t.Error(err)
				}
				_, _ = fmt.Fprintf(rw, `{"pr":%q}`, pr)
				return true
			}
		})
		q, err := a.quotePlain(t, l, vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := a.s.ExecuteQuote(t.Context(), q.ID, "k")
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute: %+v %v", tr, err)
		}
		if got := a.balance(t); got != 100_000 {
			t.Fatalf("balance %d after a failed payment, want 100000", got)
		}
		wantOutgoingHook(t, db, tr.ID, a.addr, "FAILED")
		// Retried through a new lookup, once the receiver's invoices are
		// payable, it is paid once.
		a.reset()
		rq, err := a.s.RetryQuote(t.Context(), q.ID, a.lookupPlain(t).ID, nil)
		if err != nil || rq.OriginalQuoteID != q.ID {
			t.Fatalf("retry: %+v %v", rq, err)
		}
		if tr, err := a.s.ExecuteQuote(t.Context(), rq.ID, "k2"); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute the retry: %+v %v", tr, err)
		}
		if got := a.balance(t); got != 100_000-rq.SendingAmount {
			t.Fatalf("balance %d after the retry, want %d", got, 100_000-rq.SendingAmount)
		}
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}

// A plain quote made with autoRefresh is refreshed in place as an UMA one
// is: its callback is asked again, for a new invoice, then paid.
func TestLightningAddressAutoRefresh(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(time.Now())
		a := newLnaddr(t, db, func(o *vasp.Options) { o.Clock = clock })
		a.fund(t, 100_000)
		l := a.lookupPlain(t)
		// An invoice of 20 s is due for refresh within the lead (30 s)
		// once half its life has passed.
		a.edit(func(a *lnaddr) { a.invoice = func(r *lightning.InvoiceRequest) { r.Expiry = 20 * time.Second } })
		q, err := a.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "SAT",
			LockedSide: vasp.LockedReceiving, Amount: 2000, AutoRefresh: true})
		if err != nil {
			t.Fatal(err)
		}
		before := len(a.asked)
		clock.Advance(11 * time.Second)
		if n, err := a.s.RefreshRound(t.Context()); err != nil || n != 1 {
			t.Fatalf("refresh round: %d %v", n, err)
		}
		r, err := a.s.GetQuote(t.Context(), q.ID)
		if err != nil || r.RefreshCount != 1 || r.PaymentHash == q.PaymentHash || r.Msats != 2_000_000 || len(a.asked) != before+1 {
			t.Fatalf("refreshed quote %+v %v (callback asked %d times more)", r, err, len(a.asked)-before)
		}
		tr, err := a.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusCompleted || tr.PaymentHash != r.PaymentHash {
			t.Fatalf("execute: %+v %v", tr, err)
		}
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}
