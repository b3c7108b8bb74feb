package api_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// TestAuditMarksReplays: a request answered from what an earlier one
// with its Idempotency-Key did (Idempotent-Replayed: true) changed
// nothing, and its event says so: outcome.replayed is true, false for the
// first run and for a key reused with another request (refused), so that
// the trail never shows one user created, or one deposit made, twice.
// The replay names what it answered with, as the first run does.
func TestAuditMarksReplays(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		user := strings.ReplaceAll(auditUserJSON, "DOMAIN", a.domain)
		type step struct {
			s        sent
			replayed bool
		}
		var steps []step
		do := func(replayed bool, method, path, body string, status int, headers ...string) sent {
			t.Helper()
			s := a.send(t, method, path, &a.admin, body, headers...)
			if s.status != status {
				t.Fatalf("%s %s: %d %v, want %d", method, path, s.status, s.body, status)
			}
			steps = append(steps, step{s, replayed})
			return s
		}
		first := do(false, "POST", "/users", user, 201, "Idempotency-Key", "user-dave")
		again := do(true, "POST", "/users", user, 201, "Idempotency-Key", "user-dave")
		do(false, "POST", "/users", strings.Replace(user, "p-dave", "p-other", 1), 422, "Idempotency-Key", "user-dave")
		uid := first.body["id"].(string)
		if again.body["id"] != uid {
			t.Fatalf("the replay answered %v, the first %s", again.body["id"], uid)
		}
		dep := `{"currencyCode":"USD","amount":100,"reference":"wire-1"}`
		do(false, "POST", "/users/"+uid+"/deposits", dep, 201, "Idempotency-Key", "dep-1")
		do(true, "POST", "/users/"+uid+"/deposits", dep, 200, "Idempotency-Key", "dep-1")
		wd := `{"currencyCode":"USD","amount":50,"idempotencyKey":"wd-1"}`
		do(false, "POST", "/users/"+uid+"/withdrawals", wd, 201)
		do(true, "POST", "/users/"+uid+"/withdrawals", wd, 200)
		csv := "umaAddress,platformUserId,userType\n$erin,p-erin,INDIVIDUAL\n"
		do(false, "POST", "/users/bulk/csv", csv, 202, "Content-Type", "text/csv", "Idempotency-Key", "bulk-1")
		do(true, "POST", "/users/bulk/csv", csv, 202, "Content-Type", "text/csv", "Idempotency-Key", "bulk-1")

		byRequest := map[string]map[string]any{}
		for _, e := range a.events(t, "") {
			byRequest[e["requestId"].(string)] = e
		}
		for _, st := range steps {
			e := byRequest[st.s.id]
			o, _ := e["outcome"].(map[string]any)
			if o == nil || o["status"] != float64(st.s.status) || o["replayed"] != st.replayed {
				t.Errorf("%s %s (%d, replayed %v): event %v", st.s.method, st.s.path, st.s.status, st.replayed, e)
			}
		}
		// The replay names the user it answered with, as the first run.
		evs := a.events(t, "resourceId="+url.QueryEscape(uid)+"&route="+url.QueryEscape("POST /users"))
		if len(evs) != 2 {
			t.Fatalf("POST /users events of %s: %v", uid, evs)
		}
	})
}

// TestAuditMarksSandboxReplays: POST /sandbox/send and /sandbox/receive
// answer a retry from what the first request did (the quote's
// transaction, funded once; the payment the key recorded, paid once), and
// say so as the other idempotent routes do: Idempotent-Replayed: true,
// and outcome.replayed in the audit trail. They did neither, so the trail
// read as two sandbox transfers, and two payments received, where one was
// made. A retry of /sandbox/send needs no key to be one: the quote is
// funded and executed once, whatever key.
func TestAuditMarksSandboxReplays(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		a := newAuditFixture(t, db)
		type step struct {
			s        sent
			replayed bool
		}
		var steps []step
		do := func(replayed bool, path, body string, headers ...string) sent {
			t.Helper()
			s := a.send(t, "POST", path, &a.admin, body, headers...)
			if s.status != 200 {
				t.Fatalf("POST %s: %d %v, want 200", path, s.status, s.body)
			}
			if got := s.header.Get("Idempotent-Replayed"); got != map[bool]string{true: "true"}[replayed] {
				t.Errorf("POST %s (replayed %v): Idempotent-Replayed %q", path, replayed, got)
			}
			steps = append(steps, step{s, replayed})
			return s
		}
		receive := `{"senderUmaAddress":"$success.eur@` + vasp.SandboxDomain + `","receiverUmaAddress":"$bob@` + a.domain +
			`","receivingCurrencyCode":"EUR","receivingCurrencyAmount":250}`
		first := do(false, "/sandbox/receive", receive, "Idempotency-Key", "receive-1")
		if again := do(true, "/sandbox/receive", receive, "Idempotency-Key", "receive-1"); again.body["id"] != first.body["id"] {
			t.Fatalf("the receive replay answered %v, the first %v", again.body["id"], first.body["id"])
		}
		do(false, "/sandbox/receive", receive, "Idempotency-Key", "receive-2") // another key: another payment

		q := a.quote(t, 100)
		_, _, quote := a.call(t, "GET", "/quotes/"+q, &a.admin, "")
		send := sandboxSendBody(q, "USD", int64(quote["totalSendingAmount"].(float64)))
		sent1 := do(false, "/sandbox/send", send, "Idempotency-Key", "send-1")
		for _, h := range [][]string{{"Idempotency-Key", "send-1"}, nil} {
			if again := do(true, "/sandbox/send", send, h...); again.body["id"] != sent1.body["id"] {
				t.Fatalf("the send replay %v answered %v, the first %v", h, again.body["id"], sent1.body["id"])
			}
		}

		byRequest := map[string]map[string]any{}
		for _, e := range a.events(t, "") {
			byRequest[e["requestId"].(string)] = e
		}
		for _, st := range steps {
			e := byRequest[st.s.id]
			o, _ := e["outcome"].(map[string]any)
			if o == nil || o["status"] != float64(200) || o["replayed"] != st.replayed || e["resourceId"] != st.s.body["id"] {
				t.Errorf("POST %s (replayed %v): event %v", st.s.path, st.replayed, e)
			}
		}
	})
}
