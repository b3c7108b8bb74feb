package daemon

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"io"
	"log/slog"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vaspd/vaspd/internal/config"
)

// baseConfig is the least a Resolve needs (what flags' defaults give).
func baseConfig() Config {
	return Config{DataDir: "d", Listen: "127.0.0.1:8080", LogFormat: "auto", LogLevel: "info", ShutdownTimeout: time.Second}
}

// parseConfig is the Config vaspd serve's flags, environment (env, not the
// process's) and --config file give for args, before Resolve.
func parseConfig(t *testing.T, args []string, env map[string]string) Config {
	t.Helper()
	var c Config
	set := &config.Set{}
	c.Declare(set)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := set.Parse(fs, args, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	return c
}

// resolveErr resolves c and checks the error names want and does not
// contain secret (when given).
func resolveErr(t *testing.T, c Config, want, secret string) {
	t.Helper()
	err := c.Resolve()
	if err == nil || !strings.Contains(err.Error(), want) || (secret != "" && strings.Contains(err.Error(), secret)) ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line naming %q (without %q)", err, want, secret)
	}
}

// An SQLite database that is not a file (sqlite: with no path, or
// SQLite's :memory:) would hold the keys, tokens and ledger until the
// process stops, then lose them: refused, naming the setting.
func TestDatabaseURLMustNameAFile(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"sqlite:", "sqlite://", "sqlite: ", "sqlite::memory:", "sqlite://:memory:"} {
		c := baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url", "")
	}
	c := baseConfig()
	c.DatabaseURL = "sqlite:/var/lib/vaspd/vaspd.db"
	if err := c.Resolve(); err != nil {
		t.Errorf("a file path: %v", err)
	}
}

// sqlite:PATH takes no query: vaspd sets SQLite's parameters itself, and
// "?mode=ro" or "?_pragma=…" was taken as part of the file name, so vaspd
// opened (and created) another database than the one named. Refused,
// naming the setting; the path itself is still accepted.
func TestSQLiteURLTakesNoQuery(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"sqlite:/var/lib/vaspd/vaspd.db?_pragma=busy_timeout(5000)", "sqlite:vaspd.db?mode=ro",
		"sqlite:///var/lib/vaspd/vaspd.db?", "sqlite://x.db?cache=shared"} {
		c := baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url: sqlite:PATH takes no query", "")
	}
	// Not echoed: a parameter may be a secret.
	c := baseConfig()
	c.DatabaseURL = "sqlite:/var/lib/vaspd/vaspd.db?_pragma=key('s3cret')"
	resolveErr(t, c, "e.g. sqlite:/var/lib/vaspd/vaspd.db", "s3cret")
	// A path with a line end or other control character is quoted, so
	// the error stays one line of text.
	for _, u := range []string{"sqlite:\r?", "sqlite:/tmp/a\nb.db?x", "sqlite:\xff\x1b[2J?"} {
		c = baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url: sqlite:PATH takes no query", "")
		if err := c.Resolve(); err == nil || strings.ContainsFunc(err.Error(), unicode.IsControl) || !utf8.ValidString(err.Error()) {
			t.Errorf("%q: %q, want printable text", u, err)
		}
	}
	c = baseConfig()
	c.DatabaseURL = "sqlite:///var/lib/vaspd/vaspd.db"
	if err := c.Resolve(); err != nil {
		t.Errorf("sqlite:// and an absolute path: %v", err)
	}
}

// A PostgreSQL URL the driver cannot parse is a broken setting, not an
// unreachable database: Resolve refuses it (openDB would otherwise retry
// it forever with db-retry-timeout 0), never echoing its password.
func TestUnparsablePostgresURLIsRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://u:s3cret@db.example.com:99999/vaspd",
		"postgres://u:s3cret@db.example.com/vaspd?sslmode=bogus",
		"postgresql://db.example.com/vaspd?password=s3cret&connect_timeout=soon",
	} {
		c := baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url", "s3cret")
	}
}

