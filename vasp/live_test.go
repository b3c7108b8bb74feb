package vasp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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

// usersDirectory is the daemon's directory: users.Service lookups, whose
// ByUMALocal may answer from the Service's cache, and a fresh read in the
// caller's transaction for CheckLive.
type usersDirectory struct {
	db *store.DB
	s  *users.Service
}

func (d usersDirectory) recipient(u users.User) vasp.Recipient {
	return vasp.Recipient{UserID: u.ID, PlatformUserID: u.PlatformUserID, Local: u.UMALocal, Name: u.FullName,
		Currencies: u.PreferredCurrencies, KYCStatus: uma.KycStatus(u.KYCStatus)}
}

func (d usersDirectory) ByUMALocal(ctx context.Context, local string) (vasp.Recipient, error) {
	u, err := d.s.GetByUMALocal(ctx, d.db, local)
	return d.recipient(u), err
}

func (d usersDirectory) ByID(ctx context.Context, id string) (vasp.Recipient, error) {
	u, err := d.s.Get(ctx, d.db, id)
	return d.recipient(u), err
}

func (d usersDirectory) CheckLive(ctx context.Context, q store.Querier, id, local string) error {
	return d.s.CheckLive(ctx, q, id, local)
}

// TestNoInvoiceForUserDeletedElsewhere: a process whose user cache still
// holds a recipient that another process sharing the database deleted
// issues no invoice for it, with or without an approval webhook (the
// platform is not asked), and tells the sender USER_NOT_FOUND.
func TestNoInvoiceForUserDeletedElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Process A deletes; process B's cache (an hour here, a second in
		// vaspd) has not heard of it.
		usersA := users.New(db, vaspd.SystemClock{}, users.WithRates(p))
		usersB := users.New(db, vaspd.SystemClock{}, users.WithRates(p), users.WithLocalCacheTTL(time.Hour))
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		platform := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			rw.WriteHeader(200) // approves
		}))
		defer platform.Close()
		procB := w.service(t, func(o *vasp.Options) { o.Users, o.Webhooks = usersDirectory{db: db, s: usersB}, hooks })
		for _, approval := range []bool{false, true} {
			local := "carol"
			if approval {
				local = "dave"
			}
			u, err := usersA.Create(t.Context(), db, users.User{PlatformUserID: "p-" + local, UserType: users.Individual,
				UMALocal: local, KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"EUR"}, FullName: local})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := usersB.GetByUMALocal(t.Context(), db, local); err != nil { // B caches it
				t.Fatal(err)
			}
			if err := db.InTx(t.Context(), func(tx *store.Tx) error { _, err := usersA.Delete(t.Context(), tx, u.ID); return err }); err != nil {
				t.Fatal(err)
			}
			if approval { // asked, the platform approves
				if _, _, _, err := hooks.ConfigurePrimary(t.Context(), platform.URL); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := procB.PayRequest(t.Context(), local, payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now()))
			if err == nil {
				t.Fatalf("approval %v: payreq for a user deleted by another process answered %+v", approval, resp)
			}
			// The sender is told as for an address nobody holds (an
			// UMA error: a platform API error would be answered
			// INTERNAL_ERROR).
			wantCode(t, err, uma.CodeUserNotFound)
			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions
				WHERE user_id = $1 AND status IN ('CREATED', 'PENDING')`, u.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("approval %v: %d payments left open for the deleted user (%v)", approval, n, err)
			}
			// Caught before anything is recorded: the platform is not
			// asked to approve a payment to a deleted user.
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions WHERE user_id = $1`, u.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("approval %v: %d payments recorded for the deleted user (%v)", approval, n, err)
			}
		}
	})
}

// TestNoUmaRequestForUserDeletedElsewhere: a process whose user cache still
// holds a user that another process sharing the database deleted neither
// keeps nor announces an UMA request addressed to it: it is USER_NOT_FOUND,
// as for a user this process deleted.
func TestNoUmaRequestForUserDeletedElsewhere(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		usersA := users.New(db, vaspd.SystemClock{}, users.WithRates(p))
		usersB := users.New(db, vaspd.SystemClock{}, users.WithRates(p), users.WithLocalCacheTTL(time.Hour))
		procB := w.service(t, func(o *vasp.Options) { o.Users = usersDirectory{db: db, s: usersB} })
		u, err := usersA.Create(t.Context(), db, users.User{PlatformUserID: "p-erin", UserType: users.Individual,
			UMALocal: "erin", KYCStatus: users.KYCVerified, PreferredCurrencies: []string{"USD"}, FullName: "Erin"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := usersB.GetByUMALocal(t.Context(), db, "erin"); err != nil { // B caches her
			t.Fatal(err)
		}
		if err := db.InTx(t.Context(), func(tx *store.Tx) error { _, err := usersA.Delete(t.Context(), tx, u.ID); return err }); err != nil {
			t.Fatal(err)
		}
		inv := &uma.Invoice{
			ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: "9d4b7c1e-52a8-4a43-8f5e-1f0c8d2e6b70", Amount: 1250,
			ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
			Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
			UmaVersions: uma.Version1.String(), SenderUMA: "$erin@" + ourDomain,
			Callback: "https://vasp1.example/api/uma/payreq/carol",
		}
		body := umaRequestBody(t, carols.Signing, inv)
		r, err := procB.ReceiveUmaRequest(t.Context(), body)
		if err == nil {
			t.Errorf("UMA request for a user deleted by another process kept as %s", r.ID)
		}
		wantCode(t, err, uma.CodeUserNotFound)
		if n := countRows(t, db, "uma_requests"); n != 0 {
			t.Fatalf("%d UMA requests kept for a deleted user", n)
		}
		var hooks int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM webhook_events WHERE type = $1`, vasp.TypeUmaRequest).Scan(&hooks); err != nil || hooks != 0 {
			t.Fatalf("%d UMA_REQUEST webhooks enqueued for a deleted user (%v)", hooks, err)
		}
	})
}
