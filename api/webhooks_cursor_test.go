package api_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestWebhookListsForeignCursor: a cursor of GET /webhooks/endpoints or
// GET /webhooks/deliveries is the last id of a page. One that decoded to
// anything else (another list's id, text) was compared with the ids as it
// was: "WebhookDelivery:z" answered the newest deliveries again,
// "WebhookEndpoint:" the first endpoints, another kind of id an empty or a
// full list, all 200 as if the cursor were good. They are 400, as a
// cursor that does not decode is; an issued cursor still pages.
func TestWebhookListsForeignCursor(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newWebhookFixture(t, db)
		rc := newWebhookReceiver(t)
		for i := 0; i < 2; i++ {
			if st, body := f.do(t, "POST", "/webhooks/endpoints", &f.admin, jsonCT, `{"url":"`+rc.URL+`","eventTypes":["TEST"]}`); st != 201 {
				t.Fatalf("create: %d %v", st, body)
			}
		}
		enc := base64.RawURLEncoding.EncodeToString
		for _, list := range []struct{ path, typ string }{
			{"/webhooks/endpoints", vaspd.IDEndpoint},
			{"/webhooks/deliveries", vaspd.IDDelivery},
		} {
			id := vaspd.NewID(list.typ)
			for _, c := range []string{list.typ + ":z", list.typ + ":", vaspd.NewID(vaspd.IDQuote), "~", "0",
				list.typ + ":" + id, strings.ToUpper(id)} {
				st, m := f.do(t, "GET", list.path+"?cursor="+enc([]byte(c)), &f.viewer, "", "")
				if st != 400 {
					t.Errorf("GET %s cursor %q: %d %v, want 400", list.path, c, st, m)
					continue
				}
				wantError(t, st, m, 400, "INVALID_INPUT")
			}
			if st, m := f.do(t, "GET", list.path+"?cursor="+enc([]byte(id)), &f.viewer, "", ""); st != 200 {
				t.Errorf("GET %s with an id as cursor: %d %v", list.path, st, m)
			}
		}
	})
}
