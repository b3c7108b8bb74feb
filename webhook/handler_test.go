package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store/storetest"
)

// receiver is a Handler under test, verifying the published vector keys
// with a clock 90 s after the vectors' attempt time, and counting the events
// its platform handler sees.
type receiver struct {
	h     *Handler
	calls atomic.Int32
	reply func(ev Event) (Reply, error)
}

func newReceiver(t *testing.T, st Store, reply func(ev Event) (Reply, error)) *receiver {
	t.Helper()
	now := func() time.Time { return vecAttempt.Add(90 * time.Second) }
	v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, PublicKeys: []string{vecPublicKey}, Now: now})
	r := &receiver{reply: reply}
	h, err := NewHandler(HandlerConfig{
		Verifier:     v,
		Store:        st,
		MaxBodyBytes: 4096,
		Logger:       slog.New(slog.DiscardHandler),
		Handler: EventHandlerFunc(func(ctx context.Context, ev Event) (Reply, error) {
			r.calls.Add(1)
			return r.reply(ev)
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	return r
}

// signed builds a POST of body signed like vaspd signs the published vectors.
func signed(t *testing.T, id, body string) *http.Request {
	t.Helper()
	h, err := Sign(Keys{Secrets: []string{vecSecret}}, id, vecAttempt, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	req.Header = h
	req.Header.Set("Content-Type", "application/json")
	return req
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r *receiver) serve(t *testing.T, req *http.Request) response {
	t.Helper()
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	res := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &res.body); err != nil {
			t.Fatalf("response body %q is not JSON: %v", w.Body.String(), err)
		}
	}
	return res
}

func (res response) expect(t *testing.T, status int, code string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status %d (%s), want %d", res.status, res.raw, status)
	}
	if code != "" && res.body["code"] != code {
		t.Fatalf("code %v (%s), want %s", res.body["code"], res.raw, code)
	}
}

func approveAll(Event) (Reply, error) { return OK(), nil }

func TestHandlerRejectsBadSignatures(t *testing.T) {
	r := newReceiver(t, nil, approveAll)
	tamper := func(f func(req *http.Request)) *http.Request {
		req := signed(t, vecTestID, vecTestBody)
		f(req)
		return req
	}
	for _, c := range []struct {
		name string
		req  *http.Request
	}{
		{"no signature headers", httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(vecTestBody))},
		{"tampered body", tamper(func(req *http.Request) {
			req.Body = io.NopCloser(strings.NewReader(strings.Replace(vecTestBody, "TEST", "TESX", 1)))
		})},
		{"re-encoded body", tamper(func(req *http.Request) {
			req.Body = io.NopCloser(strings.NewReader(strings.ReplaceAll(vecTestBody, ",", ", ")))
		})},
		{"other secret", tamper(func(req *http.Request) {
			h, _ := Sign(Keys{Secrets: []string{vecOldSecret}}, vecTestID, vecAttempt, []byte(vecTestBody))
			req.Header.Set(HeaderWebhookSignature, h.Get(HeaderWebhookSignature))
		})},
		{"timestamp moved", tamper(func(req *http.Request) { req.Header.Set(HeaderWebhookTimestamp, "1795330806") })},
		{"id moved", tamper(func(req *http.Request) {
			req.Header.Set(HeaderWebhookID, "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a02")
		})},
		{"only X-UMAaas-Signature", tamper(func(req *http.Request) { req.Header.Del(HeaderWebhookSignature) })},
		{"too old", func() *http.Request {
			h, _ := Sign(Keys{Secrets: []string{vecSecret}}, vecTestID, vecAttempt.Add(-5*time.Minute), []byte(vecTestBody))
			return tamper(func(req *http.Request) { req.Header = h })
		}()},
		{"too new", func() *http.Request {
			h, _ := Sign(Keys{Secrets: []string{vecSecret}}, vecTestID, vecAttempt.Add(7*time.Minute), []byte(vecTestBody))
			return tamper(func(req *http.Request) { req.Header = h })
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			r.serve(t, c.req).expect(t, http.StatusUnauthorized, CodeInvalidSignature)
		})
	}
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the platform handler ran %d times for unauthenticated requests", n)
	}
	// A 401 claims nothing: the genuine request still goes through.
	r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
}

