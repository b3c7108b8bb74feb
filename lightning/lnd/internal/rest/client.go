// Package rest is a minimal client for lnd's REST gateway: TLS pinned to the
// node's own certificate, the macaroon in the Grpc-Metadata-macaroon header,
// JSON bodies in lnd's protojson encoding (int64 as strings, bytes as
// standard base64), and NDJSON streams for server-streaming calls.
//
// It deliberately imports nothing from lnd: lnrpc would force a protobuf
// replace and an old grpc on the whole module (see docs/lightning-lnd.md).
package rest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/vaspd/vaspd"
)

// maxResponse bounds a unary response body and one stream line; lnd's
// largest answers we read (an invoice list page) stay far below it.
const maxResponse = 32 << 20

// Client talks to one lnd node. Safe for concurrent use.
type Client struct {
	base     string
	macaroon string // hex; never logged, never part of an error
	unary    *http.Client
	stream   *http.Client
}

// Config holds what New needs.
type Config struct {
	BaseURL        string // https://host:port
	TLSCertPEM     []byte // the node's tls.cert: the only certificate trusted
	Macaroon       []byte // raw macaroon bytes
	RequestTimeout time.Duration
	DialTimeout    time.Duration
}

// New checks the configuration and builds the pinned HTTP clients.
func New(cfg Config) (*Client, error) {
	if !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("lnd REST URL must start with https:// (got %q)", cfg.BaseURL)
	}
	if len(cfg.Macaroon) == 0 {
		return nil, errors.New("lnd macaroon is empty")
	}
	tlsCfg, err := pinnedTLS(cfg.TLSCertPEM)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 15 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: cfg.DialTimeout,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false, // lnd's gateway speaks HTTP/1.1; streams stay simple
	}
	return &Client{
		base:     strings.TrimRight(cfg.BaseURL, "/"),
		macaroon: hex.EncodeToString(cfg.Macaroon),
		unary:    &http.Client{Transport: transport, Timeout: cfg.RequestTimeout},
		// Streams live as long as their context; the dialer and TLS
		// handshake timeouts still bound connecting.
		stream: &http.Client{Transport: transport},
	}, nil
}

// pinnedTLS trusts exactly the certificate in pemBytes. lnd's certificate is
// self-signed and lists the node's hostnames and IPs, so normal verification
// against this one-certificate pool both pins it and checks the host name.
func pinnedTLS(pemBytes []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("lnd TLS certificate: no PEM certificate found")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Error is an error answer from lnd: the gRPC status it carries and the HTTP
// status of the gateway.
type Error struct {
	HTTPStatus int
	Code       int    // gRPC code (5 NotFound, 2 Unknown, …)
	Message    string // lnd's message, e.g. "invoice is already paid", as one line of at most 200 bytes
	Path       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("lnd %s: %s (grpc code %d, http %d)", e.Path, e.Message, e.Code, e.HTTPStatus)
}

// gRPC codes the callers switch on.
const (
	CodeNotFound         = 5
	CodePermissionDenied = 7
	CodeUnauthenticated  = 16
)

// IsNotFound reports an lnd NotFound answer: the gRPC status NotFound.
// An HTTP 404 without it is not lnd's answer (a reverse proxy without the
// route, a web server in lnd's place): callers conclude from "not found"
// that lnd never heard of a payment, and fail it.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == CodeNotFound
}

// IsPermanent reports errors that retrying cannot fix: a rejected or
// under-privileged macaroon, or a certificate that does not match the pin.
func IsPermanent(err error) bool {
	return IsMacaroonRefused(err) || IsCertificateRefused(err)
}

// IsMacaroonRefused reports lnd refusing the macaroon: rejected (another
// node's, expired, malformed, none) or without a permission the call needs.
func IsMacaroonRefused(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Code == CodePermissionDenied || e.Code == CodeUnauthenticated ||
		e.HTTPStatus == http.StatusUnauthorized || e.HTTPStatus == http.StatusForbidden {
		return true
	}
	m := strings.ToLower(e.Message)
	return strings.Contains(m, "permission denied") || strings.Contains(m, "verification failed") ||
		strings.Contains(m, "macaroon")
}

// IsCertificateRefused reports a server whose certificate does not match
// the pin: not the pinned certificate, or not for the URL's host.
func IsCertificateRefused(err error) bool {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr)
}

// errorBody is the gateway's error JSON ({"code":…,"message":…}) and, in
// streams, the "error" member of a line.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// maxMessage bounds the text of lnd's answer an Error keeps (Message);
// maxErrorText the text of any error the client returns.
const (
	maxMessage   = 200
	maxErrorText = 480
)

// text is s as an error may quote it: without the macaroon (redact), one line (every run of white space,
// line breaks included, one space; other control characters and invalid
// UTF-8 U+FFFD), at most n bytes and "…". What lnd or a proxy in its place
// answers is outside input: a gateway's HTML page or a message with line
// breaks must not become a multi-line log entry, nor a long answer a long
// one.
func (c *Client) text(s string, n int) string {
	s = c.redact(s)
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "\uFFFD")), " ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	return vaspd.Truncate(s, n)
}

