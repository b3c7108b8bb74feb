package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// callGate holds, once armed, the next call that passes it until released.
type callGate struct {
	mu      sync.Mutex
	armed   bool
	held    chan struct{} // closed when a call is held
	release chan struct{}
}

func newCallGate() callGate {
	return callGate{held: make(chan struct{}), release: make(chan struct{})}
}

func (g *callGate) arm() {
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
}

func (g *callGate) pass() {
	g.mu.Lock()
	hold := g.armed
	g.armed = false
	g.mu.Unlock()
	if hold {
		close(g.held)
		<-g.release
	}
}

// gatedCompliance allows everyone, as vasp.DomainPolicy{} does, but once
// armed holds the next CounterpartyAllowed until released.
type gatedCompliance struct {
	vasp.DomainPolicy
	callGate
}

func (g *gatedCompliance) CounterpartyAllowed(ctx context.Context, domain string) error {
	g.pass()
	return g.DomainPolicy.CounterpartyAllowed(ctx, domain)
}

// TestTransactionListNewestFirstByCreatedAt: GET /transactions lists
// newest first by id, and an outgoing payment's createdAt was the time its
// execute began, before the compliance hook was asked about the receiver
// and the sender read, while its id (which orders the list) was made after
// them. An execute held there by a slow hook was listed as the newest with
// a createdAt older than payments made meanwhile: a platform that reads
// newest first down to the createdAt it synced last stopped at it and
// never saw those payments (and one that reads a startDate window missed
// it). A transaction's createdAt is the moment its id is made, so the
// list's order is its createdAt's.
func TestTransactionListNewestFirstByCreatedAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		gate := &gatedCompliance{callGate: newCallGate()}
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { o.Compliance = gate }, nil)
		first, second := f.quote(t, 500), f.quote(t, 700)
		gate.arm()
		done := make(chan int)
		go func() {
			st, _, _ := f.call(t, "POST", "/quotes/"+url.PathEscape(first)+"/execute", &f.admin, "")
			done <- st
		}()
		<-gate.held
		time.Sleep(5 * time.Millisecond) // the held execute is older by more than the clock's grain
		if st, raw, _ := f.call(t, "POST", "/quotes/"+url.PathEscape(second)+"/execute", &f.admin, ""); st != http.StatusOK {
			t.Fatalf("execute the second: %d %s", st, raw)
		}
		close(gate.release)
		if st := <-done; st != http.StatusOK {
			t.Fatalf("execute the first: %d", st)
		}
		for _, order := range []string{"desc", "asc"} {
			status, raw, _ := f.call(t, "GET", "/transactions?type=OUTGOING&sortOrder="+order, &f.viewer, "")
			var page struct {
				Data []struct {
					ID        string
					CreatedAt time.Time
				}
			}
			if err := json.Unmarshal(raw, &page); status != http.StatusOK || err != nil || len(page.Data) != 2 {
				t.Fatalf("list %s: %d %s", order, status, raw)
			}
			a, b := page.Data[0], page.Data[1]
			if (order == "desc" && a.CreatedAt.Before(b.CreatedAt)) || (order == "asc" && b.CreatedAt.Before(a.CreatedAt)) {
				t.Errorf("sortOrder=%s lists %s (createdAt %s) before %s (createdAt %s)", order,
					a.ID, a.CreatedAt.Format(time.RFC3339Nano), b.ID, b.CreatedAt.Format(time.RFC3339Nano))
			}
		}
	})
}

// gatedDirectory is a vasp.Directory that, once armed, holds the next ByID
// until released.
type gatedDirectory struct {
	vasp.Directory
	callGate
}

func (g *gatedDirectory) ByID(ctx context.Context, id string) (vasp.Recipient, error) {
	g.pass()
	return g.Directory.ByID(ctx, id)
}

// TestPaymentRequestListNewestFirstByCreatedAt: a payment request's
// createdAt was taken before its user was read and its id (which orders
// GET /payment-requests) made after: one whose read was slow listed as the
// newest while dated older than one made meanwhile, as outgoing
// transactions did (TestTransactionListNewestFirstByCreatedAt).
func TestPaymentRequestListNewestFirstByCreatedAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		gate := &gatedDirectory{callGate: newCallGate()}
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { gate.Directory = o.Users; o.Users = gate }, nil)
		body := `{"userId":"` + f.bob.UserID + `","amount":1000,"currency":"EUR"}`
		gate.arm()
		done := make(chan int)
		go func() {
			st, _, _ := f.call(t, "POST", "/payment-requests", &f.admin, body)
			done <- st
		}()
		<-gate.held
		time.Sleep(5 * time.Millisecond) // the held request is older by more than the clock's grain
		if st, raw, _ := f.call(t, "POST", "/payment-requests", &f.admin, body); st != http.StatusCreated {
			t.Fatalf("create the second: %d %s", st, raw)
		}
		close(gate.release)
		if st := <-done; st != http.StatusCreated {
			t.Fatalf("create the first: %d", st)
		}
		status, raw, _ := f.call(t, "GET", "/payment-requests?userId="+f.bob.UserID, &f.viewer, "")
		var page struct {
			Data []struct {
				ID        string
				CreatedAt time.Time
			}
		}
		if err := json.Unmarshal(raw, &page); status != http.StatusOK || err != nil || len(page.Data) != 2 {
			t.Fatalf("list: %d %s", status, raw)
		}
		if a, b := page.Data[0], page.Data[1]; a.CreatedAt.Before(b.CreatedAt) {
			t.Errorf("lists %s (createdAt %s) before %s (createdAt %s)", a.ID, a.CreatedAt.Format(time.RFC3339Nano),
				b.ID, b.CreatedAt.Format(time.RFC3339Nano))
		}
	})
}
