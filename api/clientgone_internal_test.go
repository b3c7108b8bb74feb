package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
)

// levels counts log records by level.
type levels struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Level]++
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

// TestClientGoneIsNotAnError: a request that failed because its client
// hung up (its context cancelled, the error context.Canceled) is nothing
// the operator must look into: logged at INFO, not ERROR, on the platform
// API and on the UMA endpoints. The same error with the client still
// there is ERROR (something inside gave up). The payment crash test saw
// an ERROR per counterparty that went away mid-payreq.
func TestClientGoneIsNotAnError(t *testing.T) {
	for _, c := range []struct {
		name      string
		gone      bool
		err       error
		wantError bool
	}{
		{"client gone, cancelled", true, fmt.Errorf("create invoice: %w", context.Canceled), false},
		{"client there, cancelled inside", false, fmt.Errorf("create invoice: %w", context.Canceled), true},
		{"client gone, another failure", true, fmt.Errorf("disk full"), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, path := range []string{"platform", "uma"} {
				logs := &levels{n: map[slog.Level]int{}}
				log := slog.New(logs)
				ctx, cancel := context.WithCancel(context.Background())
				if c.gone {
					cancel()
				} else {
					defer cancel()
				}
				r := httptest.NewRequest("POST", "/x", nil).WithContext(ctx)
				w := httptest.NewRecorder()
				if path == "platform" {
					WriteError(w, r, log, c.err)
				} else {
					(&umaHandlers{log: log}).umaError(w, r, c.err)
				}
				if got := logs.n[slog.LevelError] > 0; got != c.wantError {
					t.Errorf("%s: logged at ERROR: %v, want %v (records by level: %v)", path, got, c.wantError, logs.n)
				}
				if logs.n[slog.LevelError]+logs.n[slog.LevelInfo] != 1 {
					t.Errorf("%s: records by level %v, want one", path, logs.n)
				}
			}
		})
	}
}
