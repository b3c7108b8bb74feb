package delivery

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/webhook"
)

// TestSynchronousSend covers the approval flow's answers: the caller gets
// the status and body, the attempt is logged, nothing is retried.
func TestSynchronousSend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		if _, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{}); !errors.Is(err, ErrNoEndpoint) {
			t.Fatalf("no endpoint: %v", err)
		}
		rc := newReceiver(t)
		e, _, changed, err := s.ConfigurePrimary(ctx, rc.URL)
		if err != nil || !changed {
			t.Fatal(err)
		}
		// The primary endpoint got a TEST webhook queued when it was set.
		if n := step(t, s); n != 1 || !strings.Contains(string(rc.requests()[0].body), `"type":"TEST"`) {
			t.Fatalf("TEST on configuration: %d", n)
		}
		for _, c := range []struct {
			code      int
			body      string
			delivered bool
		}{
			{200, `{"receiverUserInfo":{"FULL_NAME":"A"}}`, true},
			{202, ``, true},
			{403, `{"code":"payment_rejected","message":"no"}`, false},
			{422, `{"requiredFields":["NATIONALITY"]}`, false},
		} {
			rc.set(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.code)
				_, _ = w.Write([]byte(c.body))
			})
			resp, err := s.Send(ctx, Event{Type: TypeIncomingPayment, Data: map[string]any{"transaction": map[string]any{"id": "Transaction:x"}}}, SendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// Nothing of the send holds a connection once it returned (a
			// query left unread keeps one until its context ends, which
			// Background never does). SQLite's checkpoint loop takes one
			// for a moment every 200 ms, so a connection in use is given
			// a second to come back: the checkpoint's does, a leak not.
			deadline := time.Now().Add(time.Second)
			for db.SQL().Stats().InUse != 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := db.SQL().Stats().InUse; n != 0 {
				t.Fatalf("%d database connections still in use a second after the send", n)
			}
			if resp.Status != c.code || string(resp.Body) != c.body || resp.Delivered() != c.delivered || resp.URL != e.URL {
				t.Fatalf("%d: got %d %q delivered=%v", c.code, resp.Status, resp.Body, resp.Delivered())
			}
			d := onlyDelivery(t, s, resp.WebhookID)
			want := StatusFailed
			if c.delivered {
				want = StatusDelivered
			}
			if d.Status != want || len(d.AttemptLog) != 1 || d.AttemptLog[0].StatusCode != c.code || d.AttemptLog[0].ResponseBody != c.body {
				t.Fatalf("%d: logged %+v", c.code, d)
			}
		}
		if n := step(t, s); n != 0 {
			t.Fatalf("synchronous sends were retried (%d)", n)
		}
		// A receiver slower than the deadline: no status, an error, logged.
		release := make(chan struct{})
		rc.set(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		start := time.Now()
		resp, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{Timeout: 150 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 0 || resp.Err == nil || resp.Delivered() || time.Since(start) > 3*time.Second {
			t.Fatalf("timeout: %+v after %s", resp, time.Since(start))
		}
		if d := onlyDelivery(t, s, resp.WebhookID); d.Status != StatusFailed || !strings.Contains(d.AttemptLog[0].Error, "timed out") {
			t.Fatalf("timeout logged as %+v", d)
		}
	})
}

