package daemon

import (
	"fmt"
	"testing"
	"time"
)

// quote-refresh-lead and quote-refresh-max-hold tune the refresher of
// quotes asked to auto-refresh: given as flags or environment, 0 their
// defaults, and out of range (a lead under a second, over an hour; a hold
// under a minute, over a day, or negative) they stop vaspd naming the
// setting and its bounds.
func TestQuoteRefreshSettings(t *testing.T) {
	t.Parallel()
	c := parseConfig(t, []string{"--quote-refresh-lead=45s"}, map[string]string{"VASPD_QUOTE_REFRESH_MAX_HOLD": "2h"})
	if c.Payments.QuoteRefreshLead != 45*time.Second || c.Payments.QuoteRefreshMaxHold != 2*time.Hour {
		t.Fatalf("lead %s, max hold %s", c.Payments.QuoteRefreshLead, c.Payments.QuoteRefreshMaxHold)
	}
	d := parseConfig(t, nil, nil)
	if d.Payments.QuoteRefreshLead != 30*time.Second || d.Payments.QuoteRefreshMaxHold != time.Hour {
		t.Fatalf("defaults: lead %s, max hold %s", d.Payments.QuoteRefreshLead, d.Payments.QuoteRefreshMaxHold)
	}
	for _, tc := range []struct {
		set  func(*PaymentConfig)
		want string
	}{
		{func(p *PaymentConfig) { p.QuoteRefreshLead = 500 * time.Millisecond }, "setting quote-refresh-lead: want 0 (the default, 30s) or from 1s to 1h0m0s, got 500ms"},
		{func(p *PaymentConfig) { p.QuoteRefreshLead = time.Hour + time.Second }, "setting quote-refresh-lead"},
		{func(p *PaymentConfig) { p.QuoteRefreshLead = -time.Second }, "setting quote-refresh-lead"},
		{func(p *PaymentConfig) { p.QuoteRefreshMaxHold = 59 * time.Second }, "setting quote-refresh-max-hold: want 0 (the default, 1h0m0s) or from 1m0s to 24h0m0s, got 59s"},
		{func(p *PaymentConfig) { p.QuoteRefreshMaxHold = 25 * time.Hour }, "setting quote-refresh-max-hold"},
		{func(p *PaymentConfig) { p.QuoteRefreshMaxHold = -time.Minute }, "setting quote-refresh-max-hold"},
	} {
		cfg := baseConfig()
		tc.set(&cfg.Payments)
		resolveErr(t, cfg, tc.want, "")
	}
	for _, ok := range []func(*PaymentConfig){
		func(p *PaymentConfig) { p.QuoteRefreshLead, p.QuoteRefreshMaxHold = 0, 0 },
		func(p *PaymentConfig) { p.QuoteRefreshLead, p.QuoteRefreshMaxHold = time.Second, time.Minute },
		func(p *PaymentConfig) { p.QuoteRefreshLead, p.QuoteRefreshMaxHold = time.Hour, 24*time.Hour },
	} {
		cfg := baseConfig()
		ok(&cfg.Payments)
		if err := cfg.Resolve(); err != nil {
			t.Error(err)
		}
	}
}

// quote-refresh-max-change-bps bounds how much worse for the sender an
// auto-refresh's terms may be than the quote's first ones, in basis
// points: 200 (2 %) by default, 0 the default, else from 1 to 5000; out of
// range it stops vaspd naming the setting and its bounds.
func TestQuoteRefreshMaxChangeSetting(t *testing.T) {
	t.Parallel()
	if c := parseConfig(t, []string{"--quote-refresh-max-change-bps=50"}, nil); c.Payments.QuoteRefreshMaxChangeBps != 50 {
		t.Fatalf("flag: %d", c.Payments.QuoteRefreshMaxChangeBps)
	}
	if c := parseConfig(t, nil, map[string]string{"VASPD_QUOTE_REFRESH_MAX_CHANGE_BPS": "500"}); c.Payments.QuoteRefreshMaxChangeBps != 500 {
		t.Fatalf("environment: %d", c.Payments.QuoteRefreshMaxChangeBps)
	}
	if d := parseConfig(t, nil, nil); d.Payments.QuoteRefreshMaxChangeBps != 200 {
		t.Fatalf("default: %d", d.Payments.QuoteRefreshMaxChangeBps)
	}
	for _, bad := range []int64{-1, 5001, 10_000, 1 << 62} {
		cfg := baseConfig()
		cfg.Payments.QuoteRefreshMaxChangeBps = bad
		resolveErr(t, cfg, fmt.Sprintf("setting quote-refresh-max-change-bps: want 0 (the default, 200: 2 %%) or from 1 to 5000 basis points, got %d", bad), "")
	}
	for _, ok := range []int64{0, 1, 200, 5000} {
		cfg := baseConfig()
		cfg.Payments.QuoteRefreshMaxChangeBps = ok
		if err := cfg.Resolve(); err != nil {
			t.Errorf("%d: %v", ok, err)
		}
	}
}

// quote-expiry-margin is how long before its receiver's invoice a quote
// expires: 30 s by default, given as a flag or environment, 0 the default,
// and out of range (under a second, over ten minutes, or negative) it
// stops vaspd naming the setting and its bounds; it reaches the payments.
func TestQuoteExpiryMarginSetting(t *testing.T) {
	t.Parallel()
	if c := parseConfig(t, []string{"--quote-expiry-margin=45s"}, nil); c.Payments.QuoteExpiryMargin != 45*time.Second {
		t.Fatalf("flag: %s", c.Payments.QuoteExpiryMargin)
	}
	if c := parseConfig(t, nil, map[string]string{"VASPD_QUOTE_EXPIRY_MARGIN": "2m"}); c.Payments.QuoteExpiryMargin != 2*time.Minute {
		t.Fatalf("environment: %s", c.Payments.QuoteExpiryMargin)
	}
	if d := parseConfig(t, nil, nil); d.Payments.QuoteExpiryMargin != 30*time.Second {
		t.Fatalf("default: %s", d.Payments.QuoteExpiryMargin)
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{500 * time.Millisecond, "setting quote-expiry-margin: want 0 (the default, 30s) or from 1s to 10m0s, got 500ms"},
		{10*time.Minute + time.Second, "setting quote-expiry-margin: want 0 (the default, 30s) or from 1s to 10m0s, got 10m1s"},
		{-time.Second, "setting quote-expiry-margin"},
	} {
		cfg := baseConfig()
		cfg.Payments.QuoteExpiryMargin = tc.d
		resolveErr(t, cfg, tc.want, "")
	}
	for _, ok := range []time.Duration{0, time.Second, 10 * time.Minute} {
		cfg := baseConfig()
		cfg.Payments.QuoteExpiryMargin = ok
		if err := cfg.Resolve(); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
