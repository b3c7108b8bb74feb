package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store/storetest"
)

// umaDo sends a request to f and returns the response with its body read.
func umaDo(t *testing.T, f *payFixture, method, path, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

// TestUMAAnswersAreNotSniffed: UMA's answers, errors included, are JSON
// that quotes what the caller sent (a user name, a path); like the platform
// API's they say X-Content-Type-Options: nosniff, so no browser takes them
// for anything but JSON.
func TestUMAAnswersAreNotSniffed(t *testing.T) {
	t.Parallel()
	f := newPayFixture(t, storetest.SQLite(t))
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/.well-known/lnurlp/bob", ""},
		{"GET", "/.well-known/lnurlp/%3Cscript%3E", ""},
		{"GET", "/api/uma/payreq/bob?amount=x", ""},
		{"POST", "/api/uma/request_pay", `{"invoice":"uma1x"}`},
		{"GET", "/api/uma/nothing", ""},
	} {
		resp, body := umaDo(t, f, c.method, c.path, "application/json", c.body)
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d %.100s): X-Content-Type-Options %q, want nosniff", c.method, c.path, resp.StatusCode, body, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s %s: Content-Type %q", c.method, c.path, got)
		}
	}
}
