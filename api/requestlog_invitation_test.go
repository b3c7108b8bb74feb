package api_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// TestRequestLogKeepsInvitationCodesOut: an invitation's code is a bearer
// secret (whoever has it may claim the invitation), so the "http request"
// line of a request under /invitations/{code} (its GET, claim and cancel,
// an unknown code, a path the router refuses) logs the path with the code
// redacted, as a UMA name is (logPath). Every such line logged the path as
// sent, the code in it. POST /invitations, which has none, is as sent.
func TestRequestLogKeepsInvitationCodesOut(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		u := users.New(db, nil, users.WithRates(p))
		if _, err := u.Create(t.Context(), db, users.User{PlatformUserID: "alice", UserType: users.Individual,
			UMALocal: "alice", PreferredCurrencies: []string{"USD"}}); err != nil {
			t.Fatal(err)
		}
		inv, err := invitations.New(db, u, invitations.Options{Rates: p, Domain: "vasp.example", BaseURL: "https://vasp.example"})
		if err != nil {
			t.Fatal(err)
		}
		var logs lockedBuffer
		f := newFixtureOpts(t, db, func(o *api.Options) { o.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) },
			func(s *api.Server) { s.MountInvitations(inv) }, nil)
		st, created := f.do(t, "POST", "/invitations", &f.admin, "application/json", `{"inviterUma":"$alice@vasp.example"}`)
		code, _ := created["code"].(string)
		if st != 201 || code == "" {
			t.Fatalf("create: %d %v", st, created)
		}
		// A code no invitation has: code upper-cased (codes are lower-case
		// hex, matched exactly), or, for a code of digits only (about one
		// in 280), code with its first digit changed.
		unknown := strings.ToUpper(code)
		if unknown == code {
			first := "0"
			if code[0] == '0' {
				first = "1"
			}
			unknown = first + code[1:]
		}
		for i, c := range []struct {
			method, path, want string
			status             int
		}{
			{"GET", "/invitations/" + code, "/invitations/{code}", 200},
			{"POST", "/invitations/" + code + "/claim", "/invitations/{code}", 400}, // no invitee
			{"POST", "/invitations/" + code + "/cancel", "/invitations/{code}", 200},
			{"GET", "/invitations/" + unknown, "/invitations/{code}", 404},
			{"GET", "/Invitations/" + code, "/Invitations/{code}", 404},
			{"GET", "/invitations//" + code + "?x=1", "/invitations/{code}", 0},
		} {
			ct := ""
			if c.method == "POST" {
				ct = "application/json"
			}
			id := fmt.Sprintf("inv-%d", i)
			if st, resp, _ := f.send(t, c.method, c.path, &f.admin, ct, "{}", "X-Request-Id", id); c.status != 0 && st != c.status {
				t.Errorf("%s %s: %d %v, want %d", c.method, c.path, st, resp, c.status)
			}
			if line := requestLogLine(t, logs.String(), id); line == nil || line["path"] != c.want {
				t.Errorf("%s %s: logged %v, want path %s", c.method, c.path, line, c.want)
			}
		}
		f.send(t, "POST", "/invitations", &f.admin, "application/json", "{}", "X-Request-Id", "inv-create")
		if line := requestLogLine(t, logs.String(), "inv-create"); line == nil || line["path"] != "/invitations" {
			t.Errorf("POST /invitations: logged %v, want path /invitations", line)
		}
		for _, s := range []string{code, unknown} {
			if strings.Contains(logs.String(), s) {
				t.Errorf("the invitation code %q is in the log:\n%s", s, logs.String())
			}
		}
	})
}
