package vaspd

import (
	"context"
	"testing"
	"time"
)

// TestSleep: Sleep waits the whole duration when not cancelled, and
// returns false as soon as its context ends.
func TestSleep(t *testing.T) {
	start := time.Now()
	if !Sleep(context.Background(), 20*time.Millisecond) {
		t.Fatal("Sleep without cancellation reported it was cut short")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("Sleep returned after %s, want at least 20ms", waited)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep with an ended context reported it waited")
	}
}
