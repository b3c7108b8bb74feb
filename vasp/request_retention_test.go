package vasp_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// The cap on one VASP's UMA requests to one user counts those still to be
// paid (PENDING): a request the user paid, or is paying, is no longer one
// the VASP keeps open. Before, every unexpired one counted, so a user who
// paid a hundred invoices of one VASP within their lives could receive no
// more from it.
func TestUmaRequestCapCountsOnlyPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		receive := func() (vasp.UmaRequest, error) {
			inv := &uma.Invoice{
				ReceiverUMA: "$bob@" + h.domain, InvoiceUUID: uuid.NewString(), Amount: 1250,
				ReceivingCurrency: uma.InvoiceCurrency{Code: "EUR", Name: "Euro", Symbol: "€", Decimals: 2},
				Expiration:        time.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
				UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain, Callback: h.srv.URL + "/cb",
			}
			return h.s.ReceiveUmaRequest(t.Context(), umaRequestBody(t, h.keys.Signing, inv))
		}
		paid, err := receive()
		if err != nil {
			t.Fatal(err)
		}
		q, err := h.payQuote(t, h.s, paid)
		if err != nil {
			t.Fatal(err)
		}
		if tr, err := h.s.ExecuteQuote(t.Context(), q.ID, ""); err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("paying the first request: %+v %v", tr, err)
		}
		for i := 1; i < vasp.MaxLiveUmaRequests; i++ {
			if _, err := receive(); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		// A hundred unexpired, one of them paid: one more is open.
		if _, err := receive(); err != nil {
			t.Fatalf("a request with %d open and one paid: %v", vasp.MaxLiveUmaRequests-1, err)
		}
		_, err = receive()
		wantCode(t, err, uma.CodeForbidden)
	})
}

