package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/vaspd/vaspd"
)

// exporter is vaspd's OTLP/HTTP span exporter (sdktrace.SpanExporter): it
// posts the batch processor's spans, protobuf-encoded, to the collector.
// It exists because the upstream one (otlptracehttp) imports the package
// holding the request's Go type, go.opentelemetry.io/proto/otlp/
// collector/trace/v1, which also holds the gRPC service stubs and
// grpc-gateway code: linking it put gRPC into a binary that never speaks
// it (10 MB, ~70 packages; README, "Design notes"). What it sends is the
// same (TestSameRequestAsOtlptracehttp).
//
// Retries follow the OTLP/HTTP specification: 429, 502, 503, 504 and a
// failure to connect or to get an answer (but a TLS one) are retried with
// exponential backoff (Retry-After honoured) for maxElapsed at most; every
// other answer is final. An export never outlasts its context; after Shutdown
// an export fails at once, and one in flight is abandoned. Safe for
// concurrent use.
type exporter struct {
	url       string
	env       exporterEnv
	userAgent string
	client    *http.Client

	// backoff is the first wait before a retry, growing by half at each
	// one up to maxBackoff (each wait ±50 % at random); maxElapsed bounds
	// the time an export spends retrying, its attempts included.
	backoff, maxBackoff, maxElapsed time.Duration

	stopped context.Context // done once Shutdown is called
	stop    context.CancelFunc
	hurried context.Context // done once no export is to wait to retry
	hurry   context.CancelFunc
}

// Retry defaults: those of the OpenTelemetry Go SDK's exporters.
const (
	retryBackoff    = 5 * time.Second
	retryMaxBackoff = 30 * time.Second
	retryMaxElapsed = time.Minute
	// maxAnswer is the most of a collector's answer read: a partial
	// success is a few bytes, and anything else is discarded.
	maxAnswer = 64 << 10
)

var errStopped = errors.New("the exporter is shut down")

func newExporter(url string, env exporterEnv, userAgent string) *exporter {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       env.tls,
	}
	e := &exporter{url: url, env: env, userAgent: userAgent, client: &http.Client{Transport: tr},
		backoff: retryBackoff, maxBackoff: retryMaxBackoff, maxElapsed: retryMaxElapsed}
	e.stopped, e.stop = context.WithCancel(context.Background())
	e.hurried, e.hurry = context.WithCancel(e.stopped)
	return e
}

// ExportSpans sends spans in one request, retried as the type says.
func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Err() != nil {
		return fmt.Errorf("traces export: %w", errStopped)
	}
	rss := resourceSpans(spans)
	if len(rss) == 0 {
		return nil
	}
	body, err := encodeRequest(rss)
	if err != nil {
		return fmt.Errorf("traces export: encoding the spans: %w", err)
	}
	if e.env.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("traces export: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("traces export: gzip: %w", err)
		}
		body = buf.Bytes()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(e.stopped, func() { cancel(errStopped) })()

	began := time.Now()
	wait := e.backoff
	for attempt := 1; ; attempt++ {
		retry, after, err := e.post(ctx, body)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("traces export: %w (%w)", err, context.Cause(ctx))
		case !retry:
			return fmt.Errorf("traces export: %w", err)
		case e.hurried.Err() != nil:
			return fmt.Errorf("traces export: %w (not retried: stopping)", err)
		}
		delay := max(after, time.Duration(float64(wait)*(0.5+rand.Float64())))
		wait = min(wait*3/2, e.maxBackoff)
		if time.Since(began)+delay > e.maxElapsed {
			return fmt.Errorf("traces export: %w (gave up after %d attempts in %s)", err, attempt, time.Since(began).Round(time.Millisecond))
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return fmt.Errorf("traces export: %w (%d attempts; the export's deadline comes before the next)", err, attempt)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("traces export: %w (%w)", err, context.Cause(ctx))
		case <-e.hurried.Done():
			t.Stop()
			return fmt.Errorf("traces export: %w (not retried: stopping)", err)
		}
	}
}

