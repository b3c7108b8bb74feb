package daemon

import (
	"testing"
	"time"
)

// reconcile-interval and reconcile-window: given as a flag, the
// environment or the file's key; by default an hour and 72 hours;
// reconcile-interval 0 turns the periodic reconciliation off; out of range
// they stop vaspd naming the setting and its bounds, and so does a window
// shorter than two intervals.
func TestReconcileSettings(t *testing.T) {
	t.Parallel()
	if c := parseConfig(t, []string{"--reconcile-interval=30m", "--reconcile-window=24h"}, nil); c.Payments.ReconcileInterval != 30*time.Minute || c.Payments.ReconcileWindow != 24*time.Hour {
		t.Fatalf("flags: %s %s", c.Payments.ReconcileInterval, c.Payments.ReconcileWindow)
	}
	if c := parseConfig(t, nil, map[string]string{"VASPD_RECONCILE_INTERVAL": "0", "VASPD_RECONCILE_WINDOW": "2h"}); c.Payments.ReconcileInterval != 0 || c.Payments.ReconcileWindow != 2*time.Hour {
		t.Fatalf("environment: %s %s", c.Payments.ReconcileInterval, c.Payments.ReconcileWindow)
	}
	if c := parseConfig(t, nil, nil); c.Payments.ReconcileInterval != time.Hour || c.Payments.ReconcileWindow != 72*time.Hour {
		t.Fatalf("defaults: %s %s", c.Payments.ReconcileInterval, c.Payments.ReconcileWindow)
	}
	for _, tc := range []struct {
		interval, window time.Duration
		want             string
	}{
		{59 * time.Second, 72 * time.Hour, "setting reconcile-interval: want 0 (never) or from 1m0s to 24h0m0s, got 59s"},
		{25 * time.Hour, 72 * time.Hour, "setting reconcile-interval"},
		{-time.Hour, 72 * time.Hour, "setting reconcile-interval"},
		{time.Hour, 59 * time.Minute, "setting reconcile-window: want 0 (the default, 72h0m0s) or from 1h0m0s to 744h0m0s, got 59m0s"},
		{time.Hour, 745 * time.Hour, "setting reconcile-window"},
		{time.Hour, -time.Hour, "setting reconcile-window"},
		// A window shorter than two intervals leaves payments no run
		// checks: those created between one run's window and the next's
		// (every day's 23 h but one with 24h and 1h).
		{24 * time.Hour, time.Hour, "setting reconcile-window: want at least twice reconcile-interval (48h0m0s), got 1h0m0s"},
		{2 * time.Hour, 3 * time.Hour, "setting reconcile-window: want at least twice reconcile-interval"},
	} {
		cfg := baseConfig()
		cfg.Payments.ReconcileInterval, cfg.Payments.ReconcileWindow = tc.interval, tc.window
		resolveErr(t, cfg, tc.want, "")
	}
	for _, d := range [][2]time.Duration{{0, time.Hour}, {time.Hour, 0}, {time.Minute, 744 * time.Hour}, {24 * time.Hour, 72 * time.Hour}, {24 * time.Hour, 48 * time.Hour}, {30 * time.Minute, time.Hour}} {
		cfg := baseConfig()
		cfg.Payments.ReconcileInterval, cfg.Payments.ReconcileWindow = d[0], d[1]
		if err := cfg.Resolve(); err != nil {
			t.Error(err)
		}
	}
}