func TestSendTestReportsFailureAs400(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	if _, err := s.SendTest(ctx, ""); vaspd.AsError(err).Code != vaspd.CodeWebhookEndpointNotSet {
		t.Fatalf("no endpoint: %v", err)
	}
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte("down"))
	})
	if _, _, _, err := s.ConfigurePrimary(ctx, rc.URL); err != nil {
		t.Fatal(err)
	}
	res, err := s.SendTest(ctx, "")
	e := vaspd.AsError(err)
	if e.Status != 400 || e.Code != vaspd.CodeWebhookDeliveryError || res.ResponseStatus != 500 || res.ResponseBody != "down" || e.Details["response_status"] != 500 {
		t.Fatalf("%+v %v", res, err)
	}
	rc.status(200)
	if res, err := s.SendTest(ctx, ""); err != nil || res.ResponseStatus != 200 || res.URL != rc.URL {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestSecretRotationGracePeriod: during the grace period both secrets sign
// (either verifies); after it only the new one does.
func TestSecretRotationGracePeriod(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, oldSecret := mustEndpoint(t, s, rc.URL)
		newSecret, e, err := s.RotateSecret(ctx, ep.ID, time.Hour)
		if err != nil || newSecret == oldSecret || !e.PreviousSecretUntil.Equal(t0.Add(time.Hour)) {
			t.Fatalf("rotate: %v %+v", err, e)
		}
		verifies := func(r received, secret string) bool {
			std, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			um, err := webhook.NewUMAaaSVerifier(secret)
			if err != nil {
				t.Fatal(err)
			}
			errStd, errUM := std.Verify(r.header, r.body), um.Verify(r.header, r.body)
			if (errStd == nil) != (errUM == nil) {
				t.Fatalf("schemes disagree: standard %v, X-UMAaas-Signature %v", errStd, errUM)
			}
			return errStd == nil
		}
		enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		r := rc.requests()[0]
		if !verifies(r, oldSecret) || !verifies(r, newSecret) {
			t.Fatal("during the grace period both secrets must verify")
		}
		clock.Advance(time.Hour + time.Second)
		enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		r = rc.requests()[1]
		if verifies(r, oldSecret) || !verifies(r, newSecret) {
			t.Fatal("after the grace period only the new secret may verify")
		}
		// Grace < 0: the old secret stops at once.
		third, _, err := s.RotateSecret(ctx, ep.ID, -1)
		if err != nil {
			t.Fatal(err)
		}
		enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		r = rc.requests()[2]
		if verifies(r, newSecret) || !verifies(r, third) {
			t.Fatal("rotation without grace")
		}
		if _, _, err := s.RotateSecret(ctx, ep.ID, 8*24*time.Hour); vaspd.AsError(err).Status != 400 {
			t.Fatalf("8-day grace accepted: %v", err)
		}
	})
}

// A rotation with a grace period during an earlier one's grace is refused:
// only one old secret is kept, and the earlier one was promised until its
// grace ends. Without grace (the caller ends every old secret) it goes.
func TestSecondRotationDuringGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		rc := newReceiver(t)
		ep, first := mustEndpoint(t, s, rc.URL)
		second, _, err := s.RotateSecret(ctx, ep.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Minute)
		for _, grace := range []time.Duration{0, time.Minute} { // 0: the default, 24 h
			if _, _, err := s.RotateSecret(ctx, ep.ID, grace); vaspd.AsError(err).Status != 409 ||
				!strings.Contains(err.Error(), "grace period") {
				t.Fatalf("rotation (grace %v) during the grace period: %v, want 409", grace, err)
			}
		}
		// Both secrets still sign, until the first rotation's grace ends.
		enqueue(t, s, Event{Type: TypeTest})
		step(t, s)
		for _, secret := range []string{first, second} {
			um, err := webhook.NewUMAaaSVerifier(secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := um.Verify(rc.requests()[0].header, rc.requests()[0].body); err != nil {
				t.Fatalf("a secret of the grace period no longer signs: %v", err)
			}
		}
		clock.Advance(30 * time.Minute) // the grace has ended
		_, e, err := s.RotateSecret(ctx, ep.ID, time.Hour)
		if err != nil || !e.PreviousSecretUntil.Equal(clock.Now().Add(time.Hour)) {
			t.Fatalf("rotation after the grace period: %v %+v", err, e)
		}
		if _, _, err := s.RotateSecret(ctx, ep.ID, -1); err != nil {
			t.Fatalf("rotation without grace during a grace period: %v", err)
		}
		if _, _, err := s.RotateSecret(ctx, vaspd.NewID(vaspd.IDEndpoint), time.Hour); vaspd.AsError(err).Status != 404 {
			t.Fatalf("unknown endpoint: %v", err)
		}
	})
}

