package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/webhook"
)

func TestEnqueueCommitsWithCallerTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		_, secret := mustEndpoint(t, s, rc.URL)

		// Rolled back: no event, nothing sent.
		boom := errors.New("payment failed")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := s.Enqueue(ctx, tx, Event{Type: TypeOutgoingPayment, Data: map[string]any{"transaction": map[string]any{"id": "Transaction:1"}}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if n := step(t, s); n != 0 {
			t.Fatalf("rolled-back event was attempted %d times", n)
		}

		// Committed: delivered once, body = data + envelope, signed.
		evTime := t0.Add(-time.Minute)
		id := enqueue(t, s, Event{Type: TypeOutgoingPayment, Time: evTime, Data: map[string]any{"transaction": map[string]any{"id": "Transaction:2"}}})
		if n := step(t, s); n != 1 {
			t.Fatalf("attempts = %d, want 1", n)
		}
		reqs := rc.requests()
		if len(reqs) != 1 {
			t.Fatalf("receiver got %d requests", len(reqs))
		}
		var body map[string]any
		if err := json.Unmarshal(reqs[0].body, &body); err != nil {
			t.Fatal(err)
		}
		if body["webhookId"] != id || body["type"] != TypeOutgoingPayment || body["timestamp"] != evTime.Format(time.RFC3339Nano) {
			t.Fatalf("envelope: %v", body)
		}
		if body["transaction"].(map[string]any)["id"] != "Transaction:2" {
			t.Fatalf("data: %v", body)
		}
		v, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(reqs[0].header, reqs[0].body); err != nil {
			t.Fatalf("signature: %v", err)
		}
		if reqs[0].header.Get("X-UMAaas-Signature") == "" || reqs[0].header.Get("webhook-id") != id {
			t.Fatalf("headers: %v", reqs[0].header)
		}
		d := onlyDelivery(t, s, id)
		if d.Status != StatusDelivered || d.Attempts != 1 || len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode != 200 {
			t.Fatalf("delivery: %+v", d)
		}
		if n := step(t, s); n != 0 {
			t.Fatalf("delivered webhook attempted again (%d)", n)
		}
	})
}

func TestTypedWebhookEnvelope(t *testing.T) {
	typed := &webhook.TestWebhook{}
	typed.Type = webhook.TypeTest
	ev := Event{Data: typed} // the type comes from the typed webhook
	body, err := ev.encode(t0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != TypeTest || !strings.Contains(string(body), `"webhookId":"`+ev.ID+`"`) || !strings.Contains(string(body), `"type":"TEST"`) {
		t.Fatalf("typed body %s (type %s)", body, ev.Type)
	}
	var nilTyped *webhook.TestWebhook
	if _, err := (&Event{Data: nilTyped}).encode(t0); err == nil {
		t.Fatal("nil typed webhook without a type was accepted")
	}
	if _, err := (&Event{Type: TypeTest, Data: []int{1}}).encode(t0); err == nil {
		t.Fatal("non-object data accepted")
	}
	if _, err := (&Event{Type: "bad type"}).encode(t0); err == nil {
		t.Fatal("bad type accepted")
	}
	if _, err := (&Event{Type: TypeTest, ID: "Webhook:nope"}).encode(t0); err == nil {
		t.Fatal("bad id accepted")
	}
}

func TestEventTypeFilter(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	all, only := newReceiver(t), newReceiver(t)
	mustEndpoint(t, s, all.URL)
	mustEndpoint(t, s, only.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
	enqueue(t, s, Event{Type: TypeOutgoingPayment})
	enqueue(t, s, Event{Type: TypeIncomingPayment})
	step(t, s)
	if len(all.requests()) != 2 || len(only.requests()) != 1 {
		t.Fatalf("all got %d, filtered got %d", len(all.requests()), len(only.requests()))
	}
}

// TestUnknownEventTypeRefused: with Options.EventTypes set (vaspd sets the
// types it sends), an endpoint filter naming another type is refused on
// create and update: a misspelt "INCOMING_PAYMNT" matched no event, so the
// endpoint silently received nothing.
func TestUnknownEventTypeRefused(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) {
		o.EventTypes = []string{TypeIncomingPayment, TypeOutgoingPayment, TypeTest}
	})
	_, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: ptr("https://example.com/h"), EventTypes: &[]string{TypeTest, "INCOMING_PAYMNT"}})
	if e := vaspd.AsError(err); e.Status != 400 || !strings.Contains(e.Message, "INCOMING_PAYMNT") || !strings.Contains(e.Message, TypeOutgoingPayment) {
		t.Fatalf("unknown type on create: %v", err)
	}
	ep, _ := mustEndpoint(t, s, "https://example.com/h", func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })
	if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{EventTypes: &[]string{"OUTGOING_PAYMENTS"}}); vaspd.AsError(err).Status != 400 {
		t.Fatalf("unknown type on update: %v", err)
	}
	// Without the option any well-formed type is taken (custom events).
	free := newTestService(t, db, vaspd.NewFakeClock(t0))
	mustEndpoint(t, free, "https://example.com/h", func(in *EndpointInput) { in.EventTypes = &[]string{"CUSTOM_EVENT"} })
}