// pgxpool's pool_* parameters are not the driver's: vaspd opens its pool
// through database/sql, so pgx passed them to PostgreSQL as run-time
// parameters, which it refuses (FATAL: unrecognized configuration
// parameter "pool_max_conns"), and serve retried that connection forever
// as an unreachable database. Refused at start, naming the parameter and
// not the password.
func TestPostgresURLPoolParametersAreRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"postgres://u:s3cret@db.example.com/vaspd?sslmode=require&pool_max_conns=10",
		"postgresql://u:s3cret@db.example.com/vaspd?POOL_MIN_CONNS=2",
	} {
		c := baseConfig()
		c.DatabaseURL = u
		resolveErr(t, c, "setting database-url: vaspd does not take pgxpool", "s3cret")
	}
	c := baseConfig()
	c.DatabaseURL = "postgres://u:s3cret@db.example.com/vaspd?sslmode=require&application_name=vaspd&search_path=vaspd"
	if err := c.Resolve(); err != nil {
		t.Errorf("run-time parameters PostgreSQL takes: %v", err)
	}
}

// The Lightning settings are checked at start, each error naming its own
// setting: lnd's certificate and macaroon files (missing, unreadable, not
// a certificate, empty), not reported as lnd-rest-url once the database
// is open; values the backends would refuse or silently replace (a
// lnd-max-fee-msat of 0 would become 100000; an embedded opening balance
// of 0 is an empty node: TestInitialBalanceZeroStartsEmpty).
func TestLightningSettingsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert := filepath.Join(dir, "tls.cert")
	os.WriteFile(cert, []byte("not a certificate"), 0o600)
	mac := filepath.Join(dir, "admin.macaroon")
	os.WriteFile(mac, []byte{2, 1, 3}, 0o600)
	empty := filepath.Join(dir, "empty.macaroon")
	os.WriteFile(empty, nil, 0o600)
	lnd := func(f func(*LightningConfig)) Config {
		c := baseConfig()
		c.Lightning = LightningConfig{Backend: "lnd", LNDRESTURL: "https://127.0.0.1:10009", LNDTLSCert: cert, LNDMacaroon: mac}
		f(&c.Lightning)
		return c
	}
	embedded := func(f func(*LightningConfig)) Config {
		c := baseConfig()
		c.Lightning = LightningConfig{Backend: "embedded", InitialBalanceMsat: 1000}
		f(&c.Lightning)
		return c
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{lnd(func(l *LightningConfig) { l.LNDTLSCert = filepath.Join(dir, "missing") }), "setting lnd-tls-cert"},
		{lnd(func(l *LightningConfig) {}), "setting lnd-tls-cert"}, // not PEM
		{lnd(func(l *LightningConfig) {
			l.LNDTLSCert = pemCert(t, dir)
			l.LNDMacaroon = filepath.Join(dir, "missing")
		}), "setting lnd-macaroon"},
		{lnd(func(l *LightningConfig) { l.LNDTLSCert = pemCert(t, dir); l.LNDMacaroon = empty }), "setting lnd-macaroon"},
		{lnd(func(l *LightningConfig) { l.LNDTLSCert = pemCert(t, dir); l.LNDMaxFeeMsat = 0 }), "setting lnd-max-fee-msat"},
		{lnd(func(l *LightningConfig) {
			l.LNDTLSCert = pemCert(t, dir)
			l.LNDMaxFeeMsat = 1
			l.LNDTimeout = math.MaxInt64
		}), "setting lnd-timeout"},
		{lnd(func(l *LightningConfig) {
			l.LNDTLSCert = pemCert(t, dir)
			l.LNDMaxFeeMsat = 1
			l.LNDTimeout = time.Millisecond // every call to lnd would time out
		}), "setting lnd-timeout: want 0 (the default, 30s) or at least 1s, got 1ms"},
		{embedded(func(l *LightningConfig) { l.FeePPM = 1_000_001 }), "setting lightning-fee-ppm"},
		{embedded(func(l *LightningConfig) { l.FeeBaseMsat = math.MaxInt64 }), "setting lightning-fee-base-msat"},
		{embedded(func(l *LightningConfig) { l.InitialBalanceMsat = math.MaxInt64 }), "setting lightning-initial-balance-msat"},
	} {
		resolveErr(t, c.cfg, c.want, "")
	}
	ok := lnd(func(l *LightningConfig) { l.LNDTLSCert = pemCert(t, dir); l.LNDMaxFeeMsat = 1 })
	if err := ok.Resolve(); err != nil {
		t.Errorf("lnd with its files: %v", err)
	}
	if ok := embedded(func(l *LightningConfig) { l.FeePPM = 1_000_000 }); ok.Resolve() != nil {
		t.Errorf("embedded: %v", ok.Resolve())
	}
}