// errAttemptTimeout is the cause of an attempt's end at env.timeout.
var errAttemptTimeout = errors.New("attempt timed out")

// post makes one attempt: whether a failure may be retried, after how
// long at least (Retry-After), and the error. Errors name the URL, which
// CheckEndpoint keeps free of secrets, never the headers; the collector's
// answer is read (so much of it) and discarded but for a partial success.
func (e *exporter) post(ctx context.Context, body []byte) (retry bool, after time.Duration, err error) {
	if e.env.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, e.env.timeout, errAttemptTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("User-Agent", e.userAgent)
	for k, v := range e.env.headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if e.env.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errAttemptTimeout) {
			return true, 0, fmt.Errorf("POST %s: no answer within %s (OTEL_EXPORTER_OTLP_TIMEOUT)", e.url, e.env.timeout)
		}
		// Could not connect, or the connection failed: retried, unless
		// the export's own context ended (the caller checks) or TLS
		// failed, which a retry would not mend.
		return !tlsFailure(err), 0, err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch s := resp.StatusCode; {
	case s >= 200 && s <= 299:
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/x-protobuf" {
			return false, 0, nil
		}
		if n, msg := partialSuccess(answer); n != 0 || msg != "" {
			return false, 0, fmt.Errorf("POST %s: the collector rejected %d spans: %s", e.url, n, vaspd.Truncate(msg, 200))
		}
		return false, 0, nil
	case s == http.StatusTooManyRequests || s == http.StatusBadGateway || s == http.StatusServiceUnavailable ||
		s == http.StatusGatewayTimeout:
		return true, retryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("POST %s: %s", e.url, resp.Status)
	default:
		return false, 0, fmt.Errorf("POST %s: %s (not retried)", e.url, resp.Status)
	}
}

// tlsFailure reports whether err is a TLS handshake's failure: a
// certificate not trusted or not for the host, our client certificate
// refused, or a server that does not speak TLS.
func tlsFailure(err error) bool {
	var verify *tls.CertificateVerificationError
	var alert tls.AlertError
	var record tls.RecordHeaderError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &record) ||
		errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// retryAfter is a Retry-After header's wait: seconds or an HTTP date; 0
// for none or one that does not parse.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// partialSuccess reads an ExportTraceServiceResponse's partial_success
// (field 1: rejected_spans = 1, error_message = 2); zero and "" for none,
// or for an answer that is not one.
func partialSuccess(b []byte) (rejected int64, msg string) {
	ps := field(b, 1, protowire.BytesType)
	if ps == nil {
		return 0, ""
	}
	if v := field(ps, 1, protowire.VarintType); v != nil {
		n, _ := protowire.ConsumeVarint(v)
		rejected = int64(n)
	}
	return rejected, string(field(ps, 2, protowire.BytesType))
}

// field is the last value of field num of wire type typ in the message b
// (a varint's encoding, or a bytes field's contents), nil if none or if b
// does not parse.
func field(b []byte, num protowire.Number, typ protowire.Type) []byte {
	var found []byte
	for len(b) > 0 {
		n, t, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, t, b)
		if l < 0 {
			return nil
		}
		if n == num && t == typ {
			found = b[:l]
			if typ == protowire.BytesType {
				found, _ = protowire.ConsumeBytes(found)
				if found == nil {
					found = []byte{}
				}
			}
		}
		b = b[l:]
	}
	return found
}

// lastExports makes exports from now on give up at their first failure
// instead of waiting to retry (one waiting gives up at once): the
// provider is stopping, within ShutdownTimeout, and a retry would only
// spend it.
func (e *exporter) lastExports() { e.hurry() }

// Shutdown makes later exports fail at once and abandons those in flight.
func (e *exporter) Shutdown(ctx context.Context) error {
	e.stop()
	e.client.CloseIdleConnections()
	return ctx.Err()
}
