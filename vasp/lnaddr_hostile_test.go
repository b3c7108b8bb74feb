package vasp_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// Hostile plain LNURL-pay receivers (lnaddr_test.go's harness).

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
		// And to its callback's host: the address's domain allowed, its
		// callback elsewhere.
		elsewhere := newLnaddr(t, db, func(o *vasp.Options) {
			o.Compliance = vasp.DomainPolicy{Deny: []string{"pay.denied.example"}}
		})
		elsewhere.edit(func(a *lnaddr) { a.lnurlp["callback"] = "https://pay.denied.example/cb" })
		_, err = elsewhere.s.LookupReceiver(t.Context(), elsewhere.w.alice.UserID, elsewhere.addr)
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
		// Sender-locked, an amount buying more than its convertible.max
		// (100 000 cents at 1000 msats a cent: 1e8 msats, within
		// maxSendable) is refused before the receiver is asked, as an
		// UMA receiver's is (buysAtMostMax).
		asked := len(a.asked)
		_, err = quote(vasp.LockedSending, 3e8*1000/sq.Msats)
		wantStatus(t, err, 400, vaspd.CodeAmountOutOfRange)
		if !strings.Contains(err.Error(), "at most") || len(a.asked) != asked {
			t.Errorf("sender-locked past convertible.max: %v, the receiver asked %d times", err, len(a.asked)-asked)
		}
		if err := ledger.New(db, nil).Check(t.Context(), db); err != nil {
			t.Fatal(err)
		}
	})
}
