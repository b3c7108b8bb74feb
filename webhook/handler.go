package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"
)

// EventHandler is the platform's code: it receives each verified,
// de-duplicated event once and decides the reply. An error (or a panic)
// answers 500 and releases the event, so the sender's retry runs the handler
// again. A Reply marks the event processed only if its status says the event
// was handled: 2xx, 403 ([Reject]), 422 ([NeedMoreInfo]) or 409. Any other
// status (5xx, 429, 408, 425, 410, 400, 404, a redirect…) releases it too:
// the sender retries those, and a retry answered 409 would count as
// delivered.
//
// ctx is the request's context: it ends when the sender hangs up, which
// may be before the handler starts. The Handler's own bookkeeping (claiming
// the id, marking it processed, releasing it) does not end with it, so the
// event's outcome is recorded even so: what the handler does with a
// cancelled ctx decides it.
type EventHandler interface {
	HandleEvent(ctx context.Context, ev Event) (Reply, error)
}

// EventHandlerFunc adapts a function to [EventHandler].
type EventHandlerFunc func(ctx context.Context, ev Event) (Reply, error)

// HandleEvent calls f.
func (f EventHandlerFunc) HandleEvent(ctx context.Context, ev Event) (Reply, error) {
	return f(ctx, ev)
}

// Defaults for [HandlerConfig].
const (
	// DefaultMaxBodyBytes bounds a webhook body; vaspd's are a few KB.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultLease is how long a claim blocks duplicates while the handler
	// runs; a process that dies mid-handler frees the id after this.
	DefaultLease = 2 * time.Minute
	// DefaultRetention is how long a processed id answers 409. It must
	// outlast the sender's retry schedule (about three days for vaspd).
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultBodyTimeout bounds reading the body, as long as vaspd's longest
	// attempt: a sender that takes longer has given up anyway.
	DefaultBodyTimeout = 30 * time.Second
)

// HandlerConfig configures a [Handler].
type HandlerConfig struct {
	// Verifier authenticates requests; required. For vaspd webhooks use a
	// [StandardVerifier] with the endpoint secret.
	Verifier Verifier
	// Handler is the platform's code; required.
	Handler EventHandler
	// Store de-duplicates by webhookId; nil means a fresh [MemoryStore].
	Store Store
	// MaxBodyBytes bounds the body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyTimeout bounds the time to receive the body once the handler
	// starts (408 past it), so that a client trickling a body cannot hold a
	// connection and a goroutine for ever on a server whose ReadTimeout is
	// not set (ReadHeaderTimeout bounds only the headers); 0 means
	// DefaultBodyTimeout. A server ReadTimeout at most this long is left
	// to bound the read alone.
	BodyTimeout time.Duration
	// Lease and Retention are passed to the Store; 0 means DefaultLease and
	// DefaultRetention.
	Lease, Retention time.Duration
	// MaxEventAge, if set, refuses (400) an event whose body timestamp is
	// older than this, or more than DefaultTolerance ahead of Now. It is
	// the replay bound for verifiers that sign no timestamp
	// ([BodyHMACVerifier]: X-UMAaas-Signature alone): without it a request
	// captured once can be sent again, and is processed again, as soon as
	// the Store has forgotten its id, Retention after it was processed. It
	// must be at most Retention - DefaultTolerance, so that every event it
	// lets in is still remembered whenever it could come again. The
	// timestamp is the event's (the same on every retry), so a sender's
	// retry or a manual replay of an event older than MaxEventAge is
	// refused too: keep it above the sender's retry schedule (about three
	// days for vaspd). 0 means no bound (the right choice with a
	// [StandardVerifier], whose signed webhook-timestamp bounds replays to
	// its tolerance).
	MaxEventAge time.Duration
	// Now returns the current time for MaxEventAge; nil means time.Now.
	Now func() time.Time
	// MarkFailed, if set, is called when an event the platform handler
	// handled could not be marked processed: the Store's Complete failed
	// completeAttempts (3) times within 10 s, or returned ErrClaimLost (the
	// lease ran out while the handler ran and another request claimed the
	// id, and may be running it now; not a claim merely forgotten after its
	// lease, which is completed; not a try that finds the id done by an earlier one
	// whose answer was lost). The reply stands, but a retry of the event (the
	// sender's, should the reply not reach it, or a replay) runs the
	// handler again. For a metric or an alert (it is logged at ERROR
	// anyway), or to record ev's id where the platform's own idempotency
	// looks: it runs before the reply is written, so it must be quick. err
	// is the last Complete's; ctx is the request's, without its
	// cancellation.
	MarkFailed func(ctx context.Context, ev Event, err error)
	// Logger receives one line per request refused for what it sent
	// (401 signature, 400 payload, 413 size, 408 a body too slow, an
	// unreadable body) and per handler or store failure, never key
	// material; nil means slog.Default(). A wrong method (405), a duplicate (409) and one
	// being processed (429) are answered without a line: at-least-once
	// delivery makes them ordinary.
	Logger *slog.Logger
}

