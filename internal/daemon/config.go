package daemon

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/uma"
)

// Config is everything `vaspd serve` can be told. Declare binds it to a
// config.Set; Resolve checks it and fills in derived values.
type Config struct {
	ConfigFile      string
	DataDir         string
	DatabaseURL     string
	Listen          string
	Domain          string
	BaseURL         string
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	DBRetryTimeout  time.Duration
	MetricsPublic   bool
	TrustedOrigins  string // comma-separated
	AuthFailures    int    // per client address per minute; 0: no limit
	TrustedProxies  string // comma-separated addresses and CIDR networks
	UMARateLimit    int    // UMA requests per client address per second; 0: no limit

	SigningKeyFile    string
	EncryptionKeyFile string
	// PreviousEncryptionKeyFiles: comma-separated files of encryption keys
	// served before EncryptionKeyFile's, to decrypt with only.
	PreviousEncryptionKeyFiles string

	Lightning LightningConfig
	Webhooks  WebhookConfig
	Payments  PaymentConfig
	Tracing   TracingConfig

	// Version is the binary's version (cmd/vaspd sets it), told to the
	// trace collector as service.version. Not a setting.
	Version string

	// Derived by Resolve.
	signingKey     []byte
	encryptionKey  []byte
	trustedOrigins []string
	trustedProxies []netip.Prefix
	// previousEncryptionKeys are PreviousEncryptionKeyFiles' keys.
	previousEncryptionKeys []keyFile
	// domainFromListen, baseURLFromDomain: Resolve derived them (see
	// listeningOn).
	domainFromListen, baseURLFromDomain bool
}

// DefaultShutdownTimeout is shutdown-timeout's default, also taken for 0;
// MinShutdownTimeout is the least other value.
const (
	DefaultShutdownTimeout = 20 * time.Second
	MinShutdownTimeout     = time.Second
)

