package vasp_test

import (
	"context"
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
	"github.com/vaspd/vaspd/internal/ssrf"
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

// Every field of a plain receiver's hostile lookup answer is checked:
// such an answer is refused (424), and no lookup is kept.
func TestLightningAddressHostileLookup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		for _, tc := range []struct {
			name string
			edit func(m map[string]any)
		}{
			{"not a payRequest", func(m map[string]any) { m["tag"] = "withdrawRequest" }},
			{"no callback", func(m map[string]any) { delete(m, "callback") }},
			{"callback over plain http to a public host", func(m map[string]any) { m["callback"] = "http://wallet.example/cb" }},
			{"callback with credentials", func(m map[string]any) { m["callback"] = "https://u:p@wallet.example/cb" }},
			{"callback too long", func(m map[string]any) { m["callback"] = "https://wallet.example/" + strings.Repeat("x", 3000) }},
			{"minSendable 0", func(m map[string]any) { m["minSendable"] = 0 }},
			{"maxSendable under minSendable", func(m map[string]any) { m["maxSendable"] = 500 }},
			{"no whole sat in range", func(m map[string]any) { m["minSendable"], m["maxSendable"] = 1500, 1800 }},
			{"metadata not an array", func(m map[string]any) { m["metadata"] = `{"text/plain":"x"}` }},
			{"metadata not JSON", func(m map[string]any) { m["metadata"] = `[["text/plain","x"]` }},
			{"metadata without text/plain", func(m map[string]any) { m["metadata"] = `[["text/identifier","bob@wallet"]]` }},
			{"metadata entry not a pair", func(m map[string]any) { m["metadata"] = `[["text/plain","x"],"y"]` }},
			{"metadata oversized", func(m map[string]any) {
				m["metadata"] = `[["text/plain","` + strings.Repeat("x", 300<<10) + `"]]`
			}},
			{"an LNURL error", func(m map[string]any) {
				clear(m)
				m["status"], m["reason"] = "ERROR", strings.Repeat("no ", 3000)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a.reset()
				a.edit(func(a *lnaddr) { tc.edit(a.lnurlp) })
				_, err := a.s.LookupReceiver(t.Context(), a.w.alice.UserID, a.addr)
				wantStatus(t, err, 424, vaspd.CodeLnurlpRequestFailed)
				if m := vaspd.AsError(err).Message; len(m) > 1000 {
					t.Fatalf("message of %d bytes", len(m))
				}
			})
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_lookups`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d lookups kept (%v)", n, err)
		}
		// The counterparty lists apply to the address's domain.
		deny := newLnaddr(t, db, func(o *vasp.Options) {
			o.Compliance = vasp.DomainPolicy{Deny: []string{"localhost"}}
		})
		_, err := deny.s.LookupReceiver(t.Context(), deny.w.alice.UserID, deny.addr)
		wantStatus(t, err, 403, vaspd.CodeCounterpartyNotAllowed)
	})
}

// A plain receiver's hostile invoice is refused (424) and nothing is paid
// or quoted: the wrong amount, another description hash, another network,
// expired, or an LNURL error (its reason cut short).
func TestLightningAddressHostileInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.fund(t, 100_000)
		l := a.lookupPlain(t)
		testnet := func(rw http.ResponseWriter, r *http.Request) bool {
			key, _ := secp256k1.GeneratePrivateKey()
			msats, _ := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
			pr, err := bolt11.Encode(bolt11.Request{Network: "testnet", PaymentHash: lightning.Hash{1}, PaymentAddr: lightning.Hash{2},
				AmountMsat: msats, DescriptionHash: lightning.Hash(sha256.Sum256([]byte(plainMetadata))), Timestamp: time.Now(), Expiry: time.Minute}, key)
			if err != nil {
				t.Error(err)
			}
			_, _ = fmt.Fprintf(rw, `{"pr":%q,"routes":[]}`, pr)
			return true
		}
		for _, tc := range []struct {
			name    string
			invoice func(*lightning.InvoiceRequest)
			answer  func(rw http.ResponseWriter, r *http.Request) bool
		}{
			{"one sat more", func(r *lightning.InvoiceRequest) { r.AmountMsat += 1000 }, nil},
			{"any amount", func(r *lightning.InvoiceRequest) { r.AmountMsat = 0 }, nil},
			{"another description hash", func(r *lightning.InvoiceRequest) { r.DescriptionHash = lightning.Hash(sha256.Sum256([]byte("[]"))) }, nil},
			{"another network", nil, testnet},
			{"expired", nil, func(rw http.ResponseWriter, r *http.Request) bool {
				msats, _ := strconv.ParseInt(r.URL.Query().Get("amount"), 10, 64)
				inv, err := a.w.node.CreateInvoice(r.Context(), lightning.InvoiceRequest{AmountMsat: msats, Expiry: time.Second,
					DescriptionHash: lightning.Hash(sha256.Sum256([]byte(plainMetadata)))})
				if err != nil {
					t.Error(err)
				}
				time.Sleep(1100 * time.Millisecond)
				_, _ = fmt.Fprintf(rw, `{"pr":%q}`, inv.PaymentRequest)
				return true
			}},
			{"LNURL error", nil, func(rw http.ResponseWriter, _ *http.Request) bool {
				_, _ = fmt.Fprintf(rw, `{"status":"ERROR","reason":%q}`, strings.Repeat("no ", 3000))
				return true
			}},
			{"LNURL error, HTTP 400", nil, func(rw http.ResponseWriter, _ *http.Request) bool {
				rw.WriteHeader(400)
				_, _ = rw.Write([]byte(`{"status":"ERROR","reason":"amount too small"}`))
				return true
			}},
			{"no invoice", nil, func(rw http.ResponseWriter, _ *http.Request) bool {
				_, _ = rw.Write([]byte(`{"routes":[]}`))
				return true
			}},
			{"not an invoice", nil, func(rw http.ResponseWriter, _ *http.Request) bool {
				_, _ = rw.Write([]byte(`{"pr":"lnbcrt1garbage"}`))
				return true
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a.edit(func(a *lnaddr) { a.invoice, a.answer = tc.invoice, tc.answer })
				for _, side := range []string{vasp.LockedSending, vasp.LockedReceiving} {
					_, err := a.quotePlain(t, l, side, 1000)
					wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
					if m := vaspd.AsError(err).Message; len(m) > 1000 || (strings.HasPrefix(tc.name, "LNURL error") && !strings.Contains(m, "answered an error: ")) {
						t.Fatalf("message %q", m)
					}
				}
			})
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d quotes kept (%v)", n, err)
		}
		if got := a.balance(t); got != 100_000 {
			t.Fatalf("balance %d, want 100000", got)
		}
	})
}

// A plain receiver's callback is called through the counterparty client,
// whose guard refuses a private address: the quote fails, unpaid.
func TestLightningAddressPrivateCallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		guard, err := ssrf.New([]string{"127.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		a := newLnaddr(t, db, func(o *vasp.Options) {
			o.HTTPClient = &http.Client{Transport: ssrf.NewTransport(guard, time.Second), Timeout: 5 * time.Second}
		})
		a.edit(func(a *lnaddr) { a.lnurlp["callback"] = "https://10.1.2.3/cb" })
		l := a.lookupPlain(t)
		_, err = a.quotePlain(t, l, vasp.LockedSending, 1000)
		wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
		if d := vaspd.AsError(err).Details; d["unreachable"] != true {
			t.Fatalf("details %v", d)
		}
	})
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

// screenNode refuses to pay one node.
type screenNode struct {
	vasp.DomainPolicy
	refused string
	asked   []string
}

func (p *screenNode) ScreenPayment(_ context.Context, direction, domain, node string, utxos []string) error {
	p.asked = append(p.asked, direction+" "+domain+" "+node)
	if node == p.refused {
		return uma.Errorf(uma.CodeCounterpartyNotAllowed, "node %s is screened out", node)
	}
	return nil
}

// The node a plain receiver's invoice pays is screened (the compliance
// hook's ScreenPayment, with no UTXOs: such a receiver states none) before
// anything is quoted: a refusal is 403, nothing quoted.
func TestLightningAddressNodeScreened(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		policy := &screenNode{}
		a := newLnaddr(t, db, func(o *vasp.Options) { o.Compliance = policy })
		l := a.lookupPlain(t)
		if _, err := a.quotePlain(t, l, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
		domain := strings.TrimPrefix(a.addr, "bob@")
		if want := vasp.Outgoing + " " + domain + " " + a.nodeKey; len(policy.asked) != 1 || policy.asked[0] != want {
			t.Fatalf("screened %q, want %q", policy.asked, want)
		}
		policy.refused = a.nodeKey
		_, err := a.quotePlain(t, l, vasp.LockedSending, 1000)
		wantStatus(t, err, 403, vaspd.CodeCounterpartyNotAllowed)
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d quotes (%v), want the first only", n, err)
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

// A plain receiver offering LUD-21 currencies is offered in them (then in
// SAT), and quoted in them on either side (amount=N.CODE or msats, and
// convert=CODE), its unsigned conversion checked as an UMA receiver's is:
// one that is not what was asked is refused, nothing quoted.
func TestLightningAddressCurrencies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newLnaddr(t, db, nil)
		a.fund(t, 100_000)
		a.edit(func(a *lnaddr) {
			a.lnurlp["currencies"] = []any{
				map[string]any{"code": "EUR", "name": "Euro", "symbol": "€", "multiplier": 1000, "decimals": 2, "convertible": map[string]any{"min": 1, "max": 100_000}},
				map[string]any{"code": "BAD", "multiplier": 0, "decimals": 2, "convertible": map[string]any{"min": 1, "max": 100_000}},
				map[string]any{"code": "SAT", "multiplier": 1, "decimals": 0, "convertible": map[string]any{"min": 1, "max": 1}},
			}
		})
		l := a.lookupPlain(t)
		if cs := l.Response.Currencies; len(cs) != 2 || cs[0].Code != "EUR" || cs[1].Code != "SAT" || cs[1].Multiplier != 1000 || cs[1].Convertible.Max != 1_000_000 {
			t.Fatalf("currencies %+v", cs)
		}
		quote := func(side string, amount int64) (vasp.Quote, error) {
			return a.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
				LockedSide: side, Amount: amount})
		}
		rq, err := quote(vasp.LockedReceiving, 500)
		if err != nil {
			t.Fatal(err)
		}
		if asked, _ := url.ParseQuery(a.asked[len(a.asked)-1]); asked.Get("amount") != "500.EUR" || asked.Get("convert") != "EUR" {
			t.Fatalf("receiver-locked callback asked %v", asked)
		}
		if rq.ReceivingCurrency != "EUR" || rq.ReceivingAmount != 500 || rq.Msats != 500_000 || rq.SendingAmount <= 0 {
			t.Fatalf("receiver-locked quote %+v", rq)
		}
		sq, err := quote(vasp.LockedSending, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if asked, _ := url.ParseQuery(a.asked[len(a.asked)-1]); asked.Get("amount") != fmt.Sprint(sq.Msats) || asked.Get("convert") != "EUR" {
			t.Fatalf("sender-locked callback asked %v", asked)
		}
		if sq.SendingAmount != 1000 || sq.ReceivingAmount != sq.Msats/1000 {
			t.Fatalf("sender-locked quote %+v", sq)
		}
		tr, err := a.s.ExecuteQuote(t.Context(), rq.ID, "")
		if err != nil || tr.Status != vasp.StatusCompleted || tr.CounterCurrency != "EUR" || tr.CounterAmount != 500 {
			t.Fatalf("execute: %+v %v", tr, err)
		}
		var quotes int
		count := func() int {
			t.Helper()
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&quotes); err != nil {
				t.Fatal(err)
			}
			return quotes
		}
		before := count()
		for _, tc := range []struct {
			name string
			edit func(c map[string]any)
		}{
			{"no conversion", func(c map[string]any) { clear(c) }},
			{"another currency", func(c map[string]any) { c["currencyCode"] = "USD" }},
			{"other decimals", func(c map[string]any) { c["decimals"] = 0 }},
			{"twice the amount", func(c map[string]any) { c["amount"] = c["amount"].(int64) * 2 }},
			{"a fee over the invoice", func(c map[string]any) { c["fee"] = 1 << 40 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a.edit(func(a *lnaddr) { a.converted = tc.edit })
				for _, side := range []string{vasp.LockedSending, vasp.LockedReceiving} {
					_, err := quote(side, 500)
					wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
				}
			})
		}
		if n := count(); n != before {
			t.Fatalf("%d quotes made of hostile conversions", n-before)
		}
		a.edit(func(a *lnaddr) { a.converted = nil })
		_, err = quote(vasp.LockedReceiving, 100_001)
		wantStatus(t, err, 400, vaspd.CodeAmountOutOfRange)
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}