// Handler is an http.Handler receiving vaspd (and UMAaaS) webhooks:
//
//  1. only POST (405 otherwise); the raw body (400 if the request has none,
//     as one built by hand may) is read up to MaxBodyBytes (413)
//     within BodyTimeout (408);
//  2. the signature is verified against the raw bytes (401);
//  3. the body is decoded into a typed [Event] (400 if malformed, if a
//     signed webhook-id header disagrees with the body's webhookId, or if
//     its timestamp is out of MaxEventAge when that is set);
//  4. the webhookId is claimed in the Store: 409 if already processed, 429
//     with Retry-After if a concurrent duplicate is being processed;
//  5. the platform's EventHandler runs; when its reply says the event was
//     handled (2xx, 403, 409, 422) the id is marked processed before the
//     reply is written (tried up to 3 times; still failing, the reply
//     stands and MarkFailed is told); on an error, a panic or any other
//     status it is released.
type Handler struct {
	cfg HandlerConfig
	log *slog.Logger
}

// NewHandler checks cfg and fills in the defaults.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("webhook: HandlerConfig.Verifier is required")
	}
	if cfg.Handler == nil {
		return nil, errors.New("webhook: HandlerConfig.Handler is required")
	}
	if cfg.MaxBodyBytes < 0 || cfg.BodyTimeout < 0 || cfg.Lease < 0 || cfg.Retention < 0 || cfg.MaxEventAge < 0 {
		return nil, errors.New("webhook: negative limit in HandlerConfig")
	}
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.MaxEventAge > cfg.Retention-DefaultTolerance {
		return nil, fmt.Errorf("webhook: MaxEventAge %s is more than Retention %s less DefaultTolerance %s: the Store would forget events it still accepts",
			cfg.MaxEventAge, cfg.Retention, DefaultTolerance)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{cfg: cfg, log: log}, nil
}

// Error codes of the Handler's own answers (UMAaaS error body shape).
const (
	CodeInvalidSignature = "INVALID_SIGNATURE"
	CodeInvalidInput     = "INVALID_INPUT"
	CodeDuplicate        = "WEBHOOK_ALREADY_PROCESSED"
	CodeInProgress       = "WEBHOOK_IN_PROGRESS"
	CodeInternal         = "INTERNAL_ERROR"
)

// bookkeepingTimeout bounds each Store call of a request (the claim, then
// the completion or release), which the sender's hanging up does not cut
// short.
const bookkeepingTimeout = 10 * time.Second

