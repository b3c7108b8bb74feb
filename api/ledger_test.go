package api_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
)

// overpayBob has a wallet pay bob's plain-LNURL invoice of msats with
// paid msats (as vasp's TestOverpaidIncomingPayment does, through the
// devnet of a second embedded node on the same database), and waits until
// bob is credited.
func (f *payFixture) overpayBob(t *testing.T, msats, paid int64) {
	t.Helper()
	status, raw, _ := f.call(t, "GET", "/.well-known/lnurlp/bob", nil, "")
	if status != 200 {
		t.Fatalf("lnurlp: %d %s", status, raw)
	}
	resp, err := uma.ParseLnurlpResponse(raw)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := url.Parse(resp.Callback)
	if err != nil {
		t.Fatal(err)
	}
	status, raw, m := f.call(t, "GET", fmt.Sprintf("%s?amount=%d", cb.Path, msats), nil, "")
	if status != 200 {
		t.Fatalf("payreq: %d %s", status, raw)
	}
	devnet, err := embedded.Open(t.Context(), f.db, embedded.Options{DevnetSecret: "overpaid-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = devnet.Close() })
	payer, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"payment_request": m["pr"], "amount_msat": paid,
		"payer": hex.EncodeToString(payer.PubKey().SerializeCompressed())})
	req := httptest.NewRequest(http.MethodPost, embedded.DevnetPrefix+"pay", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer overpaid-test")
	rec := httptest.NewRecorder()
	devnet.DevnetHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"SETTLED"`) {
		t.Fatalf("overpaying the invoice: HTTP %d %s", rec.Code, rec.Body)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := f.ledger.Balance(t.Context(), f.db, ledger.Overpaid, ledger.BTC)
		if err != nil {
			t.Fatal(err)
		}
		if b == paid-msats {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("system:overpaid is %d, want %d", b, paid-msats)
		}
	}
}

// systemBalances reads GET /ledger/accounts as "account currency" →
// amount, checking that every account vaspd defines is listed.
func (f *payFixture) systemBalances(t *testing.T) map[string]int64 {
	t.Helper()
	status, raw, m := f.call(t, "GET", "/ledger/accounts", &f.viewer, "")
	if status != 200 {
		t.Fatalf("GET /ledger/accounts: %d %s", status, raw)
	}
	var body struct {
		Accounts []struct {
			Account  string `json:"account"`
			Balances []struct {
				Currency struct {
					Code     string `json:"code"`
					Decimals int    `json:"decimals"`
				} `json:"currency"`
				Amount int64 `json:"amount"`
			} `json:"balances"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || m == nil {
		t.Fatalf("GET /ledger/accounts: %v %s", err, raw)
	}
	out := map[string]int64{}
	var names []string
	for _, a := range body.Accounts {
		names = append(names, a.Account)
		for _, b := range a.Balances {
			if b.Currency.Code == ledger.BTC && b.Currency.Decimals != 11 {
				t.Errorf("BTC is described with %d decimals, want 11 (msats)", b.Currency.Decimals)
			}
			out[a.Account+" "+b.Currency.Code] = b.Amount
		}
	}
	if got := strings.Join(names, ","); got != "system:node,system:fx,system:fees,system:fiat,system:overpaid,system:unmatched" {
		t.Fatalf("accounts %s", got)
	}
	return out
}

// TestLedgerKeepOverpaid: what a payer paid on top of an incoming invoice
// shows in GET /ledger/accounts as system:overpaid; POST /ledger/transfers
// keeps it as income (system:fees), once per Idempotency-Key, never more
// than the account holds, and only with MANAGE. The books stay balanced.
func TestLedgerKeepOverpaid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		audit := func(when string) {
			t.Helper()
			if err := f.ledger.Check(t.Context(), db); err != nil {
				t.Fatalf("%s: ledger check: %v", when, err)
			}
		}
		before := f.systemBalances(t)
		if before["system:overpaid BTC"] != 0 || before["system:fiat USD"] != -100_000 {
			t.Fatalf("before: %v", before)
		}
		const msats, paid = 5_000_000, 7_500_000
		f.overpayBob(t, msats, paid)
		after := f.systemBalances(t)
		if after["system:overpaid BTC"] != paid-msats || after["system:node BTC"] != -paid {
			t.Fatalf("after the overpayment: %v", after)
		}
		audit("overpaid")
		fees := after["system:fees BTC"]

		const path = "/ledger/transfers"
		keep := func(amount int64) string {
			return fmt.Sprintf(`{"from":"system:overpaid","to":"system:fees","currencyCode":"BTC","amount":%d,"reference":"kept"}`, amount)
		}
		status, raw, _ := f.call(t, "POST", path, &f.viewer, keep(1), "Idempotency-Key", "v")
		wantAPIError(t, status, raw, 403, vaspd.CodeForbidden)
		status, raw, m := f.call(t, "POST", path, &f.admin, keep(paid-msats+1), "Idempotency-Key", "too-much")
		wantAPIError(t, status, raw, 400, vaspd.CodeInsufficientBalance)
		if d, _ := m["details"].(map[string]any); d["available"] != float64(paid-msats) || d["required"] != float64(paid-msats+1) {
			t.Fatalf("overdraft details: %s", raw)
		}
		audit("refused")

		status, raw, first := f.call(t, "POST", path, &f.admin, keep(2_000_000), "Idempotency-Key", "k1")
		if status != 201 || first["type"] != "KEEP" || first["from"] != "system:overpaid" || first["to"] != "system:fees" ||
			first["amount"] != float64(2_000_000) || first["reference"] != "kept" || first["id"] == "" {
			t.Fatalf("keep: %d %s", status, raw)
		}
		got := f.systemBalances(t)
		if got["system:overpaid BTC"] != paid-msats-2_000_000 || got["system:fees BTC"] != fees+2_000_000 {
			t.Fatalf("after the keep: %v", got)
		}
		audit("kept")

		// The rest, then nothing is left: a retry of the first keep still
		// answers it, and moves nothing.
		if status, raw, _ := f.call(t, "POST", path, &f.admin, keep(500_000), "Idempotency-Key", "k2"); status != 201 {
			t.Fatalf("keep the rest: %d %s", status, raw)
		}
		status, raw, again := f.call(t, "POST", path, &f.admin, keep(2_000_000), "Idempotency-Key", "k1")
		if status != 200 || again["id"] != first["id"] || again["createdAt"] != first["createdAt"] {
			t.Fatalf("replay: %d %s", status, raw)
		}
		status, raw, _ = f.call(t, "POST", path, &f.admin, keep(1_000_000), "Idempotency-Key", "k1")
		wantAPIError(t, status, raw, 422, vaspd.CodeIdempotencyKeyReused)
		status, raw, _ = f.call(t, "POST", path, &f.admin, keep(1), "Idempotency-Key", "k3")
		wantAPIError(t, status, raw, 400, vaspd.CodeInsufficientBalance)
		got = f.systemBalances(t)
		if got["system:overpaid BTC"] != 0 || got["system:fees BTC"] != fees+paid-msats {
			t.Fatalf("after keeping all: %v", got)
		}
		audit("all kept")

		for _, tc := range []struct {
			name, body, key, code, field string
		}{
			{"from fees", `{"from":"system:fees","to":"system:fees","currencyCode":"BTC","amount":1}`, "e", vaspd.CodeInvalidInput, "from"},
			{"from a user", `{"from":"user:x","to":"system:fees","currencyCode":"BTC","amount":1}`, "e", vaspd.CodeInvalidInput, "from"},
			{"to the node", `{"from":"system:unmatched","to":"system:node","currencyCode":"BTC","amount":1}`, "e", vaspd.CodeInvalidInput, "to"},
			{"no to", `{"from":"system:unmatched","currencyCode":"BTC","amount":1}`, "e", vaspd.CodeInvalidInput, "to"},
			{"zero", `{"from":"system:unmatched","to":"system:fees","currencyCode":"BTC","amount":0}`, "e", vaspd.CodeInvalidAmount, "amount"},
			{"too large", `{"from":"system:unmatched","to":"system:fees","currencyCode":"BTC","amount":9000000000000001}`, "e", vaspd.CodeInvalidAmount, "amount"},
			{"fraction", `{"from":"system:unmatched","to":"system:fees","currencyCode":"BTC","amount":1.5}`, "e", vaspd.CodeInvalidInput, ""},
			{"bad currency", `{"from":"system:unmatched","to":"system:fees","currencyCode":"b t c","amount":1}`, "e", vaspd.CodeInvalidCurrency, "currencyCode"},
			{"no key", `{"from":"system:unmatched","to":"system:fees","currencyCode":"BTC","amount":1}`, "", vaspd.CodeInvalidInput, "Idempotency-Key"},
			{"bad key", `{"from":"system:unmatched","to":"system:fees","currencyCode":"BTC","amount":1}`, "a b", vaspd.CodeInvalidInput, "idempotency key"},
			{"empty unmatched", `{"from":"system:unmatched","to":"system:fees","currencyCode":"BTC","amount":1}`, "e", vaspd.CodeInsufficientBalance, ""},
		} {
			var headers []string
			if tc.key != "" {
				headers = []string{"Idempotency-Key", tc.key}
			}
			status, raw, m := f.call(t, "POST", path, &f.admin, tc.body, headers...)
			wantAPIError(t, status, raw, 400, tc.code)
			if msg, _ := m["message"].(string); !strings.Contains(msg, tc.field) {
				t.Errorf("%s: the message %q does not name %q", tc.name, msg, tc.field)
			}
		}
		audit("refusals")
	})
}