// explainWithoutSeqScans returns q's plan; on PostgreSQL with sequential
// scans priced out, as its planner reads tables this small whole whatever
// the indexes: the plan then shows whether an index can serve each read.
func explainWithoutSeqScans(t *testing.T, db *store.DB, q string, args ...any) string {
	t.Helper()
	var plan string
	if err := db.InTx(t.Context(), func(tx *store.Tx) error {
		if db.Driver().Name() == "postgres" {
			if _, err := tx.ExecContext(t.Context(), "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
		}
		plan = storetest.Explain(t, tx, q, args...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return plan
}

// oldRequests inserts n UMA requests of user to $r@domain, ids prefix-0
// to prefix-(n-1), request n expiring at the SQL expression expiry of n.
func oldRequests(t *testing.T, db *store.DB, prefix, user, domain string, n int, expiry string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < $4 - 1)
		INSERT INTO uma_requests (id, user_id, receiver_uma, invoice_uuid, invoice, amount, currency, expires_at, created_at)
		SELECT $1 || '-' || n, $2, $3, $1 || '-' || n, 'uma1x', 100, 'USD', `+expiry+`, 0 FROM g`,
		prefix, user, "$r@"+domain, n); err != nil {
		t.Fatal(err)
	}
}

// quoteOf inserts a quote of status paying UMA request id.
func quoteOf(t *testing.T, db *store.DB, id, request, status string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `INSERT INTO uma_quotes (id, lookup_id, user_id, status, locked_side, sending_currency,
		sending_amount, fee, receiving_currency, receiving_amount, msats, invoice, payment_hash, details, expires_at, created_at,
		updated_at, uma_request_id)
		VALUES ($1, 'Lookup:l', 'User:u', $2, 'RECEIVING', 'USD', 100, 0, 'USD', 100, 1000000, 'lnbcrt1', $1, '{}', 0, 0, 0, $3)`,
		id, status, request); err != nil {
		t.Fatal(err)
	}
}

// TestUmaRequestCapUsesIndex: the cap's count, at every UMA request
// received, reads the user's unexpired requests through an index on
// (user_id, expires_at), not every request the user ever received (the
// user index alone served it: each expired one was read to be skipped).
func TestUmaRequestCapUsesIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := int64(5000 * 3600000000)
		oldRequests(t, db, "UmaRequest:u", "User:u", "theirs.example", 4000, "(n + 1) * 3600000000")
		oldRequests(t, db, "UmaRequest:v", "User:v", "theirs.example", 400, "(n + 1) * 3600000000")
		if _, err := db.ExecContext(t.Context(), "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		plan := explainWithoutSeqScans(t, db, vasp.LiveUmaRequestsQuery, "User:u", now, len("@theirs.example"), "@theirs.example")
		if !strings.Contains(plan, "uma_requests_user_expiry") {
			t.Errorf("the cap's count does not use uma_requests_user_expiry:\n%s", plan)
		}
	})
}

// UMA requests expired for longer than the retention are deleted, paid or
// not, in batches; one with a payment still in flight is kept, and so is
// any unexpired one however old (deleted, a repeat of its invoice would be
// kept again as a new, payable request). A deleted request is 404, as one
// never received.
func TestPurgeUmaRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.UmaRequestRetention = 24 * time.Hour })
		now := w.clock.Now()
		old := store.Micros(now.Add(-25 * time.Hour))
		oldRequests(t, db, "UmaRequest:old", w.alice.UserID, "theirs.example", 1500, fmt.Sprint(old))
		oldRequests(t, db, "UmaRequest:paid", w.alice.UserID, "theirs.example", 1, fmt.Sprint(old))
		quoteOf(t, db, "Quote:paid", "UmaRequest:paid-0", vasp.QuoteCompleted)
		oldRequests(t, db, "UmaRequest:paying", w.alice.UserID, "theirs.example", 1, fmt.Sprint(old))
		quoteOf(t, db, "Quote:paying", "UmaRequest:paying-0", vasp.QuoteProcessing)
		oldRequests(t, db, "UmaRequest:recent", w.alice.UserID, "theirs.example", 1, fmt.Sprint(store.Micros(now.Add(-23*time.Hour))))
		oldRequests(t, db, "UmaRequest:open", w.alice.UserID, "theirs.example", 1, fmt.Sprint(store.Micros(now.Add(time.Hour))))
		n, err := s.PurgeUmaRequests(t.Context())
		if err != nil || n != 1501 {
			t.Fatalf("purged %d UMA requests (%v), want 1501: the expired backlog and the paid one", n, err)
		}
		if n, err := s.PurgeUmaRequests(t.Context()); err != nil || n != 0 {
			t.Fatalf("second purge: %d, %v", n, err)
		}
		var left []string
		rows, err := db.QueryContext(t.Context(), `SELECT id FROM uma_requests ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			left = append(left, id)
		}
		rows.Close()
		if want := "[UmaRequest:open-0 UmaRequest:paying-0 UmaRequest:recent-0]"; fmt.Sprint(left) != want {
			t.Fatalf("UMA requests left %v, want %s", left, want)
		}
		_, err = s.GetUmaRequest(t.Context(), "UmaRequest:paid-0")
		wantStatus(t, err, http.StatusNotFound, vaspd.CodeUmaRequestNotFound)
	})
}

// TestPurgeUmaRequestsUsesIndexes: the hourly purge finds the requests by
// expiry and asks of each whether a payment of it is in flight through
// indexes, on both databases.
func TestPurgeUmaRequestsUsesIndexes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		oldRequests(t, db, "UmaRequest:u", "User:u", "theirs.example", 4000, "(n + 1) * 3600000000")
		if _, err := db.ExecContext(t.Context(), `WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 4 FROM g WHERE n < 3996)
			INSERT INTO uma_quotes (id, lookup_id, user_id, status, locked_side, sending_currency, sending_amount, fee,
				receiving_currency, receiving_amount, msats, invoice, payment_hash, details, expires_at, created_at, updated_at,
				uma_request_id)
			SELECT 'Quote:q' || n, 'Lookup:l', 'User:u', 'COMPLETED', 'RECEIVING', 'USD', 100, 0,
				'USD', 100, 1000000, 'lnbcrt1', 'h' || n, '{}', 0, 0, 0, 'UmaRequest:u-' || n FROM g`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(t.Context(), "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		plan := explainWithoutSeqScans(t, db, vasp.PurgeUmaRequestsQuery, int64(400*3600000000), 1000)
		for _, idx := range []string{"uma_requests_expiry", "uma_quotes_uma_request"} {
			if !strings.Contains(plan, idx) {
				t.Errorf("the purge's plan does not use %s:\n%s", idx, plan)
			}
		}
	})
}
