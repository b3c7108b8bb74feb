package vasp_test

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// An incoming payment whose invoice a payer overpaid (Lightning allows it;
// the embedded node, like lnd, settles for up to twice the amount and
// reports what was paid) is credited to the payee for the quoted amount
// only, while system:node moves by what the node received and the excess
// is booked to system:overpaid, in the one movement: the books still sum
// to zero and match the node. Credited from the settlement stream or from
// the sweep, and credited a second time (the stream redelivering what the
// sweep credited), it is booked once.
func TestOverpaidIncomingPayment(t *testing.T) {
	for _, path := range []string{"stream", "sweep"} {
		t.Run(path, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) { overpaidIncomingPayment(t, db, path == "sweep") })
		})
	}
}

func overpaidIncomingPayment(t *testing.T, db *store.DB, sweep bool) {
	w := newWorld(t, db)
	sender := w.counterparty(t, "vasp1.example")
	var logs syncBuffer
	s := w.service(t, func(o *vasp.Options) { o.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	l := ledger.New(db, nil)
	run := func() {
		runService(t, s)
	}
	if !sweep {
		run()
	}
	bal := func(acct ledger.Account, cur string) int64 {
		t.Helper()
		b, err := l.Balance(t.Context(), db, acct, cur)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	resp, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
	wantCode(t, err, "")
	var (
		id, hash, currency string
		msats, amt         int64
	)
	if err := db.QueryRowContext(t.Context(), `SELECT id, payment_hash, msats, amount, currency FROM uma_transactions WHERE invoice = $1`,
		resp.PR).Scan(&id, &hash, &msats, &amt, &currency); err != nil {
		t.Fatal(err)
	}
	paid := msats + msats/2
	nodeBefore, bobBefore := bal(ledger.Node, ledger.BTC), bal(ledger.UserAccount(w.bob.UserID), currency)

	// The same node (one key in the database), with the devnet open, is
	// paid by another node's payer sending half again the amount.
	devnet, err := embedded.Open(t.Context(), db, embedded.Options{DevnetSecret: "overpaid-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = devnet.Close() })
	payer, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"payment_request": resp.PR, "amount_msat": paid,
		"payer": hex.EncodeToString(payer.PubKey().SerializeCompressed())})
	req := httptest.NewRequest(http.MethodPost, embedded.DevnetPrefix+"pay", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer overpaid-test")
	rec := httptest.NewRecorder()
	devnet.DevnetHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"SETTLED"`) {
		t.Fatalf("overpaying the invoice: HTTP %d %s", rec.Code, rec.Body)
	}

	tx := func() vasp.Transaction {
		t.Helper()
		got, err := s.GetTransaction(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if sweep {
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		s.SweepPending(t.Context())
	}
	for deadline := time.Now().Add(15 * time.Second); tx().Status != vasp.StatusCompleted; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the overpaid payment was never credited: %s", tx().Status)
		}
	}
	check := func(when string) {
		t.Helper()
		if got := bal(ledger.Node, ledger.BTC) - nodeBefore; got != -paid {
			t.Errorf("%s: system:node moved by %d, want %d (what the node received)", when, got, -paid)
		}
		if got := bal(ledger.Overpaid, ledger.BTC); got != paid-msats {
			t.Errorf("%s: system:overpaid is %d, want the excess %d", when, got, paid-msats)
		}
		if got := bal(ledger.UserAccount(w.bob.UserID), currency) - bobBefore; got != amt {
			t.Errorf("%s: bob was credited %d %s, want the quoted %d", when, got, currency, amt)
		}
		if err := l.Check(t.Context(), db); err != nil {
			t.Errorf("%s: ledger audit: %v", when, err)
		}
		if got := tx(); got.Msats != msats || got.Amount != amt || got.Details.AmountPaidMsats != paid {
			t.Errorf("%s: transaction msats %d, amount %d, paid %d; want %d, %d, %d",
				when, got.Msats, got.Amount, got.Details.AmountPaidMsats, msats, amt, paid)
		}
		// Logged after the credit commits, so a little after its status
		// reads COMPLETED.
		overpaid := func() int { return logs.count(t, slog.LevelInfo, `"paid_msats":`+strconv.FormatInt(paid, 10)) }
		for deadline := time.Now().Add(5 * time.Second); overpaid() == 0 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		if n := overpaid(); n != 1 {
			t.Errorf("%s: the overpayment was logged %d times at info level, want once", when, n)
		}
		// The reconciliation finds the node and the books agreeing: the
		// node received paid, system:node moved by paid, the user was
		// credited the quote.
		now := w.clock.Now()
		rep, err := s.Reconcile(t.Context(), now.Add(-time.Hour), now.Add(time.Hour), 100)
		if err != nil {
			t.Fatalf("%s: reconcile: %v", when, err)
		}
		if len(rep.Mismatches) != 0 || rep.Checked[vasp.CheckIncomingCompleted] < 1 {
			t.Errorf("%s: reconciliation checked %v, mismatches %+v; want the overpaid payment checked, no mismatch", when, rep.Checked, rep.Mismatches)
		}
	}
	check("credited")

	// Credit it again: the sweep (its payment no longer PENDING) and the
	// stream (from a cursor the sweep's credit did not advance) both see
	// the settled invoice; neither books it twice.
	w.clock.Advance(time.Minute)
	s.SweepPending(t.Context())
	if sweep {
		cursor := func() error {
			var v string
			return db.QueryRowContext(t.Context(), `SELECT value FROM settings WHERE name = 'vasp.settle_index'`).Scan(&v)
		}
		if err := cursor(); !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("the settle cursor before the stream ran: %v, want none (the sweep's credit does not move it)", err)
		}
		run()
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			err := cursor()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stream never went past the settled invoice %s: %v", hash, err)
			}
		}
	}
	check("credited again")
}