func TestHandlerRequestChecks(t *testing.T) {
	r := newReceiver(t, nil, approveAll)

	get := httptest.NewRequest(http.MethodGet, "/webhooks", nil)
	res := r.serve(t, get)
	res.expect(t, http.StatusMethodNotAllowed, CodeInvalidInput)
	if res.header.Get("Allow") != http.MethodPost {
		t.Errorf("Allow = %q", res.header.Get("Allow"))
	}

	big := `{"pad":"` + strings.Repeat("x", 5000) + `","timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:big","type":"TEST"}`
	var logs bytes.Buffer
	r.h.log = slog.New(slog.NewTextHandler(&logs, nil))
	r.serve(t, signed(t, "Webhook:big", big)).expect(t, http.StatusRequestEntityTooLarge, CodeInvalidInput)
	// A refusal for what was sent is logged, as Logger says.
	if !strings.Contains(logs.String(), "webhook rejected: body too large") {
		t.Errorf("413 not logged: %q", logs.String())
	}
	r.h.log = slog.New(slog.DiscardHandler)

	// Signed, but the body's webhookId is not the signed webhook-id: a
	// replay of one id under another must not slip past de-duplication.
	r.serve(t, signed(t, "Webhook:other", vecTestBody)).expect(t, http.StatusBadRequest, CodeInvalidInput)
	// Signed, but not a webhook.
	r.serve(t, signed(t, "Webhook:x", `{"type":"TEST"}`)).expect(t, http.StatusBadRequest, CodeInvalidInput)
	r.serve(t, signed(t, "Webhook:x", `[]`)).expect(t, http.StatusBadRequest, CodeInvalidInput)
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the platform handler ran %d times", n)
	}
}

func TestHandlerReplies(t *testing.T) {
	for _, c := range []struct {
		name   string
		reply  Reply
		status int
		body   string // JSON; empty means no body
	}{
		{"approve", Approve(map[string]any{"NATIONALITY": "US"}), 200, `{"receiverUserInfo":{"NATIONALITY":"US"}}`},
		{"approve without info", Approve(nil), 200, `{}`},
		{"async", Async(), 202, ""},
		{"reject", Reject("RESTRICTED_JURISDICTION"), 403, `{"code":"REJECTED_BY_PLATFORM","message":"payment rejected by the platform","reason":"RESTRICTED_JURISDICTION"}`},
		{"need more info", NeedMoreInfo(FieldTaxID, FieldPostalAddress), 422, `{"code":"ADDITIONAL_INFO_REQUIRED","message":"more counterparty information is required","requiredFields":["TAX_ID","POSTAL_ADDRESS"]}`},
		{"need more info, none named", NeedMoreInfo(), 422, `{"code":"ADDITIONAL_INFO_REQUIRED","message":"more counterparty information is required","requiredFields":[]}`},
		{"ok", OK(), 200, ""},
		{"zero reply", Reply{}, 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got *IncomingPaymentWebhook
			r := newReceiver(t, nil, func(ev Event) (Reply, error) {
				got, _ = ev.(*IncomingPaymentWebhook)
				return c.reply, nil
			})
			w := httptest.NewRecorder()
			r.h.ServeHTTP(w, signed(t, vecIncomingID, vecIncomingBody))
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if strings.TrimSpace(w.Body.String()) != c.body {
				t.Fatalf("body %s\nwant %s", w.Body.String(), c.body)
			}
			if c.body != "" && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q", w.Header().Get("Content-Type"))
			}
			// The platform saw the typed event of the published vector.
			if got == nil {
				t.Fatal("the handler did not get an *IncomingPaymentWebhook")
			}
			if got.Transaction.Status != StatusPending || got.Transaction.ReceivedAmount.Amount != 50000 ||
				len(got.RequestedReceiverUserInfoFields) != 1 || got.RequestedReceiverUserInfoFields[0].Name != FieldNationality {
				t.Fatalf("decoded event %+v", got)
			}
			// Every non-5xx reply marks the id processed: the retry is a 409
			// and does not reach the platform again.
			r.serve(t, signed(t, vecIncomingID, vecIncomingBody)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
		})
	}
}