func TestEd25519Signature(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	rc := newReceiver(t)
	mustEndpoint(t, s, rc.URL, func(in *EndpointInput) { in.SignEd25519 = ptr(true) })
	enqueue(t, s, Event{Type: TypeTest})
	step(t, s)
	pub, err := s.PublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := webhook.NewStandardVerifier(webhook.StandardConfig{PublicKeys: []string{pub}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	r := rc.requests()[0]
	if err := v.Verify(r.header, r.body); err != nil || !strings.Contains(r.header.Get("webhook-signature"), "v1a,") {
		t.Fatalf("v1a: %v (%s)", err, r.header.Get("webhook-signature"))
	}
}

// TestSSRFRefusals: non-public URLs are refused when configured, and a
// host that resolves to a non-public address is refused at dial time.
func TestSSRFRefusals(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	strict := newTestService(t, db, clock, func(o *Options) { o.AllowNets = nil })
	for _, u := range []string{
		"http://127.0.0.1/h", "http://[::1]/h", "http://10.0.0.1/h", "http://169.254.169.254/latest/meta-data",
		"http://100.64.1.1/h", "http://[fd00:ec2::254]/h", "http://localhost:8080/h", "http://0.0.0.0/h",
		"ftp://example.com/h", "http://user:pw@example.com/h", "/relative", "http://example.com/#frag",
		"http://[fe80::1%25eth0]/h", "http://[::1%25lo]:8080/h", "http://localhost./h", "http://LocalHost.:80/h", "http://api.localhost/h",
	} {
		if _, _, err := strict.CreateEndpoint(ctx, EndpointInput{URL: ptr(u)}); vaspd.AsError(err).Status != 400 {
			t.Errorf("%s: want 400, got %v", u, err)
		}
	}
	// A refusal of a private address names the setting that allows it.
	for _, u := range []string{"http://10.0.0.1/h", "http://localhost:8080/h"} {
		_, _, err := strict.CreateEndpoint(ctx, EndpointInput{URL: ptr(u)})
		if m := vaspd.AsError(err).Message; !strings.Contains(m, "webhook-allow-nets") {
			t.Errorf("%s: message %q does not name the webhook-allow-nets setting", u, m)
		}
	}
	// An endpoint created where loopback was allowed, delivered by a process
	// where it is not: refused at dial time, nothing reaches the receiver.
	rc := newReceiver(t)
	lax := newTestService(t, db, clock)
	mustEndpoint(t, lax, strings.Replace(rc.URL, "127.0.0.1", "localhost", 1))
	id := enqueue(t, strict, Event{Type: TypeTest})
	if n := step(t, strict); n != 1 {
		t.Fatalf("attempts %d", n)
	}
	d := onlyDelivery(t, strict, id)
	if len(rc.requests()) != 0 || d.Status != StatusPending || !strings.Contains(d.LastError, "SSRF") {
		t.Fatalf("dial-time refusal: %d requests, %+v", len(rc.requests()), d)
	}
	// Allow-listing the host name opens it.
	byName := newTestService(t, db, clock, func(o *Options) { o.AllowNets = []string{"localhost"} })
	clock.Advance(time.Hour)
	if n := step(t, byName); n != 1 || len(rc.requests()) != 1 {
		t.Fatalf("allow-listed host: %d attempts, %d requests", n, len(rc.requests()))
	}
	if _, err := New(db, Options{AllowNets: []string{"bad entry/"}}); err == nil {
		t.Fatal("bad allow-list entry accepted")
	}
}

// TestSendWaitsTheCallersTimeout: a synchronous send with a Timeout of its
// own (the approval webhook's, approval-timeout) waits that long for the
// answer, even beyond the endpoint's timeout: the caller says how long the
// answer is worth waiting for, and the operator who set approval-timeout to
// 30 s expects the platform to have 30 s, not the endpoint's default 10 s.
func TestSendWaitsTheCallersTimeout(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0), shortTimeouts)
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusAccepted)
	})
	e, _ := mustEndpoint(t, s, rc.URL, func(in *EndpointInput) { in.TimeoutMS = ptr(int64(100)) })
	resp, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{EndpointID: e.ID, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusAccepted {
		t.Fatalf("a send given 5 s to an endpoint of 100 ms answering in 300 ms: status %d, err %v; want the 202", resp.Status, resp.Err)
	}
}

