package main

import (
	"strings"
	"testing"
	"time"
)

// The checker must catch each broken promise, or the crash test proves nothing.
func TestCheck(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	good := func() outcome {
		return outcome{
			events: map[string]string{"Webhook:a": "A", "Webhook:b": "B"},
			got: map[string][]receipt{
				"Webhook:a": {{start: at(0), sender: "101", body: "A"}, {start: at(5000), sender: "102", body: "A"}},
				"Webhook:b": {{start: at(10), sender: "102", body: "B"}},
			},
			killed: map[string]bool{"101": true},
		}
	}
	tests := []struct {
		name   string
		change func(*outcome)
		want   string // "" = no problem
	}{
		{"duplicate after the sender was killed is allowed", func(*outcome) {}, ""},
		{"duplicate without a crash", func(o *outcome) { o.killed = nil }, "was not killed"},
		{"another process's crash explains nothing", func(o *outcome) { o.killed = map[string]bool{"102": true} }, "was not killed"},
		{"duplicate from the killed process itself", func(o *outcome) { o.got["Webhook:a"][1].sender = "101" }, "was not killed"},
		{"event never delivered", func(o *outcome) { delete(o.got, "Webhook:b") }, "never delivered"},
		{"rolled-back event delivered", func(o *outcome) {
			o.got["Webhook:c"] = []receipt{{start: at(1), sender: "102", body: "C"}}
		}, "never committed"},
		{"body changed on retry", func(o *outcome) { o.got["Webhook:a"][1].body = "A2" }, "body differs"},
		{"delivery left pending", func(o *outcome) { o.notDone = []string{"WebhookDelivery:x pending"} }, "not delivered at the end"},
		{"receiver saw an overlap", func(o *outcome) { o.rcvProblems = []string{"overlap: Webhook:a"} }, "overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.change(&o)
			s, bad := check(o)
			joined := strings.Join(bad, "\n")
			if tt.want == "" && len(bad) > 0 {
				t.Fatalf("unexpected problems:\n%s", joined)
			}
			if tt.want != "" && !strings.Contains(joined, tt.want) {
				t.Fatalf("want a problem mentioning %q, got:\n%s", tt.want, joined)
			}
			if tt.want == "" && (s.Events != 2 || s.Received != 3 || s.Duplicates != 1) {
				t.Fatalf("summary %+v", s)
			}
		})
	}
}