// UMA_REQUEST is informational: the Handler treats it like every type, and
// a platform that acknowledges it (OK, or the zero Reply) answers a bare
// 200, which marks it processed.
func TestHandlerUmaRequest(t *testing.T) {
	const id = "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a12"
	body := umaRequestBody("", "")
	for _, c := range []struct {
		name  string
		reply Reply
	}{{"ok", OK()}, {"zero reply", Reply{}}} {
		t.Run(c.name, func(t *testing.T) {
			var got *UmaRequestWebhook
			r := newReceiver(t, nil, func(ev Event) (Reply, error) {
				got, _ = ev.(*UmaRequestWebhook)
				return c.reply, nil
			})
			res := r.serve(t, signed(t, id, body))
			res.expect(t, http.StatusOK, "")
			if res.raw != "" {
				t.Fatalf("body %q, want none", res.raw)
			}
			if got == nil || got.UmaRequest.ID != "UmaRequest:01a2020d-f980-7c3e-8f21-5d6b0c1e9a10" || got.UmaRequest.Amount != 1250 ||
				got.PlatformUserID != "p-alice" || got.WebhookID != id {
				t.Fatalf("the handler got %#v, want the *UmaRequestWebhook sent", got)
			}
			r.serve(t, signed(t, id, body)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
		})
	}
	// One without what paying it takes never reaches the platform.
	r := newReceiver(t, nil, approveAll)
	bad := strings.Replace(body, `"currency":"USD"`, `"currency":""`, 1)
	r.serve(t, signed(t, id, bad)).expect(t, http.StatusBadRequest, CodeInvalidInput)
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the platform handler ran %d times", n)
	}
}

func TestHandlerDuplicates(t *testing.T) {
	storetestCases := []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"memory", func(t *testing.T) Store { return &MemoryStore{} }},
		{"store.DB sqlite", func(t *testing.T) Store { return openDBStore(t, storetest.SQLite(t), &fakeClock{t: time.Now()}) }},
		{"store.DB postgres", func(t *testing.T) Store {
			return openDBStore(t, storetest.Postgres(t), &fakeClock{t: time.Now()})
		}},
	}
	for _, sc := range storetestCases {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.open(t)
			var fail atomic.Bool
			r := newReceiver(t, st, func(ev Event) (Reply, error) {
				if fail.Load() {
					return Reply{}, errors.New("database down")
				}
				return OK(), nil
			})
			// A failing handler answers 500 and releases the id: the retry runs.
			fail.Store(true)
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusInternalServerError, CodeInternal)
			fail.Store(false)
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
			// Now processed: every later delivery of the id is a 409, also
			// one signed at another attempt time (a retry).
			res := r.serve(t, signed(t, vecTestID, vecTestBody))
			res.expect(t, http.StatusConflict, CodeDuplicate)
			if !strings.Contains(res.body["message"].(string), vecTestID) {
				t.Errorf("409 message %q does not name the id", res.body["message"])
			}
			retry := signed(t, vecTestID, vecTestBody)
			h, _ := Sign(Keys{Secrets: []string{vecSecret}}, vecTestID, vecAttempt.Add(40*time.Second), []byte(vecTestBody))
			retry.Header = h
			r.serve(t, retry).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2 (the failure and the success)", n)
			}
			// Another id is independent.
			r.serve(t, signed(t, vecIncomingID, vecIncomingBody)).expect(t, http.StatusOK, "")
		})
	}
}

func TestHandlerConcurrentDuplicate(t *testing.T) {
	entered, proceed := make(chan struct{}), make(chan struct{})
	r := newReceiver(t, nil, func(ev Event) (Reply, error) {
		close(entered)
		<-proceed
		return OK(), nil
	})
	var wg sync.WaitGroup
	var first response
	wg.Add(1)
	go func() {
		defer wg.Done()
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, signed(t, vecTestID, vecTestBody))
		first = response{status: w.Code}
	}()
	<-entered
	// While the first is being processed, a duplicate neither runs nor
	// gets 409 (which the sender would take as done): 429, come back later.
	res := r.serve(t, signed(t, vecTestID, vecTestBody))
	res.expect(t, http.StatusTooManyRequests, CodeInProgress)
	if res.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	close(proceed)
	wg.Wait()
	if first.status != http.StatusOK {
		t.Fatalf("first delivery: %d", first.status)
	}
	r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusConflict, CodeDuplicate)
}

