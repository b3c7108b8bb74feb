package api

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
)

// Route is a platform-API route as registered with Handle.
type Route struct {
	Pattern    string
	Permission vaspd.Permission
	// Audited routes write an audit event per request (package audit).
	Audited bool
	// NotAudited says why a route that could change something is not
	// audited; "" for audited routes and for reads.
	NotAudited string
}

// RouteOption declares a property of a route at its registration.
type RouteOption func(*Route)

// Audited makes every authenticated request to the route an audit event,
// written before the request is served, whose outcome is added after it
// (see auditing). A route whose method could change something (any but
// GET and HEAD) must say either Audited or NotAudited: Handle panics
// otherwise, so that no new route is left out of the trail unnoticed.
func Audited(r *Route) { r.Audited = true }

// NotAudited declares a route that could change something but is not
// audited, and why.
func NotAudited(reason string) RouteOption {
	return func(r *Route) { r.NotAudited = reason }
}

// Reasons for routes left out of the audit trail.
const (
	notAuditedPayment = "the payment path: high volume, each step recorded by its own quote and transaction rows"
	notAuditedInvite  = "an invitation is a user's, recorded by its own row (created, claimed, cancelled); no platform setting or money changes"
	notAuditedRequest = "a payment request is a user's, recorded by its own row (created, delivered, cancelled) and paid by transactions naming it; no platform setting or money changes"
	notAuditedNothing = "answers 501 NOT_IMPLEMENTED: nothing changes"
)

// Routes returns the platform-API routes registered so far, in order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// declare applies opts to pattern's route, records it and checks that a
// route that could change something says whether it is audited.
func (s *Server) declare(pattern string, perm vaspd.Permission, opts []RouteOption) Route {
	rt := Route{Pattern: pattern, Permission: perm}
	for _, o := range opts {
		o(&rt)
	}
	method, _, ok := strings.Cut(pattern, " ")
	reads := ok && (method == http.MethodGet || method == http.MethodHead)
	switch {
	case rt.Audited && rt.NotAudited != "":
		panic(fmt.Sprintf("api: route %q is declared both audited and not", pattern))
	case !reads && !rt.Audited && rt.NotAudited == "":
		panic(fmt.Sprintf("api: route %q could change something: register it with Audited or NotAudited(reason)", pattern))
	}
	s.routes = append(s.routes, rt)
	return rt
}

// auditing wraps the handler of an audited route, after authentication:
// it records the request's audit event and commits it before h runs, so
// that no change h makes can commit unrecorded, and refuses the request
// with 503 if the event cannot be written. Once h has returned it renders
// h's error, if any, itself, so that the outcome it adds to the event is
// the status and code answered, whether it was a replay (answered from an
// earlier request's result: Idempotent-Replayed), and the id of what the
// request created (noteCreated): the outcome's createdId, and the event's
// resource on a route with none of its own, as is the existing resource it
// changed there (noteSubject). A handler that
// never returns (a panic, a process that dies) leaves the event without
// an outcome: unknown.
func (s *Server) auditing(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, _ := Caller(r.Context())
		params, resource := pathParams(r)
		e := audit.Event{TokenID: tok.ID, TokenName: tok.Name, Method: r.Method, Route: r.Pattern,
			PathParams: params, ResourceID: resource, ClientAddress: s.clientOf(r).String(),
			RequestID: RequestID(r.Context()), IdempotencyKey: r.Header.Get("Idempotency-Key")}
		if err := s.opts.Audit.Begin(r.Context(), &e); err != nil {
			return &vaspd.Error{Status: http.StatusServiceUnavailable, Code: vaspd.CodeUnavailable,
				Message: "the audit trail could not be written, so the request was not served (nothing changed); try again", Err: err}
		}
		n := noteOf(r.Context())
		if n == nil { // not served through Handler: note the error code here
			n = &requestNote{}
			r = r.WithContext(context.WithValue(r.Context(), noteKey, n))
		}
		aw := &statusWriter{ResponseWriter: w}
		if err := h(aw, r); err != nil {
			WriteError(aw, r, s.log, err)
		}
		// The answer is out: record it even if the client has gone.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		defer cancel()
		// What the handler made is named whatever it answered: a handler
		// notes only what it made, and POST /webhooks/test makes (and
		// lists) its delivery when the receiver refuses it too.
		res := audit.Result{Status: cmp.Or(aw.status, http.StatusOK), ErrorCode: n.code, IdempotencyKey: n.idempotencyKey,
			ResourceID: canonicalResource(n.created), Subject: canonicalResource(n.subject)}
		if res.Status < 300 {
			// Answered from an earlier request's result, as the client
			// was told: the trail must not show the change twice.
			res.Replayed = aw.Header().Get("Idempotent-Replayed") == "true"
		}
		if err := s.opts.Audit.Finish(ctx, e.ID, res); err != nil {
			s.log.ErrorContext(ctx, "audit event's outcome not recorded: it reads as unknown", "audit_event", e.ID,
				"request_id", e.RequestID, "err", err)
		}
		return nil
	}
}

// pathParams are the values of the path parameters r's route names, and
// the last one's, the resource the request is about (a route names one at
// most, today).
func pathParams(r *http.Request) (values map[string]string, last string) {
	values = map[string]string{}
	rest := r.Pattern
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return values, last
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return values, last
		}
		if name := strings.TrimSuffix(rest[i+1:i+j], "..."); name != "$" {
			values[name] = canonicalResource(r.PathValue(name))
			last = values[name]
		}
		rest = rest[i+j+1:]
	}
}

// canonicalResource is v, or the id it is as vaspd stores ids (lower-case
// hex: vaspd.CanonicalID) if it is one, so that the trail names a resource
// one way however a request spelt its id, and a filter finds it.
func canonicalResource(v string) string {
	if typ, _, ok := strings.Cut(v, ":"); ok {
		if id, err := vaspd.CanonicalID(typ, v); err == nil {
			return id
		}
	}
	return v
}

// listAuditEvents is GET /audit-events (MANAGE): the audit trail, newest
// first unless sortOrder=asc.
func (s *Server) listAuditEvents(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDAuditEvent)
	if err != nil {
		return err
	}
	f := audit.Filter{After: p.After, Limit: p.Limit}
	// A token's id, or the CLI's own (its changes are made with none).
	if f.TokenID = r.URL.Query().Get("tokenId"); f.TokenID != audit.CLITokenID {
		if f.TokenID, err = QueryID(r, "tokenId", vaspd.IDToken); err != nil {
			return err
		}
	}
	if f.ResourceID, err = QueryText(r, "resourceId", 256); err != nil {
		return err
	}
	f.ResourceID = canonicalResource(f.ResourceID)
	if f.CreatedID, err = QueryText(r, "createdId", 256); err != nil {
		return err
	}
	f.CreatedID = canonicalResource(f.CreatedID)
	if f.Route, err = QueryText(r, "route", 256); err != nil {
		return err
	}
	if f.From, f.To, err = QueryTimeRange(r, "startDate", "endDate"); err != nil {
		return err
	}
	if f.Ascending, err = QuerySortOrder(r); err != nil {
		return err
	}
	if method, path, ok := strings.Cut(f.Route, " "); f.Route != "" && (!ok || method == "" || !strings.HasPrefix(path, "/")) {
		return vaspd.InvalidInput("route must be a route pattern, a method and a path such as \"PATCH /users/{userId}\"")
	}
	evs, err := s.opts.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewPage(evs, p.Limit, func(e audit.Event) string { return e.ID }))
	return nil
}
