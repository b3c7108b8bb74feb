package vasp_test

import (
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// wantUmaRequest asserts that s reads UMA request id with status and
// transaction id tx ("" for none), by GetUmaRequest and in the list of
// its user's requests.
func wantUmaRequest(t *testing.T, s *vasp.Service, id, status, tx string) {
	t.Helper()
	got, err := s.GetUmaRequest(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != status || got.TransactionID != tx {
		t.Fatalf("UMA request %s reads %s, transaction %q; want %s, %q", id, got.Status, got.TransactionID, status, tx)
	}
	list, err := s.ListUmaRequests(t.Context(), vasp.UmaRequestFilter{UserID: got.UserID}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.ID == id {
			if r != got {
				t.Fatalf("UMA request %s listed as\n%+v\nread as\n%+v", id, r, got)
			}
			return
		}
	}
	t.Fatalf("UMA request %s is not in its user's list", id)
}

// wantListed asserts the UMA requests of status, newest first, are ids.
func wantListed(t *testing.T, s *vasp.Service, userID, status string, ids ...string) {
	t.Helper()
	list, err := s.ListUmaRequests(t.Context(), vasp.UmaRequestFilter{UserID: userID, Status: status}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		if r.Status != status {
			t.Errorf("status=%s listed %s, which is %s", status, r.ID, r.Status)
		}
		got = append(got, r.ID)
	}
	if len(got) != len(ids) {
		t.Fatalf("status=%s lists %v, want %v", status, got, ids)
	}
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("status=%s lists %v, want %v", status, got, ids)
		}
	}
}

// An UMA request says whether it is paid, from the quotes paying it:
// PENDING until a payment of it is in flight (PROCESSING, naming its
// transaction), PAID once one COMPLETED (naming that transaction), and a
// FAILED payment leaves it PENDING, payable again. Unpaid past its
// expiry it is EXPIRED; PAID stays PAID, and one in flight stays
// PROCESSING until that payment ends: FAILED, it is EXPIRED. The list
// says the same, and filters on it.
func TestUmaRequestStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		alice := h.w.alice.UserID
		s := h.w.service(t, nil) // on the world's clock
		held := h.w.service(t, func(o *vasp.Options) { o.PayTimeout = 50 * time.Millisecond })

		paid := h.umaRequest(t, cents(5_00))
		inFlight := h.umaRequest(t, cents(6_00))
		unpaid := h.umaRequest(t, cents(7_00))
		if paid.Status != vasp.UmaRequestPending || paid.TransactionID != "" {
			t.Fatalf("a request received reads %s, transaction %q; want PENDING", paid.Status, paid.TransactionID)
		}
		for _, r := range []vasp.UmaRequest{paid, inFlight, unpaid} {
			wantUmaRequest(t, s, r.ID, vasp.UmaRequestPending, "")
		}

		// A quote made is not a payment.
		q1, err := h.payQuote(t, s, paid)
		if err != nil {
			t.Fatal(err)
		}
		wantUmaRequest(t, s, paid.ID, vasp.UmaRequestPending, "")
		// A FAILED payment does not count: the request can be paid again.
		h.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		tr, err := s.ExecuteQuote(t.Context(), q1.ID, "")
		h.w.node.SetFaults(embedded.Faults{})
		if err != nil || tr.Status != vasp.StatusFailed {
			t.Fatalf("execute under a routing fault: %+v %v", tr, err)
		}
		wantUmaRequest(t, s, paid.ID, vasp.UmaRequestPending, "")
		q2, err := h.payQuote(t, s, paid)
		if err != nil {
			t.Fatal(err)
		}
		tr, err = s.ExecuteQuote(t.Context(), q2.ID, "")
		if err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute: %+v %v", tr, err)
		}
		paidBy := tr.ID
		wantUmaRequest(t, s, paid.ID, vasp.UmaRequestPaid, paidBy)

		// A payment in flight.
		q3, err := h.payQuote(t, s, inFlight)
		if err != nil {
			t.Fatal(err)
		}
		h.w.node.SetFaults(embedded.Faults{HoldInFlight: true})
		defer h.w.node.SetFaults(embedded.Faults{})
		heldTx, err := held.ExecuteQuote(t.Context(), q3.ID, "")
		if err != nil || heldTx.Status != vasp.StatusProcessing {
			t.Fatalf("execute held in flight: %+v %v", heldTx, err)
		}
		wantUmaRequest(t, s, inFlight.ID, vasp.UmaRequestProcessing, heldTx.ID)
		wantUmaRequest(t, s, unpaid.ID, vasp.UmaRequestPending, "")

		wantListed(t, s, alice, vasp.UmaRequestPending, unpaid.ID)
		wantListed(t, s, alice, vasp.UmaRequestProcessing, inFlight.ID)
		wantListed(t, s, alice, vasp.UmaRequestPaid, paid.ID)
		wantListed(t, s, alice, vasp.UmaRequestExpired)
		wantListed(t, s, h.w.bob.UserID, vasp.UmaRequestPaid)

		// Past their expiry (an hour): paid stays PAID, in flight stays
		// PROCESSING, unpaid is EXPIRED.
		h.w.clock.Advance(2 * time.Hour)
		wantUmaRequest(t, s, paid.ID, vasp.UmaRequestPaid, paidBy)
		wantUmaRequest(t, s, inFlight.ID, vasp.UmaRequestProcessing, heldTx.ID)
		wantUmaRequest(t, s, unpaid.ID, vasp.UmaRequestExpired, "")
		wantListed(t, s, alice, vasp.UmaRequestPending)
		wantListed(t, s, alice, vasp.UmaRequestExpired, unpaid.ID)

		// The payment in flight fails: unpaid and past its expiry.
		h.w.node.SetFaults(embedded.Faults{FailReason: lightning.FailureNoRoute})
		deadline := time.Now().Add(10 * time.Second)
		for {
			held.ResolveOutgoing(t.Context())
			if tr, err = s.GetTransaction(t.Context(), heldTx.ID); err != nil {
				t.Fatal(err)
			}
			if tr.Status != vasp.StatusProcessing || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if tr.Status != vasp.StatusFailed {
			t.Fatalf("the held payment ended %s, want FAILED", tr.Status)
		}
		wantUmaRequest(t, s, inFlight.ID, vasp.UmaRequestExpired, "")
		wantListed(t, s, alice, vasp.UmaRequestExpired, unpaid.ID, inFlight.ID)
		wantListed(t, s, alice, vasp.UmaRequestProcessing)
	})
}

// ValidUmaRequestStatus takes the four statuses and nothing else.
func TestValidUmaRequestStatus(t *testing.T) {
	for _, s := range []string{vasp.UmaRequestPending, vasp.UmaRequestProcessing, vasp.UmaRequestPaid, vasp.UmaRequestExpired} {
		if !vasp.ValidUmaRequestStatus(s) {
			t.Errorf("%s refused", s)
		}
	}
	for _, s := range []string{"", "pending", "COMPLETED", "FAILED", "PAID "} {
		if vasp.ValidUmaRequestStatus(s) {
			t.Errorf("%q taken", s)
		}
	}
}