// TestSendTimeoutIsDeadlineExceeded: a synchronous send cut short by its
// timeout (the endpoint's own here, the send giving none) reports an
// error that is a context.DeadlineExceeded, so the approval flow can tell a
// timeout from a broken receiver.
func TestSendTimeoutIsDeadlineExceeded(t *testing.T) {
	ctx := context.Background()
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
	e, _ := mustEndpoint(t, s, rc.URL, func(in *EndpointInput) { in.TimeoutMS = ptr(int64(100)) })
	resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: e.ID})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 0 || !errors.Is(resp.Err, context.DeadlineExceeded) || !strings.Contains(resp.Err.Error(), "timed out after 100ms") {
		t.Fatalf("timeout reported as %v", resp.Err)
	}
}

// TestSendToDisabledEndpoint: a disabled endpoint gets no synchronous send
// (the approval webhook, POST /webhooks/test): the caller gets a 409 that
// is ErrEndpointDisabled, nothing reaches the receiver, nothing is logged.
// Re-enabled, it is sent to again.
func TestSendToDisabledEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		rc := newReceiver(t)
		e, _, _, err := s.ConfigurePrimary(ctx, rc.URL)
		if err != nil {
			t.Fatal(err)
		}
		step(t, s) // the TEST queued by the configuration
		if _, err := s.UpdateEndpoint(ctx, e.ID, EndpointInput{Enabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		before := len(rc.requests())
		for _, id := range []string{"", e.ID} {
			_, err := s.Send(ctx, Event{Type: TypeIncomingPayment}, SendOptions{EndpointID: id})
			if !errors.Is(err, ErrEndpointDisabled) || vaspd.AsError(err).Status != 409 ||
				!strings.Contains(err.Error(), "disabled by an operator") {
				t.Fatalf("send to the disabled endpoint %q: %v", id, err)
			}
			if _, err := s.SendTest(ctx, id); vaspd.AsError(err).Status != 409 || vaspd.AsError(err).Code != vaspd.CodeConflict {
				t.Fatalf("test webhook to the disabled endpoint %q: %v", id, err)
			}
		}
		if n := len(rc.requests()); n != before {
			t.Fatalf("the disabled endpoint got %d synchronous sends", n-before)
		}
		// Only the configuration's TEST is in the log.
		if ds, err := s.ListDeliveries(ctx, DeliveryFilter{EndpointID: e.ID}, "", 10); err != nil || len(ds) != 1 {
			t.Fatalf("refused sends logged as deliveries: %d, %v", len(ds), err)
		}
		if _, err := s.UpdateEndpoint(ctx, e.ID, EndpointInput{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if res, err := s.SendTest(ctx, ""); err != nil || res.ResponseStatus != 200 || len(rc.requests()) != before+1 {
			t.Fatalf("re-enabled: %+v %v", res, err)
		}
	})
}

// TestSendGoneDisablesEndpoint: a 410 to a synchronous send disables the
// endpoint, as it does for a queued delivery (its queued deliveries then
// wait), unless the endpoint's URL changed while the send was in flight.
func TestSendGoneDisablesEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newTestService(t, db, vaspd.NewFakeClock(t0))
		old, moved := newReceiver(t), newReceiver(t)
		ep, _ := mustEndpoint(t, s, old.URL)

		// The URL changes while the send is in flight: the old URL's 410
		// disables nothing.
		old.set(func(w http.ResponseWriter, r *http.Request) {
			if _, err := s.UpdateEndpoint(context.Background(), ep.ID, EndpointInput{URL: &moved.URL}); err != nil {
				t.Error(err)
			}
			w.WriteHeader(http.StatusGone)
		})
		resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: ep.ID})
		if err != nil || resp.Status != 410 {
			t.Fatalf("send: %+v %v", resp, err)
		}
		if e, err := s.GetEndpoint(ctx, ep.ID); err != nil || !e.Enabled {
			t.Fatalf("endpoint after a 410 from its former URL: %+v, %v", e, err)
		}
		if d := onlyDelivery(t, s, resp.WebhookID); d.Status != StatusFailed || strings.Contains(d.LastError, "disabled") {
			t.Fatalf("delivery after a 410 from the former URL: %+v", d)
		}

		// The current URL answers 410: the endpoint is disabled, the
		// delivery says so, and queued deliveries wait.
		moved.status(http.StatusGone)
		res, err := s.SendTest(ctx, ep.ID)
		if vaspd.AsError(err).Code != vaspd.CodeWebhookDeliveryError || res.ResponseStatus != 410 {
			t.Fatalf("test webhook answered 410: %+v %v", res, err)
		}
		e, err := s.GetEndpoint(ctx, ep.ID)
		if err != nil || e.Enabled || e.DisabledReason != goneReason {
			t.Fatalf("endpoint after a 410: %+v, %v", e, err)
		}
		ds, err := s.ListDeliveries(ctx, DeliveryFilter{EndpointID: ep.ID, Status: StatusFailed}, "", 10)
		if err != nil || len(ds) != 2 || !strings.Contains(ds[0].LastError, "410 Gone: endpoint disabled") {
			t.Fatalf("deliveries: %+v, %v", ds, err)
		}
		moved.status(200)
		enqueue(t, s, Event{Type: TypeTest})
		if n := step(t, s); n != 0 || len(moved.requests()) != 1 {
			t.Fatalf("a disabled endpoint got %d queued attempts", n)
		}
	})
}

