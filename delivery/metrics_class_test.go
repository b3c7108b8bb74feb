package delivery

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store/storetest"
)

// An attempt's latency is observed under its answer's status class. net/http
// reads interim 1xx answers (103 Early Hints here) itself and returns the
// final one, but "101 Switching Protocols" is final: that answer is a
// receiver's 1xx, not a failure to reach it, and was counted "error".
func TestAttemptLatencyClassOf1xx(t *testing.T) {
	db := storetest.SQLite(t)
	reg := prometheus.NewRegistry()
	s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Registerer = reg })
	mustEndpoint(t, s, rawReceiver(t, func() string {
		return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	}, nil))
	mustEndpoint(t, s, rawReceiver(t, func() string {
		return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	}, nil))
	enqueue(t, s, Event{Type: TypeTest})
	if n := step(t, s); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, f := range fams {
		if f.GetName() != "vaspd_webhook_attempt_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
		}
	}
	if got["1xx"] != 1 || got["2xx"] != 1 || len(got) != 2 {
		t.Fatalf("attempts by class %v, want one 1xx (the 101) and one 2xx (the 200 after a 103)", got)
	}
}
