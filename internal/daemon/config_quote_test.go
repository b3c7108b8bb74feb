package daemon

import (
	"strings"
	"testing"
)

// A bad log-format, log-level, domain, listen, lightning or
// lightning-network is quoted in its error bounded
// (config.QuoteValue, as a bad number is): the whole value was quoted, so
// one from the config file (up to 1 MiB) made an error that long.
func TestBadTextSettingQuotedBounded(t *testing.T) {
	t.Parallel()
	long := "bad" + strings.Repeat("x", 100_000)
	for name, set := range map[string]func(*Config){
		"log-format":        func(c *Config) { c.LogFormat = long },
		"log-level":         func(c *Config) { c.LogLevel = long },
		"domain":            func(c *Config) { c.Domain = long },
		"listen":            func(c *Config) { c.Listen = long },
		"listen:":           func(c *Config) { c.Listen = "127.0.0.1:" + long },
		"lightning":         func(c *Config) { c.Lightning.Backend = long },
		"lightning-network": func(c *Config) { c.Lightning.Backend, c.Lightning.Network = "embedded", long },
	} {
		c := baseConfig()
		set(&c)
		err := c.Resolve()
		if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "setting "+strings.TrimSuffix(name, ":")) {
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			t.Errorf("%s: error of %d bytes (%.120q…); want one naming the setting, at most 300 bytes", name, len(msg), msg)
		}
	}
}