// TestGraceEndsForClaimedDeliveries: the old secret stops signing when its
// grace period ends, also for deliveries claimed before that and attempted
// after (queued behind an attempt in flight): which secrets sign is decided
// when the attempt is signed, not when its delivery was claimed.
func TestGraceEndsForClaimedDeliveries(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	clock := vaspd.NewFakeClock(t0)
	s := newTestService(t, db, clock)
	rc := newReceiver(t)
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var waited atomic.Bool
	rc.set(func(w http.ResponseWriter, r *http.Request) {
		if !waited.Swap(true) { // only the first attempt waits
			arrived <- struct{}{}
			<-release
		}
		w.WriteHeader(http.StatusOK)
	})
	ep, oldSecret := mustEndpoint(t, s, rc.URL)
	newSecret, _, err := s.RotateSecret(ctx, ep.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, Event{Type: TypeTest})
	enqueue(t, s, Event{Type: TypeTest})
	clock.Set(t0.Add(time.Hour - time.Second)) // one second of grace left
	w := newWorker(s)
	// A new endpoint's window is 1: both rows are claimed, one starts.
	if n, _, err := w.claim(ctx); err != nil || n != 2 {
		t.Fatalf("claim: %d %v", n, err)
	}
	<-arrived
	clock.Advance(2 * time.Second) // the grace period is over; the lease still covers the second attempt
	close(release)
	finish(t, w)
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	verifies := func(r received, secret string) bool {
		v, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return v.Verify(r.header, r.body) == nil
	}
	if !verifies(reqs[0], oldSecret) || !verifies(reqs[0], newSecret) {
		t.Fatal("inside the grace period both secrets must sign")
	}
	if !verifies(reqs[1], newSecret) {
		t.Fatal("the new secret must sign")
	}
	if verifies(reqs[1], oldSecret) {
		t.Fatalf("the old secret signed an attempt at %s, after its grace ended at %s",
			webhookTimestamp(t, reqs[1]), t0.Add(time.Hour))
	}
	if n := len(reqs[1].header.Values(webhook.HeaderUMAaaSSignature)); n != 1 ||
		strings.Contains(reqs[1].header.Get(webhook.HeaderUMAaaSSignature), " ") {
		t.Fatalf("X-UMAaas-Signature after the grace period: %q", reqs[1].header.Values(webhook.HeaderUMAaaSSignature))
	}
}