// bookkeeping is the context of one Store call for a request of context
// ctx: its values, not its cancellation (a claim interrupted after the
// database made it would hold the id for the whole lease, with no one to
// release it), bounded by bookkeepingTimeout.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, CodeInvalidInput, "webhooks are delivered with POST")
		return
	}
	if r.Body == nil {
		// A server always sets a Body (http.NoBody when empty); a nil one
		// comes from a handler called directly (a platform's tests, some
		// middleware), and reading it would panic.
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: request has no body", slog.String("remote", r.RemoteAddr))
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "request has no body")
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: body too large", slog.Int64("max_bytes", h.cfg.MaxBodyBytes), slog.String("remote", r.RemoteAddr))
			writeError(w, http.StatusRequestEntityTooLarge, CodeInvalidInput, "body exceeds "+strconv.FormatInt(h.cfg.MaxBodyBytes, 10)+" bytes")
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: body too slow", slog.Duration("timeout", h.cfg.BodyTimeout), slog.String("remote", r.RemoteAddr))
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestTimeout, CodeInvalidInput, "body not received in time")
			return
		}
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: body unreadable", slog.String("reason", err.Error()), slog.String("remote", r.RemoteAddr))
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "could not read body")
		return
	}
	if err := h.cfg.Verifier.Verify(r.Header, body); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: signature", slog.String("reason", err.Error()), slog.String("remote", r.RemoteAddr))
		writeError(w, http.StatusUnauthorized, CodeInvalidSignature, "signature verification failed")
		return
	}
	ev, err := Parse(body)
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: payload", slog.String("reason", err.Error()))
		writeError(w, http.StatusBadRequest, CodeInvalidInput, err.Error())
		return
	}
	id := ev.Envelope().WebhookID
	if hid := r.Header.Get(HeaderWebhookID); hid != "" && hid != id {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: webhook-id header differs from body webhookId", slog.String("webhook_id", id))
		writeError(w, http.StatusBadRequest, CodeInvalidInput, "webhook-id header differs from webhookId")
		return
	}
	if h.cfg.MaxEventAge > 0 {
		// The timestamp is signed with the body; Parse requires it.
		at, now := ev.Envelope().Timestamp, h.cfg.Now()
		if at.Before(now.Add(-h.cfg.MaxEventAge)) || at.After(now.Add(DefaultTolerance)) {
			h.log.LogAttrs(r.Context(), slog.LevelWarn, "webhook rejected: event timestamp out of MaxEventAge", slog.String("webhook_id", id),
				slog.Time("timestamp", at), slog.Duration("max_event_age", h.cfg.MaxEventAge))
			writeError(w, http.StatusBadRequest, CodeInvalidInput, "event timestamp "+at.UTC().Format(time.RFC3339)+" is outside the accepted age")
			return
		}
	}

	cctx, cancel := bookkeeping(r.Context())
	token, err := h.cfg.Store.Claim(cctx, id, h.cfg.Lease)
	cancel()
	switch {
	case errors.Is(err, ErrDuplicate):
		writeError(w, http.StatusConflict, CodeDuplicate, "webhook "+id+" was already processed")
		return
	case errors.Is(err, ErrInProgress):
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, CodeInProgress, "webhook "+id+" is being processed")
		return
	case err != nil:
		h.log.LogAttrs(r.Context(), slog.LevelError, "webhook store claim failed", slog.String("webhook_id", id), slog.String("error", err.Error()))
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}

	reply, err := h.run(r.Context(), ev, id, token)
	// Each bookkeeping step has its own bound, counted from its start: the
	// platform handler may have run for longer than one.
	bctx, cancel := bookkeeping(r.Context())
	defer cancel()
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "webhook handler failed", slog.String("webhook_id", id), slog.String("type", string(ev.Envelope().Type)), slog.String("error", err.Error()))
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	// A 1xx is no final answer: net/http sends it as an interim response
	// and then a 200 the handler never chose.
	if status < 200 || status > 599 {
		h.release(bctx, id, token)
		h.log.LogAttrs(r.Context(), slog.LevelError, "webhook handler returned an invalid status", slog.String("webhook_id", id), slog.Int("status", status))
		writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	var encoded []byte
	if reply.Body != nil {
		if encoded, err = encodeReply(reply.Body); err != nil {
			// Encode before marking the event processed: a reply that cannot
			// be sent must not turn the sender's retry into a 409.
			h.release(bctx, id, token)
			h.log.LogAttrs(r.Context(), slog.LevelError, "webhook reply body cannot be encoded", slog.String("webhook_id", id), slog.String("error", err.Error()))
			writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
			return
		}
	}
	if !handled(status) {
		h.release(bctx, id, token)
	} else {
		h.complete(bctx, ev, id, token)
	}
	if encoded == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(encoded)
}

