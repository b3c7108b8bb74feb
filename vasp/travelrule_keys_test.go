package vasp_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// running starts s's background work (settlement) until the test ends.
func running(t *testing.T, s *vasp.Service) { t.Cleanup(runStoppable(t, s)) }

// runStoppable starts s's background work (settlement) until the function it
// returns is called.
func runStoppable(t *testing.T, s *vasp.Service) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// storedDetails reads the details and status of the incoming payment of
// invoice pr as stored.
func storedDetails(t *testing.T, db *store.DB, pr string) (vasp.Details, string, string) {
	t.Helper()
	var raw, status, id string
	if err := db.QueryRowContext(t.Context(), `SELECT details, status, id FROM uma_transactions WHERE invoice = $1`, pr).Scan(&raw, &status, &id); err != nil {
		t.Fatal(err)
	}
	var d vasp.Details
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	return d, status, id
}

// payAndWait pays invoice pr and waits for its payment to be COMPLETED,
// returning what is then stored.
func payAndWait(t *testing.T, w *world, pr string) (vasp.Details, string) {
	t.Helper()
	if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: pr, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
		t.Fatalf("pay: %+v, %v", p, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, status, id := storedDetails(t, w.db, pr)
		if status == vasp.StatusCompleted {
			return d, id
		}
		if time.Now().After(deadline) {
			t.Fatalf("not credited: %s", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// After a rotation of the encryption key (A to B), senders that cached A
// go on encrypting travel-rule data to it, and payments pending at the
// change carry data encrypted to it: with A among the previous encryption
// keys it is decrypted at settlement and on read. Without A the data stays
// as received, the payment settles all the same (money never waits on
// it), and a process given A later (a restart with the setting, or another
// process of the deployment) reveals it, on read or at its settlement.
func TestTravelRuleDecryptsWithPreviousEncryptionKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		keyA, withA, withoutA := rotation(t, w)
		const plain = `{"originator":"Alice Sender"}`
		payreq := func(t *testing.T, s *vasp.Service) (string, string) {
			t.Helper()
			enc, err := uma.EncryptTravelRuleInfo(keyA.PublicKey(), []byte(plain))
			if err != nil {
				t.Fatal(err)
			}
			pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
			pr.PayerData.Compliance.EncryptedTravelRuleInfo = enc
			resp, err := s.PayRequest(t.Context(), "bob", pr)
			wantCode(t, err, "")
			return resp.PR, enc
		}
		reads := func(t *testing.T, s *vasp.Service, id string) []vasp.Transaction {
			t.Helper()
			got, err := s.GetTransaction(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
			if err != nil || len(ts) != 1 || ts[0].ID != id {
				t.Fatalf("list: %d, %v", len(ts), err)
			}
			return []vasp.Transaction{got, ts[0]}
		}

		t.Run("previous key configured", func(t *testing.T) {
			s := w.service(t, withA)
			running(t, s)
			pr, _ := payreq(t, s)
			d, id := payAndWait(t, w, pr)
			if d.TravelRuleInfo != plain || d.EncryptedTravelRuleInfo != "" {
				t.Fatalf("stored at settlement: %q, encrypted %q", d.TravelRuleInfo, d.EncryptedTravelRuleInfo)
			}
			for _, tx := range reads(t, s, id) {
				if tx.Details.TravelRuleInfo != plain {
					t.Fatalf("read: %+v", tx.Details)
				}
			}
		})

		t.Run("previous key missing, then given", func(t *testing.T) {
			s := w.service(t, withoutA)
			stop := runStoppable(t, s)
			pr, enc := payreq(t, s)
			d, id := payAndWait(t, w, pr)
			if d.TravelRuleInfo != "" || d.EncryptedTravelRuleInfo != enc {
				t.Fatalf("stored at settlement without the key: %+v", d)
			}
			for _, tx := range reads(t, s, id) {
				if tx.Details.TravelRuleInfo != "" || tx.Details.EncryptedTravelRuleInfo != enc || tx.Status != vasp.StatusCompleted {
					t.Fatalf("read without the key: %+v", tx)
				}
			}
			stop()
			// Restarted with the previous key: revealed on read.
			s = w.service(t, withA)
			for _, tx := range reads(t, s, id) {
				if tx.Details.TravelRuleInfo != plain || tx.Details.EncryptedTravelRuleInfo != "" {
					t.Fatalf("read with the key: %q, encrypted %q", tx.Details.TravelRuleInfo, tx.Details.EncryptedTravelRuleInfo)
				}
			}
		})

		t.Run("another process settles", func(t *testing.T) {
			// The payreq is taken by a process without A, the payment
			// settled by one with it (a rolling change of the setting).
			without := w.service(t, withoutA)
			pr, enc := payreq(t, without)
			d, status, id := storedDetails(t, db, pr)
			if status != vasp.StatusPending || d.EncryptedTravelRuleInfo != enc {
				t.Fatalf("stored at payreq: %s %+v", status, d)
			}
			for _, tx := range reads(t, without, id) {
				if tx.Details.EncryptedTravelRuleInfo != enc {
					t.Fatalf("read without the key: %+v", tx.Details)
				}
			}
			with := w.service(t, withA)
			running(t, with)
			d, _ = payAndWait(t, w, pr)
			if d.TravelRuleInfo != plain || d.EncryptedTravelRuleInfo != "" {
				t.Fatalf("stored at settlement by the process with the key: %q, encrypted %q", d.TravelRuleInfo, d.EncryptedTravelRuleInfo)
			}
		})
	})
}

// rotation rotates w's encryption key: it returns the key served until now
// (A), and tunings of a Service serving a new one (B) with A as a previous
// encryption key, and without it.
func rotation(t *testing.T, w *world) (keyA *uma.PrivateKey, withA, withoutA func(*vasp.Options)) {
	t.Helper()
	keyA = w.ours.Encryption
	// B: newKeys' signing key is its encryption key too; only the
	// encryption key changes.
	b := newKeys(t, ourDomain)
	rotated := *w.ours
	rotated.Encryption, rotated.EncryptionCertChain = b.Encryption, b.EncryptionCertChain
	withA = func(o *vasp.Options) { o.Keys = &rotated; o.PreviousEncryptionKeys = []*uma.PrivateKey{keyA} }
	withoutA = func(o *vasp.Options) { o.Keys = &rotated }
	return keyA, withA, withoutA
}

// The compliance hook is told of a completed payment with its travel-rule
// data decrypted by whichever process tells it: a payment completed by a
// process without the previous key, which died before telling the hook, is
// registered by one with it, the data decrypted.
func TestRegistrationDecryptsWithPreviousEncryptionKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		keyA, withA, withoutA := rotation(t, w)
		crashing := w.service(t, func(o *vasp.Options) { withoutA(o); o.Compliance = crashingCompliance{} })
		const plain = `{"originator":"Alice Sender"}`
		enc, err := uma.EncryptTravelRuleInfo(keyA.PublicKey(), []byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.PayerData.Compliance.EncryptedTravelRuleInfo = enc
		resp, err := crashing.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, "")
		if p, err := w.node.Pay(t.Context(), lightning.PayRequest{Invoice: resp.PR, Timeout: 10 * time.Second}); err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("pay: %+v, %v", p, err)
		}
		w.clock.Advance(time.Minute) // the sweep looks at payments pending a while
		crashes(t, func() { crashing.SweepPending(t.Context()) })
		if d, status, _ := storedDetails(t, db, resp.PR); status != vasp.StatusCompleted || d.EncryptedTravelRuleInfo != enc {
			t.Fatalf("completed without the key: %s, encrypted %q", status, d.EncryptedTravelRuleInfo)
		}

		reg := &registry{}
		restarted := w.service(t, func(o *vasp.Options) { withA(o); o.Compliance = reg })
		w.clock.Advance(2 * time.Minute)
		if n, err := restarted.RegisterRound(t.Context()); n != 1 || err != nil {
			t.Fatalf("register round: %d, %v", n, err)
		}
		reg.mu.Lock()
		defer reg.mu.Unlock()
		if len(reg.got) != 1 {
			t.Fatalf("registered %d times", len(reg.got))
		}
		if d := reg.got[0].Details; d.TravelRuleInfo != plain || d.EncryptedTravelRuleInfo != "" {
			t.Fatalf("registered with travel-rule info %q, encrypted %q", d.TravelRuleInfo, d.EncryptedTravelRuleInfo)
		}
	})
}
