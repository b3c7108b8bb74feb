package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// newInvitationsFixture is a fixture serving /invitations, with the users
// $alice and $carol.
func newInvitationsFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := users.New(db, nil, users.WithRates(p))
	for _, local := range []string{"alice", "carol"} {
		if _, err := u.Create(context.Background(), db, users.User{PlatformUserID: local, UserType: users.Individual,
			UMALocal: local, PreferredCurrencies: []string{"USD"}}); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := invitations.New(db, u, invitations.Options{Rates: p, Domain: "vasp.example", BaseURL: "https://vasp.example"})
	if err != nil {
		t.Fatal(err)
	}
	return newFixture(t, db, func(s *api.Server) { s.MountInvitations(inv) })
}

func TestInvitationsAPI(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationsFixture(t, db)

		st, created := f.do(t, "POST", "/invitations", &f.admin, "application/json", `{"inviterUma":"$alice@vasp.example","amountToSend":250}`)
		if st != 201 || created["status"] != "PENDING" || created["inviterUma"] != "$alice@vasp.example" {
			t.Fatalf("create: %d %v", st, created)
		}
		code := created["code"].(string)
		if created["url"] != "https://vasp.example/i/"+code {
			t.Fatalf("url %v", created["url"])
		}
		if st, got := f.do(t, "GET", "/invitations/"+code, &f.viewer, "", ""); st != 200 || got["code"] != code {
			t.Fatalf("get: %d %v", st, got)
		}
		for _, c := range []struct {
			name, method, path string
			tok                *bool
			body               string
			status             int
			code               string
		}{
			{"viewer creates", "POST", "/invitations", nil, `{"inviterUma":"$alice"}`, 403, vaspd.CodeForbidden},
			{"unknown field", "POST", "/invitations", ptr(true), `{"inviterUma":"$alice","bonus":1}`, 400, vaspd.CodeInvalidInput},
			{"amount as string", "POST", "/invitations", ptr(true), `{"inviterUma":"$alice","amountToSend":"5"}`, 400, vaspd.CodeInvalidInput},
			{"amount as float", "POST", "/invitations", ptr(true), `{"inviterUma":"$alice","amountToSend":2.5}`, 400, vaspd.CodeInvalidInput},
			{"bad time", "POST", "/invitations", ptr(true), `{"inviterUma":"$alice","expiresAt":"tomorrow"}`, 400, vaspd.CodeInvalidRequestFormat},
			{"not json", "POST", "/invitations", ptr(true), `inviterUma=alice`, 400, vaspd.CodeInvalidRequestFormat},
			{"claim without invitee", "POST", "/invitations/" + code + "/claim", ptr(true), `{}`, 400, vaspd.CodeInvalidUMAAddress},
			{"claim unknown", "POST", "/invitations/0123456789ab/claim", ptr(true), `{"inviteeUma":"$bob@x.example"}`, 404, vaspd.CodeInvitationNotFound},
			{"get garbage", "GET", "/invitations/%27--", ptr(false), ``, 404, vaspd.CodeInvitationNotFound},
		} {
			tok := &f.viewer
			if c.tok != nil && *c.tok {
				tok = &f.admin
			}
			ct := ""
			if c.method == "POST" {
				ct = "application/json"
			}
			st, resp := f.do(t, c.method, c.path, tok, ct, c.body)
			if st != c.status || resp["code"] != c.code {
				t.Errorf("%s: %d %v, want %d %s", c.name, st, resp, c.status, c.code)
			}
		}
		if st, got := f.do(t, "POST", "/invitations/"+code+"/claim", &f.admin, "application/json", `{"inviteeUma":"$bob@other.example"}`); st != 200 || got["status"] != "CLAIMED" {
			t.Fatalf("claim: %d %v", st, got)
		}
		st, got := f.do(t, "POST", "/invitations/"+code+"/cancel", &f.admin, "", "")
		if st != 400 || got["code"] != vaspd.CodeInvitationAlreadyClaimed {
			t.Fatalf("cancel after claim: %d %v", st, got)
		}
		if d, _ := got["details"].(map[string]any); d["inviteeUma"] != "$bob@other.example" {
			t.Fatalf("details %v", got)
		}
	})
}

func ptr[T any](v T) *T { return &v }

// TestInvitationsIdempotencyKey: a platform retrying POST /invitations
// after a lost response, with its Idempotency-Key, gets the invitation the
// first request created (its 201, marked Idempotent-Replayed), never a
// second one; the key sent with another
// request is refused, and of concurrent retries one creates.
func TestInvitationsIdempotencyKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newInvitationsFixture(t, db)
		post := func(t *testing.T, body, key string) (int, map[string]any, http.Header) {
			t.Helper()
			return f.send(t, "POST", "/invitations", &f.admin, "application/json", body, "Idempotency-Key", key)
		}
		const body = `{"inviterUma":"$alice@vasp.example","firstName":"Bob","amountToSend":250,"expiresAt":"2999-01-01T00:00:00Z"}`
		testIdempotencyKey(t, db, idempotentCreate{
			send: post, status: http.StatusCreated, id: "code", table: "invitations",
			body: body, key: "inv-1",
			// The retry, and one spelling the same request another way
			// (the address without its domain, the same instant in
			// another zone).
			retries: []string{body,
				`{"inviterUma":"$alice","firstName":" Bob","expiresAt":"2999-01-01T01:00:00+01:00","amountToSend":250}`},
			others: []string{
				`{"inviterUma":"$alice@vasp.example","firstName":"Bobby","amountToSend":250,"expiresAt":"2999-01-01T00:00:00Z"}`,
				`{"inviterUma":"$alice@vasp.example","firstName":"Bob","amountToSend":251,"expiresAt":"2999-01-01T00:00:00Z"}`,
				`{"inviterUma":"$alice@vasp.example","firstName":"Bob","expiresAt":"2999-01-01T00:00:00Z"}`,
				`{"inviterUma":"$alice@vasp.example","firstName":"Bob","amountToSend":250}`,
				`{"inviterUma":"$carol@vasp.example","firstName":"Bob","amountToSend":250,"expiresAt":"2999-01-01T00:00:00Z"}`,
			},
			// A claimed invitation is still the retry's answer, as it is
			// now.
			then: func(t *testing.T, first map[string]any) {
				if st, got := f.do(t, "POST", "/invitations/"+first["code"].(string)+"/claim", &f.admin, "application/json",
					`{"inviteeUma":"$bob@other.example"}`); st != http.StatusOK {
					t.Fatalf("claim: %d %v", st, got)
				}
				if st, got, _ := post(t, body, "inv-1"); st != http.StatusCreated || got["code"] != first["code"] || got["status"] != "CLAIMED" {
					t.Fatalf("retry after the claim: %d %v", st, got)
				}
			},
			total: 3,
		})
	})
}