// TestStatusRules covers how each answer moves a delivery on.
func TestStatusRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		cases := []struct {
			name       string
			answer     func(w http.ResponseWriter, r *http.Request)
			wantStatus string
			wantNext   time.Duration // pending: next attempt after t0
			disabled   bool
		}{
			{"200", status(200), StatusDelivered, 0, false},
			{"204", status(204), StatusDelivered, 0, false},
			{"202", status(202), StatusDelivered, 0, false},
			{"409 already processed", status(409), StatusDelivered, 0, false},
			{"500", status(500), StatusPending, 10 * time.Second, false},
			{"400", status(400), StatusPending, 10 * time.Second, false},
			{"404", status(404), StatusPending, 10 * time.Second, false},
			{"302 not followed", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			}, StatusPending, 10 * time.Second, false},
			{"429 Retry-After 120", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(429)
			}, StatusPending, 120 * time.Second, false},
			{"503 Retry-After beyond bound", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "999999")
				w.WriteHeader(503)
			}, StatusPending, time.Hour, false},
			{"503 Retry-After date", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", t0.Add(30*time.Minute).Format(http.TimeFormat))
				w.WriteHeader(503)
			}, StatusPending, 30 * time.Minute, false},
			{"500 Retry-After ignored", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "600")
				w.WriteHeader(500)
			}, StatusPending, 10 * time.Second, false},
			{"410 disables", status(410), StatusPending, 0, true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				clock := vaspd.NewFakeClock(t0)
				s := newTestService(t, db, clock)
				rc := newReceiver(t)
				rc.set(tc.answer)
				ep, _ := mustEndpoint(t, s, rc.URL)
				id := enqueue(t, s, Event{Type: TypeTest})
				if n := step(t, s); n != 1 {
					t.Fatalf("attempts = %d", n)
				}
				d := onlyDelivery(t, s, id)
				if d.Status != tc.wantStatus {
					t.Fatalf("status %s, want %s (%+v)", d.Status, tc.wantStatus, d)
				}
				if len(rc.requests()) != 1 {
					t.Fatalf("receiver saw %d requests (redirect followed?)", len(rc.requests()))
				}
				if tc.wantStatus == StatusPending && !tc.disabled {
					if got := d.NextAttemptAt.Sub(t0); got != tc.wantNext {
						t.Fatalf("next attempt after %s, want %s", got, tc.wantNext)
					}
					if d.LastError == "" || d.AttemptLog[0].StatusCode == 0 {
						t.Fatalf("attempt not logged: %+v", d)
					}
				}
				e, err := s.GetEndpoint(ctx, ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.Enabled == tc.disabled {
					t.Fatalf("endpoint enabled = %v", e.Enabled)
				}
				if !tc.disabled {
					_ = s.DeleteEndpoint(ctx, ep.ID) // keep the next case's claims to its own endpoint
					return
				}
				// 410: the delivery waits while the endpoint is disabled …
				clock.Advance(time.Hour)
				if n := step(t, s); n != 0 {
					t.Fatalf("disabled endpoint attempted %d times", n)
				}
				if e.DisabledReason == "" {
					t.Fatal("no disabled reason")
				}
				// … and resumes when it is re-enabled.
				rc.status(200)
				if _, err := s.UpdateEndpoint(ctx, ep.ID, EndpointInput{Enabled: ptr(true)}); err != nil {
					t.Fatal(err)
				}
				if n := step(t, s); n != 1 {
					t.Fatalf("re-enabled endpoint: %d attempts", n)
				}
				if d := onlyDelivery(t, s, id); d.Status != StatusDelivered || d.Attempts != 2 {
					t.Fatalf("after re-enabling: %+v", d)
				}
				_ = s.DeleteEndpoint(ctx, ep.ID)
			})
		}
	})
}

