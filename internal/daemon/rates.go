package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/rates"
)

// Bounds of rates-reload-interval (but for 0, the default) and of
// rates-max-age (but for 0, off).
const (
	MinRatesReloadInterval = time.Second
	MaxRatesReloadInterval = time.Hour
	MinRatesMaxAge         = time.Minute
	MaxRatesMaxAge         = 30 * 24 * time.Hour
)

func (c *PaymentConfig) declareRates(s *config.Set) {
	s.String(&c.RatesFile, "rates-file", "", "YAML file of exchange rates, spreads and fees per currency, reloaded when it changes (default: built-in DEMO rates, never for real money)")
	s.Duration(&c.RatesReloadInterval, "rates-reload-interval", rates.DefaultReloadInterval, "how often rates-file is looked at for a change, taken at once if valid (0 = the default; SIGHUP reloads it at once)")
	s.Duration(&c.RatesMaxAge, "rates-max-age", 0, "new money is not priced (quotes, refreshes, incoming payments refused) once rates-file was last modified longer ago than this (0 = off)")
}

// resolveRates checks the rates settings and reads rates-file.
func (c *PaymentConfig) resolveRates() error {
	if d := c.RatesReloadInterval; d != 0 && (d < MinRatesReloadInterval || d > MaxRatesReloadInterval) {
		return fmt.Errorf("setting rates-reload-interval: want 0 (the default, %s) or from %s to %s, got %s",
			rates.DefaultReloadInterval, MinRatesReloadInterval, MaxRatesReloadInterval, d)
	}
	if d := c.RatesMaxAge; d != 0 {
		if d < MinRatesMaxAge || d > MaxRatesMaxAge {
			return fmt.Errorf("setting rates-max-age: want 0 (off) or from %s to %s, got %s", MinRatesMaxAge, MaxRatesMaxAge, d)
		}
		if c.RatesFile == "" {
			return fmt.Errorf("setting rates-max-age: needs rates-file: the built-in demo rates never change, so they have no age")
		}
		// A fresh file is noticed only at the next look: a maximum age
		// within one interval would refuse payments between two.
		if every := c.ratesReloadInterval(); d <= 2*every {
			return fmt.Errorf("setting rates-max-age: %s must be more than twice rates-reload-interval (%s), or updated rates could be noticed only after going stale", d, every)
		}
	}
	if c.RatesFile != "" {
		if _, err := c.loadRates(); err != nil {
			return err
		}
	}
	return nil
}

func (c PaymentConfig) ratesReloadInterval() time.Duration {
	if c.RatesReloadInterval == 0 {
		return rates.DefaultReloadInterval
	}
	return c.RatesReloadInterval
}

// loadRates reads and parses rates-file (with readSettingFile's bound).
func (c PaymentConfig) loadRates() (rates.Config, error) {
	b, err := readSettingFile("rates-file", c.RatesFile)
	if err != nil {
		return rates.Config{}, err
	}
	rc, err := rates.ParseConfig(b)
	if err != nil {
		return rates.Config{}, fmt.Errorf("setting rates-file: %w", err)
	}
	return rc, nil
}

// provider is the rates of rates-file, reloaded when it changes (watchRates),
// or the built-in demo rates.
func (c PaymentConfig) provider(clock vaspd.Clock, log *slog.Logger) (*rates.ConfigProvider, error) {
	if c.RatesFile != "" {
		return rates.NewFileProvider(rates.FileOptions{
			Path: c.RatesFile, Setting: "rates-file", MaxAge: c.RatesMaxAge, Clock: clock,
			Log:  log.With("component", "rates"),
			Read: func(path string) ([]byte, error) { return readSettingFile("rates-file", path) },
		})
	}
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), clock)
	if err != nil {
		return nil, fmt.Errorf("setting rates-file: %w", err)
	}
	return p, nil
}

// watchRates reloads rates-file every rates-reload-interval, and at once
// on each signal from hup (SIGHUP, caught by Run), until ctx ends. With
// the built-in rates there is nothing to reload: a SIGHUP is logged as
// such, and vaspd goes on.
func watchRates(ctx context.Context, p *rates.ConfigProvider, c PaymentConfig, hup <-chan os.Signal, log *slog.Logger) error {
	if c.RatesFile == "" {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-hup:
				log.Info("SIGHUP: nothing to reload (rates-file is not set); vaspd goes on")
			}
		}
	}
	log.Info("rates file watched: reloaded when it changes, and on SIGHUP", "setting", "rates-file",
		"every", c.ratesReloadInterval().String(), "max_age", c.RatesMaxAge.String())
	now := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				select {
				case now <- struct{}{}:
				case <-done:
					return
				}
			}
		}
	}()
	p.Watch(ctx, c.ratesReloadInterval(), now)
	return nil
}
