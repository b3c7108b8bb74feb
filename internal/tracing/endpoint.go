package tracing

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vaspd/vaspd/internal/config"
)

// tracesPath is where an OTLP/HTTP collector takes traces, added to an
// endpoint given without a path (as OTEL_EXPORTER_OTLP_ENDPOINT's base URL
// is).
const tracesPath = "/v1/traces"

// CheckEndpoint checks the tracing-endpoint setting and returns the URL the
// exporter posts to: an http(s) URL with a host; "/v1/traces" is added when
// it has no path (http://collector:4318), a path given is used as it is
// (https://otlp.example.com/custom/v1/traces). One with a user name or
// password, a query or a fragment is refused: export errors quote the URL
// in the log, and credentials belong in OTEL_EXPORTER_OTLP_HEADERS, which
// is never logged. Errors do not echo the value.
func CheckEndpoint(v string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", errors.New("not an absolute URL: want http(s)://host[:port][/path], e.g. http://localhost:4318")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", errors.New("scheme must be http or https (OTLP over HTTP; vaspd has no gRPC exporter)")
	}
	if u.User != nil {
		return "", errors.New("the URL holds a user name or password: give credentials in OTEL_EXPORTER_OTLP_HEADERS, which is never logged")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", errors.New("the URL has a query or fragment: give credentials in OTEL_EXPORTER_OTLP_HEADERS, which is never logged")
	}
	if u.Hostname() == "" {
		return "", errors.New("the URL has no host name")
	}
	if !config.ValidPort(u.Port()) {
		return "", errors.New("the URL's port is out of range: want 1 to 65535, or none")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = tracesPath
	}
	return u.String(), nil
}

// headerVars are the environment variables whose key=value list the
// exporter sends as HTTP headers, the traces' one taking the place of the
// general one when set; resourceVar is the resource's.
var (
	headerVars  = []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}
	resourceVar = "OTEL_RESOURCE_ATTRIBUTES"
)

// CheckEnv checks the OpenTelemetry environment variables read as
// key=value lists (the exporter's headers, the resource's attributes) the
// way the SDK parses them, and the exporter's timeout and compression. The
// SDK skips a bad entry and logs it, value included, which for a header is
// likely an API key; checked here (and again by the exporter, which
// parses the headers with parseList), a bad entry stops vaspd with an
// error naming the variable and the entry's position, never its contents.
// The exporter's certificate files are read, and checked, by New.
func CheckEnv(getenv func(string) string) error {
	for _, name := range headerVars {
		if _, err := parseList(getenv(name), true); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	if _, err := parseList(getenv(resourceVar), false); err != nil {
		return fmt.Errorf("environment %s: %w", resourceVar, err)
	}
	if _, err := envTimeout(getenv); err != nil {
		return err
	}
	_, err := envGzip(getenv)
	return err
}

// parseList parses a comma-separated key=value list, values URL-encoded
// (the W3C baggage form the OpenTelemetry specification uses), into its
// pairs, values decoded and trimmed; for headers, each key must be an HTTP
// token.
func parseList(v string, headers bool) ([][2]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var kvs [][2]string
	for i, e := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return nil, fmt.Errorf("entry %d has no '=': want key=value, comma-separated (the value is not echoed)", i+1)
		case k == "":
			return nil, fmt.Errorf("entry %d has an empty key", i+1)
		case headers && !isToken(k):
			return nil, fmt.Errorf("entry %d: the key is not an HTTP header name", i+1)
		}
		dec, err := url.PathUnescape(val)
		if err != nil {
			return nil, fmt.Errorf("entry %d: the value is not URL-encoded (write %% as %%25; the value is not echoed)", i+1)
		}
		kvs = append(kvs, [2]string{k, strings.TrimSpace(dec)})
	}
	return kvs, nil
}

// isToken reports whether k is an HTTP token (RFC 9110), as the exporter
// requires of a header name.
func isToken(k string) bool {
	for _, c := range k {
		if c > unicode.MaxASCII || !(unicode.IsLetter(c) || unicode.IsDigit(c) || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return false
		}
	}
	return k != ""
}

// defaultExportTimeout bounds each export attempt unless
// OTEL_EXPORTER_OTLP_TIMEOUT says otherwise (the specification's default).
const defaultExportTimeout = 10 * time.Second

