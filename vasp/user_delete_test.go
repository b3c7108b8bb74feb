package vasp_test

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/vasp"
)

// deleting is a VASP on real users (users.Service) whose deletes run the
// payments' check (BeforeUserDelete), as the daemon wires them.
type deleting struct {
	w      *world
	s      *vasp.Service
	users  *users.Service
	sender *uma.Keys // vasp1.example's
	logs   *syncBuffer
}

func newDeleting(t *testing.T, db *store.DB) *deleting {
	t.Helper()
	d := &deleting{w: newWorld(t, db), logs: &syncBuffer{}}
	d.sender = d.w.counterparty(t, "vasp1.example")
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d.users = users.New(db, d.w.clock, users.WithRates(p))
	d.s = d.w.service(t, func(o *vasp.Options) {
		o.Users = usersDirectory{db: db, s: d.users}
		o.Log = slog.New(slog.NewJSONHandler(d.logs, nil))
	})
	d.users.OnDelete(d.s.BeforeUserDelete)
	return d
}

func (d *deleting) user(t *testing.T, local string) users.User {
	t.Helper()
	u, err := d.users.Create(t.Context(), d.w.db, users.User{PlatformUserID: "p-" + local, UserType: users.Individual,
		UMALocal: local, KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"EUR"}, FullName: local})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (d *deleting) delete(t *testing.T, id string) error {
	t.Helper()
	return d.w.db.InTx(t.Context(), func(tx *store.Tx) error { _, err := d.users.Delete(t.Context(), tx, id); return err })
}

// payreq asks for an invoice for $local, as vasp1.example's alice.
func (d *deleting) payreq(t *testing.T, local string) (*uma.PayReqResponse, error) {
	return d.s.PayRequest(t.Context(), local, payRequest(t, d.sender.Signing, "$alice@vasp1.example", d.w.clock.Now()))
}

// openPayments is how many of userID's incoming payments are PENDING.
func openPayments(t *testing.T, db *store.DB, userID string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions
		WHERE user_id = $1 AND direction = 'INCOMING' AND status = 'PENDING'`, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantConflict(t *testing.T, err error, mentions ...string) {
	t.Helper()
	e := vaspd.AsError(err)
	if err == nil || e.Status != http.StatusConflict || e.Code != vaspd.CodeConflict {
		t.Fatalf("delete: got %v, want 409 CONFLICT", err)
	}
	for _, m := range mentions {
		if !strings.Contains(e.Message, m) {
			t.Errorf("delete refused with %q, which does not mention %q", e.Message, m)
		}
	}
}

// A user with an incoming payment whose invoice can still be paid cannot be
// deleted (settlement would credit a user nobody can reach); the refusal
// says until when, and once the invoice has expired the delete goes through.
func TestDeleteWaitsForOpenInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDeleting(t, db)
		u := d.user(t, "carol")
		resp, err := d.payreq(t, "carol")
		if err != nil {
			t.Fatal(err)
		}
		// The invoice's own expiry: its timestamp is the node's clock, in
		// whole seconds, which a loaded machine may have moved past the
		// second the test's clock reads.
		inv, err := bolt11.Decode(resp.PR, "")
		if err != nil {
			t.Fatal(err)
		}
		if life := inv.ExpiresAt().Sub(d.w.clock.Now()); life < 10*time.Minute-2*time.Second || life > 11*time.Minute {
			t.Fatalf("invoice lives %v, want InvoiceExpiry's default, 10m", life)
		}
		until := inv.ExpiresAt().UTC().Format(time.RFC3339)
		wantConflict(t, d.delete(t, u.ID), "incoming", until)
		if _, err := d.users.Get(t.Context(), db, u.ID); err != nil {
			t.Fatalf("refused delete left the user %v", err)
		}
		d.w.clock.Advance(inv.ExpiresAt().Sub(d.w.clock.Now()) + time.Second)
		if err := d.delete(t, u.ID); err != nil {
			t.Fatalf("delete after the invoice expired: %v", err)
		}
	})
}

// A user with an outgoing payment still PROCESSING cannot be deleted: a
// failure would release the held money to them.
func TestDeleteWaitsForOutgoingPayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDeleting(t, db)
		u := d.user(t, "carol")
		now := d.w.clock.Now()
		tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Outgoing, Status: vasp.StatusProcessing,
			UserID: u.ID, PlatformUserID: u.PlatformUserID, OurAddress: "$carol@" + ourDomain, Counterparty: "$bob@vasp1.example",
			PaymentHash: strings.Repeat("ab", 32), Invoice: "lnbc1", Currency: "EUR", Amount: 100, Msats: 100_000,
			CreatedAt: now, UpdatedAt: now}
		if err := d.s.InsertTransaction(t.Context(), tr); err != nil {
			t.Fatal(err)
		}
		wantConflict(t, d.delete(t, u.ID), tr.ID, "PROCESSING")
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET status = 'FAILED' WHERE id = $1`, tr.ID); err != nil {
			t.Fatal(err)
		}
		if err := d.delete(t, u.ID); err != nil {
			t.Fatalf("delete after the payment ended: %v", err)
		}
	})
}

