package daemon

import (
	"context"
	"fmt"
	"os"

	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/tracing"
)

// DefaultTracingSampleRatio is tracing-sample-ratio's default: every new
// trace. Tracing is off unless an endpoint is set, so whoever turns it on
// wants to see traces; vaspd's requests are payments and their lookups,
// a few spans each, not a firehose; and a collector that samples by
// outcome (tail sampling, keeping the failed payments) can only keep what
// it was sent. A busy deployment lowers it.
const DefaultTracingSampleRatio = 1.0

// TracingConfig is OpenTelemetry tracing: off unless Endpoint is set.
type TracingConfig struct {
	Endpoint    string
	SampleRatio float64

	endpoint string // Endpoint as the exporter takes it (tracing.CheckEndpoint)
}

func (c *TracingConfig) declare(s *config.Set) {
	s.String(&c.Endpoint, "tracing-endpoint", "", "OTLP/HTTP collector to send OpenTelemetry traces to, e.g. http://localhost:4318 (/v1/traces is added to a URL without a path); empty: tracing off. Exporter headers (API keys) go in OTEL_EXPORTER_OTLP_HEADERS").Redact = config.RedactURL
	s.Float64(&c.SampleRatio, "tracing-sample-ratio", DefaultTracingSampleRatio, "share of new traces recorded, 0 to 1 (a platform request continuing its own trace follows the trace's decision)")
}

func (c *TracingConfig) resolve() error {
	c.endpoint = ""
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("setting tracing-sample-ratio: want 0 to 1, got %g", c.SampleRatio)
	}
	if c.Endpoint == "" {
		return nil
	}
	ep, err := tracing.CheckEndpoint(c.Endpoint)
	if err != nil {
		return fmt.Errorf("setting tracing-endpoint: %w", err)
	}
	// Read by the exporter and the resource when tracing is on.
	if err := tracing.CheckEnv(os.Getenv); err != nil {
		return fmt.Errorf("setting tracing-endpoint: %w", err)
	}
	c.endpoint = ep
	return nil
}

// openTracing starts the tracer provider when tracing is on (nil, tracing
// off, otherwise).
func (d *Daemon) openTracing(ctx context.Context) (*tracing.Provider, error) {
	return tracing.New(ctx, tracing.Options{Endpoint: d.cfg.Tracing.endpoint, SampleRatio: d.cfg.Tracing.SampleRatio,
		Version: d.cfg.Version, Log: d.log.With("component", "tracing")})
}

// stopTracing exports the spans still queued, once every request and
// worker has ended theirs, within tracing.ShutdownTimeout of its own
// (shutdown-timeout has been spent on them). A collector that cannot be
// reached then costs the stop that long at most and loses the spans; it
// is a warning, not a failed stop.
func (d *Daemon) stopTracing() {
	if d.tracing == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tracing.ShutdownTimeout)
	defer cancel()
	if err := d.tracing.Shutdown(ctx); err != nil {
		d.log.Warn("tracing: the last spans were not exported", "err", err)
	}
}
