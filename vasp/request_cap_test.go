package vasp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// One counterparty VASP may keep at most MaxLiveUmaRequests unexpired UMA
// requests to one of our users: each is a row kept and a webhook to the
// platform, and a VASP signing ever new invoices (distinct invoiceUUIDs,
// from as many addresses as it likes) grew both without bound. More are
// refused 403 FORBIDDEN, with nothing kept or announced; a repeat of one
// kept is still answered, another VASP's requests and another user's are
// not held up, and the cap frees up as requests expire.

func TestUmaRequestsCappedPerCounterparty(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		spammer := w.counterparty(t, "vasp1.example")
		other := w.counterparty(t, "vasp3.example")
		s := w.service(t, nil)
		now := w.clock.Now()
		request := func(key *uma.PrivateKey, domain, to string, i int, expires time.Time) ([]byte, error) {
			inv := &uma.Invoice{
				ReceiverUMA: fmt.Sprintf("$r%d@%s", i%7, domain), InvoiceUUID: fmt.Sprintf("0193a2b4-0000-7000-8000-%012d", i), Amount: 100 + int64(i),
				ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
				Expiration:        expires.Unix(), IsSubjectToTravelRule: true,
				UmaVersions: uma.Version1.String(), SenderUMA: "$" + to + "@" + ourDomain,
				Callback: "https://" + domain + "/api/uma/payreq/r",
			}
			body := umaRequestBody(t, key, inv)
			_, err := s.ReceiveUmaRequest(t.Context(), body)
			return body, err
		}
		// The first expires sooner than the rest.
		first, err := request(spammer.Signing, "vasp1.example", "alice", 0, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < vasp.MaxLiveUmaRequests; i++ {
			if _, err := request(spammer.Signing, "vasp1.example", "alice", i, now.Add(time.Hour)); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		kept := countRows(t, db, "uma_requests")
		events := countRows(t, db, "webhook_events")
		_, err = request(spammer.Signing, "vasp1.example", "alice", vasp.MaxLiveUmaRequests, now.Add(time.Hour))
		wantCode(t, err, uma.CodeForbidden)
		if n, m := countRows(t, db, "uma_requests"), countRows(t, db, "webhook_events"); n != kept || m != events {
			t.Fatalf("refused request changed rows: %d → %d requests, %d → %d events", kept, n, events, m)
		}
		// A repeat of a kept request is answered as before.
		if _, err := s.ReceiveUmaRequest(t.Context(), first); err != nil {
			t.Fatalf("repeat of a kept request: %v", err)
		}
		// Another VASP, and another of our users, are not held up.
		if _, err := request(other.Signing, "vasp3.example", "alice", 1000, now.Add(time.Hour)); err != nil {
			t.Fatalf("another VASP's request: %v", err)
		}
		if _, err := request(spammer.Signing, "vasp1.example", "bob", 1001, now.Add(time.Hour)); err != nil {
			t.Fatalf("a request to another user: %v", err)
		}
		// Once the first has expired, one more fits.
		w.clock.Advance(2 * time.Minute)
		if _, err := request(spammer.Signing, "vasp1.example", "alice", 1002, w.clock.Now().Add(time.Hour)); err != nil {
			t.Fatalf("a request after one expired: %v", err)
		}
		_, err = request(spammer.Signing, "vasp1.example", "alice", 1003, w.clock.Now().Add(time.Hour))
		wantCode(t, err, uma.CodeForbidden)
	})
}
