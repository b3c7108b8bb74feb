package api_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
)

// auditedRoutes are the routes whose every authenticated request is an
// audit event: every state-changing MANAGE route, and the TRANSACT ones
// that are platform decisions or money entering or leaving.
var auditedRoutes = []string{
	"POST /tokens",
	"DELETE /tokens/{tokenId}",
	"POST /users",
	"PATCH /users/{userId}",
	"DELETE /users/{userId}",
	"POST /users/{userId}/deposits",
	"POST /users/{userId}/withdrawals",
	"POST /users/bulk/csv",
	"POST /ledger/transfers",
	"POST /transactions/{transactionId}/approve",
	"POST /transactions/{transactionId}/reject",
	"POST /sandbox/send", // test money onto a user's balance, as a deposit
	"POST /sandbox/receive",
	"POST /webhooks/endpoints",
	"PATCH /webhooks/endpoints/{endpointId}",
	"DELETE /webhooks/endpoints/{endpointId}",
	"POST /webhooks/endpoints/{endpointId}/rotate-secret",
	"POST /webhooks/deliveries/{deliveryId}/redeliver",
	"POST /webhooks/replays",
	"POST /webhooks/replays/{jobId}/cancel",
	"POST /webhooks/test",
	"PATCH /config",
}

// notAuditedRoutes are the routes that could change something and are
// deliberately not audited.
var notAuditedRoutes = []string{
	"POST /quotes", // the payment path: its own quote and transaction rows
	"POST /quotes/{quoteId}/execute",
	"POST /fbo/confirm/{quoteId}",
	"POST /quotes/{quoteId}/refresh",
	"POST /quotes/{quoteId}/retry",
	"POST /invitations", // a user's invitation, its own row
	"POST /invitations/{code}/claim",
	"POST /invitations/{code}/cancel",
	"POST /payment-requests", // a user's payment request, its own row
	"POST /payment-requests/{paymentRequestId}/cancel",
	"POST /payment-requests/{paymentRequestId}/deliver",
	"GET /ledger/reconciliation", // a read: node lookups, nothing changes
}

// allRoutes is a server with every platform route vaspd serves, for their
// declarations (none is called): every Mount method of api.Server is
// called, with nil services and a domain, found by reflection, so that a
// Mount method added for daemon.go to call is listed here without a word.
func allRoutes() *api.Server {
	s := api.New(api.Options{Tokens: new(auth.Tokens), Audit: new(audit.Log)})
	v := reflect.ValueOf(s)
	for i := range v.NumMethod() {
		m, name := v.Method(i), v.Type().Method(i).Name
		if !strings.HasPrefix(name, "Mount") {
			continue
		}
		args := make([]reflect.Value, m.Type().NumIn())
		for j := range args {
			args[j] = reflect.Zero(m.Type().In(j))
			if m.Type().In(j).Kind() == reflect.String {
				args[j] = reflect.ValueOf("vasp.example") // a domain
			}
		}
		m.Call(args)
	}
	return s
}

// TestRoutesDecideAudit: every platform route that could change something
// is either audited or declared not audited with a reason, and the lists
// above are what the routes declare: a route added without a decision, or
// a decision changed, fails here.
func TestRoutesDecideAudit(t *testing.T) {
	t.Parallel()
	var audited, notAudited []string
	for _, rt := range allRoutes().Routes() {
		method, _, _ := strings.Cut(rt.Pattern, " ")
		switch {
		case rt.Audited:
			audited = append(audited, rt.Pattern)
		case rt.NotAudited != "":
			notAudited = append(notAudited, rt.Pattern)
		case method != http.MethodGet && method != http.MethodHead:
			t.Errorf("%s could change something and says nothing of its audit", rt.Pattern)
		}
		if rt.Pattern == "GET /audit-events" && rt.Permission != vaspd.PermManage {
			t.Errorf("GET /audit-events needs %s, want MANAGE", rt.Permission)
		}
	}
	for name, c := range map[string][2][]string{"audited": {audited, auditedRoutes}, "not audited": {notAudited, notAuditedRoutes}} {
		got, want := slices.Sorted(slices.Values(c[0])), slices.Sorted(slices.Values(c[1]))
		if !slices.Equal(got, want) {
			t.Errorf("%s routes:\n got  %q\n want %q", name, got, want)
		}
	}
}

// TestHandleRefusesUndecidedRoute: registering a route that could change
// something without a word on its audit panics, at start, in every test
// that mounts it.
func TestHandleRefusesUndecidedRoute(t *testing.T) {
	t.Parallel()
	h := func(w http.ResponseWriter, r *http.Request) error { return nil }
	for _, c := range []struct {
		pattern   string
		opts      []api.RouteOption
		wantPanic bool
	}{
		{"POST /things", nil, true},
		{"DELETE /things/{id}", nil, true},
		{"/things", nil, true}, // every method
		{"POST /things", []api.RouteOption{api.Audited, api.NotAudited("no")}, true},
		{"POST /things", []api.RouteOption{api.Audited}, false},
		{"POST /things", []api.RouteOption{api.NotAudited("a reason")}, false},
		{"GET /things", nil, false},
	} {
		s := api.New(api.Options{})
		panicked := func() (p bool) {
			defer func() { p = recover() != nil }()
			s.Handle(c.pattern, vaspd.PermManage, h, c.opts...)
			return false
		}()
		if panicked != c.wantPanic {
			t.Errorf("%s with %d options: panicked %v, want %v", c.pattern, len(c.opts), panicked, c.wantPanic)
		}
	}
}
