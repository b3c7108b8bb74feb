package apiclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/internal/apiclient"
)

func TestWaitReady(t *testing.T) {
	var polls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			t.Errorf("polled %s", r.URL.Path)
		}
		if polls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable) // migrating
		}
	}))
	defer srv.Close()
	if err := apiclient.WaitReady(t.Context(), srv.URL, nil, 10*time.Second); err != nil || polls.Load() != 3 {
		t.Fatalf("WaitReady: %v after %d polls, want nil after 3", err, polls.Load())
	}

	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer never.Close()
	if err := apiclient.WaitReady(t.Context(), never.URL, nil, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "not 200") {
		t.Errorf("never ready: %v", err)
	}
	exited := make(chan struct{})
	close(exited)
	if err := apiclient.WaitReady(t.Context(), never.URL, exited, time.Minute); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("exited: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := apiclient.WaitReady(ctx, never.URL, nil, time.Minute); err == nil {
		t.Error("cancelled: nil error")
	}
}