func webhookTimestamp(t *testing.T, r received) time.Time {
	t.Helper()
	sec, err := strconv.ParseInt(r.header.Get(webhook.HeaderWebhookTimestamp), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(sec, 0).UTC()
}

// TestSendCutByCallersDeadline: a synchronous send cut short by the
// caller's deadline (the approval flow's), shorter than the endpoint's
// timeout, is logged and reported as timing out after the time it had, not
// after the endpoint's 10 s it never got.
func TestSendCutByCallersDeadline(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	rc := newReceiver(t)
	rc.set(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	e, _ := mustEndpoint(t, s, rc.URL) // the default 10 s timeout
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: e.ID})
	if err != nil || !errors.Is(resp.Err, context.DeadlineExceeded) {
		t.Fatalf("send: %v %v", err, resp.Err)
	}
	d := onlyDelivery(t, s, resp.WebhookID)
	for _, msg := range []string{resp.Err.Error(), d.LastError, d.AttemptLog[0].Error} {
		after, ok := strings.CutPrefix(msg, "timed out after ")
		if !ok {
			t.Fatalf("%q is no timeout", msg)
		}
		if took, err := time.ParseDuration(after); err != nil || took <= 0 || took > 300*time.Millisecond {
			t.Fatalf("a send with a 300 ms deadline reported as %q", msg)
		}
	}
}

// TestEndpointURLPortAndHost: a URL whose port no connection can use (0,
// beyond 65535) or that names no host (":80", which the dialer takes for
// this machine) is refused when it is configured, not retried for days.
func TestEndpointURLPortAndHost(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	for _, u := range []string{
		"http://example.com:0/h", "http://example.com:65536/h", "https://example.com:99999999999/h",
		"http://:80/h", "http://[::1]:0/h",
	} {
		if _, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: ptr(u)}); vaspd.AsError(err).Status != 400 {
			t.Errorf("%s: want 400, got %v", u, err)
		}
	}
	for _, u := range []string{"http://example.com:1/h", "https://example.com:65535/h", "https://example.com:/h"} {
		if _, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: ptr(u)}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestNumericHostFormsRefused: a host that ends in a number is an IPv4
// address to URL parsers and to the system resolver (inet_aton reads
// "127.1", "2130706433", "0x7f.0.0.1" and "0177.0.0.1" as 127.0.0.1), but
// not to the literal-address check, which let these through to be refused
// only at dial time, attempt after attempt. They are refused when
// configured, allow-listed or not: only the dotted quad is a clear name.
func TestNumericHostFormsRefused(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	for _, u := range []string{
		"http://127.1/h", "http://2130706433/h", "http://0x7f.0.0.1/h", "http://0177.0.0.1/h", "http://0/h",
		"http://127.0.0.1./h", "http://169.254.169.254.:80/h", "http://example.0x10/h", "http://1.2.3.4.5/h",
	} {
		if _, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: ptr(u)}); vaspd.AsError(err).Status != 400 {
			t.Errorf("%s: want 400, got %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:9/h", "https://1password.example/h", "https://example.com./h", "https://x.0a/h"} {
		if _, _, err := s.CreateEndpoint(ctx, EndpointInput{URL: ptr(u)}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