// Safe returns err with its text made what an error may say (no macaroon,
// one line, bounded: see text); errors.Is and errors.As see err as it was. An error
// whose text already is is returned as it is. Every error Do and Stream
// return went through it; the lnd backend passes its own errors, which
// quote lnd's fields, through it too.
func (c *Client) Safe(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := c.text(msg, maxErrorText); clean != msg {
		return &safeError{msg: clean, err: err}
	}
	return err
}

// redact replaces the macaroon in s, hex in any case or raw, with
// "[redacted]". The client never puts it in an error itself, but a server
// may echo the request's headers (a proxy's error page, a debugging
// endpoint in lnd's place), and its answer is quoted. (Not "[macaroon]":
// IsPermanent reads that word as lnd refusing the macaroon.)
func (c *Client) redact(s string) string {
	if raw, err := hex.DecodeString(c.macaroon); err == nil && len(raw) > 0 {
		s = strings.ReplaceAll(s, string(raw), "[redacted]")
	}
	// Lower-case the ASCII letters only, so that indices into lower are
	// indices into s.
	lower := []byte(s)
	for i, b := range lower {
		if 'A' <= b && b <= 'Z' {
			lower[i] = b + 'a' - 'A'
		}
	}
	var out strings.Builder
	for {
		i := strings.Index(string(lower), c.macaroon)
		if i < 0 {
			break
		}
		out.WriteString(s[:i])
		out.WriteString("[redacted]")
		s, lower = s[i+len(c.macaroon):], lower[i+len(c.macaroon):]
	}
	if out.Len() == 0 {
		return s
	}
	out.WriteString(s)
	return out.String()
}

type safeError struct {
	msg string
	err error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.err }

// Do sends one request and decodes the JSON answer into out (if non-nil).
// in, if non-nil, is sent as the JSON body.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.Safe(c.do(ctx, method, path, in, out))
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, c.unary, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("lnd %s: read response: %w", path, err)
	}
	if len(body) > maxResponse {
		return fmt.Errorf("lnd %s: response larger than %d bytes", path, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return c.httpError(path, resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("lnd %s: decode response: %w", path, err)
	}
	return nil
}

// Stream sends a request to a server-streaming endpoint and calls fn with
// each result message until fn returns done=true, the stream ends (io.EOF),
// an error line arrives (*Error) or ctx ends.
func (c *Client) Stream(ctx context.Context, method, path string, in any, fn func(result json.RawMessage) (done bool, err error)) error {
	return c.Safe(c.streamLines(ctx, method, path, in, fn))
}

func (c *Client) streamLines(ctx context.Context, method, path string, in any, fn func(result json.RawMessage) (done bool, err error)) error {
	resp, err := c.send(ctx, c.stream, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return c.httpError(path, resp.StatusCode, body)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxResponse)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var msg struct {
			Result json.RawMessage `json:"result"`
			Error  *errorBody      `json:"error"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			return fmt.Errorf("lnd %s: decode stream line: %w", path, err)
		}
		if msg.Error != nil {
			return &Error{HTTPStatus: resp.StatusCode, Code: msg.Error.Code, Message: c.text(msg.Error.Message, maxMessage), Path: path}
		}
		if msg.Result == nil {
			continue
		}
		done, err := fn(msg.Result)
		if err != nil || done {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("lnd %s: stream: %w", path, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return io.EOF
}

func (c *Client) send(ctx context.Context, hc *http.Client, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("lnd %s: encode request: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("lnd %s: %w", path, err)
	}
	req.Header.Set("Grpc-Metadata-macaroon", c.macaroon)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error names the URL (no secrets in it) and wraps the cause.
		return nil, fmt.Errorf("lnd %s: %w", path, err)
	}
	return resp, nil
}

func (c *Client) httpError(path string, status int, body []byte) error {
	var eb errorBody
	err := json.Unmarshal(body, &eb)
	if err == nil && eb.Message == "" {
		// A streaming call that fails before its first message answers
		// with the stream's error line: {"error":{"code":…,"message":…}}.
		var line struct {
			Error *errorBody `json:"error"`
		}
		if json.Unmarshal(bytes.TrimSpace(body), &line) == nil && line.Error != nil {
			eb = *line.Error
		}
	}
	if err != nil || eb.Message == "" {
		// Not the gateway's error JSON (a proxy's page, a web server
		// in lnd's place): its beginning, as one line.
		msg := c.text(string(body), maxMessage)
		if msg == "" {
			msg = http.StatusText(status)
		}
		return &Error{HTTPStatus: status, Message: msg, Path: path}
	}
	return &Error{HTTPStatus: status, Code: eb.Code, Message: c.text(eb.Message, maxMessage), Path: path}
}
