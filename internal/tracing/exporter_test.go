package tracing

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// oneSpan is a batch of one span.
func oneSpan() []sdktrace.ReadOnlySpan {
	return []sdktrace.ReadOnlySpan{tracetest.SpanStub{Name: "work", StartTime: time.Unix(1, 0), EndTime: time.Unix(2, 0)}.Snapshot()}
}

// answering is a collector whose handler is given, counting requests.
type answering struct {
	n     atomic.Int32
	times []time.Time
	mu    sync.Mutex
}

func startAnswering(t *testing.T, h func(n int, w http.ResponseWriter, r *http.Request)) (*answering, string) {
	t.Helper()
	a := &answering{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		a.mu.Lock()
		a.times = append(a.times, time.Now())
		a.mu.Unlock()
		h(int(a.n.Add(1)), w, r)
	}))
	t.Cleanup(srv.Close)
	return a, srv.URL + "/v1/traces"
}

// waitRequests waits up to d for a to have had n requests, and reports
// whether it did.
func waitRequests(t *testing.T, a *answering, n int32, d time.Duration) bool {
	t.Helper()
	for deadline := time.Now().Add(d); a.n.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}

// testExporter is an exporter to url whose retries wait 10 ms, not 5 s.
func testExporter(t *testing.T, url string, env exporterEnv) *exporter {
	t.Helper()
	if env.timeout == 0 {
		env.timeout = defaultExportTimeout
	}
	e := newExporter(url, env, "vaspd/test")
	e.backoff, e.maxBackoff = 10*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	return e
}

// A 503 is retried, no sooner than its Retry-After says.
func TestExportRetries503AfterRetryAfter(t *testing.T) {
	t.Parallel()
	a, url := startAnswering(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	if err := testExporter(t, url, exporterEnv{}).ExportSpans(context.Background(), oneSpan()); err != nil {
		t.Fatal(err)
	}
	if a.n.Load() != 2 {
		t.Fatalf("%d requests, want 2", a.n.Load())
	}
	if gap := a.times[1].Sub(a.times[0]); gap < time.Second {
		t.Fatalf("retried after %s, before the 1 s Retry-After", gap)
	}
}

// Every retryable status is retried, until maxElapsed.
func TestExportGivesUpAfterMaxElapsed(t *testing.T) {
	t.Parallel()
	for _, st := range []int{http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		t.Run(strconv.Itoa(st), func(t *testing.T) {
			t.Parallel()
			a, url := startAnswering(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(st) })
			e := testExporter(t, url, exporterEnv{})
			e.maxElapsed = time.Second
			began := time.Now()
			err := e.ExportSpans(context.Background(), oneSpan())
			if err == nil || !strings.Contains(err.Error(), "gave up after") || a.n.Load() < 2 || time.Since(began) > 5*time.Second {
				t.Fatalf("%d requests in %s, err %v; want several, then giving up", a.n.Load(), time.Since(began), err)
			}
		})
	}
}

// Any other answer is final, and the error quotes neither the answer's
// body nor a header.
func TestExportDoesNotRetry400(t *testing.T) {
	t.Parallel()
	a, url := startAnswering(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bad span s3cret-attribute", http.StatusBadRequest)
	})
	e := testExporter(t, url, exporterEnv{headers: http.Header{"X-Api-Key": {"s3cret-key"}}})
	err := e.ExportSpans(context.Background(), oneSpan())
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") || !strings.Contains(err.Error(), url) ||
		strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err %v", err)
	}
	if a.n.Load() != 1 {
		t.Fatalf("%d requests for a 400", a.n.Load())
	}
}