// pemCert writes a self-signed certificate, as lnd's tls.cert, into dir.
func pemCert(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "good-tls.cert")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The payment durations are checked at start: an invoice-expiry every
// invoice would be refused with (under 1s, over a year, or not whole
// seconds: BOLT 11 carries seconds) and durations long enough to overflow
// when added to a time stop vaspd, naming the setting, instead of failing
// every payment.
func TestPaymentDurationsInRange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		set  func(*PaymentConfig)
		want string
	}{
		{func(p *PaymentConfig) { p.InvoiceExpiry = 500 * time.Millisecond }, "setting invoice-expiry"},
		{func(p *PaymentConfig) { p.InvoiceExpiry = 1500 * time.Millisecond }, "setting invoice-expiry"},
		{func(p *PaymentConfig) { p.InvoiceExpiry = 24 * 366 * time.Hour }, "setting invoice-expiry"},
		{func(p *PaymentConfig) { p.PayTimeout = math.MaxInt64 }, "setting pay-timeout"},
		{func(p *PaymentConfig) { p.ApprovalTimeout = math.MaxInt64 }, "setting approval-timeout"},
	} {
		cfg := baseConfig()
		c.set(&cfg.Payments)
		resolveErr(t, cfg, c.want, "")
	}
	cfg := baseConfig()
	cfg.Payments = PaymentConfig{InvoiceExpiry: time.Hour, PayTimeout: time.Minute, ApprovalTimeout: time.Minute}
	if err := cfg.Resolve(); err != nil {
		t.Error(err)
	}
}

