package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestWebhookOptionalBodyOfUnknownLength: the POSTs whose body is optional
// (rotate-secret, /webhooks/test) take an empty body of unknown length
// (chunked, or HTTP/2 without content-length) as no body, as they take a
// request without one; a chunked body that holds JSON is still read.
func TestWebhookOptionalBodyOfUnknownLength(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newWebhookFixture(t, db)
		rc := newWebhookReceiver(t)
		st, body := f.do(t, "PATCH", "/config", &f.admin, jsonCT, `{"webhookEndpoint":"`+rc.URL+`"}`)
		if st != 200 {
			t.Fatalf("set: %d %v", st, body)
		}
		id := body["webhookEndpointId"].(string)
		chunked := func(path, contentType, body string) (int, string) {
			t.Helper()
			st, b := postChunked(t, f.srv.URL+path, f.admin, contentType, body)
			return st, string(b)
		}
		for _, ct := range []string{"", jsonCT} {
			if st, b := chunked("/webhooks/test", ct, ""); st != 200 {
				t.Fatalf("empty chunked test webhook (Content-Type %q): %d %s", ct, st, b)
			}
			if st, b := chunked("/webhooks/endpoints/"+id+"/rotate-secret", ct, ""); st != 200 || !strings.Contains(b, `"previousSecretUntil"`) {
				t.Fatalf("empty chunked rotation (Content-Type %q), want the default grace: %d %s", ct, st, b)
			}
			if st, b := chunked("/webhooks/endpoints/"+id+"/rotate-secret", jsonCT, `{"gracePeriodSeconds":0}`); st != 200 || strings.Contains(b, `"previousSecretUntil"`) {
				t.Fatalf("chunked rotation with a body: %d %s", st, b)
			}
		}
	})
}

// The approve and reject of a payment take an empty body of unknown length
// as no body too (their reason and receiverUserInfo are optional): it was
// decoded as JSON and refused 415, before the transaction was looked at.
func TestDecisionOptionalBodyOfUnknownLength(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, action := range []string{"approve", "reject"} {
			st, raw := postChunked(t, f.base+"/transactions/"+vaspd.NewID(vaspd.IDTransaction)+"/"+action, f.admin, "", "")
			wantAPIError(t, st, raw, 404, "TRANSACTION_NOT_FOUND")
		}
	})
}

// postChunked POSTs body to url as tok, chunked: its length unknown to the
// server, as over HTTP/2 without content-length.
func postChunked(t *testing.T, url string, tok auth.CreatedToken, contentType, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.SetBasicAuth(tok.ClientID, tok.ClientSecret)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
