package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/webhook"
)

// With several endpoints on one receiver, each request must verify with the
// secret of the endpoint it was addressed to, and "already received" (409)
// and overlap hold per endpoint: the same webhookId goes to every endpoint.
func TestReceiverEndpoints(t *testing.T) {
	rc, err := newReceiver(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	secrets := map[string]string{}
	eps := map[string]epVerifier{}
	for _, k := range []string{"0", "1"} {
		if secrets[k], err = webhook.NewSecret(); err != nil {
			t.Fatal(err)
		}
		if eps[k], err = newEpVerifier(secrets[k]); err != nil {
			t.Fatal(err)
		}
	}
	rc.serveEndpoints(eps)

	body := []byte(`{"webhookId":"Webhook:a","type":"TEST"}`)
	post := func(url, secret string) int {
		t.Helper()
		s, err := webhook.NewSigner(webhook.Keys{Secrets: []string{secret}})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SignTo(req.Header, "Webhook:a", time.Now(), body); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		name, url, secret string
		want              int
	}{
		{"first to endpoint 0", rc.endpointURL("0"), secrets["0"], http.StatusOK},
		{"first to endpoint 1: not a repeat", rc.endpointURL("1"), secrets["1"], http.StatusOK},
		{"again to endpoint 0", rc.endpointURL("0"), secrets["0"], http.StatusConflict},
		{"to endpoint 1 signed with endpoint 0's secret", rc.endpointURL("1"), secrets["0"], http.StatusUnauthorized},
		{"to no endpoint's URL", rc.endpointURL("7"), secrets["0"], http.StatusNotFound},
	}
	for _, st := range steps {
		if got := post(st.url, st.secret); got != st.want {
			t.Fatalf("%s: status %d, want %d", st.name, got, st.want)
		}
	}
	rs := rc.receipts()["Webhook:a"]
	var got []string
	for _, r := range rs {
		got = append(got, r.ep)
	}
	if strings.Join(got, ",") != "0,1,0" {
		t.Fatalf("receipts to endpoints %q, want 0,1,0", got)
	}
	rc.mu.Lock()
	problems := strings.Join(rc.problems, "\n")
	rc.mu.Unlock()
	for _, want := range []string{
		"Webhook:a to endpoint 1: X-UMAaas-Signature does not verify",
		"which is no endpoint's URL",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("want a problem mentioning %q, got:\n%s", want, problems)
		}
	}
	if strings.Contains(problems, "overlap") {
		t.Errorf("sequential requests reported as overlap:\n%s", problems)
	}
}
