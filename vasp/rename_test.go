package vasp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/vasp"
)

// twoProcesses are the users of two vaspd processes sharing db: there
// changes users, here answers the UMA requests, its lookups cached for
// an hour (a second in vaspd) and never told of there's changes.
type twoProcesses struct {
	db          *store.DB
	there, here *users.Service
}

func newTwoProcesses(t *testing.T, db *store.DB) twoProcesses {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return twoProcesses{db: db,
		there: users.New(db, vaspd.SystemClock{}, users.WithRates(p)),
		here:  users.New(db, vaspd.SystemClock{}, users.WithRates(p), users.WithLocalCacheTTL(time.Hour))}
}

func (p twoProcesses) create(t *testing.T, local string) users.User {
	t.Helper()
	u, err := p.there.Create(t.Context(), p.db, users.User{PlatformUserID: "p-" + local + "-" + vaspd.NewID(vaspd.IDUser)[5:13],
		UserType: users.Individual, UMALocal: local, KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"EUR"}, FullName: local})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// move renames u's address to local+"old" and gives local to a new user,
// whom it returns: both done by the other process.
func (p twoProcesses) move(t *testing.T, u users.User) users.User {
	t.Helper()
	renamed := u.UMALocal + "old"
	if err := p.db.InTx(t.Context(), func(tx *store.Tx) error {
		_, err := p.there.Update(t.Context(), tx, u.ID, users.Patch{UMALocal: &renamed})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return p.create(t, u.UMALocal)
}

// paymentsOf counts user id's incoming payments by status.
func paymentsOf(t *testing.T, db *store.DB, id string) map[string]int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT status, COUNT(*) FROM uma_transactions WHERE user_id = $1 GROUP BY status`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		out[s] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoInvoiceForAddressTakenElsewhere: a process whose user cache still
// maps $carol to the user X another process renamed (Y now holding
// $carol) issues X no invoice for a payreq to $carol: with no approval
// webhook, with one (the platform is not asked about X at all), or when
// the rename happens while the platform approves. The payreq is refused
// USER_NOT_FOUND, and the sender's retry reaches Y.
func TestNoInvoiceForAddressTakenElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		procs := newTwoProcesses(t, db)
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var duringApproval func() // run once by the platform before it approves
		platform := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			mu.Lock()
			f := duringApproval
			duringApproval = nil
			mu.Unlock()
			if f != nil {
				f()
			}
			rw.WriteHeader(200) // approves
		}))
		defer platform.Close()
		here := w.service(t, func(o *vasp.Options) { o.Users, o.Webhooks = usersDirectory{db: db, s: procs.here}, hooks })

		for _, tc := range []struct {
			name     string
			approval bool // the platform is asked
			during   bool // the rename happens while it approves
		}{
			{"no approval webhook", false, false},
			{"stale cache, approval webhook", true, false},
			{"renamed during approval", true, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				local := map[bool]string{false: "carol", true: "dave"}[tc.approval]
				if tc.during {
					local = "erin"
				}
				x := procs.create(t, local)
				if _, err := procs.here.GetByUMALocal(t.Context(), db, local); err != nil { // cached here
					t.Fatal(err)
				}
				if tc.approval {
					if _, _, _, err := hooks.ConfigurePrimary(t.Context(), platform.URL); err != nil {
						t.Fatal(err)
					}
				}
				var y users.User
				if tc.during {
					mu.Lock()
					duringApproval = func() { y = procs.move(t, x) }
					mu.Unlock()
				} else {
					y = procs.move(t, x)
				}
				resp, err := here.PayRequest(t.Context(), local, payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
				if err == nil {
					t.Fatalf("payreq to $%s, now Y's, answered with an invoice for X (%q)", local, resp.PR)
				}
				wantCode(t, err, uma.CodeUserNotFound)
				got := paymentsOf(t, db, x.ID)
				if got[vasp.StatusCreated]+got[vasp.StatusPending] != 0 {
					t.Fatalf("payments left open for X, who no longer holds $%s: %v", local, got)
				}
				if tc.during { // the platform approved it: it hears of its end
					var id string
					if err := db.QueryRowContext(t.Context(), `SELECT id FROM uma_transactions WHERE user_id = $1`, x.ID).Scan(&id); err != nil {
						t.Fatal(err)
					}
					wantEndHooks(t, db, id, "REJECTED/PAY_REQUEST_FAILED")
				} else if len(got) != 0 {
					// Caught before anything was recorded: the platform
					// was never asked to approve a payment to X.
					t.Fatalf("payments recorded for X, who no longer holds $%s: %v", local, got)
				}
				// The sender retries: this process reads $local afresh
				// and Y is paid.
				if _, err := here.PayRequest(t.Context(), local, payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())); err != nil {
					t.Fatalf("retried payreq to $%s: %v", local, err)
				}
				if got := paymentsOf(t, db, y.ID); got[vasp.StatusPending] != 1 {
					t.Fatalf("Y, who holds $%s, has payments %v; want 1 PENDING", local, got)
				}
			})
		}
	})
}

// TestNoUmaRequestForAddressTakenElsewhere: an UMA request whose senderUma
// is $frank, which the other process moved from X to Y, is not kept for
// (nor announced to) X by a process whose cache still maps $frank to X.
func TestNoUmaRequestForAddressTakenElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		procs := newTwoProcesses(t, db)
		here := w.service(t, func(o *vasp.Options) { o.Users = usersDirectory{db: db, s: procs.here} })
		x := procs.create(t, "frank")
		if _, err := procs.here.GetByUMALocal(t.Context(), db, "frank"); err != nil { // cached here
			t.Fatal(err)
		}
		y := procs.move(t, x)
		inv := &uma.Invoice{
			ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: "0b6f3a52-7c1d-4e8a-9f20-5d3c1e7a9b41", Amount: 1250,
			ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
			Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
			UmaVersions: uma.Version1.String(), SenderUMA: "$frank@" + ourDomain,
			Callback: "https://vasp1.example/api/uma/payreq/carol",
		}
		r, err := here.ReceiveUmaRequest(t.Context(), umaRequestBody(t, carols.Signing, inv))
		if err == nil && r.UserID == x.ID {
			t.Fatalf("UMA request to $frank, now Y's, kept for X as %s", r.ID)
		}
		wantCode(t, err, uma.CodeUserNotFound)
		if n := countRows(t, db, "uma_requests"); n != 0 {
			t.Fatalf("%d UMA requests kept", n)
		}
		// Delivered again, it reaches Y.
		r, err = here.ReceiveUmaRequest(t.Context(), umaRequestBody(t, carols.Signing, inv))
		if err != nil || r.UserID != y.ID {
			t.Fatalf("UMA request delivered again: kept for %q (%v); want Y %s", r.UserID, err, y.ID)
		}
	})
}

// renamedAfterByID is a Directory whose ByID answers as the user was just
// before another process renamed them: what a rename committing between
// CreatePaymentRequest's read of its user and its transaction looks like.
type renamedAfterByID struct {
	usersDirectory
	before map[string]vasp.Recipient
}

func (d renamedAfterByID) ByID(ctx context.Context, id string) (vasp.Recipient, error) {
	if r, ok := d.before[id]; ok {
		return r, nil
	}
	return d.usersDirectory.ByID(ctx, id)
}

// TestNoPaymentRequestForAddressRenamedMeanwhile: a payment request is not
// kept, signed for an address its user no longer holds: payments to it
// would go to the address's new holder (and be refused as not theirs).
func TestNoPaymentRequestForAddressRenamedMeanwhile(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		procs := newTwoProcesses(t, db)
		x := procs.create(t, "gina")
		dir := usersDirectory{db: db, s: procs.here}
		before, err := dir.ByID(t.Context(), x.ID)
		if err != nil {
			t.Fatal(err)
		}
		procs.move(t, x)
		s := w.service(t, func(o *vasp.Options) {
			o.Users = renamedAfterByID{usersDirectory: dir, before: map[string]vasp.Recipient{x.ID: before}}
		})
		p, err := s.CreatePaymentRequest(t.Context(), vasp.PaymentRequestInput{UserID: x.ID, Amount: 6_00, Currency: "EUR"})
		if err == nil {
			t.Fatalf("payment request kept for X as %s, naming %s, which Y now holds", p.ID, p.ReceiverUMA)
		}
		if e := vaspd.AsError(err); e.Status != http.StatusConflict {
			t.Fatalf("got %v; want 409", err)
		}
		if n := countRows(t, db, "payment_requests"); n != 0 {
			t.Fatalf("%d payment requests kept", n)
		}
	})
}
