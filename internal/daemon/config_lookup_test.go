package daemon

import (
	"testing"
	"time"
)

// lookup-retention: given as a flag, the environment or the file's key, 0
// its default (a week), and out of range (under an hour, over ten years,
// negative) it stops vaspd naming the setting and its bounds.
func TestLookupRetentionSetting(t *testing.T) {
	t.Parallel()
	if c := parseConfig(t, []string{"--lookup-retention=48h"}, nil); c.Payments.LookupRetention != 48*time.Hour {
		t.Fatalf("flag: %s", c.Payments.LookupRetention)
	}
	if c := parseConfig(t, nil, map[string]string{"VASPD_LOOKUP_RETENTION": "2h"}); c.Payments.LookupRetention != 2*time.Hour {
		t.Fatalf("environment: %s", c.Payments.LookupRetention)
	}
	if d := parseConfig(t, nil, nil); d.Payments.LookupRetention != 7*24*time.Hour {
		t.Fatalf("default: %s", d.Payments.LookupRetention)
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{59 * time.Minute, "setting lookup-retention: want 0 (the default, 168h0m0s) or from 1h0m0s to 87600h0m0s, got 59m0s"},
		{87601 * time.Hour, "setting lookup-retention"},
		{-time.Hour, "setting lookup-retention"},
	} {
		cfg := baseConfig()
		cfg.Payments.LookupRetention = tc.d
		resolveErr(t, cfg, tc.want, "")
	}
	for _, d := range []time.Duration{0, time.Hour, 87600 * time.Hour} {
		cfg := baseConfig()
		cfg.Payments.LookupRetention = d
		if err := cfg.Resolve(); err != nil {
			t.Error(err)
		}
	}
}

// uma-request-retention: given as a flag or the environment, 0 its default
// (30 days), and out of range (under an hour, over ten years, negative) it
// stops vaspd naming the setting and its bounds.
func TestUmaRequestRetentionSetting(t *testing.T) {
	t.Parallel()
	if c := parseConfig(t, []string{"--uma-request-retention=48h"}, nil); c.Payments.UmaRequestRetention != 48*time.Hour {
		t.Fatalf("flag: %s", c.Payments.UmaRequestRetention)
	}
	if c := parseConfig(t, nil, map[string]string{"VASPD_UMA_REQUEST_RETENTION": "2h"}); c.Payments.UmaRequestRetention != 2*time.Hour {
		t.Fatalf("environment: %s", c.Payments.UmaRequestRetention)
	}
	if d := parseConfig(t, nil, nil); d.Payments.UmaRequestRetention != 30*24*time.Hour {
		t.Fatalf("default: %s", d.Payments.UmaRequestRetention)
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{59 * time.Minute, "setting uma-request-retention: want 0 (the default, 720h0m0s) or from 1h0m0s to 87600h0m0s, got 59m0s"},
		{87601 * time.Hour, "setting uma-request-retention"},
		{-time.Hour, "setting uma-request-retention"},
	} {
		cfg := baseConfig()
		cfg.Payments.UmaRequestRetention = tc.d
		resolveErr(t, cfg, tc.want, "")
	}
	for _, d := range []time.Duration{0, time.Hour, 87600 * time.Hour} {
		cfg := baseConfig()
		cfg.Payments.UmaRequestRetention = d
		if err := cfg.Resolve(); err != nil {
			t.Error(err)
		}
	}
}

// bulk-upload-error-retention: as uma-request-retention.
func TestBulkUploadErrorRetentionSetting(t *testing.T) {
	t.Parallel()
	if c := parseConfig(t, []string{"--bulk-upload-error-retention=48h"}, nil); c.Payments.BulkUploadErrorRetention != 48*time.Hour {
		t.Fatalf("flag: %s", c.Payments.BulkUploadErrorRetention)
	}
	if c := parseConfig(t, nil, map[string]string{"VASPD_BULK_UPLOAD_ERROR_RETENTION": "2h"}); c.Payments.BulkUploadErrorRetention != 2*time.Hour {
		t.Fatalf("environment: %s", c.Payments.BulkUploadErrorRetention)
	}
	if d := parseConfig(t, nil, nil); d.Payments.BulkUploadErrorRetention != 30*24*time.Hour {
		t.Fatalf("default: %s", d.Payments.BulkUploadErrorRetention)
	}
	for _, d := range []time.Duration{59 * time.Minute, 87601 * time.Hour, -time.Hour} {
		cfg := baseConfig()
		cfg.Payments.BulkUploadErrorRetention = d
		resolveErr(t, cfg, "setting bulk-upload-error-retention: want 0 (the default, 720h0m0s) or from 1h0m0s to 87600h0m0s, got "+d.String(), "")
	}
	for _, d := range []time.Duration{0, time.Hour, 87600 * time.Hour} {
		cfg := baseConfig()
		cfg.Payments.BulkUploadErrorRetention = d
		if err := cfg.Resolve(); err != nil {
			t.Error(err)
		}
	}
}
