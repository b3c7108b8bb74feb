package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// rates-reload-interval and rates-max-age: given as flags or environment,
// 0 the default interval (10s) and no maximum age; out of range, negative,
// a maximum age within two intervals or without rates-file (the built-in
// rates never change) they stop vaspd naming the setting.
func TestRatesReloadSettings(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "rates.yaml")
	if err := os.WriteFile(file, []byte("currencies:\n  - {code: USD, decimals: 2, btcPrice: \"100000\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := parseConfig(t, []string{"--rates-file=" + file, "--rates-reload-interval=5s"}, map[string]string{"VASPD_RATES_MAX_AGE": "2h"})
	if c.Payments.RatesReloadInterval != 5*time.Second || c.Payments.RatesMaxAge != 2*time.Hour {
		t.Fatalf("interval %s, max age %s", c.Payments.RatesReloadInterval, c.Payments.RatesMaxAge)
	}
	d := parseConfig(t, nil, nil)
	if d.Payments.RatesReloadInterval != 10*time.Second || d.Payments.RatesMaxAge != 0 {
		t.Fatalf("defaults: interval %s, max age %s", d.Payments.RatesReloadInterval, d.Payments.RatesMaxAge)
	}
	for _, tc := range []struct {
		set  func(*PaymentConfig)
		want string
	}{
		{func(p *PaymentConfig) { p.RatesReloadInterval = 500 * time.Millisecond }, "setting rates-reload-interval: want 0 (the default, 10s) or from 1s to 1h0m0s, got 500ms"},
		{func(p *PaymentConfig) { p.RatesReloadInterval = time.Hour + time.Second }, "setting rates-reload-interval"},
		{func(p *PaymentConfig) { p.RatesReloadInterval = -time.Second }, "setting rates-reload-interval"},
		{func(p *PaymentConfig) { p.RatesFile, p.RatesMaxAge = file, 59*time.Second }, "setting rates-max-age: want 0 (off) or from 1m0s to 720h0m0s, got 59s"},
		{func(p *PaymentConfig) { p.RatesFile, p.RatesMaxAge = file, 721*time.Hour }, "setting rates-max-age"},
		{func(p *PaymentConfig) { p.RatesFile, p.RatesMaxAge = file, -time.Minute }, "setting rates-max-age"},
		{func(p *PaymentConfig) { p.RatesMaxAge = time.Hour }, "setting rates-max-age: needs rates-file"},
		{func(p *PaymentConfig) {
			p.RatesFile, p.RatesReloadInterval, p.RatesMaxAge = file, 30*time.Second, time.Minute
		}, "setting rates-max-age: 1m0s must be more than twice rates-reload-interval (30s)"},
		{func(p *PaymentConfig) {
			p.RatesFile, p.RatesReloadInterval, p.RatesMaxAge = file, 30*time.Minute, time.Hour
		}, "setting rates-max-age: 1h0m0s must be more than twice rates-reload-interval (30m0s)"},
	} {
		cfg := baseConfig()
		tc.set(&cfg.Payments)
		resolveErr(t, cfg, tc.want, "")
	}
	for _, ok := range []func(*PaymentConfig){
		func(p *PaymentConfig) { p.RatesReloadInterval, p.RatesMaxAge = 0, 0 },
		func(p *PaymentConfig) { p.RatesReloadInterval = time.Hour }, // no rates-file: nothing reloads
		func(p *PaymentConfig) {
			p.RatesFile, p.RatesReloadInterval, p.RatesMaxAge = file, time.Second, time.Minute
		},
		func(p *PaymentConfig) { p.RatesFile, p.RatesMaxAge = file, 30*24*time.Hour },
	} {
		cfg := baseConfig()
		ok(&cfg.Payments)
		if err := cfg.Resolve(); err != nil {
			t.Error(err)
		}
	}
}