// Durations too short for their setting to do its work stop vaspd at
// start, naming the setting and its bounds: a webhook-timeout under
// delivery's 1 s floor on an endpoint's timeout (or over its 1 m cap) would
// time every attempt out, for days; an approval-timeout under 1 s rejects
// every incoming payment, a pay-timeout under 1 s answers every execute
// PROCESSING; a webhook-retry-window under a minute dead-letters a webhook
// after two retries, a webhook-retention under an hour deletes dead
// letters before anyone can replay them; a shutdown-timeout under 1 s cuts
// every request off at a stop; a counterparty-timeout under 1 s times out
// calls to other VASPs that are merely far, over 5 m holds the platform's
// lookup for a quarter of an hour. 0 stays each one's default, and the
// bounds themselves are accepted.
func TestDurationsTooShortAreRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.Webhooks.AttemptTimeout = time.Millisecond }, "setting webhook-timeout: want 0 (the default, 10s) or from 1s to 1m0s, got 1ms"},
		{func(c *Config) { c.Webhooks.AttemptTimeout = 999 * time.Millisecond }, "setting webhook-timeout: want 0 (the default, 10s) or from 1s to 1m0s"},
		{func(c *Config) { c.Webhooks.AttemptTimeout = time.Minute + time.Millisecond }, "setting webhook-timeout: want 0 (the default, 10s) or from 1s to 1m0s"},
		{func(c *Config) { c.Webhooks.AttemptTimeout = -time.Second }, "setting webhook-timeout"},
		{func(c *Config) { c.Payments.ApprovalTimeout = time.Millisecond }, "setting approval-timeout: want 0 (the default, 5s) or from 1s to 8760h0m0s, got 1ms"},
		{func(c *Config) { c.Payments.PayTimeout = time.Nanosecond }, "setting pay-timeout: want 0 (the default, 30s) or from 1s to 8760h0m0s, got 1ns"},
		{func(c *Config) { c.Webhooks.RetryWindow = 30 * time.Second }, "setting webhook-retry-window: want 0 (the default, 72h) or at least 1m0s, got 30s"},
		{func(c *Config) { c.Webhooks.Retention = time.Minute }, "setting webhook-retention: want 0 (the default, 720h) or at least 1h0m0s, got 1m0s"},
		{func(c *Config) { c.Webhooks.Retention = -time.Hour }, "setting webhook-retention"},
		{func(c *Config) { c.ShutdownTimeout = time.Millisecond }, "setting shutdown-timeout: want 0 (the default, 20s) or at least 1s, got 1ms"},
		{func(c *Config) { c.ShutdownTimeout = -time.Second }, "setting shutdown-timeout"},
		{func(c *Config) { c.Payments.CounterpartyTimeout = 500 * time.Millisecond }, "setting counterparty-timeout: want 0 (the default, 15s) or from 1s to 5m0s, got 500ms"},
		{func(c *Config) { c.Payments.CounterpartyTimeout = 5*time.Minute + time.Second }, "setting counterparty-timeout: want 0 (the default, 15s) or from 1s to 5m0s, got 5m1s"},
		{func(c *Config) { c.Payments.CounterpartyTimeout = -time.Second }, "setting counterparty-timeout"},
	} {
		cfg := baseConfig()
		c.set(&cfg)
		resolveErr(t, cfg, c.want, "")
	}
	for _, set := range []func(*Config){
		func(c *Config) {
			c.Webhooks.AttemptTimeout, c.Webhooks.RetryWindow, c.Webhooks.Retention = time.Second, time.Minute, time.Hour
			c.Payments.ApprovalTimeout, c.Payments.PayTimeout = time.Second, time.Second
			c.Payments.CounterpartyTimeout = time.Second
		},
		func(c *Config) { c.Webhooks.AttemptTimeout = time.Minute },
		func(c *Config) { c.Payments.CounterpartyTimeout = 5 * time.Minute },
		func(c *Config) {
			c.Webhooks = WebhookConfig{}
			c.Payments = PaymentConfig{}
			c.ShutdownTimeout = 0
		},
	} {
		cfg := baseConfig()
		set(&cfg)
		if err := cfg.Resolve(); err != nil {
			t.Errorf("durations at their bounds, or 0: %v", err)
		}
	}
}

// A key file holding 32 bytes that are no secp256k1 private key (zero, or
// not below the curve order) is refused by Resolve naming the setting,
// not later, after the database is open, naming an internal key name; an
// unreadable file says why (missing, permission) without its contents.
func TestKeyFileMustHoldAValidKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"zero":  strings.Repeat("00", 32),
		"order": "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
	} {
		file := filepath.Join(dir, name)
		os.WriteFile(file, []byte(body+"\n"), 0o600)
		c := baseConfig()
		c.SigningKeyFile = file
		resolveErr(t, c, "setting uma-signing-key-file", "")
		c = baseConfig()
		c.EncryptionKeyFile = file
		resolveErr(t, c, "setting uma-encryption-key-file", "")
	}
	c := baseConfig()
	c.SigningKeyFile = filepath.Join(dir, "missing")
	resolveErr(t, c, "no such file", "")
}

// A shutdown-timeout of 0 would give in-flight requests and workers no
// time at all: every stop would cut them off and exit with "workers did
// not stop in time". 0 is the default, as for the other durations; a
// negative one (possible only from code) is refused.
func TestShutdownTimeoutZeroIsTheDefault(t *testing.T) {
	t.Parallel()
	c := baseConfig()
	c.ShutdownTimeout = 0
	if err := c.Resolve(); err != nil || c.ShutdownTimeout != DefaultShutdownTimeout {
		t.Errorf("0: %s, %v; want %s", c.ShutdownTimeout, err, DefaultShutdownTimeout)
	}
	c = baseConfig()
	c.ShutdownTimeout = -time.Second
	resolveErr(t, c, "setting shutdown-timeout", "")
}

