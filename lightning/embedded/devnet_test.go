package embedded_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newInvoice(t *testing.T, n *embedded.Node, amount int64) lightning.Invoice {
	t.Helper()
	inv, err := n.CreateInvoice(testCtx(t), lightning.InvoiceRequest{
		AmountMsat: amount, DescriptionHash: sha256.Sum256([]byte(t.Name() + time.Now().String())), Expiry: time.Hour,
	})
	if err != nil {
		t.Fatalf("CreateInvoice: %v", err)
	}
	return inv
}

func payFinal(t *testing.T, n *embedded.Node, pr string) lightning.Payment {
	t.Helper()
	p, err := n.Pay(testCtx(t), lightning.PayRequest{Invoice: pr, MaxFeeMsat: 1_000_000, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Pay: %v", err)
	}
	if p.Status == lightning.StatusInFlight {
		t.Fatalf("payment %s still in flight", p.PaymentHash)
	}
	return p
}

func balance(t *testing.T, n *embedded.Node) int64 {
	t.Helper()
	b, err := n.Balance(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDevnetBothWays: separate nodes pay each other in both directions
// over HTTP, with the fee model applied to the payer only.
func TestDevnetBothWays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		a0, b0 := balance(t, alice), balance(t, bob)

		p := payFinal(t, alice, newInvoice(t, bob, 1_000_000).PaymentRequest)
		if p.Status != lightning.StatusSucceeded || p.FeeMsat != 1+1_000_000*1000/1_000_000 {
			t.Fatalf("alice→bob: %+v, want SUCCEEDED with fee 1001", p)
		}
		q := payFinal(t, bob, newInvoice(t, alice, 250_000).PaymentRequest)
		if q.Status != lightning.StatusSucceeded || sha256.Sum256(q.Preimage[:]) != q.PaymentHash {
			t.Fatalf("bob→alice: %+v", q)
		}
		if got, want := balance(t, alice), a0-1_000_000-p.FeeMsat+250_000; got != want {
			t.Fatalf("alice balance %d, want %d", got, want)
		}
		if got, want := balance(t, bob), b0+1_000_000-250_000-q.FeeMsat; got != want {
			t.Fatalf("bob balance %d, want %d", got, want)
		}
	})
}

// TestSelfPay: a node pays its own invoice, free and at once; once paid by
// itself, nobody else can pay it.
func TestSelfPay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		before := balance(t, alice)
		inv := newInvoice(t, alice, 42_000)
		p := payFinal(t, alice, inv.PaymentRequest)
		if p.Status != lightning.StatusSucceeded || p.FeeMsat != 0 || p.Destination != alice.PubKey() {
			t.Fatalf("self-payment %+v", p)
		}
		if got := balance(t, alice); got != before {
			t.Fatalf("balance %d after paying itself, want %d", got, before)
		}
		got, err := alice.LookupInvoice(testCtx(t), inv.PaymentHash)
		if err != nil || got.State != lightning.InvoiceSettled || got.AmountPaidMsat != 42_000 {
			t.Fatalf("self-paid invoice %+v, %v", got, err)
		}
		b0 := balance(t, bob)
		q := payFinal(t, bob, inv.PaymentRequest)
		if q.Status != lightning.StatusFailed || q.FailureReason != lightning.FailureIncorrectDetails {
			t.Fatalf("bob paying an invoice alice paid: %s (%s), want FAILED (INCORRECT_PAYMENT_DETAILS)", q.Status, q.FailureReason)
		}
		if got := balance(t, bob); got != b0 {
			t.Fatalf("bob balance %d after a refused payment, want %d", got, b0)
		}
	})
}

