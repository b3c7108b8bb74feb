package daemon

import (
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