// Settings of the backend not selected are a mistake to report, not to
// ignore: an lnd fully configured but for lightning=lnd would run vaspd on
// the embedded test node, and devnet settings mean nothing to lnd.
func TestSettingsOfTheOtherBackendAreRefused(t *testing.T) {
	t.Parallel()
	for _, l := range []LightningConfig{
		{LNDRESTURL: "https://127.0.0.1:10009"},
		{Backend: "embedded", LNDTLSCert: "/lnd/tls.cert"},
		{Backend: "embedded", LNDMacaroon: "/lnd/admin.macaroon"},
	} {
		c := baseConfig()
		c.Lightning = l
		resolveErr(t, c, "setting lightning", "")
	}
	dir := t.TempDir()
	mac := filepath.Join(dir, "m")
	os.WriteFile(mac, []byte{1}, 0o600)
	for _, f := range []func(*LightningConfig){
		func(l *LightningConfig) { l.DevnetSecret = "s3cret" },
		func(l *LightningConfig) { l.DevnetPeers = "http://127.0.0.1:8081" },
	} {
		c := baseConfig()
		c.Lightning = LightningConfig{Backend: "lnd", LNDRESTURL: "https://127.0.0.1:10009", LNDTLSCert: pemCert(t, dir), LNDMacaroon: mac, LNDMaxFeeMsat: 1}
		f(&c.Lightning)
		resolveErr(t, c, "setting lightning", "s3cret")
	}
}

// A UMA key file or lnd macaroon that other users can read is warned about
// at start (as the SQLite database is), naming the setting and never the
// contents; one only its owner reads is not.
func TestReadableSecretFilesAreWarnedAbout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, []byte("s3cret"), 0o600)
	os.Chmod(open, 0o644)
	private := filepath.Join(dir, "private.key")
	os.WriteFile(private, []byte("s3cret"), 0o600)
	c := baseConfig()
	c.SigningKeyFile, c.EncryptionKeyFile = open, private
	c.Lightning.LNDMacaroon = open
	var buf bytes.Buffer
	warnReadableSecrets(c, slog.New(slog.NewJSONHandler(&buf, nil)))
	logs := buf.String()
	for _, want := range []string{`"setting":"uma-signing-key-file"`, `"setting":"lnd-macaroon"`, open} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not mention %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "uma-encryption-key-file") || strings.Contains(logs, "s3cret") {
		t.Errorf("logs warn of a private file or show contents:\n%s", logs)
	}
}

// The files settings name are read with a bound: a key file, lnd
// certificate or macaroon, or rates file named by mistake as /dev/zero (or
// any huge file) stops vaspd naming the setting instead of reading without
// end.
func TestSettingFilesAreReadWithABound(t *testing.T) {
	t.Parallel()
	const zero = "/dev/zero"
	if _, err := os.Stat(zero); err != nil {
		t.Skip("no /dev/zero")
	}
	dir := t.TempDir()
	mac := filepath.Join(dir, "m")
	os.WriteFile(mac, []byte{1}, 0o600)
	for _, c := range []struct {
		set  func(*Config)
		want string
	}{
		{func(c *Config) { c.SigningKeyFile = zero }, "setting uma-signing-key-file"},
		{func(c *Config) { c.EncryptionKeyFile = zero }, "setting uma-encryption-key-file"},
		{func(c *Config) {
			c.Lightning = LightningConfig{Backend: "lnd", LNDRESTURL: "https://127.0.0.1:1", LNDTLSCert: zero, LNDMacaroon: mac, LNDMaxFeeMsat: 1}
		}, "setting lnd-tls-cert"},
		{func(c *Config) {
			c.Lightning = LightningConfig{Backend: "lnd", LNDRESTURL: "https://127.0.0.1:1", LNDTLSCert: pemCert(t, dir), LNDMacaroon: zero, LNDMaxFeeMsat: 1}
		}, "setting lnd-macaroon"},
		{func(c *Config) { c.Payments.RatesFile = zero }, "setting rates-file"},
	} {
		cfg := baseConfig()
		c.set(&cfg)
		done := make(chan struct{})
		go func() {
			defer close(done)
			resolveErr(t, cfg, c.want, "")
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Resolve still reading after 10s", c.want)
		}
	}
}

