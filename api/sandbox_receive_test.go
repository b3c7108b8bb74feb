package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/specschema"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// platformHooks is the platform's webhook receiver: it answers an
// incoming payment's approval (INCOMING_PAYMENT, PENDING) with approval,
// everything else 200, and keeps what it got.
type platformHooks struct {
	approval atomic.Int64
	mu       sync.Mutex
	events   []map[string]any
}

// incoming are the INCOMING_PAYMENT statuses it got for transaction id.
func (p *platformHooks) incoming(id string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.events {
		tx, _ := e["transaction"].(map[string]any)
		if e["type"] == "INCOMING_PAYMENT" && tx["id"] == id {
			out = append(out, tx["status"].(string))
		}
	}
	return out
}

// newSandboxFixture is a pay fixture whose webhooks go to a platform
// receiver on loopback; opt, if not nil, changes the service's options.
func newSandboxFixture(t *testing.T, db *store.DB, opt func(*vasp.Options)) (*payFixture, *platformHooks) {
	t.Helper()
	p := &platformHooks{}
	p.approval.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var e map[string]any
		_ = json.Unmarshal(b, &e)
		p.mu.Lock()
		p.events = append(p.events, e)
		p.mu.Unlock()
		if tx, _ := e["transaction"].(map[string]any); e["type"] == "INCOMING_PAYMENT" && tx["status"] == "PENDING" {
			w.WriteHeader(int(p.approval.Load()))
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(srv.Close)
	hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = hooks.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The primary endpoint (PATCH /config's webhookEndpoint) is the one
	// asked to approve.
	if err := db.InTx(ctx, func(tx *store.Tx) error {
		_, _, _, err := hooks.SetPrimaryURL(ctx, tx, srv.URL)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f := newPayFixtureWith(t, db, func(o *vasp.Options) {
		o.Webhooks = hooks
		if opt != nil {
			opt(o)
		}
	}, nil)
	return f, p
}

// TestSandboxReceive: on the embedded node, POST /sandbox/receive has the
// sandbox sender pay one of our users through the real receiving flow: the
// platform is asked to approve (INCOMING_PAYMENT, PENDING), the invoice is
// paid on the node and credited once by the settlement path, with its
// COMPLETED webhook; refused by the platform, nothing is credited.
func TestSandboxReceive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f, hooks := newSandboxFixture(t, db, nil)
		ctx := context.Background()
		bob := func() int64 {
			b, err := f.ledger.Balance(ctx, db, ledger.UserAccount(f.bob.UserID), "EUR")
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		nodeBefore, err := f.node.Balance(ctx)
		if err != nil {
			t.Fatal(err)
		}
		body := func(sender, receiver, currency string, amount int64) string {
			return mustJSON(t, map[string]any{"senderUmaAddress": sender, "receiverUmaAddress": receiver,
				"receivingCurrencyCode": currency, "receivingCurrencyAmount": amount})
		}
		sender := "$success.eur@" + vasp.SandboxDomain

		t.Run("paid and credited once", func(t *testing.T) {
			st, raw, m := f.call(t, "POST", "/sandbox/receive", &f.admin, body(sender, "$bob@"+f.domain, "EUR", 250))
			if st != 200 || m["type"] != "INCOMING" || (m["status"] != "PENDING" && m["status"] != "COMPLETED") {
				t.Fatalf("sandbox receive: %d %s", st, raw)
			}
			id := m["id"].(string)
			if spec := specschema.IfShared(t); spec != nil {
				if r := spec.CheckResponse("POST", "/sandbox/receive", 200, raw); !r.OK() {
					t.Errorf("answer breaks the UMAaaS schema:\n%s\n%s", r, raw)
				}
			}
			if m["senderUmaAddress"] != sender {
				t.Errorf("senderUmaAddress %v, want %s", m["senderUmaAddress"], sender)
			}
			waitFor(t, func() bool {
				_, _, tx := f.call(t, "GET", "/transactions/"+id, &f.admin, "")
				return tx["status"] == "COMPLETED"
			})
			waitFor(t, func() bool {
				got := hooks.incoming(id)
				return len(got) == 2 && got[0] == "PENDING" && got[1] == "COMPLETED"
			})
			time.Sleep(100 * time.Millisecond) // a second credit would have come by now
			if got := bob(); got != 250 {
				t.Fatalf("bob has %d EUR cents, want 250", got)
			}
			// The node got the invoice's msats, and nothing else moved.
			_, _, tx := f.call(t, "GET", "/transactions/"+id, &f.admin, "")
			if nodeNow, err := f.node.Balance(ctx); err != nil || nodeNow <= nodeBefore {
				t.Fatalf("node balance %d (was %d): %v; transaction %v", nodeNow, nodeBefore, err, tx)
			}
			// The node's record of the payment agrees with ours.
			rec, err := f.svc.Reconcile(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 100)
			if err != nil || !rec.Complete || len(rec.Mismatches) != 0 || rec.Checked["INCOMING_COMPLETED"] != 1 {
				t.Fatalf("reconciliation: %+v %v", rec, err)
			}
		})

		t.Run("refused by the platform", func(t *testing.T) {
			hooks.approval.Store(403)
			defer hooks.approval.Store(200)
			before := bob()
			st, raw, m := f.call(t, "POST", "/sandbox/receive", &f.admin,
				mustJSON(t, map[string]any{"senderUmaAddress": sender, "userId": f.bob.UserID,
					"receivingCurrencyCode": "EUR", "receivingCurrencyAmount": 100}))
			if st != 200 || m["status"] != "REJECTED" {
				t.Fatalf("refused sandbox receive: %d %s", st, raw)
			}
			time.Sleep(100 * time.Millisecond)
			if got := bob(); got != before {
				t.Fatalf("a refused payment credited bob: %d, was %d", got, before)
			}
		})

		t.Run("refusals", func(t *testing.T) {
			before := bob()
			for _, c := range []struct {
				body   string
				status int
				code   string
			}{
				{body("$success.eur@other.example", "$bob@"+f.domain, "EUR", 100), 400, vaspd.CodeInvalidUMAAddress},
				{body("$fail.compliance.eur@"+vasp.SandboxDomain, "$bob@"+f.domain, "EUR", 100), 400, vaspd.CodeInvalidUMAAddress},
				{body("bob", "$bob@"+f.domain, "EUR", 100), 400, vaspd.CodeInvalidUMAAddress},
				{body(sender, "$nobody@"+f.domain, "EUR", 100), 404, vaspd.CodeUserNotFound},
				{body(sender, "$bob@other.example", "EUR", 100), 400, vaspd.CodeInvalidReceiver},
				{mustJSON(t, map[string]any{"senderUmaAddress": sender, "userId": vaspd.NewID(vaspd.IDUser),
					"receivingCurrencyCode": "EUR", "receivingCurrencyAmount": 100}), 404, vaspd.CodeUserNotFound},
				{mustJSON(t, map[string]any{"senderUmaAddress": sender, "receivingCurrencyCode": "EUR", "receivingCurrencyAmount": 100}), 400, vaspd.CodeInvalidInput},
				{body(sender, "$bob@"+f.domain, "USD", 100), 400, vaspd.CodeInvalidCurrency},
				{body(sender, "$bob@"+f.domain, "EUR", 0), 400, vaspd.CodeInvalidAmount},
			} {
				st, raw, _ := f.call(t, "POST", "/sandbox/receive", &f.admin, c.body)
				wantAPIError(t, st, raw, c.status, c.code)
			}
			st, raw, _ := f.call(t, "POST", "/sandbox/receive", &f.viewer, body(sender, "$bob@"+f.domain, "EUR", 100))
			wantAPIError(t, st, raw, 403, vaspd.CodeForbidden)
			if got := bob(); got != before {
				t.Fatalf("refusals credited bob: %d, was %d", got, before)
			}
		})
	})
}

// TestSandboxCounterpartyPolicy: the sandbox sender passes an allow list
// that does not name it (it is the node's own test money, not a
// counterparty), but a deny list naming it switches the receive off.
func TestSandboxCounterpartyPolicy(t *testing.T) {
	db := storetest.SQLite(t)
	body := func(f *payFixture) string {
		return mustJSON(t, map[string]any{"senderUmaAddress": "$success@" + vasp.SandboxDomain, "userId": f.bob.UserID,
			"receivingCurrencyCode": "EUR", "receivingCurrencyAmount": 100})
	}
	allow, _ := newSandboxFixture(t, db, func(o *vasp.Options) { o.Compliance = vasp.DomainPolicy{Allow: []string{"vasp.example"}} })
	if st, raw, m := allow.call(t, "POST", "/sandbox/receive", &allow.admin, body(allow)); st != 200 || m["status"] == "REJECTED" {
		t.Fatalf("with an allow list: %d %s", st, raw)
	}
	deny, _ := newSandboxFixture(t, storetest.SQLite(t), func(o *vasp.Options) {
		o.Compliance = vasp.DomainPolicy{Deny: []string{strings.ToUpper(vasp.SandboxDomain)}}
	})
	st, raw, _ := deny.call(t, "POST", "/sandbox/receive", &deny.admin, body(deny))
	wantAPIError(t, st, raw, 403, vaspd.CodeCounterpartyNotAllowed)
}

// plainNode is a Lightning node that is not the embedded one: it hides
// every method but lightning.Node's, as lnd has none of the sandbox's.
type plainNode struct{ lightning.Node }

// TestSandboxOnlyOnEmbeddedNode: on any node but the embedded one, where
// money may be real, both sandbox calls answer 403 FORBIDDEN saying
// where the sandbox exists, and move nothing.
func TestSandboxOnlyOnEmbeddedNode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixtureWith(t, db, func(o *vasp.Options) { o.Node = plainNode{o.Node} }, nil)
		q := f.quote(t, 100)
		for path, body := range map[string]string{
			"/sandbox/send": sandboxSendBody(q, "USD", 100),
			"/sandbox/receive": mustJSON(t, map[string]any{"senderUmaAddress": "$success.eur@" + vasp.SandboxDomain,
				"userId": f.bob.UserID, "receivingCurrencyCode": "EUR", "receivingCurrencyAmount": 100}),
		} {
			st, raw, m := f.call(t, "POST", path, &f.admin, body)
			wantAPIError(t, st, raw, 403, vaspd.CodeForbidden)
			if msg, _ := m["message"].(string); !strings.Contains(msg, "embedded devnet node") {
				t.Errorf("%s: message %q does not say where the sandbox exists", path, msg)
			}
		}
		// Refused before the body is read: whatever it holds, a client
		// learns that there is no sandbox here, not how to fix a request
		// that can never succeed.
		for _, path := range []string{"/sandbox/send", "/sandbox/receive"} {
			for _, body := range []string{"", "{}", "not json", `{"currencyAmount":0,"receivingCurrencyAmount":-1}`} {
				st, raw, _ := f.call(t, "POST", path, &f.admin, body)
				wantAPIError(t, st, raw, 403, vaspd.CodeForbidden)
			}
		}
		if n := f.outgoingPayments(t, q); n != 0 {
			t.Fatalf("%d payments", n)
		}
	})
}
