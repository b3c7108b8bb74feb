package apiclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vaspd/vaspd/internal/apiclient"
)

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id != "id" || secret != "s3cret" {
			w.WriteHeader(401)
			return
		}
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Idempotency-Key") != "k1" {
				w.WriteHeader(400)
				return
			}
			_, _ = w.Write(b)
		case "/empty":
			w.WriteHeader(204)
		case "/conflict":
			w.WriteHeader(409)
			_, _ = w.Write([]byte(`{"status":409,"code":"UMA_ADDRESS_EXISTS","message":"taken","details":{"a":1}}`))
		default:
			w.WriteHeader(502)
			_, _ = w.Write([]byte(`<html>bad gateway</html>`))
		}
	}))
	defer srv.Close()
	c := &apiclient.Client{BaseURL: srv.URL + "/", ClientID: "id", ClientSecret: "s3cret"}
	ctx := context.Background()

	var out struct{ N int }
	if err := c.Do(ctx, "POST", "/echo", map[string]int{"n": 7}, &out, "Idempotency-Key", "k1"); err != nil || out.N != 7 {
		t.Fatalf("echo: %+v %v", out, err)
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "POST", "/echo", map[string]int{"n": 8}, &raw, "Idempotency-Key", "k1"); err != nil || string(raw) != `{"n":8}` {
		t.Fatalf("raw: %s %v", raw, err)
	}
	if err := c.Do(ctx, "DELETE", "/empty", nil, &out); err != nil {
		t.Fatalf("empty: %v", err)
	}
	var e *apiclient.Error
	err := c.Do(ctx, "GET", "/conflict", nil, nil)
	if !errors.As(err, &e) || e.Status != 409 || e.Code != "UMA_ADDRESS_EXISTS" || e.Details["a"] != float64(1) ||
		err.Error() != `HTTP 409 UMA_ADDRESS_EXISTS: taken {"a":1}` {
		t.Fatalf("conflict: %v", err)
	}
	err = c.Do(ctx, "GET", "/other", nil, nil)
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "" || err.Error() != "HTTP 502 from GET /other" {
		t.Fatalf("non-JSON error: %v", err)
	}
	bad := &apiclient.Client{BaseURL: srv.URL, ClientID: "id", ClientSecret: "wrong"}
	if err := bad.Do(ctx, "GET", "/echo", nil, nil); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("wrong secret: %v", err)
	}
}