// A devnet peer's pinned public key is checked at start, naming
// devnet-peers, not once the database is open as "open the embedded
// Lightning node".
func TestDevnetPeerPubkeyIsCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"zz@http://127.0.0.1:9", "02" + strings.Repeat("00", 32) + "@http://127.0.0.1:9", strings.Repeat("ab", 33) + "@http://127.0.0.1:9",
		"http://peer:s3cret@127.0.0.1:9"} {
		c := baseConfig()
		c.Lightning = LightningConfig{DevnetSecret: "s3cret", DevnetPeers: p}
		resolveErr(t, c, "setting devnet-peers", "s3cret")
	}
	c := baseConfig()
	// The generator point G, a valid compressed key.
	c.Lightning = LightningConfig{DevnetSecret: "s", DevnetPeers: "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798@http://127.0.0.1:9, http://127.0.0.1:10"}
	if err := c.Resolve(); err != nil {
		t.Error(err)
	}
}

// webhook-allow-nets is checked at start, as counterparty-allow-nets is:
// not once the database is open (and, on a first start, the admin
// credential printed by a process about to exit).
func TestWebhookAllowNetsIsCheckedAtStart(t *testing.T) {
	t.Parallel()
	c := baseConfig()
	c.Webhooks.AllowNets = "127.0.0.0/8, nope/99"
	resolveErr(t, c, "setting webhook-allow-nets", "")
}

// A domain given is a DNS name or IPv4 address with an optional port, as
// UMA checks a counterparty's: users are $name@domain, and one with a
// query, fragment, backslash or bad port would make addresses and URLs no
// counterparty can use.
func TestDomainMustBeAHostAndPort(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"pay.example.com?x", "pay.example.com#f", `a\b`, "pay.example.com:abc", "pay.example.com:99999", "pay..example.com", "-pay.example.com"} {
		c := baseConfig()
		c.Domain, c.BaseURL = d, "https://pay.example.com"
		resolveErr(t, c, "setting domain", "")
	}
	for _, d := range []string{"Pay.Example.com", "pay.example.com:8443", "10.0.0.5:8080", "localhost:8080"} {
		c := baseConfig()
		c.Domain, c.BaseURL = d, "https://pay.example.com"
		if err := c.Resolve(); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// counterparty-allow and counterparty-deny entries follow the domain
// setting's rule (UMA's): an entry no counterparty's domain can be (a URL,
// a path, a stray character, an empty one from a stray comma) would never
// match, letting through a VASP the operator meant to deny. Refused,
// naming the setting and the entry; case and a trailing dot are
// normalised as matching does.
func TestCounterpartyListsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, setting := range []string{"counterparty-allow", "counterparty-deny"} {
		set := func(c *Config, v string) {
			if setting == "counterparty-allow" {
				c.Payments.AllowDomains = v
			} else {
				c.Payments.DenyDomains = v
			}
		}
		for _, bad := range []struct{ value, entry string }{
			{"vasp2.example;", `"vasp2.example;"`},
			{"ok.example, https://x.com", `"https://x.com"`},
			{"x.com/pay", `"x.com/pay"`},
			{"$bob@x.com", `"$bob@x.com"`},
			{"x.com:0", `"x.com:0"`},
			{"x..com", `"x..com"`},
			{"ok.example,", `""`},
			{"ok.example,,other.example", `""`},
			{" , ", `""`},
		} {
			c := baseConfig()
			set(&c, bad.value)
			resolveErr(t, c, "setting "+setting+": "+bad.entry, "")
		}
		for _, good := range []string{"", "vasp2.example", " Vasp2.Example , other.example:8443", "vasp2.example.", "10.0.0.5:8080"} {
			c := baseConfig()
			set(&c, good)
			if err := c.Resolve(); err != nil {
				t.Errorf("%s %q: %v", setting, good, err)
			}
		}
	}
}