// The body is an ExportTraceServiceRequest, with the environment's
// headers, URL-decoded, _TRACES_HEADERS taking the place of _HEADERS.
func TestExportHeadersFromEnvironment(t *testing.T) {
	var got http.Header
	_, url := startAnswering(t, func(_ int, _ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":        "x-general=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": " Authorization = Bearer%20s3cret ,x-team=ops%2Cpay",
	}
	ee, err := readExporterEnv(url, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := testExporter(t, url, ee).ExportSpans(context.Background(), oneSpan()); err != nil {
		t.Fatal(err)
	}
	if got.Get("Authorization") != "Bearer s3cret" || got.Get("X-Team") != "ops,pay" || got.Get("X-General") != "" ||
		got.Get("Content-Type") != "application/x-protobuf" || got.Get("User-Agent") != "vaspd/test" {
		t.Fatalf("headers %v", got)
	}
}

// A malformed header list fails New naming the entry, never its value:
// the exporter parses the variables CheckEnv checks the same way.
func TestNewRefusesMalformedHeaders(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=ops,s3cret")
	p, err := New(context.Background(), Options{Endpoint: "http://127.0.0.1:1/v1/traces", SampleRatio: 1})
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_HEADERS: entry 2 has no '='") || strings.Contains(err.Error(), "s3cret") {
		p.Shutdown(context.Background())
		t.Fatalf("err %v", err)
	}
}

// Unusable exporter variables are errors naming the variable.
func TestExporterEnvErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	for _, c := range []struct {
		env      map[string]string
		endpoint string
		want     string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "", "OTEL_EXPORTER_OTLP_TIMEOUT: want a whole number of milliseconds"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-1"}, "", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: want"},
		{map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "", "OTEL_EXPORTER_OTLP_COMPRESSION: want gzip or none"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": filepath.Join(dir, "none.pem")}, "", "OTEL_EXPORTER_OTLP_CERTIFICATE: open"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": notPEM}, "", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: no PEM certificate"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY": notPEM}, "", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY: set both"},
		{map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": notPEM, "OTEL_EXPORTER_OTLP_CLIENT_KEY": notPEM}, "", "CLIENT_KEY: tls:"},
		{map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "bad key=s3cret"}, "", "TRACES_HEADERS: entry 1"},
	} {
		ep := "https://collector/v1/traces"
		if c.endpoint != "" {
			ep = c.endpoint
		}
		_, err := readExporterEnv(ep, func(k string) string { return c.env[k] }, os.ReadFile)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: err %v, want %q", c.env, err, c.want)
		}
	}
	// CheckEnv, at start, checks the timeout and compression too.
	if err := CheckEnv(func(k string) string { return map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "1.5"}[k] }); err == nil {
		t.Error("CheckEnv took a timeout of 1.5")
	}
}

// The per-attempt timeout (OTEL_EXPORTER_OTLP_TIMEOUT, ms) ends an
// attempt a collector does not answer.
func TestExportTimeoutFromEnvironment(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	a, url := startAnswering(t, func(int, http.ResponseWriter, *http.Request) { <-hang })
	ee, err := readExporterEnv(url, func(k string) string { return map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "100"}[k] }, nil)
	if err != nil || ee.timeout != 100*time.Millisecond {
		t.Fatalf("%v, %v", ee.timeout, err)
	}
	e := testExporter(t, url, ee)
	e.maxElapsed = time.Second
	began := time.Now()
	err = e.ExportSpans(context.Background(), oneSpan())
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") || time.Since(began) > 5*time.Second || a.n.Load() < 2 {
		t.Fatalf("after %s and %d requests: %v", time.Since(began), a.n.Load(), err)
	}
}

// A collector that never answers holds an export no longer than its
// context, retry waits included; and Shutdown abandons an export in
// flight and fails later ones at once, sending nothing.
func TestExportNeverOutlastsItsContext(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	defer close(hang)
	a, url := startAnswering(t, func(int, http.ResponseWriter, *http.Request) { <-hang })
	e := testExporter(t, url, exporterEnv{timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := e.ExportSpans(ctx, oneSpan())
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(began) > time.Second {
		t.Fatalf("after %s: %v", time.Since(began), err)
	}

	// On a loaded machine the export above may end before its request
	// reaches the collector, or just after: a moment for it to arrive,
	// then the next export's own request must.
	waitRequests(t, a, 1, time.Second)
	n0 := a.n.Load()
	done := make(chan error, 1)
	go func() { done <- e.ExportSpans(context.Background(), oneSpan()) }()
	if !waitRequests(t, a, n0+1, 30*time.Second) {
		t.Fatal("the second export's request never reached the collector")
	}
	e.Shutdown(context.Background())
	select {
	case err := <-done:
		if !errors.Is(err, errStopped) {
			t.Fatalf("in flight at Shutdown: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Shutdown did not end the export in flight")
	}
	n := a.n.Load()
	if err := e.ExportSpans(context.Background(), oneSpan()); !errors.Is(err, errStopped) || a.n.Load() != n {
		t.Fatalf("after Shutdown: %v, %d requests", err, a.n.Load()-n)
	}
}

// Once the provider stops (lastExports), a failed export is not retried
// and one waiting to retry gives up.
func TestExportNotRetriedWhenStopping(t *testing.T) {
	t.Parallel()
	a, url := startAnswering(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	e := testExporter(t, url, exporterEnv{})
	done := make(chan error, 1)
	go func() { done <- e.ExportSpans(context.Background(), oneSpan()) }()
	if !waitRequests(t, a, 1, 30*time.Second) {
		t.Fatal("the export's request never reached the collector")
	}
	e.lastExports()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not retried: stopping") {
			t.Fatalf("waiting to retry: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("an export waiting to retry did not give up")
	}
	if err := e.ExportSpans(context.Background(), oneSpan()); err == nil || a.n.Load() != 2 {
		t.Fatalf("stopping: %v after %d requests, want 2", err, a.n.Load())
	}
}

// A partial success is an error naming the spans rejected, and reaches
// vaspd's log through the SDK's error handler like every export error.
func TestPartialSuccessIsLogged(t *testing.T) {
	defer otel.SetErrorHandler(otel.GetErrorHandler())
	_, url := startAnswering(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: 2, ErrorMessage: "too old"}})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(b)
	})
	var buf syncBuffer
	p, err := New(context.Background(), Options{Endpoint: url, SampleRatio: 1, Log: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), "work")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "the collector rejected 2 spans: too old") {
		t.Fatalf("logged %q", buf.String())
	}
	rejected, msg := partialSuccess([]byte{0x0a, 0x00})
	if rejected != 0 || msg != "" {
		t.Fatalf("an empty partial success: %d %q", rejected, msg)
	}
	if rejected, msg := partialSuccess([]byte{0xff}); rejected != 0 || msg != "" {
		t.Fatalf("garbage: %d %q", rejected, msg)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "-1": 0, "soon": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		if got := retryAfter(v); got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
	if got := retryAfter(time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)); got < 58*time.Second || got > time.Minute {
		t.Errorf("a date a minute ahead: %s", got)
	}
}