// TestMainnetRefused: no mainnet node, and no paying mainnet invoices.
func TestMainnetRefused(t *testing.T) {
	db := storetest.SQLite(t)
	if _, err := embedded.Open(testCtx(t), db, embedded.Options{Network: bolt11.Mainnet}); !errors.Is(err, lightning.ErrMainnetNotAllowed) {
		t.Fatalf("Open on mainnet: %v, want ErrMainnetNotAllowed", err)
	}
	n, err := embedded.Open(testCtx(t), db, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	inv := newInvoice(t, n, 1000)
	if !strings.HasPrefix(inv.PaymentRequest, "lnbcrt") {
		t.Fatalf("default invoice %s is not regtest", inv.PaymentRequest)
	}
	key, _ := secp256k1.GeneratePrivateKey()
	for _, pr := range []string{mainnetInvoice(t, key), strings.ToUpper(mainnetInvoice(t, key)), "lightning:" + mainnetInvoice(t, key)} {
		if _, err := n.Pay(testCtx(t), lightning.PayRequest{Invoice: pr, Timeout: time.Second}); !errors.Is(err, lightning.ErrMainnetNotAllowed) {
			t.Fatalf("paying %.20s…: %v, want ErrMainnetNotAllowed", pr, err)
		}
	}
}

func mainnetInvoice(t *testing.T, key *secp256k1.PrivateKey) string {
	t.Helper()
	pr, err := bolt11.Encode(bolt11.Request{
		Network: bolt11.Mainnet, PaymentHash: sha256.Sum256([]byte("x")), PaymentAddr: sha256.Sum256([]byte("y")),
		AmountMsat: 1000, DescriptionHash: sha256.Sum256([]byte("z")), Timestamp: time.Now(), Expiry: time.Hour,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// TestDevnetAuth: the devnet answers only callers with the shared secret,
// and is off (404) without one. A node with the wrong secret cannot pay.
func TestDevnetAuth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, func(i int, o *embedded.Options) {
			if i == 0 {
				o.DevnetSecret = "wrong secret"
			}
		})
		alice, bob := c.alice(), c.bob()
		url := c.srv[1].URL + embedded.DevnetPrefix + "info"
		for _, tc := range []struct {
			auth string
			want int
		}{{"", 401}, {"Bearer ", 401}, {"Bearer wrong", 401}, {"Basic " + testSecret, 401}, {"Bearer " + testSecret, 200}} {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("Authorization %q: HTTP %d, want %d", tc.auth, resp.StatusCode, tc.want)
			}
		}
		before := balance(t, alice)
		p := payFinal(t, alice, newInvoice(t, bob, 5000).PaymentRequest)
		if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("payment with a wrong devnet secret: %s (%s), want FAILED (NO_ROUTE)", p.Status, p.FailureReason)
		}
		if got := balance(t, alice); got != before {
			t.Fatalf("balance %d after a failed payment, want %d", got, before)
		}

		off, err := embedded.Open(testCtx(t), db, embedded.Options{KeyName: "off"})
		if err != nil {
			t.Fatal(err)
		}
		defer off.Close()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, embedded.DevnetPrefix+"info", nil)
		req.Header.Set("Authorization", "Bearer ")
		off.DevnetHandler().ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound {
			t.Fatalf("devnet without a secret: HTTP %d, want 404", rec.Code)
		}
	})
}

// TestDevnetProofOfPayment: a peer that claims to settle but returns a
// preimage that does not hash to the payment hash has not been paid: the
// payment fails and the money comes back.
func TestDevnetProofOfPayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		liarKey, _ := secp256k1.GeneratePrivateKey()
		liarPub := hex.EncodeToString(liarKey.PubKey().SerializeCompressed())
		liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+testSecret {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			switch r.URL.Path {
			case embedded.DevnetPrefix + "info":
				_ = json.NewEncoder(w).Encode(map[string]string{"pubkey": liarPub, "network": "regtest"})
			case embedded.DevnetPrefix + "pay":
				_ = json.NewEncoder(w).Encode(map[string]string{"result": "SETTLED", "preimage": strings.Repeat("ab", 32)})
			default:
				http.NotFound(w, r)
			}
		}))
		defer liar.Close()
		n, err := embedded.Open(testCtx(t), db, embedded.Options{
			DevnetSecret: testSecret, DevnetPeers: []string{liarPub + "@" + liar.URL}, RetryInterval: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		pr, err := bolt11.Encode(bolt11.Request{
			Network: bolt11.Regtest, PaymentHash: sha256.Sum256([]byte("secret preimage")), PaymentAddr: sha256.Sum256([]byte("s")),
			AmountMsat: 7000, DescriptionHash: sha256.Sum256([]byte("d")), Timestamp: time.Now(), Expiry: time.Hour,
		}, liarKey)
		if err != nil {
			t.Fatal(err)
		}
		before := balance(t, n)
		p := payFinal(t, n, pr)
		if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureError || !p.Preimage.IsZero() {
			t.Fatalf("payment to a lying peer: %+v, want FAILED (ERROR) without a preimage", p)
		}
		if got := balance(t, n); got != before {
			t.Fatalf("balance %d, want %d back", got, before)
		}
	})
}