// readBody reads the body, at most MaxBodyBytes of it, within BodyTimeout,
// or within the server's ReadTimeout when that is shorter: it counts from
// the request's start and is never loosened here. (net/http lifts the
// connection's read deadline itself once the body has been read to its end,
// so it cannot cancel the request's context during the platform handler.)
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.ReadTimeout <= 0 || srv.ReadTimeout > h.cfg.BodyTimeout {
		// ErrNotSupported (a ResponseWriter that is no connection's, as in
		// tests) leaves the read unbounded in time.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout))
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
}

// handled reports whether a reply of this status means the platform handled
// the event, which marks its id processed. The sender retries every other
// status (vaspd does: only 2xx and 409 count as delivered, and 410 keeps the
// deliveries for when the endpoint is enabled again), so those release the
// id and the retry runs the handler again. 403 and 422 are the platform's
// decisions on a pending payment (Reject, NeedMoreInfo).
func handled(status int) bool {
	switch {
	case status >= 200 && status < 300:
		return true
	case status == http.StatusForbidden, status == http.StatusConflict, status == http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// run calls the platform handler, turning a panic into an error after
// releasing the claim, so that one bad event cannot wedge its id for the
// whole lease.
func (h *Handler) run(ctx context.Context, ev Event, id, token string) (reply Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
		if err != nil {
			bctx, cancel := bookkeeping(ctx)
			defer cancel()
			h.release(bctx, id, token)
		}
	}()
	return h.cfg.Handler.HandleEvent(ctx, ev)
}

// encodeReply encodes a reply body; a panic in the platform's MarshalJSON
// is an error, so that it answers 500 and releases the id like a panic in
// the handler rather than escaping with the id claimed for the whole lease
// (every retry meanwhile answered 429).
func encodeReply(body any) (b []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("reply body encoding panicked: %v", p)
		}
	}()
	return json.Marshal(body)
}

// completeAttempts bounds how often complete tries to mark an event
// processed; completePause is the pause after the first failure, doubled
// after each.
const (
	completeAttempts = 3
	completePause    = 50 * time.Millisecond
)

// complete marks the handled event ev (id, claimed with token) processed.
// A failure is tried again, up to completeAttempts times within ctx (the
// bookkeeping bound, 10 s, for them all), unless the claim is lost: a
// store that failed for a moment (a connection dropped, a database
// restarting) would otherwise leave the id claimed until its lease ended
// and then let the sender's retry run the handler again. Still failing, the
// handler's work is done and the reply stands; the failure is logged and
// passed to MarkFailed. A try after an earlier one that did reach the store
// (committed, its answer lost) finds the id done under its own token, which
// the Store counts as success, not as ErrClaimLost.
func (h *Handler) complete(ctx context.Context, ev Event, id, token string) {
	var err error
	pause := completePause
	for try := 1; ; try++ {
		if err = h.cfg.Store.Complete(ctx, id, token, h.cfg.Retention); err == nil {
			return
		}
		if try == completeAttempts || errors.Is(err, ErrClaimLost) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		pause *= 2
	}
	h.log.LogAttrs(ctx, slog.LevelError, "webhook store complete failed; a retry of the event runs the handler again",
		slog.String("webhook_id", id), slog.String("error", err.Error()))
	if h.cfg.MarkFailed != nil {
		h.markFailed(ctx, ev, id, err)
	}
}

// markFailed calls MarkFailed; a panic in it is logged, not let through to
// the server, which would drop the reply that the handled event earned.
func (h *Handler) markFailed(ctx context.Context, ev Event, id string, err error) {
	defer func() {
		if p := recover(); p != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "webhook MarkFailed panicked", slog.String("webhook_id", id), slog.String("panic", fmt.Sprint(p)))
		}
	}()
	h.cfg.MarkFailed(context.WithoutCancel(ctx), ev, err)
}

func (h *Handler) release(ctx context.Context, id, token string) {
	if err := h.cfg.Store.Release(ctx, id, token); err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "webhook store release failed", slog.String("webhook_id", id), slog.String("error", err.Error()))
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(APIError{Status: status, Code: code, Message: msg}) // cannot fail: strings and an int
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