// OTEL_EXPORTER_OTLP_CERTIFICATE is the CA the collector's certificate is
// checked against, and _CLIENT_CERTIFICATE/_CLIENT_KEY the certificate
// the exporter presents.
func TestExportTLSFromEnvironment(t *testing.T) {
	t.Parallel()
	var clientCerts atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		clientCerts.Store(int32(len(r.TLS.PeerCertificates)))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the test fails on purpose
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	certFile, keyFile := clientCert(t, dir)
	url := srv.URL + "/v1/traces"

	// Without the CA the collector's certificate is not trusted.
	ee, err := readExporterEnv(url, func(string) string { return "" }, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := testExporter(t, url, ee).ExportSpans(context.Background(), oneSpan()); err == nil ||
		!strings.Contains(err.Error(), "certificate") || time.Since(began) > 5*time.Second {
		t.Fatalf("without the CA, after %s (not retried): %v", time.Since(began), err)
	}
	env := map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": ca,
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile, "OTEL_EXPORTER_OTLP_CLIENT_KEY": keyFile}
	if ee, err = readExporterEnv(url, func(k string) string { return env[k] }, os.ReadFile); err != nil {
		t.Fatal(err)
	}
	if err := testExporter(t, url, ee).ExportSpans(context.Background(), oneSpan()); err != nil {
		t.Fatal(err)
	}
	if clientCerts.Load() != 1 {
		t.Fatalf("the collector saw %d client certificates", clientCerts.Load())
	}
	// TLS settings with an http:// endpoint are a mistake, said at start.
	if _, err := readExporterEnv("http://collector/v1/traces", func(k string) string { return env[k] }, os.ReadFile); err == nil ||
		!strings.Contains(err.Error(), "https") {
		t.Fatalf("TLS settings for http: %v", err)
	}
}

// clientCert writes a self-signed client certificate and its key.
func clientCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vaspd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// Exports from several goroutines at once (the race detector watches).
func TestExportConcurrently(t *testing.T) {
	t.Parallel()
	a, url := startAnswering(t, func(int, http.ResponseWriter, *http.Request) {})
	e := testExporter(t, url, exporterEnv{gzip: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := e.ExportSpans(context.Background(), oneSpan()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if a.n.Load() != 8 {
		t.Fatalf("%d requests", a.n.Load())
	}
}

// Stopping, the provider does not wait to retry a collector that cannot
// be reached (ShutdownTimeout would only be spent), and abandons an
// export the collector does not answer when the time is up, rather than
// leave it running.
func TestProviderShutdownDoesNotLinger(t *testing.T) {
	defer otel.SetErrorHandler(otel.GetErrorHandler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/v1/traces"
	ln.Close()
	p, err := New(context.Background(), Options{Endpoint: refused, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), "work")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	began := time.Now()
	if err := p.Shutdown(ctx); err != nil || time.Since(began) > 2*time.Second {
		t.Fatalf("refused: Shutdown took %s: %v", time.Since(began), err)
	}

	abandoned := make(chan struct{})
	_, hanging := startAnswering(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(abandoned)
	})
	if p, err = New(context.Background(), Options{Endpoint: hanging, SampleRatio: 1}); err != nil {
		t.Fatal(err)
	}
	_, span = p.Tracer().Start(context.Background(), "work")
	span.End()
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hanging: Shutdown: %v", err)
	}
	select {
	case <-abandoned:
	case <-time.After(2 * time.Second):
		t.Fatal("the export in flight at Shutdown's end was not abandoned")
	}
}
