package tracing

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
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
	if u.Path == "" || u.Path == "/" {
		u.Path = tracesPath
	}
	return u.String(), nil
}

// headerVars are the environment variables whose key=value list the
// exporter sends as HTTP headers; resourceVar is the resource's.
var (
	headerVars  = []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}
	resourceVar = "OTEL_RESOURCE_ATTRIBUTES"
)

// CheckEnv checks the OpenTelemetry environment variables the SDK reads
// as key=value lists (the exporter's headers, the resource's attributes)
// the way the SDK parses them. The SDK skips a bad entry and logs it,
// value included, which for a header is likely an API key; checked here,
// a bad entry stops vaspd with an error naming the variable and the
// entry's position, never its contents.
func CheckEnv(getenv func(string) string) error {
	for _, name := range headerVars {
		if err := checkList(getenv(name), true); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	if err := checkList(getenv(resourceVar), false); err != nil {
		return fmt.Errorf("environment %s: %w", resourceVar, err)
	}
	return nil
}

// checkList checks a comma-separated key=value list, values URL-encoded
// (the W3C baggage form the OpenTelemetry specification uses); for
// headers, each key must be an HTTP token.
func checkList(v string, headers bool) error {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	for i, e := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(e, "=")
		k = strings.TrimSpace(k)
		switch {
		case !ok:
			return fmt.Errorf("entry %d has no '=': want key=value, comma-separated (the value is not echoed)", i+1)
		case k == "":
			return fmt.Errorf("entry %d has an empty key", i+1)
		case headers && !isToken(k):
			return fmt.Errorf("entry %d: the key is not an HTTP header name", i+1)
		}
		if _, err := url.PathUnescape(strings.TrimSpace(val)); err != nil {
			return fmt.Errorf("entry %d: the value is not URL-encoded (write %% as %%25; the value is not echoed)", i+1)
		}
	}
	return nil
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