// required-counterparty-fields names fields a sender can give: a typo
// would leave a field the operator meant to require unasked. Refused at
// start, naming the setting and the entry.
func TestRequiredCounterpartyFieldsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, bad := range []struct{ value, says string }{
		{"FULL_NAM", `"FULL_NAM" is not a field`},
		{"FULL_NAME,", "empty entry"},
		{"EMAIL:maybe", `"EMAIL:maybe"`},
		{"IDENTIFIER:optional", "always mandatory"},
	} {
		c := baseConfig()
		c.Payments.RequiredCounterpartyFields = bad.value
		if err := c.Resolve(); err == nil || !strings.HasPrefix(err.Error(), "setting required-counterparty-fields: ") || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%q: err = %v, want one naming the setting and saying %q", bad.value, err, bad.says)
		}
	}
	for _, good := range []string{"", "FULL_NAME:optional", "full_name, EMAIL:optional,NATIONALITY:mandatory"} {
		c := baseConfig()
		c.Payments.RequiredCounterpartyFields = good
		if err := c.Resolve(); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

// api-trusted-origins entries are origins as browsers send them: one no
// Origin header can equal (a path, a wildcard, no scheme) would leave the
// dashboard refused without a word, so it is refused at start, naming the
// setting and the entry, and so is an empty one. Entries are normalised to
// the browsers' form.
func TestTrustedOriginsAreCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, bad := range []struct{ value, entry string }{
		{"dash.example.com", `"dash.example.com"`},
		{"https://dash.example.com/app", `"https://dash.example.com/app"`},
		{"https://*.example.com", `"https://*.example.com"`},
		{"https://ok.example, null", `"null"`},
		{"https://ok.example,", `""`},
		{" , ", `""`},
	} {
		c := baseConfig()
		c.TrustedOrigins = bad.value
		resolveErr(t, c, "setting api-trusted-origins: "+bad.entry, "")
	}
	c := baseConfig()
	c.TrustedOrigins = " HTTPS://Dash.Example.com:443 , http://localhost:3000"
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.trustedOrigins, ","); got != "https://dash.example.com,http://localhost:3000" {
		t.Fatalf("trusted origins %q", got)
	}
}

// api-auth-failure-limit is a count a minute: negative, or so large that a
// minute divided by it is nothing, is refused.
func TestAuthFailureLimitIsChecked(t *testing.T) {
	t.Parallel()
	for _, bad := range []int{-1, maxAuthFailures + 1} {
		c := baseConfig()
		c.AuthFailures = bad
		resolveErr(t, c, "setting api-auth-failure-limit", "")
	}
	for _, good := range []int{0, 1, 10, maxAuthFailures} {
		c := baseConfig()
		c.AuthFailures = good
		if err := c.Resolve(); err != nil {
			t.Errorf("%d: %v", good, err)
		}
	}
}

// A --config file others can read is warned about once at start, as the
// secret files are: it may hold database-url with a password, the devnet
// secret or other secrets. The warning names the path and mode, never the
// contents; a file only its owner reads is not warned about.
func TestReadableConfigFileIsWarnedAbout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "vaspd.yaml")
	if err := os.WriteFile(file, []byte("devnet-secret: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	c := baseConfig()
	c.ConfigFile = file
	var buf bytes.Buffer
	warnReadableSecrets(c, slog.New(slog.NewJSONHandler(&buf, nil)))
	logs := buf.String()
	for _, want := range []string{`"setting":"config"`, `"path":"` + file + `"`, `"mode":"0640"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not mention %s:\n%s", want, logs)
		}
	}
	if n := strings.Count(logs, "\n"); n != 1 || strings.Contains(logs, "s3cret") {
		t.Errorf("want one warning without the contents, got %d lines:\n%s", n, logs)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	warnReadableSecrets(c, slog.New(slog.NewJSONHandler(&buf, nil)))
	if buf.Len() != 0 {
		t.Errorf("a config file only its owner reads is warned about:\n%s", buf.String())
	}
}

// A negative webhook-max-endpoints stops vaspd naming the setting; 0 is
// the default.
func TestWebhookMaxEndpointsIsChecked(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.Webhooks.MaxEndpoints = -1
	resolveErr(t, cfg, "setting webhook-max-endpoints: want 0 (the default, 1000) or a positive count, got -1", "")
	for _, n := range []int{0, 1, 101} {
		cfg.Webhooks.MaxEndpoints = n
		if err := cfg.Resolve(); err != nil {
			t.Errorf("webhook-max-endpoints %d: %v", n, err)
		}
	}
}
