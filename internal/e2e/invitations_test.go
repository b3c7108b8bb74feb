package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestInvitationPayByLink: Alice invites a friend with $5 attached; the
// friend opens an account at another VASP ($bob there), which claims the
// invitation; Alice's platform gets INVITATION_CLAIMED and pays the
// amount with a sender-locked quote, as UMAaaS describes.
func TestInvitationPayByLink(t *testing.T) {
	each(t, func(t *testing.T, db dbKind) {
		a, b := twoVASPs(t, db, nil)
		alice := a.user("alice", "USD", "Alice Sender")
		bob := b.user("bob", "EUR", "Bob Receiver")
		a.deposit(alice.ID, "USD", 20_00)

		var inv struct {
			Code, Status, URL, InviterUma, InviteeUma string
			AmountToSend                              struct {
				Amount   int64
				Currency struct{ Code string }
			}
		}
		a.mustCall("POST", "/invitations", map[string]any{"inviterUma": "$alice@" + a.domain, "firstName": "Bob",
			"amountToSend": 5_00, "expiresAt": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, &inv)
		if inv.Status != "PENDING" || inv.URL != a.base+"/i/"+inv.Code || inv.AmountToSend.Amount != 5_00 || inv.AmountToSend.Currency.Code != "USD" {
			t.Fatalf("invitation %+v", inv)
		}
		bobAddr := "$bob@" + b.domain
		a.mustCall("POST", "/invitations/"+inv.Code+"/claim", map[string]any{"inviteeUma": bobAddr}, &inv)
		if inv.Status != "CLAIMED" || inv.InviteeUma != bobAddr {
			t.Fatalf("claimed %+v", inv)
		}
		var claimed map[string]any
		eventually(t, "the INVITATION_CLAIMED webhook", func() bool {
			a.hooks.mu.Lock()
			defer a.hooks.mu.Unlock()
			for _, m := range a.hooks.got {
				if m["type"] == "INVITATION_CLAIMED" {
					claimed, _ = m["invitation"].(map[string]any)
					return true
				}
			}
			return false
		})
		if claimed["code"] != inv.Code || claimed["inviteeUma"] != bobAddr || claimed["status"] != "CLAIMED" {
			t.Fatalf("webhook invitation %v", claimed)
		}
		// The platform pays the invitee what the invitation promised.
		before := b.balance(bob.ID, "EUR")
		q := quote(t, a, alice.ID, bobAddr, "SENDING", 5_00)
		var tx txResp
		a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx, "Idempotency-Key", "invite-"+inv.Code)
		if tx.Status != "COMPLETED" || tx.SentAmount.Amount != 5_00 {
			t.Fatalf("pay-by-link payment %+v", tx)
		}
		eventually(t, "bob credited", func() bool { return b.balance(bob.ID, "EUR") == before+q.TotalReceivingAmount })

		if st, err := a.call("POST", "/invitations/"+inv.Code+"/cancel", nil, nil); st != 400 || !strings.Contains(fmt.Sprint(err), "INVITATION_ALREADY_CLAIMED") {
			t.Fatalf("cancelling a claimed invitation: %d %v", st, err)
		}
		a.checkBooks()
		b.checkBooks()
	})
}