// exporterEnv is what the exporter reads from the environment: the
// standard OTEL_EXPORTER_OTLP_* variables an OTLP/HTTP exporter honours,
// the endpoint aside (vaspd's setting) and the protocol (always
// http/protobuf, which every OTLP/HTTP collector takes).
type exporterEnv struct {
	headers http.Header // never logged
	gzip    bool
	timeout time.Duration // per attempt; 0 for none of its own
	tls     *tls.Config   // nil: the system's roots, no client certificate
}

// readExporterEnv reads the exporter's variables; endpoint is the URL it
// posts to (as CheckEndpoint returns it). A value that cannot be used is
// an error naming the variable, never quoting a header.
func readExporterEnv(endpoint string, getenv func(string) string, readFile func(string) ([]byte, error)) (exporterEnv, error) {
	var e exporterEnv
	name, v := envVar(getenv, "HEADERS")
	kvs, err := parseList(v, true)
	if err != nil {
		return e, fmt.Errorf("environment %s: %w", name, err)
	}
	e.headers = make(http.Header, len(kvs))
	for _, kv := range kvs {
		e.headers.Set(kv[0], kv[1])
	}
	if e.timeout, err = envTimeout(getenv); err != nil {
		return e, err
	}
	if e.gzip, err = envGzip(getenv); err != nil {
		return e, err
	}
	if e.tls, err = envTLS(getenv, readFile); err != nil {
		return e, err
	}
	if e.tls != nil && strings.HasPrefix(endpoint, "http:") {
		return e, errors.New("environment OTEL_EXPORTER_OTLP_*CERTIFICATE is set but tracing-endpoint is http://: TLS settings need an https endpoint")
	}
	return e, nil
}

// envVar is OTEL_EXPORTER_OTLP_TRACES_<key> when set, else
// OTEL_EXPORTER_OTLP_<key>, trimmed, and the name of the one read.
func envVar(getenv func(string) string, key string) (name, value string) {
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_" + key, "OTEL_EXPORTER_OTLP_" + key} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return name, v
		}
	}
	return "", ""
}

// envTimeout is _TIMEOUT, in milliseconds.
func envTimeout(getenv func(string) string) (time.Duration, error) {
	name, v := envVar(getenv, "TIMEOUT")
	if v == "" {
		return defaultExportTimeout, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		return 0, fmt.Errorf("environment %s: want a whole number of milliseconds, 0 or more", name)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// envGzip is _COMPRESSION: gzip or none.
func envGzip(getenv func(string) string) (bool, error) {
	name, v := envVar(getenv, "COMPRESSION")
	switch strings.ToLower(v) {
	case "", "none":
		return false, nil
	case "gzip":
		return true, nil
	}
	return false, fmt.Errorf("environment %s: want gzip or none", name)
}

// envTLS is _CERTIFICATE (a PEM file of the CA certificates to trust
// instead of the system's) and the _CLIENT_CERTIFICATE and _CLIENT_KEY
// pair (PEM files), or nil when none is set.
func envTLS(getenv func(string) string, readFile func(string) ([]byte, error)) (*tls.Config, error) {
	var c tls.Config
	if name, path := envVar(getenv, "CERTIFICATE"); path != "" {
		pem, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", name, err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("environment %s: no PEM certificate in %s", name, path)
		}
	}
	for _, prefix := range []string{"OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_"} {
		certVar, keyVar := prefix+"CLIENT_CERTIFICATE", prefix+"CLIENT_KEY"
		certPath, keyPath := strings.TrimSpace(getenv(certVar)), strings.TrimSpace(getenv(keyVar))
		if certPath == "" && keyPath == "" {
			continue
		}
		if certPath == "" || keyPath == "" {
			return nil, fmt.Errorf("environment %s and %s: set both or neither", certVar, keyVar)
		}
		certPEM, err := readFile(certPath)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", certVar, err)
		}
		keyPEM, err := readFile(keyPath)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", keyVar, err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("environment %s and %s: %w", certVar, keyVar, err)
		}
		c.Certificates = []tls.Certificate{cert}
		break
	}
	if c.RootCAs == nil && c.Certificates == nil {
		return nil, nil
	}
	return &c, nil
}