func TestHandlerFailuresRelease(t *testing.T) {
	for _, c := range []struct {
		name  string
		reply func() (Reply, error)
	}{
		{"panic", func() (Reply, error) { panic("boom") }},
		{"5xx reply", func() (Reply, error) { return Reply{Status: http.StatusServiceUnavailable}, nil }},
		{"invalid status", func() (Reply, error) { return Reply{Status: 1000}, nil }},
		{"informational status", func() (Reply, error) { return Reply{Status: http.StatusEarlyHints}, nil }},
		{"switching protocols", func() (Reply, error) { return Reply{Status: http.StatusSwitchingProtocols}, nil }},
		{"unencodable body", func() (Reply, error) { return Reply{Body: func() {}}, nil }},
		// The platform's MarshalJSON is the platform's code too.
		{"body whose encoding panics", func() (Reply, error) { return Reply{Body: panickingJSON{}}, nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var failing atomic.Bool
			failing.Store(true)
			r := newReceiver(t, nil, func(ev Event) (Reply, error) {
				if failing.Load() {
					return c.reply()
				}
				return OK(), nil
			})
			res := r.serve(t, signed(t, vecTestID, vecTestBody))
			if res.status < 500 {
				t.Fatalf("status %d, want 5xx", res.status)
			}
			failing.Store(false)
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
		})
	}
}

type panickingJSON struct{}

func (panickingJSON) MarshalJSON() ([]byte, error) { panic("boom") }

