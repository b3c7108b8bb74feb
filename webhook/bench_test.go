package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the per-request costs: signing one attempt (sender), and
// verifying and handling one request (receiver). Run with
//
//	go test ./webhook/ -run '^$' -bench . -benchmem

func BenchmarkSign(b *testing.B) {
	body := []byte(vecIncomingBody)
	for _, c := range []struct {
		name string
		keys Keys
	}{
		{"one secret", Keys{Secrets: []string{vecSecret}}},
		{"rotation+ed25519", Keys{Secrets: []string{vecSecret, vecOldSecret}, SigningKeys: []string{vecSigningKey}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := NewSigner(c.keys)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := s.Sign(vecIncomingID, vecAttempt, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	body := []byte(vecIncomingBody)
	h, err := Sign(Keys{Secrets: []string{vecSecret}, SigningKeys: []string{vecSigningKey}}, vecIncomingID, vecAttempt, body)
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return vecAttempt }
	umaaas, _ := NewUMAaaSVerifier(vecSecret)
	for _, c := range []struct {
		name string
		v    Verifier
	}{
		{"v1", mustStandard(b, StandardConfig{Secrets: []string{vecSecret}, Now: now})},
		{"v1a", mustStandard(b, StandardConfig{PublicKeys: []string{vecPublicKey}, Now: now})},
		{"X-UMAaas-Signature", umaaas},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := c.v.Verify(h, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandler is one whole receive: read, verify, parse, claim,
// handle, complete, with the in-memory store and a fresh id per request.
func BenchmarkHandler(b *testing.B) {
	v := mustStandard(b, StandardConfig{Secrets: []string{vecSecret}})
	h, err := NewHandler(HandlerConfig{
		Verifier: v,
		Logger:   slog.New(slog.DiscardHandler),
		Handler:  EventHandlerFunc(func(context.Context, Event) (Reply, error) { return Approve(map[string]any{"NATIONALITY": "US"}), nil }),
	})
	if err != nil {
		b.Fatal(err)
	}
	s, _ := NewSigner(Keys{Secrets: []string{vecSecret}})
	n := 0
	for b.Loop() {
		n++
		id := fmt.Sprintf("Webhook:01a2020d-f980-7c3e-8f21-%012x", n)
		body := strings.Replace(vecIncomingBody, vecIncomingID, id, 1)
		hdr, err := s.Sign(id, time.Now(), []byte(body))
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header = hdr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkMemoryStoreClaimLarge: a Claim in a store retaining a million
// ids, a few thousand of which expire as it runs, costs about what it costs
// in an empty one (the sweep is bounded per Claim, and the expiry queue
// grows by chunks, never copying itself). TestMemoryStoreSweeps checks the
// bound itself.
func BenchmarkMemoryStoreClaimLarge(b *testing.B) {
	ctx := context.Background()
	now := time.Unix(1795330805, 0)
	s := &MemoryStore{Now: func() time.Time { return now }}
	for i := range 1_000_000 {
		id := fmt.Sprintf("Webhook:old-%d", i)
		tok, _ := s.Claim(ctx, id, time.Minute)
		s.Complete(ctx, id, tok, time.Hour+time.Duration(i)*time.Millisecond)
	}
	now = now.Add(time.Hour + time.Second) // the first 1000 ids expired
	i := 0
	for b.Loop() {
		if _, err := s.Claim(ctx, "Webhook:new-"+strconv.Itoa(i), time.Minute); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
