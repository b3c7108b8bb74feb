package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd/api"
)

// TestMetricsMethodLabelIsBounded: net/http accepts any token as a method,
// and every new value of a label is a new time series kept for the life of
// the process. A client inventing methods must not grow the metrics
// without bound: unknown methods share one label value.
func TestMetricsMethodLabelIsBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := api.New(api.Options{Registry: reg})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	for i := range 50 {
		req, _ := http.NewRequestWithContext(context.Background(), fmt.Sprintf("X%d", i), srv.URL+"/nope", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vaspd_http_request_duration_seconds" && len(mf.GetMetric()) > 2 {
			t.Errorf("50 invented methods made %d latency series, want at most 2", len(mf.GetMetric()))
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && strings.HasPrefix(l.GetValue(), "X") {
					t.Fatalf("an invented method reached a label: %s", l.GetValue())
				}
			}
		}
	}
}