func TestHandlerUnknownTypeAndOtherSchemes(t *testing.T) {
	// A platform written against UMAaaS v1 verifies X-UMAaas-Signature;
	// a type this version does not know still arrives, raw.
	u, err := NewUMAaaSVerifier(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	var got *UnknownWebhook
	h, err := NewHandler(HandlerConfig{
		Verifier: u,
		Logger:   slog.New(slog.DiscardHandler),
		Handler: EventHandlerFunc(func(ctx context.Context, ev Event) (Reply, error) {
			got, _ = ev.(*UnknownWebhook)
			return OK(), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"refund":{"id":"Refund:1"},"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:unknown-1","type":"REFUND_ISSUED"}`
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set(HeaderUMAaaSSignature, hexHMAC(vecSecret, body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || got == nil || got.Type != "REFUND_ISSUED" || !bytes.Equal(got.Raw, []byte(body)) {
		t.Fatalf("status %d, event %+v", w.Code, got)
	}
	req = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set(HeaderUMAaaSSignature, hexHMAC(vecOldSecret, body))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: status %d", w.Code)
	}
}

func TestNewHandlerConfig(t *testing.T) {
	v := mustStandard(t, StandardConfig{Secrets: []string{vecSecret}})
	eh := EventHandlerFunc(func(context.Context, Event) (Reply, error) { return OK(), nil })
	for _, cfg := range []HandlerConfig{
		{Handler: eh},
		{Verifier: v},
		{Verifier: v, Handler: eh, MaxBodyBytes: -1},
		{Verifier: v, Handler: eh, Lease: -time.Second},
	} {
		if _, err := NewHandler(cfg); err == nil {
			t.Errorf("NewHandler(%+v) accepted", cfg)
		}
	}
	h, err := NewHandler(HandlerConfig{Verifier: v, Handler: eh})
	if err != nil {
		t.Fatal(err)
	}
	if h.cfg.MaxBodyBytes != DefaultMaxBodyBytes || h.cfg.Lease != DefaultLease || h.cfg.Retention != DefaultRetention || h.cfg.Store == nil {
		t.Fatalf("defaults not applied: %+v", h.cfg)
	}
}

// A reply that asks the sender to come back (429, 408, 425, a redirect) or
// that refuses the event without deciding it (400, 404, 410 to disable the
// endpoint) must not mark the id processed: the sender retries each of
// them, and a retry answered 409 counts as delivered, losing an event the
// platform never handled. Only 2xx and the decisions 403 and 422 (and 409,
// which the sender takes as delivered anyway) mark it.
func TestHandlerRetryableRepliesRelease(t *testing.T) {
	for _, status := range []int{
		http.StatusMovedPermanently, http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusGone, http.StatusTooEarly, http.StatusTooManyRequests,
	} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			var refusing atomic.Bool
			refusing.Store(true)
			r := newReceiver(t, nil, func(ev Event) (Reply, error) {
				if refusing.Load() {
					return Reply{Status: status}, nil
				}
				return OK(), nil
			})
			if res := r.serve(t, signed(t, vecTestID, vecTestBody)); res.status != status {
				t.Fatalf("status %d, want the handler's %d", res.status, status)
			}
			refusing.Store(false)
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
			if n := r.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2", n)
			}
		})
	}
	for _, status := range []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent, http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			r := newReceiver(t, nil, func(ev Event) (Reply, error) { return Reply{Status: status}, nil })
			r.serve(t, signed(t, vecTestID, vecTestBody))
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("handler ran %d times, want 1", n)
			}
		})
	}
}

// A sender that hangs up once its request is in (the request's context
// cancelled before the claim) leaves no half-done bookkeeping: the claim
// does not depend on the request's context, whose cancellation could
// interrupt a claim the database had made (leaving the id held for the
// whole lease, every retry answered 429) or, as with every store here,
// made the claim fail (500) for a request that was whole. The event is
// processed and marked, so the sender's retry is answered 409; so is one
// whose sender hangs up while the platform handler runs.
func TestHandlerClaimOutlivesHangUp(t *testing.T) {
	cases := []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"memory", func(t *testing.T) Store { return &MemoryStore{} }},
		{"store.DB sqlite", func(t *testing.T) Store { return openDBStore(t, storetest.SQLite(t), &fakeClock{t: time.Now()}) }},
		{"store.DB postgres", func(t *testing.T) Store {
			return openDBStore(t, storetest.Postgres(t), &fakeClock{t: time.Now()})
		}},
	}
	for _, sc := range cases {
		t.Run(sc.name, func(t *testing.T) {
			var cancelRun context.CancelFunc
			r := newReceiver(t, sc.open(t), func(ev Event) (Reply, error) {
				if cancelRun != nil {
					cancelRun() // the sender hangs up while the handler runs
				}
				return OK(), nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			r.serve(t, signed(t, vecTestID, vecTestBody).WithContext(ctx)).expect(t, http.StatusOK, "")
			r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusConflict, CodeDuplicate)

			ctx, cancelRun = context.WithCancel(context.Background())
			r.serve(t, signed(t, vecIncomingID, vecIncomingBody).WithContext(ctx)).expect(t, http.StatusOK, "")
			cancelRun = nil
			r.serve(t, signed(t, vecIncomingID, vecIncomingBody)).expect(t, http.StatusConflict, CodeDuplicate)
			if n := r.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2", n)
			}
		})
	}
}

// X-UMAaas-Signature signs no timestamp, so a captured request can be sent
// again once the Store has forgotten its id (Retention after it was
// processed) and is processed again. With MaxEventAge the Handler refuses
// an event whose body timestamp (signed, unchanged on retries) is older
// than that, or further ahead than DefaultTolerance: every event it
// accepts is still remembered by the Store whenever it could come again.
func TestHandlerMaxEventAge(t *testing.T) {
	u, err := NewUMAaaSVerifier(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	clock.t = vecAttempt // the TEST vector's event was 5 s earlier
	const retention = 48 * time.Hour
	var calls atomic.Int32
	h, err := NewHandler(HandlerConfig{
		Verifier:    u,
		Store:       &MemoryStore{Now: clock.Now},
		Retention:   retention,
		MaxEventAge: 24 * time.Hour,
		Now:         clock.Now,
		Logger:      slog.New(slog.DiscardHandler),
		Handler: EventHandlerFunc(func(context.Context, Event) (Reply, error) {
			calls.Add(1)
			return OK(), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{h: h}
	send := func(body string) response {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set(HeaderUMAaaSSignature, hexHMAC(vecSecret, body))
		return r.serve(t, req)
	}
	send(vecTestBody).expect(t, http.StatusOK, "")
	clock.Advance(23 * time.Hour)
	send(vecTestBody).expect(t, http.StatusConflict, CodeDuplicate) // remembered
	clock.Advance(retention)                                        // forgotten: the Store's retention is over
	send(vecTestBody).expect(t, http.StatusBadRequest, CodeInvalidInput)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1: a replay after the retention was processed again", n)
	}
	// An event from the sender's future, past the tolerance, is refused too:
	// it would stay young longer than the Store remembers it.
	future := strings.Replace(vecTestBody, "2026-11-22T07:00:00Z", clock.Now().Add(DefaultTolerance+time.Minute).UTC().Format(time.RFC3339), 1)
	future = strings.Replace(future, vecTestID, "Webhook:future", 1)
	send(future).expect(t, http.StatusBadRequest, CodeInvalidInput)

	// A bound the Store's retention cannot cover is refused at construction.
	for _, age := range []time.Duration{-time.Hour, DefaultRetention, DefaultRetention - DefaultTolerance + time.Second} {
		if _, err := NewHandler(HandlerConfig{Verifier: u, Handler: EventHandlerFunc(func(context.Context, Event) (Reply, error) { return OK(), nil }), MaxEventAge: age}); err == nil {
			t.Errorf("MaxEventAge %s with the default retention accepted", age)
		}
	}
}