func status(code int) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

func TestAttemptTimeout(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0), shortTimeouts)
	rc := newReceiver(t)
	release := make(chan struct{})
	defer close(release)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mustEndpoint(t, s, rc.URL, func(in *EndpointInput) { in.TimeoutMS = ptr(int64(200)) })
	id := enqueue(t, s, Event{Type: TypeTest})
	start := time.Now()
	step(t, s)
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("attempt took %s with a 200 ms timeout", el)
	}
	d := onlyDelivery(t, s, id)
	if d.Status != StatusPending || !strings.Contains(d.LastError, "timed out") || d.AttemptLog[0].StatusCode != 0 {
		t.Fatalf("%+v", d)
	}
}

func TestResponseBodyLoggedUpTo8KiB(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(strings.Repeat("x", 100<<10)))
	})
	mustEndpoint(t, s, rc.URL)
	id := enqueue(t, s, Event{Type: TypeTest})
	step(t, s)
	d := onlyDelivery(t, s, id)
	if len(d.AttemptLog[0].ResponseBody) != MaxLoggedBody {
		t.Fatalf("logged %d bytes", len(d.AttemptLog[0].ResponseBody))
	}
}

// TestEnqueueManyAndEndpointCache covers the batch enqueue and the
// per-transaction endpoint match cache: an endpoint created inside the same
// transaction gets the events enqueued after it.
func TestEnqueueManyAndEndpointCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		all, only, late := newReceiver(t), newReceiver(t), newReceiver(t)
		mustEndpoint(t, s, all.URL)
		mustEndpoint(t, s, only.URL, func(in *EndpointInput) { in.EventTypes = &[]string{TypeIncomingPayment} })

		// Rolled back: nothing is sent.
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := s.EnqueueMany(ctx, tx, []Event{{Type: TypeOutgoingPayment}, {Type: TypeIncomingPayment}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if n := step(t, s); n != 0 {
			t.Fatalf("rolled-back events attempted %d times", n)
		}

		var ids []string
		err = db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			evs := []Event{{Type: TypeOutgoingPayment}, {Type: TypeIncomingPayment}, {Type: TypeOutgoingPayment, Data: map[string]any{"n": 3}}}
			if ids, err = s.EnqueueMany(ctx, tx, evs); err != nil {
				return err
			}
			if evs[0].ID != "" {
				t.Error("EnqueueMany changed the caller's events")
			}
			if _, err := s.Enqueue(ctx, tx, Event{Type: TypeIncomingPayment}); err != nil {
				return err
			}
			url := late.URL
			if _, _, err := s.createEndpoint(ctx, tx, EndpointInput{URL: &url}, false); err != nil {
				return err
			}
			_, err = s.Enqueue(ctx, tx, Event{Type: TypeIncomingPayment})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 3 || ids[0] == ids[2] {
			t.Fatalf("ids %v", ids)
		}
		for step(t, s) > 0 {
		}
		if len(all.requests()) != 5 || len(only.requests()) != 3 || len(late.requests()) != 1 {
			t.Fatalf("all got %d (want 5), filtered %d (want 3), created in the transaction %d (want 1)",
				len(all.requests()), len(only.requests()), len(late.requests()))
		}
		if d := onlyDelivery(t, s, ids[2]); d.Status != StatusDelivered || !strings.Contains(string(d.Payload), `"n":3`) {
			t.Fatalf("delivery %+v", d)
		}
	})
}