// TestDevnetMalformed: hostile devnet requests get 400s and move nothing.
func TestDevnetMalformed(t *testing.T) {
	c := newCluster(t, storetest.SQLite(t), nil)
	bob := c.bob()
	inv := newInvoice(t, bob, 1000)
	for _, body := range []string{
		`not json`,
		`{"payment_request":"x","amount_msat":1,"payer":"02","extra":1}`,
		`{"payment_request":"` + inv.PaymentRequest + `","amount_msat":1000,"payer":"nothex"}`,
		`{"payment_request":"` + inv.PaymentRequest + `","amount_msat":1000,"payer":"` + strings.Repeat("0", 66) + `"}`,
		`{"payment_request":"` + inv.PaymentRequest + `","amount_msat":1000,"payer":"` + c.alice().PubKey() + `"` + strings.Repeat(" ", 70<<10) + `}`,
	} {
		resp := devnetPost(t, c.srv[1].URL, body)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("body %.40q: HTTP %d, want 400", body, resp.StatusCode)
		}
	}
	// Well-formed but wrong: answered FAILED, final.
	for _, tc := range []struct{ body, reason string }{
		{`{"payment_request":"lnbcrt1garbage","amount_msat":1000,"payer":"` + c.alice().PubKey() + `"}`, "INCORRECT_PAYMENT_DETAILS"},
		{`{"payment_request":"` + inv.PaymentRequest + `","amount_msat":999,"payer":"` + c.alice().PubKey() + `"}`, "INCORRECT_PAYMENT_DETAILS"},
		{`{"payment_request":"` + newInvoice(t, c.alice(), 1000).PaymentRequest + `","amount_msat":1000,"payer":"` + c.alice().PubKey() + `"}`, "NO_ROUTE"},
	} {
		resp := devnetPost(t, c.srv[1].URL, tc.body)
		var out struct {
			Result        string `json:"result"`
			FailureReason string `json:"failure_reason"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Result != "FAILED" || out.FailureReason != tc.reason {
			t.Fatalf("body %.60q: HTTP %d %+v %v, want FAILED %s", tc.body, resp.StatusCode, out, err, tc.reason)
		}
	}
	if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceOpen {
		t.Fatalf("invoice %s after refused requests", got.State)
	}
}

func devnetPost(t *testing.T, base, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+embedded.DevnetPrefix+"pay", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestDevnetAmountOutOfRange: a payer naming more than 21M BTC for an
// any-amount invoice is refused, finally, and credits nothing (the payer's
// own Pay never sends such an amount; the payee must not trust that).
func TestDevnetAmountOutOfRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		bob := c.bob()
		before := balance(t, bob)
		inv := newInvoice(t, bob, 0)
		for _, amt := range []string{"2100000000000000001", "9223372036854775807"} {
			resp := devnetPost(t, c.srv[1].URL, `{"payment_request":"`+inv.PaymentRequest+`","amount_msat":`+amt+
				`,"payer":"`+c.alice().PubKey()+`"}`)
			var out struct {
				Result        string `json:"result"`
				FailureReason string `json:"failure_reason"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 ||
				out.Result != "FAILED" || out.FailureReason != "INCORRECT_PAYMENT_DETAILS" {
				t.Fatalf("amount %s: HTTP %d %+v %v, want FAILED INCORRECT_PAYMENT_DETAILS", amt, resp.StatusCode, out, err)
			}
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceOpen {
			t.Fatalf("invoice %s after refused requests", got.State)
		}
		if got := balance(t, bob); got != before {
			t.Fatalf("balance %d, want %d", got, before)
		}
	})
}

