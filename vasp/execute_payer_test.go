package vasp_test

import (
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/vasp"
)

// A quote tells the receiver who pays: our user's address and KYC status,
// in the signed payreq the receiver (and its platform) approved. An
// execute once either changed (the platform set another KYC status, the
// user took another address, perhaps leaving theirs to someone else)
// pays nothing: 409 CONFLICT, saying what changed; a refresh tells the
// receiver anew. Executes paid all the same, under a payer the receiver
// had not been told.
func TestExecutePaysAsThePayerTold(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*vasp.Recipient)
	}{
		{"KYC no longer verified", func(r *vasp.Recipient) { r.KYCStatus = uma.KycNotVerified }},
		{"another address", func(r *vasp.Recipient) { r.Local = "alice2" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				r := newRefresher(t, db, nil)
				alice := r.w.alice
				alice.KYCStatus = uma.KycVerified
				r.w.users[alice.UserID] = alice
				r.fund(t, 100_000)
				q, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
				if err != nil {
					t.Fatal(err)
				}
				changed := alice
				tc.change(&changed)
				r.w.users[alice.UserID] = changed
				_, err = r.s.ExecuteQuote(t.Context(), q.ID, "")
				wantStatus(t, err, http.StatusConflict, "CONFLICT")
				if got := r.get(t, q.ID); got.Status != vasp.QuotePending || got.TransactionID != "" {
					t.Fatalf("quote after the refusal: %s %q", got.Status, got.TransactionID)
				}
				if b := balance(t, db, ledger.UserAccount(alice.UserID), "USD"); b != 100_000 {
					t.Fatalf("alice holds %d", b)
				}
				// A new quote tells the receiver the payer as it is now.
				nq, err := r.s.RefreshQuote(t.Context(), q.ID)
				if err != nil {
					t.Fatal(err)
				}
				tr, err := r.s.ExecuteQuote(t.Context(), nq.ID, "")
				if err != nil || tr.Status != vasp.StatusCompleted {
					t.Fatalf("the refreshed quote: %+v %v", tr, err)
				}
				// Unchanged since, the payer executes as before.
				q2, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
				if err != nil {
					t.Fatal(err)
				}
				if tr, err := r.s.ExecuteQuote(t.Context(), q2.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
					t.Fatalf("an unchanged payer: %+v %v", tr, err)
				}
			})
		})
	}
}

// A sender renamed while the execute ran (after it read the sender,
// before its transaction) is caught in the transaction, where the row is
// share-locked: the address checked there is the one the receiver was
// told. Another user then holding that address pays nothing either.
func TestExecuteForSenderRenamedDuringItRefused(t *testing.T) {
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
		u, err := us.Create(t.Context(), db, users.User{PlatformUserID: "p-erin", UserType: users.Individual,
			UMALocal: "erin", KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"USD"}, FullName: "Erin"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(t.Context(), func(tx *store.Tx) error {
			_, err := ledger.New(db, nil).Transfer(t.Context(), tx, ledger.Deposit("deposit/erin", u.ID, "USD", 100_000, "test"))
			return err
		}); err != nil {
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
		s.SetBeforeClaim(func(string) {
			err := db.InTx(t.Context(), func(tx *store.Tx) error {
				_, err := us.Update(t.Context(), tx, u.ID, users.Patch{UMALocal: new("erin2")})
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
		_, err = s.ExecuteQuote(t.Context(), q.ID, "")
		wantStatus(t, err, http.StatusConflict, "CONFLICT")
		if b := balance(t, db, ledger.UserAccount(u.ID), "USD"); b != 100_000 {
			t.Fatalf("erin holds %d", b)
		}
		if got, err := s.GetQuote(t.Context(), q.ID); err != nil || got.Status != vasp.QuotePending {
			t.Fatalf("quote after the refusal: %+v %v", got, err)
		}
	})
}

// A payer verified since its quote was made pays: the receiver accepted
// it as less verified than it is, which no compliance rule refuses, and a
// platform finishing a user's KYC should not see its quotes refused.
func TestExecuteAfterKYCVerifiedPays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		alice := r.w.alice
		alice.KYCStatus = uma.KycPending
		r.w.users[alice.UserID] = alice
		r.fund(t, 100_000)
		q, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
		if err != nil {
			t.Fatal(err)
		}
		verified := alice
		verified.KYCStatus = uma.KycVerified
		r.w.users[alice.UserID] = verified
		if tr, err := r.s.ExecuteQuote(t.Context(), q.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute after the payer was verified: %+v %v", tr, err)
		}
	})
}
