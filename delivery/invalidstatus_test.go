package delivery

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestInvalidStatusCodeIsABrokenAnswer: net/http accepts any three digits
// as a status code, but only 100–599 are HTTP's (RFC 9110, section 15). A
// receiver answering 600, 999 or 000 gave no valid answer: its attempt
// fails and is retried on the schedule, as a status line net/http refuses
// is, and its latency is counted under "error" (a broken answer), not
// "5xx" (600–999 were) nor as a reply from a receiver at work. Its delivery
// keeps the code it got, with an error that names it; a synchronous send's
// Response carries it as Err (Status 0), as for any other broken answer.
func TestInvalidStatusCodeIsABrokenAnswer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		s := newTestService(t, db, vaspd.NewFakeClock(t0), func(o *Options) { o.Registerer = reg })
		codes := []string{"600", "999", "000"}
		eps := map[string]string{}
		for _, code := range codes {
			u := rawReceiver(t, func() string { return "HTTP/1.1 " + code + " Odd\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" }, nil)
			e, _ := mustEndpoint(t, s, u, func(in *EndpointInput) { in.EventTypes = &[]string{"T_" + code} })
			eps[code] = e.ID
		}
		ids := map[string]string{}
		for _, code := range codes {
			ids[code] = enqueue(t, s, Event{Type: "T_" + code})
		}
		if n := step(t, s); n != len(codes) {
			t.Fatalf("%d attempts, want %d", n, len(codes))
		}
		for _, code := range codes {
			d := onlyDelivery(t, s, ids[code])
			want := "invalid HTTP status code " + code
			if n, _ := strconv.Atoi(code); d.LastStatus != n {
				t.Errorf("answer %s: last status %d, want the code it got", code, d.LastStatus)
			}
			if d.Status != StatusPending || !d.NextAttemptAt.Equal(t0.Add(10*time.Second)) || d.LastError != want {
				t.Errorf("answer %s: delivery %s, next attempt %s, last error %q; want pending, retried at +10s, %q",
					code, d.Status, d.NextAttemptAt, d.LastError, want)
			}
		}
		got := attemptClasses(t, reg)
		if got["error"] != uint64(len(codes)) || len(got) != 1 {
			t.Errorf("attempts by class %v, want all %d under error", got, len(codes))
		}
		resp, err := s.Send(ctx, Event{Type: "T_600"}, SendOptions{EndpointID: eps["600"]})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Err == nil || resp.Status != 0 || !strings.Contains(resp.Err.Error(), "invalid HTTP status code 600") || resp.Delivered() {
			t.Errorf("sync send answered 600: status %d, err %v; want 0 and the invalid code as the error", resp.Status, resp.Err)
		}
	})
}

// attemptClasses returns vaspd_webhook_attempt_duration_seconds's sample
// count by class.
func attemptClasses(t *testing.T, reg *prometheus.Registry) map[string]uint64 {
	t.Helper()
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
	return got
}