// TestEnqueueWritesAtCommit covers the buffered enqueue: a transaction's
// events are written when it commits, in statements of bounded size, and a
// write that fails there (a duplicate webhookId) fails the whole
// transaction, the caller's own rows included.
func TestEnqueueWritesAtCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		// Three endpoints: a chunk of eventsPerStatement events then has
		// more deliveries than one statement takes (deliveriesPerStatement),
		// and the last, smaller chunk fewer, so on PostgreSQL both the
		// separate statements and the one with the events in a WITH run.
		for range 3 {
			mustEndpoint(t, s, newReceiver(t).URL)
		}
		count := func(q string, args ...any) int {
			var n int
			if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}

		const n = eventsPerStatement*2 + 50
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := range n {
				if _, err := s.Enqueue(ctx, tx, Event{Type: TypeOutgoingPayment, Data: map[string]any{"i": i}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := count(`SELECT COUNT(*) FROM webhook_events`); got != n {
			t.Fatalf("%d events, want %d", got, n)
		}
		if got := count(`SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'`); got != 3*n {
			t.Fatalf("%d deliveries, want %d", got, 3*n)
		}
		if got := count(`SELECT COUNT(DISTINCT event_id) FROM webhook_deliveries`); got != n {
			t.Fatalf("deliveries of %d events, want %d", got, n)
		}

		// A webhookId already used: the error comes from the commit, and
		// the transaction's other writes roll back with it.
		dup := vaspd.NewID(vaspd.IDWebhook)
		enqueue(t, s, Event{ID: dup, Type: TypeTest})
		err = db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('enqueue-dup', '', 0)`); err != nil {
				return err
			}
			if _, err := s.Enqueue(ctx, tx, Event{Type: TypeTest}); err != nil {
				return err
			}
			_, err := s.Enqueue(ctx, tx, Event{ID: dup, Type: TypeTest})
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "insert events") {
			t.Fatalf("InTx = %v, want the events insert's error", err)
		}
		if got := count(`SELECT COUNT(*) FROM settings WHERE name = 'enqueue-dup'`); got != 0 {
			t.Fatal("the caller's row committed although its webhooks failed")
		}
		if got := count(`SELECT COUNT(*) FROM webhook_events`); got != n+1 {
			t.Fatalf("%d events, want %d", got, n+1)
		}
	})
}

// TestEncodeMapFastPath: a map payload takes the one-pass encoding, and
// its bytes are exactly those of the general path (marshal, merge the
// envelope, marshal), special characters and nesting included.
func TestEncodeMapFastPath(t *testing.T) {
	data := map[string]any{
		"transaction": map[string]any{"id": "Transaction:1", "note": "<b>&amp;</b> \u2028 é", "amounts": []any{1, 2.5, nil}},
		"type":        "overridden by the envelope",
		"zeta":        true,
	}
	at := t0.Add(123456 * time.Microsecond)
	fast := Event{Type: TypeOutgoingPayment, ID: vaspd.NewID(vaspd.IDWebhook), Time: at, Data: data}
	got, err := fast.encode(t0)
	if err != nil {
		t.Fatal(err)
	}
	// The general path, through a type that is not a map[string]any.
	type wrapped map[string]any
	slow := Event{Type: fast.Type, ID: fast.ID, Time: at, Data: wrapped(data)}
	want, err := slow.encode(t0)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("map fast path:\n%s\ngeneral path:\n%s", got, want)
	}
	if !strings.Contains(string(got), `"type":"OUTGOING_PAYMENT"`) {
		t.Fatalf("envelope not applied: %s", got)
	}
	var nilMap map[string]any
	e := Event{Type: TypeTest, ID: fast.ID, Time: at, Data: nilMap}
	b, err := e.encode(t0)
	var keys map[string]any
	if err != nil || json.Unmarshal(b, &keys) != nil || len(keys) != 3 {
		t.Fatalf("nil map: %s %v, want the envelope alone", b, err)
	}
}
