package main

import (
	"context"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
)

// `vaspd token delete` refuses to delete the last live token with MANAGE,
// which alone can create tokens through the API (the API refuses it too):
// the platform would be locked out of its own API until someone with the
// server's database ran `vaspd token create`. --force deletes it all the
// same. A refusal changes nothing, says why and how to go on, and is in
// the audit trail as 409 CONFLICT.
func TestTokenDeleteKeepsAManager(t *testing.T) {
	eachCLIDatabase(t, func(t *testing.T, open func() (*store.DB, error), flags ...string) {
		ctx := context.Background()
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		tokens, err := auth.NewTokens(ctx, db, nil)
		if err != nil {
			t.Fatal(err)
		}
		mk := func(perms ...vaspd.Permission) string {
			tok, err := tokens.Create(ctx, "ops", perms)
			if err != nil {
				t.Fatal(err)
			}
			return tok.ClientID
		}
		live := func(id string) bool {
			_, err := tokens.Get(ctx, id)
			return err == nil
		}
		del := func(id string, extra ...string) (int, string, string) {
			return runCmd(append(append([]string{"token", "delete", "--id", id}, extra...), flags...)...)
		}
		admin, viewer, other := mk(vaspd.PermManage), mk(vaspd.PermView), mk(vaspd.PermView, vaspd.PermManage)

		if code, _, errs := del(other); code != 0 { // admin still manages
			t.Fatalf("deleting one of two MANAGE tokens: exit %d, stderr %q", code, errs)
		}
		if code, _, errs := del(viewer); code != 0 {
			t.Fatalf("deleting a VIEW token: exit %d, stderr %q", code, errs)
		}
		code, out, errs := del(admin)
		if code != 1 || out != "" || !strings.Contains(errs, "last") || !strings.Contains(errs, "MANAGE") ||
			!strings.Contains(errs, "--force") {
			t.Errorf("deleting the last MANAGE token: exit %d, stdout %q, stderr %q; want 1 and a refusal naming --force", code, out, errs)
		}
		if !live(admin) {
			t.Fatal("the last MANAGE token was deleted without --force")
		}
		if code, out, errs := del(admin, "--force"); code != 0 || out != "deleted "+admin+"\n" {
			t.Fatalf("token delete --force: exit %d, stdout %q, stderr %q", code, out, errs)
		}
		if live(admin) {
			t.Error("token delete --force left the last MANAGE token live")
		}

		events, err := audit.New(db, nil).List(ctx, audit.Filter{ResourceID: admin, Ascending: true, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Outcome == nil || events[0].Outcome.Status != 409 ||
			events[0].Outcome.ErrorCode != vaspd.CodeConflict || events[1].Outcome == nil || events[1].Outcome.Status != 200 {
			t.Errorf("audit events of %s: %+v; want a 409 CONFLICT then a 200", admin, events)
		}
	})
}