// TestDevnetOverpayment: a payee takes up to twice an invoice's amount, as
// BOLT 4 has a final node do and lnd does, and reports what was paid in
// AmountPaidMsat (and credits its balance with it); more than twice, or
// less than the amount, is refused. (vaspd's own Pay sends the invoice
// amount only; another payer may send more.)
func TestDevnetOverpayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		bob := c.bob()
		before := balance(t, bob)
		inv := newInvoice(t, bob, 1000)
		pay := func(amt string) (result, reason string) {
			t.Helper()
			resp := devnetPost(t, c.srv[1].URL, `{"payment_request":"`+inv.PaymentRequest+`","amount_msat":`+amt+
				`,"payer":"`+c.alice().PubKey()+`"}`)
			var out struct {
				Result        string `json:"result"`
				FailureReason string `json:"failure_reason"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("amount %s: HTTP %d %v", amt, resp.StatusCode, err)
			}
			return out.Result, out.FailureReason
		}
		for _, amt := range []string{"2001", "999"} {
			if res, reason := pay(amt); res != "FAILED" || reason != "INCORRECT_PAYMENT_DETAILS" {
				t.Fatalf("amount %s for a 1000 msat invoice: %s %s, want FAILED INCORRECT_PAYMENT_DETAILS", amt, res, reason)
			}
		}
		if got, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash); got.State != lightning.InvoiceOpen {
			t.Fatalf("invoice %s after refused requests", got.State)
		}
		if res, reason := pay("1500"); res != "SETTLED" {
			t.Fatalf("1500 msat for a 1000 msat invoice: %s %s, want SETTLED", res, reason)
		}
		got, err := bob.LookupInvoice(testCtx(t), inv.PaymentHash)
		if err != nil || got.State != lightning.InvoiceSettled || got.AmountMsat != 1000 || got.AmountPaidMsat != 1500 {
			t.Fatalf("overpaid invoice: %+v %v, want SETTLED, amount 1000, paid 1500", got, err)
		}
		if b := balance(t, bob); b != before+1500 {
			t.Fatalf("balance %d, want %d", b, before+1500)
		}
	})
}

// TestCreditNeverPast21M: a payment that would take the payee's balance
// past 21M BTC is refused (NO_ROUTE) and the payer gets its money back;
// up to the bound, it is paid.
func TestCreditNeverPast21M(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		c := newCluster(t, db, nil)
		alice, bob := c.alice(), c.bob()
		ctx := testCtx(t)
		if err := alice.SetBalance(ctx, bolt11.MaxAmountMsat-1000); err != nil {
			t.Fatal(err)
		}
		b0 := balance(t, bob)
		p := payFinal(t, bob, newInvoice(t, alice, 1001).PaymentRequest)
		if p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("paying past 21M BTC: %s (%s), want FAILED (NO_ROUTE)", p.Status, p.FailureReason)
		}
		if got := balance(t, alice); got != bolt11.MaxAmountMsat-1000 {
			t.Fatalf("payee balance %d after a refused payment", got)
		}
		if got := balance(t, bob); got != b0 {
			t.Fatalf("payer balance %d after a refused payment, want %d", got, b0)
		}
		if p := payFinal(t, bob, newInvoice(t, alice, 1000).PaymentRequest); p.Status != lightning.StatusSucceeded {
			t.Fatalf("paying up to 21M BTC: %s (%s)", p.Status, p.FailureReason)
		}
		if got := balance(t, alice); got != bolt11.MaxAmountMsat {
			t.Fatalf("payee balance %d, want 21M BTC", got)
		}
	})
}
