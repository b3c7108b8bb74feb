package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd/internal/buildinfo"
)

// buildInfoGauge is vaspd_build_info, 1 with the build as labels (the
// Prometheus convention for an info metric): a dashboard tells which
// processes of a deployment run which build, and a rolling upgrade's
// progress, by joining on it.
func buildInfoGauge(b buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vaspd_build_info",
		Help: "The running vaspd build: its version, source revision (12 characters, -modified for a tree with changes; empty when not recorded) and Go version. Always 1.",
		ConstLabels: prometheus.Labels{
			"version":    b.Version,
			"revision":   b.ShortRevision(),
			"go_version": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}
