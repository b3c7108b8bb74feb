package vasp_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// opaqueNode hides the embedded node's transactional invoice methods, so
// that the Service takes the path of a node that stores invoices itself
// (lnd).
type opaqueNode struct{ lightning.Node }

// countRows counts the rows of table.
func countRows(t *testing.T, db *store.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// With no webhook endpoint, a payreq is approved without asking and
// recorded whole: the PENDING transaction with its invoice and stored
// decision, the node's invoice, the nonce. The same holds whether the node
// shares the database (one transaction) or stores invoices itself.
func TestPayRequestWithoutEndpointRecordsEverything(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		for _, tc := range []struct {
			name string
			node lightning.Node
		}{
			{"shared database", w.node},
			{"node storing its own invoices", opaqueNode{w.node}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := w.service(t, func(o *vasp.Options) { o.Node = tc.node })
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				resp, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, "")
				ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
				if err != nil || len(ts) != 1 {
					t.Fatalf("list: %d, %v", len(ts), err)
				}
				tx := ts[0]
				if tx.Status != vasp.StatusPending || tx.Invoice != resp.PR || tx.PaymentHash == "" {
					t.Fatalf("transaction %+v, want PENDING with the invoice handed out", tx)
				}
				hash, err := lightning.ParseHash(tx.PaymentHash)
				if err != nil {
					t.Fatal(err)
				}
				inv, err := w.node.LookupInvoice(t.Context(), hash)
				if err != nil || inv.PaymentRequest != resp.PR || inv.State != lightning.InvoiceOpen {
					t.Fatalf("node invoice %+v, %v", inv, err)
				}
				var approval string
				if err := db.QueryRowContext(t.Context(), `SELECT approval FROM uma_transactions WHERE id = $1`, tx.ID).Scan(&approval); err != nil {
					t.Fatal(err)
				}
				if approval != `{"decision":"APPROVED"}` {
					t.Fatalf("stored decision %q", approval)
				}
				// The decision is taken: the API cannot change it.
				if _, err := s.Decide(t.Context(), tx.ID, false, nil, "late"); err == nil {
					t.Fatal("an approved payment was rejected afterwards")
				}
				// The nonce is stored: a replay is refused.
				_, err = s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, uma.CodeInvalidNonce)
			})
		}
	})
}

// Copies of one payreq sent at once all pass the early nonce check; only
// one may be recorded, and the others must leave nothing behind — no
// transaction, and no invoice the node would settle without a payment to
// credit.
func TestPayRequestConcurrentReplays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for round := 0; round < 3; round++ {
			pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
			const copies = 8
			var wg sync.WaitGroup
			errs := make([]error, copies)
			for i := range copies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					_, errs[i] = s.PayRequest(ctx, "bob", pr)
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				var ue *uma.Error
				switch {
				case err == nil:
					ok++
				case errors.As(err, &ue) && ue.Code == uma.CodeInvalidNonce:
				default:
					t.Fatalf("replay: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d copies accepted, want 1", round, ok)
			}
			if n := countRows(t, db, "uma_transactions"); n != round+1 {
				t.Fatalf("round %d: %d transactions", round, n)
			}
			if n := countRows(t, db, "ln_embedded_invoices"); n != round+1 {
				t.Fatalf("round %d: %d node invoices", round, n)
			}
		}
	})
}

// Travel-rule data is decrypted when needed, never lost: the payreq stores
// it as received, readers of the payment get it decrypted, and settlement
// stores it decrypted. Data that does not decrypt is kept as received and
// does not stop the payment.
func TestTravelRuleInfoDecryptedLazily(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		runService(t, s)

		const plain = `{"originator":"Alice Sender"}`
		enc, err := uma.EncryptTravelRuleInfo(w.ours.Encryption.PublicKey(), []byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, encrypted, want string
		}{
			{"decrypts", enc, plain},
			{"does not decrypt", "00ff", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				pr.PayerData.Compliance.EncryptedTravelRuleInfo = tc.encrypted // not covered by the signature
				resp, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, "")
				stored := func() (vasp.Details, string) {
					t.Helper()
					var raw, status string
					if err := db.QueryRowContext(t.Context(), `SELECT details, status FROM uma_transactions WHERE invoice = $1`, resp.PR).Scan(&raw, &status); err != nil {
						t.Fatal(err)
					}
					var d vasp.Details
					if err := json.Unmarshal([]byte(raw), &d); err != nil {
						t.Fatal(err)
					}
					return d, status
				}
				d, _ := stored()
				if d.EncryptedTravelRuleInfo != tc.encrypted || d.TravelRuleInfo != "" {
					t.Fatalf("stored at payreq: %+v", d)
				}
				ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
				if err != nil || len(ts) != 1 {
					t.Fatalf("list: %v", err)
				}
				got, err := s.GetTransaction(t.Context(), ts[0].ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, tx := range []vasp.Transaction{ts[0], got} {
					if tx.Details.TravelRuleInfo != tc.want || (tc.want == "") != (tx.Details.EncryptedTravelRuleInfo != "") {
						t.Fatalf("read: %+v", tx.Details)
					}
				}

				// Settled: the decrypted data is stored.
				if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
					t.Fatalf("pay: %+v, %v", p, err)
				}
				deadline := time.Now().Add(20 * time.Second)
				for {
					d, status := stored()
					if status == vasp.StatusCompleted {
						if d.TravelRuleInfo != tc.want || (tc.want == "") != (d.EncryptedTravelRuleInfo == tc.encrypted) {
							t.Fatalf("stored at settlement: %+v", d)
						}
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("not credited: %s", status)
					}
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
	})
}

// The sender's utxoCallback is where our post-transaction callback goes,
// for days: one that is not an https URL (plain http only to a local
// host), carries credentials or is oversized is not kept, and the payment
// goes ahead without a callback.
func TestPayRequestUtxoCallbackURL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for _, tc := range []struct {
			callback string
			kept     bool
		}{
			{"https://vasp1.example/utxo?txid=1", true},
			{"http://127.0.0.1:8080/utxo", true},
			{"http://localhost:8080/utxo", true},
			{"http://vasp1.example/utxo", false},
			{"http://10.0.0.1/utxo", false},
			{"https://user:pw@vasp1.example/utxo", false},
			{"gopher://vasp1.example/utxo", false},
			{"/utxo", false},
			{"https://vasp1.example/" + strings.Repeat("x", 5000), false},
		} {
			t.Run(tc.callback[:min(len(tc.callback), 40)], func(t *testing.T) {
				pr := &uma.PayRequest{Amount: 500, SendingCurrency: "EUR", ReceivingCurrency: "EUR",
					PayerData: &uma.PayerData{Identifier: "$alice@vasp1.example", Compliance: &uma.CompliancePayerData{
						KycStatus: uma.KycVerified, NodePubKey: "02ab", UtxoCallback: tc.callback}}}
				if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
					t.Fatal(err)
				}
				_, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, "")
				ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
				if err != nil || len(ts) != 1 {
					t.Fatalf("list: %d, %v", len(ts), err)
				}
				want := ""
				if tc.kept {
					want = tc.callback
				}
				if ts[0].Status != vasp.StatusPending || ts[0].Details.UtxoCallback != want {
					t.Fatalf("transaction %s, callback kept: %q, want PENDING with %q", ts[0].Status, ts[0].Details.UtxoCallback, want)
				}
			})
		}
	})
}
