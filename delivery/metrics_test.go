package delivery

import (
	"maps"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestOutcomesServedAtZero: every outcome of vaspd_webhook_deliveries_total
// is served, at 0, before its first attempt. A series born at its first
// Inc reads 1 at its first scrape, and Prometheus's increase() sees no rise
// in it: VaspdWebhookDeadLettered (increase of outcome="dead" > 0) missed
// the first dead letter of every process, which is most often the only one.
func TestOutcomesServedAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	newTestService(t, storetest.SQLite(t), vaspd.NewFakeClock(t0), func(o *Options) { o.Registerer = reg })
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "vaspd_webhook_deliveries_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	want := []string{StatusDead, StatusDelivered, "gone", "retry", "sync_delivered", "sync_failed"}
	if outcomes := slices.Sorted(maps.Keys(got)); !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes served before any attempt: %v, want %v", outcomes, want)
	}
	for o, v := range got {
		if v != 0 {
			t.Errorf("outcome %s = %v before any attempt", o, v)
		}
	}
}