// Deleting a user cancels their payment requests still payable (rather
// than waiting for their expiry, days away): they read CANCELLED, and
// nothing pays them.
func TestDeleteCancelsPaymentRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDeleting(t, db)
		u := d.user(t, "carol")
		p, err := d.s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: u.ID, Amount: 1000, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.delete(t, u.ID); err != nil {
			t.Fatal(err)
		}
		got, err := d.s.GetPaymentRequest(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != vasp.PaymentRequestCancelled || got.CancelledAt == nil {
			t.Fatalf("payment request of the deleted user is %s, want CANCELLED", got.Status)
		}
	})
}

// A delete running while a payreq records its payment never leaves an
// invoice issued to a deleted user: the payreq's liveness check holds the
// user's row (FOR SHARE on PostgreSQL), so the delete waits for the
// payment and sees it (refused), or the payreq sees the delete. The
// interleaving that lost it is forced: the delete starts once the payreq
// found the user live, before it records the payment. Unforced rounds
// try the other interleavings.
func TestDeleteRacingPayreq(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		d := newDeleting(t, db)
		var (
			mu      sync.Mutex
			checked chan struct{}
		)
		d.s.SetAfterRecipientCheck(func(string) {
			mu.Lock()
			c := checked
			checked = nil // once, should the transaction be retried
			mu.Unlock()
			if c != nil {
				close(c)
				time.Sleep(200 * time.Millisecond) // the delete's turn
			}
		})
		for i := range 12 {
			forced := i < 2
			local := "racer" + string(rune('a'+i))
			u := d.user(t, local)
			c := make(chan struct{})
			if forced {
				mu.Lock()
				checked = c
				mu.Unlock()
			}
			var payErr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, payErr = d.payreq(t, local)
			}()
			if forced {
				<-c
			}
			delErr := d.delete(t, u.ID)
			<-done
			mu.Lock()
			checked = nil
			mu.Unlock()
			if delErr != nil && vaspd.AsError(delErr).Status != http.StatusConflict {
				t.Fatalf("round %d: delete: %v", i, delErr)
			}
			if n := openPayments(t, db, u.ID); delErr == nil && n != 0 {
				t.Fatalf("round %d (forced %v): user deleted with %d open invoices (payreq: %v)", i, forced, n, payErr)
			}
			if forced && (delErr == nil || payErr != nil) {
				t.Fatalf("round %d: forced interleaving: delete %v, payreq %v; want the delete refused, the invoice issued", i, delErr, payErr)
			}
		}
	})
}

// A quote of a user deleted since is not executed: USER_NOT_FOUND, nothing
// reserved or sent, and an auto-refresh quote of theirs is refreshed no
// more, whether the delete came before the execute or while
// it ran (after it read the sender, before its transaction: the check in
// the transaction catches it).
func TestExecuteForDeletedUserRefused(t *testing.T) {
	for _, during := range []bool{false, true} {
		t.Run(map[bool]string{false: "before", true: "during"}[during], func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				h := newHostile(t, db)
				p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
				if err != nil {
					t.Fatal(err)
				}
				us := users.New(db, nil, users.WithRates(p))
				s := h.w.service(t, func(o *vasp.Options) {
					o.Clock, o.Users = vaspd.SystemClock{}, usersDirectory{db: db, s: us}
				})
				us.OnDelete(s.BeforeUserDelete)
				u, err := us.Create(t.Context(), db, users.User{PlatformUserID: "p-erin", UserType: users.Individual,
					UMALocal: "erin", KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"USD"}, FullName: "Erin"})
				if err != nil {
					t.Fatal(err)
				}
				l, err := s.LookupReceiver(t.Context(), u.ID, "$bob@"+h.domain)
				if err != nil {
					t.Fatal(err)
				}
				q, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
					LockedSide: vasp.LockedSending, Amount: 1000})
				if err != nil {
					t.Fatal(err)
				}
				rq, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
					LockedSide: vasp.LockedSending, Amount: 1000, AutoRefresh: true})
				if err != nil {
					t.Fatal(err)
				}
				del := func() {
					if err := db.InTx(t.Context(), func(tx *store.Tx) error { _, err := us.Delete(t.Context(), tx, u.ID); return err }); err != nil {
						t.Error(err)
					}
				}
				if during {
					s.SetBeforeClaim(func(string) { del() })
				} else {
					del()
				}
				tr, err := s.ExecuteQuote(t.Context(), q.ID, "")
				if e := vaspd.AsError(err); err == nil || e.Status != http.StatusNotFound || e.Code != vaspd.CodeUserNotFound {
					t.Fatalf("execute of a deleted user's quote: %+v, %v; want 404 USER_NOT_FOUND", tr, err)
				}
				var n int
				if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE user_id = $1`, u.ID).Scan(&n); err != nil || n != 0 {
					t.Fatalf("%d payments recorded for the deleted user (%v)", n, err)
				}
				// Its auto-refresh quote is renewed no more.
				if got, err := s.GetQuote(t.Context(), rq.ID); err != nil || got.AutoRefresh || got.AutoRefreshStopped != vasp.RefreshStoppedUserDeleted {
					t.Fatalf("the deleted user's auto-refresh quote: autoRefresh %v, stopped %q (%v), want false, %s", got.AutoRefresh, got.AutoRefreshStopped, err, vasp.RefreshStoppedUserDeleted)
				}
			})
		})
	}
}