// Declare registers every setting with its default and help text.
func (c *Config) Declare(s *config.Set) {
	s.String(&c.ConfigFile, "config", "", "path to an optional YAML file of settings (keys are the flag names); one others can read is warned about, as it may hold secrets")
	s.String(&c.DataDir, "data-dir", "./vaspd-data", "directory of the embedded SQLite database (not used when database-url is set)")
	db := s.String(&c.DatabaseURL, "database-url", "", "database: empty for SQLite in the data directory, postgres://… for PostgreSQL, or sqlite:PATH (the file's path, no ?query)")
	db.Secret, db.Redact = true, redactDatabaseURL
	s.String(&c.Listen, "listen", "127.0.0.1:8080", "address the HTTP server listens on")
	s.String(&c.Domain, "domain", "", "UMA domain: users are $name@DOMAIN; a DNS name or IPv4 address with an optional :port (default: the listen address, e.g. localhost:8080)")
	s.String(&c.BaseURL, "base-url", "", "public base URL other VASPs reach us at, http(s)://host[:port][/path] without user info, query or fragment (default: from the domain; http for localhost, .local, .internal, https otherwise)").Redact = config.RedactURL
	s.String(&c.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	s.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	s.Duration(&c.ShutdownTimeout, "shutdown-timeout", DefaultShutdownTimeout, "how long in-flight requests and workers get to finish on shutdown (0 = the default)")
	s.Duration(&c.DBRetryTimeout, "db-retry-timeout", 0, "give up if the database stays unreachable this long at start (0 = keep retrying)")
	s.Bool(&c.MetricsPublic, "metrics-public", false, "serve /metrics to anyone; by default it needs an API token with VIEW, as it tells the business's volumes")
	s.String(&c.TrustedOrigins, "api-trusted-origins", "", "comma-separated origins (https://dash.example.com) whose web pages may make state-changing platform API requests through a browser; other browser cross-origin POST/PATCH/DELETE requests are refused (CSRF); a bad or empty entry is refused")
	s.Int(&c.AuthFailures, "api-auth-failure-limit", api.DefaultAuthFailuresPerMinute, "failed platform API authentications allowed per client address (IPv6: per /64) per minute, a burst of that many, after which its requests are answered 429 unchecked; 0 turns the limit off (behind a reverse proxy, name it in api-trusted-proxies, or every client has its address)")
	s.String(&c.TrustedProxies, "api-trusted-proxies", "", "comma-separated IP addresses and CIDR networks (10.0.0.0/8, 2001:db8::/32) of reverse proxies whose X-Forwarded-For names the client address; empty: X-Forwarded-For is ignored; a bad or empty entry is refused")
	s.Int(&c.UMARateLimit, "uma-rate-limit", api.DefaultUMARequestsPerSecond, "requests per second allowed per client address (IPv6: per /64) to the UMA endpoints (lnurlp, payreq, utxoCallback, request_pay; not lnurlpubkey or uma-configuration), in a burst of twice as many, after which they are answered 429; 0 turns the limit off (behind a reverse proxy, name it in api-trusted-proxies, or every client has its address)")
	s.String(&c.SigningKeyFile, "uma-signing-key-file", "", "file with the hex secp256k1 UMA signing key (default: generated on first start and kept in the database)")
	s.String(&c.EncryptionKeyFile, "uma-encryption-key-file", "", "file with the hex secp256k1 UMA encryption key (default: generated on first start and kept in the database)")
	s.String(&c.PreviousEncryptionKeyFiles, previousKeysSetting, "", "comma-separated files of hex secp256k1 UMA encryption keys served before the current one: used only to decrypt travel-rule data senders encrypted to them, never served (keep one after a rotation until the payments pending at it have ended and counterparties' cached copies of our keys have expired)")
	c.Lightning.declare(s)
	c.Webhooks.declare(s)
	c.Payments.declare(s)
	c.Tracing.declare(s)
}

// Resolve validates the settings and derives the defaults that depend on
// others. Errors name the setting.
func (c *Config) Resolve() error {
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("setting log-format: want auto, text or json, got %s", config.QuoteValue(c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("setting log-level: want debug, info, warn or error, got %s", config.QuoteValue(c.LogLevel))
	}
	if c.DataDir == "" {
		return fmt.Errorf("setting data-dir: must not be empty")
	}
	listenHost, listenPort, err := splitListen(c.Listen)
	if err != nil {
		return err
	}
	if kind, _ := c.databaseKind(); kind == "" {
		return fmt.Errorf("setting database-url: want postgres://…, postgresql://…, sqlite:PATH or empty")
	}
	switch kind, v := c.databaseKind(); kind {
	case "postgres":
		if _, err := url.Parse(v); err != nil {
			return fmt.Errorf("setting database-url: not a valid URL")
		}
		// What the driver refuses would otherwise be retried as an
		// unreachable server (openDB), forever with db-retry-timeout 0.
		if err := postgres.CheckURL(v); err != nil {
			return fmt.Errorf("setting database-url: %w", err)
		}
		// pgxpool's parameters, which pgx (vaspd's pool is database/sql's)
		// sends PostgreSQL as run-time parameters: it refuses every
		// connection, and openDB would retry them forever.
		if u, err := url.Parse(v); err == nil {
			for k := range u.Query() {
				if name := strings.ToLower(k); strings.HasPrefix(name, "pool_") {
					return fmt.Errorf("setting database-url: vaspd does not take pgxpool's %s parameter (it keeps its own pool of up to 20 connections a process), and PostgreSQL refuses a connection with it: remove it",
						vaspd.Truncate(strconv.Quote(name), 60))
				}
			}
		}
	case "sqlite":
		// No file is a database that forgets the keys, tokens and ledger
		// when the process stops (":memory:" is SQLite's in-memory one).
		if p := strings.TrimSpace(v); p == "" || p == ":memory:" {
			return fmt.Errorf("setting database-url: sqlite: needs the path of the database file, e.g. sqlite:/var/lib/vaspd/vaspd.db")
		}
		// The path is taken whole as the file name, so "?mode=ro" or
		// "?_pragma=…" would name another file, created empty, rather
		// than set anything: vaspd sets SQLite's parameters itself (WAL,
		// busy timeout, IMMEDIATE transactions), which the server's
		// locking and migrations rely on.
		// The query is not echoed: the setting may hold secrets (an
		// encryption key passed as a parameter, say).
		if path, _, ok := strings.Cut(v, "?"); ok {
			// A path with a line end or another control character is
			// quoted, so that the error stays one line of text.
			example := vaspd.Truncate(path, 200)
			if !utf8.ValidString(example) || strings.ContainsFunc(example, unicode.IsControl) {
				example = strconv.Quote(example)
			}
			return fmt.Errorf("setting database-url: sqlite:PATH takes no query (the part from \"?\"): vaspd sets SQLite's parameters itself; give the file's path alone, e.g. sqlite:%s",
				example)
		}
	}
	if c.Domain != "" {
		// UMA's rule for a counterparty's domain: what users' addresses
		// and our URLs are made of. (A domain derived from listen below
		// may carry port 0, in tests.)
		if err := uma.ValidateDomain(strings.ToLower(c.Domain)); err != nil {
			return fmt.Errorf("setting domain: %s must be a DNS name or IPv4 address (letters, digits, - and .) with an optional :port", config.QuoteValue(c.Domain))
		}
	}
	if c.Domain == "" {
		host, port := listenHost, strconv.Itoa(listenPort)
		if host == "" || host == "0.0.0.0" || host == "::" || host == "127.0.0.1" || host == "::1" {
			host = "localhost"
		}
		c.Domain = net.JoinHostPort(host, port)
		c.domainFromListen = true
		// Another IPv6 address makes no UMA domain: its users' addresses
		// ($name@[fe80::1]:8080) would be no addresses, found by no lookup.
		if strings.HasPrefix(c.Domain, "[") {
			return fmt.Errorf("setting domain: not set, and the listen address %s makes no UMA domain (an IPv6 address cannot be one): set domain to the DNS name or IPv4 address users' addresses end with", c.Listen)
		}
	}
	c.Domain = strings.ToLower(c.Domain)
	if strings.ContainsAny(c.Domain, "/@$ ") {
		return fmt.Errorf("setting domain: %s must be a host name with an optional port", config.QuoteValue(c.Domain))
	}
	if c.BaseURL == "" {
		c.BaseURL = SchemeFor(c.Domain) + "://" + c.Domain
		c.baseURLFromDomain = true
	}
	if c.baseURLFromDomain && c.domainFromListen && listenPort == 0 {
		// listen asks for any free port: listeningOn puts the one the
		// listener gets in the domain and this URL, whose port 0 no
		// counterparty could reach. Checked with a port until then.
		host, _, _ := net.SplitHostPort(c.Domain)
		if _, err := parseBaseURL(SchemeFor(c.Domain) + "://" + net.JoinHostPort(host, "1")); err != nil {
			return err
		}
	} else {
		u, err := parseBaseURL(c.BaseURL)
		if err != nil {
			return err
		}
		c.BaseURL = strings.TrimSuffix(u.String(), "/")
	}
	if c.trustedOrigins, err = originList("api-trusted-origins", c.TrustedOrigins); err != nil {
		return err
	}
	if c.trustedProxies, err = proxyList("api-trusted-proxies", c.TrustedProxies); err != nil {
		return err
	}
	if c.AuthFailures < 0 || c.AuthFailures > maxAuthFailures {
		return fmt.Errorf("setting api-auth-failure-limit: want 0 (no limit) to %d failures a minute, got %d", maxAuthFailures, c.AuthFailures)
	}
	if c.UMARateLimit < 0 || c.UMARateLimit > maxUMARateLimit {
		return fmt.Errorf("setting uma-rate-limit: want 0 (no limit) to %d requests a second, got %d", maxUMARateLimit, c.UMARateLimit)
	}
	if c.signingKey, err = readKeyFile("uma-signing-key-file", c.SigningKeyFile); err != nil {
		return err
	}
	if c.encryptionKey, err = readKeyFile("uma-encryption-key-file", c.EncryptionKeyFile); err != nil {
		return err
	}
	if c.previousEncryptionKeys, err = readKeyFiles(previousKeysSetting, c.PreviousEncryptionKeyFiles); err != nil {
		return err
	}
	if err := c.Lightning.resolve(); err != nil {
		return err
	}
	if err := c.Webhooks.resolve(); err != nil {
		return err
	}
	if err := c.Payments.resolve(); err != nil {
		return err
	}
	if err := c.Tracing.resolve(); err != nil {
		return err
	}
	// No time at all would cut in-flight requests and workers off at every
	// stop: 0 is the default, as for the other durations.
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	// Under a second, every stop cuts in-flight requests and workers off
	// as if there were none.
	if c.ShutdownTimeout < MinShutdownTimeout {
		return fmt.Errorf("setting shutdown-timeout: want 0 (the default, %s) or at least %s, got %s", DefaultShutdownTimeout, MinShutdownTimeout, c.ShutdownTimeout)
	}
	return nil
}

// splitListen checks the listen setting and returns its host and port:
// host:port, the port a number from 0 (any free one) to 65535 or a
// service's name (taken as its number), as the listener will take it.
// Checked here, not only when vaspd listens, so that `vaspd config show`
// refuses what serve would, and an error names listen rather than the
// domain or base-url derived from it, which the operator did not set
// (localhost:99999 is no URL).
func splitListen(listen string) (string, int, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("setting listen: %s is not host:port", config.QuoteValue(listen))
	}
	n, err := net.LookupPort("tcp", port)
	if port == "" || err != nil {
		return "", 0, fmt.Errorf("setting listen: %s has no valid port: want host:port, the port from 0 (any free one) to 65535", config.QuoteValue(listen))
	}
	return host, n, nil
}

// parseBaseURL checks the base-url setting: an http(s) URL
// (config.ParseURL), and one counterparties may be given (uma.CheckBaseURL:
// no user info, query or fragment; a host). Neither error echoes the URL.
func parseBaseURL(v string) (*url.URL, error) {
	u, err := config.ParseURL("base-url", v, "http", "https")
	if err != nil {
		return nil, err
	}
	if err := uma.CheckBaseURL(v); err != nil {
		return nil, fmt.Errorf("setting base-url: %w", err)
	}
	return u, nil
}

// maxAuthFailures bounds api-auth-failure-limit far above any use, and far
// from a minute divided into nothing.
const maxAuthFailures = 100_000

// maxUMARateLimit bounds uma-rate-limit far above any use (a second
// divided into 10 µs intervals), as maxAuthFailures does.
const maxUMARateLimit = 100_000

// originList parses api-trusted-origins: each entry an origin as
// api.TrustedOrigin takes it, in the form browsers send. An entry no
// browser's Origin can equal would never match, its dashboard then refused
// without a word at start: refused, naming the entry, and so is an empty one
// (a stray comma). A value of only spaces is no list.
func originList(setting, v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, e := range strings.Split(v, ",") {
		if strings.TrimSpace(e) == "" {
			return nil, fmt.Errorf("setting %s: \"\" is an empty entry (a stray comma?): want comma-separated origins such as https://dash.example.com", setting)
		}
		o, err := api.TrustedOrigin(e)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", setting, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// proxyList parses api-trusted-proxies: each entry an address or network
// as api.ParseTrustedProxy takes it. A bad entry is refused, naming it,
// rather than trusting less or more than was meant, and so is an empty one
// (a stray comma). A value of only spaces is no list.
func proxyList(setting, v string) ([]netip.Prefix, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for _, e := range strings.Split(v, ",") {
		if strings.TrimSpace(e) == "" {
			return nil, fmt.Errorf("setting %s: \"\" is an empty entry (a stray comma?): want comma-separated IP addresses and CIDR networks such as 10.0.0.0/8", setting)
		}
		p, err := api.ParseTrustedProxy(e)
		if err != nil {
			return nil, fmt.Errorf("setting %s: %w", setting, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// redactDatabaseURL is what may be shown of a database-url (a Secret): a
// PostgreSQL URL with its password hidden (config.RedactURL), a sqlite:
// path without a query (a file's path holds no password) as it is, and
// nothing ("") of anything else: a sqlite: query (it may hold an
// encryption key) or a value of no kind vaspd takes, which may be a
// mistyped URL or a libpq "host=… password=…" string.
func redactDatabaseURL(v string) string {
	switch kind, _ := (&Config{DatabaseURL: v}).databaseKind(); {
	case kind == "sqlite" && !strings.Contains(v, "?"):
		return v
	case kind == "postgres":
		return config.RedactURL(v)
	}
	return ""
}

// databaseKind returns "sqlite" or "postgres" and the path or URL.
func (c *Config) databaseKind() (string, string) {
	switch u := c.DatabaseURL; {
	case u == "":
		return "sqlite", filepath.Join(c.DataDir, "vaspd.db")
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		return "postgres", u
	case strings.HasPrefix(u, "sqlite:"):
		return "sqlite", strings.TrimPrefix(strings.TrimPrefix(u, "sqlite:"), "//")
	}
	return "", ""
}

// OnSQLite reports whether the database is SQLite (one process; the
// server's lock tells whether it runs) rather than PostgreSQL.
func (c *Config) OnSQLite() bool {
	kind, _ := c.databaseKind()
	return kind == "sqlite"
}

// databaseSetting names the setting that chose the database, for errors:
// database-url when it is set, data-dir (SQLite inside it) otherwise.
func (c *Config) databaseSetting() string {
	if c.DatabaseURL != "" {
		return "database-url"
	}
	return "data-dir"
}

// SchemeFor is UMA's rule (uma.Scheme): plain http for local development
// hosts, https for everything else. It is the rule counterparties follow
// to reach the domain, so the base URL made from it is where they call.
func SchemeFor(domain string) string { return uma.Scheme(domain) }

func readKeyFile(setting, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := readSettingFile(setting, path)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("setting %s: %s must hold a 32-byte secp256k1 private key in hex", setting, path)
	}
	// 32 bytes are a key only if non-zero and below the curve order
	// (uma.ParsePrivateKey): checked here, before the database is opened,
	// to name the setting.
	if _, err := uma.ParsePrivateKey(k); err != nil {
		return nil, fmt.Errorf("setting %s: %s holds no valid secp256k1 private key (zero, or not below the curve order)", setting, path)
	}
	return k, nil
}

// warnReadableSecrets warns of secret files other users can read, as the
// SQLite database is warned about: the --config file (which may hold
// database-url with a password, devnet-secret and the like), the UMA
// private keys and lnd's macaroon (which spends the node's funds). A
// warning, not a refusal: group access may be deliberate (e.g. a secrets
// volume), and the file works either way. It names the path and mode,
// never the contents.
func warnReadableSecrets(c Config, log *slog.Logger) {
	files := []struct{ setting, path string }{
		{"config", c.ConfigFile},
		{"uma-signing-key-file", c.SigningKeyFile},
		{"uma-encryption-key-file", c.EncryptionKeyFile},
		{"lnd-macaroon", c.Lightning.LNDMacaroon},
	}
	for _, f := range c.previousEncryptionKeys {
		files = append(files, struct{ setting, path string }{previousKeysSetting, f.path})
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue // Resolve has read it; a file gone since fails where it is used
		}
		log.Warn("a file that holds or may hold secrets is readable by its group or other users (chmod 600 it)",
			"setting", f.setting, "path", f.path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
}

// warnTrustedProxies warns of api-trusted-proxies entries with no prefix
// bits (0.0.0.0/0, ::/0): they make every peer of their address family a
// trusted proxy, so every client chooses the address vaspd takes for its
// own (the one the auth-failure and UMA request limits count) by writing
// X-Forwarded-For. A warning, not a refusal: a vaspd that only its
// proxies' network can reach may mean it. One line for all such entries,
// named as written (::ffff:0.0.0.0/96 is one too), which Resolve has
// checked.
func warnTrustedProxies(c Config, log *slog.Logger) {
	var every []string
	for _, e := range strings.Split(c.TrustedProxies, ",") {
		if p, err := api.ParseTrustedProxy(e); err == nil && p.Bits() == 0 {
			every = append(every, strings.TrimSpace(e))
		}
	}
	if len(every) > 0 {
		log.Warn("a trusted proxy entry covers every address: any client it covers chooses its own address (the one the auth-failure and UMA request limits count) by sending X-Forwarded-For; name only the reverse proxies unless vaspd is reachable through them alone",
			"setting", "api-trusted-proxies", "entry", strings.Join(every, ", "))
	}
}

// maxSettingFile bounds a file a setting names (a key, lnd's certificate or
// macaroon, the rates): each is far smaller, and one named by mistake
// (/dev/zero, a disk image) must not be read without end.
const maxSettingFile = 1 << 20

// readSettingFile reads the file setting names, at most maxSettingFile
// bytes. Its errors give the cause (missing, permission denied, too
// large) and never the contents.
func readSettingFile(setting, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("setting %s: cannot read %s: %v", setting, path, causeOf(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSettingFile+1))
	if err != nil {
		return nil, fmt.Errorf("setting %s: cannot read %s: %v", setting, path, causeOf(err))
	}
	if len(b) > maxSettingFile {
		return nil, fmt.Errorf("setting %s: %s is larger than %d bytes", setting, path, maxSettingFile)
	}
	return b, nil
}

// causeOf is an *os.PathError's cause alone (its path is already in the
// message), or err.
func causeOf(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// listeningOn fills in the port the listener got when listen asked for
// any (port 0) and the domain, and so the base URL, were derived from it:
// "localhost:0" is no address a counterparty can reach, and every URL
// vaspd builds from it would be invalid. Set ones are left as set.
func (c *Config) listeningOn(addr net.Addr) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !c.domainFromListen {
		return
	}
	host, port, err := net.SplitHostPort(c.Domain)
	if err != nil || port != "0" {
		return
	}
	c.Domain = net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	if c.baseURLFromDomain {
		c.BaseURL = SchemeFor(c.Domain) + "://" + c.Domain
	}
}
