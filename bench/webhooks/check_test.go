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
				"Webhook:a": {{start: at(0), sender: "101", conn: 1, body: "A"}, {start: at(5000), sender: "102", conn: 2, body: "A"}},
				"Webhook:b": {{start: at(10), sender: "102", conn: 2, body: "B"}},
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
		{"duplicate on the first attempt's connection", func(o *outcome) { o.got["Webhook:a"][1].conn = 1 }, "same process repeated it"},
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

// Without sender ids (the requests of vaspd itself), a duplicate needs a
// SIGKILL between the previous attempt and the repeat; the checker must
// catch every repeat that no kill explains.
func TestCheckSenderless(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	killAt := func(ms int) kill { return kill{from: at(ms), to: at(ms + 5)} }
	good := func() outcome {
		return outcome{
			senderless: true,
			events:     map[string]string{"Webhook:a": "A", "Webhook:b": "B"},
			got: map[string][]receipt{
				"Webhook:a": {{start: at(1000), conn: 1, body: "A"}, {start: at(9000), conn: 7, body: "A"}},
				"Webhook:b": {{start: at(1010), conn: 2, body: "B"}},
			},
			kills: []kill{killAt(1200)},
		}
	}
	tests := []struct {
		name   string
		change func(*outcome)
		want   string // "" = no problem
	}{
		{"duplicate after a kill is allowed", func(*outcome) {}, ""},
		{"a request that reached the receiver just after its sender's kill", func(o *outcome) { o.kills = []kill{killAt(1000 - 300)} }, ""},
		{"duplicate without any kill", func(o *outcome) { o.kills = nil }, "no process was killed"},
		{"kill long before the first attempt", func(o *outcome) { o.kills = []kill{killAt(100)} }, "no process was killed"},
		{"kill only after the repeat", func(o *outcome) { o.kills = []kill{killAt(9500)} }, "no process was killed"},
		{"kill just beyond the slack before the first attempt", func(o *outcome) {
			o.kills = []kill{{from: at(1000).Add(-killSlack - 20*time.Millisecond), to: at(1000).Add(-killSlack - 10*time.Millisecond)}}
		}, "no process was killed"},
		{"second repeat with no kill since the first repeat", func(o *outcome) {
			o.got["Webhook:a"] = append(o.got["Webhook:a"], receipt{start: at(17000), conn: 9, body: "A"})
		}, "no process was killed since its delivery at Jan  1 00:00:09"},
		{"repeat on the same connection despite a kill", func(o *outcome) { o.got["Webhook:a"][1].conn = 1 }, "same process repeated it"},
		// When the receiver could name both senders (the connections'
		// owners), the rule is the one of sender ids.
		{"known senders: the previous one was killed", func(o *outcome) {
			o.got["Webhook:a"][0].sender, o.got["Webhook:a"][1].sender = "101", "102"
			o.killed = map[string]bool{"101": true}
		}, ""},
		{"known senders: the previous one lived on, whatever else was killed", func(o *outcome) {
			o.got["Webhook:a"][0].sender, o.got["Webhook:a"][1].sender = "101", "102"
			o.killed = map[string]bool{"103": true}
		}, "was not killed"},
		{"known senders: one process sent both", func(o *outcome) {
			o.got["Webhook:a"][0].sender, o.got["Webhook:a"][1].sender = "101", "101"
			o.killed = map[string]bool{"101": true}
		}, "was not killed"},
		{"one sender unknown: kill times decide", func(o *outcome) {
			o.got["Webhook:a"][0].sender = "101"
			o.killed = map[string]bool{"101": true}
			o.kills = nil
		}, "no process was killed"},
		{"body changed on retry", func(o *outcome) { o.got["Webhook:a"][1].body = "A2" }, "body differs"},
		{"event never delivered", func(o *outcome) { delete(o.got, "Webhook:b") }, "never delivered"},
		{"rolled-back event delivered", func(o *outcome) {
			o.got["Webhook:c"] = []receipt{{start: at(1), conn: 3, body: "C"}}
		}, "never committed"},
		{"receiver saw an overlap", func(o *outcome) { o.rcvProblems = []string{"overlap: Webhook:a attempted by two senders at once"} }, "overlap"},
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
			if tt.want == "" && (s.Events != 2 || s.Received != 3 || s.Duplicates != 1 || s.Kills != len(o.kills)) {
				t.Fatalf("summary %+v", s)
			}
		})
	}
}

// With several endpoints every rule holds per (event, endpoint) pair: each
// endpoint must get every event, and a repeat is judged against the
// attempts to its own endpoint only.
func TestCheckEndpoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	good := func() outcome {
		// One process (101) sends an event to all three endpoints on one
		// connection; after its kill, 102 repeats a to endpoint 1.
		o := outcome{
			endpoints: []string{"0", "1", "2"},
			events:    map[string]string{"Webhook:a": "A", "Webhook:b": "B"},
			got:       map[string][]receipt{},
			killed:    map[string]bool{"101": true},
		}
		for i, id := range []string{"Webhook:a", "Webhook:b"} {
			for j, ep := range o.endpoints {
				o.got[id] = append(o.got[id], receipt{start: at(10*i + j), sender: "101", conn: 1, body: o.events[id], ep: ep})
			}
		}
		o.got["Webhook:a"] = append(o.got["Webhook:a"], receipt{start: at(5000), sender: "102", conn: 2, body: "A", ep: "1"})
		return o
	}
	tests := []struct {
		name   string
		change func(*outcome)
		want   []string // nil = no problem
	}{
		{"every pair delivered, a repeat after a kill", func(*outcome) {}, nil},
		{"one pair missing", func(o *outcome) {
			o.got["Webhook:b"] = o.got["Webhook:b"][:2]
		}, []string{"Webhook:b committed but never delivered to endpoint 2",
			"1 of 6 (event, endpoint) pairs never delivered; 1 of 2 events lack at least one endpoint; missing per endpoint: 2:1"}},
		{"an endpoint that got nothing", func(o *outcome) {
			for id, rs := range o.got {
				var keep []receipt
				for _, r := range rs {
					if r.ep != "2" {
						keep = append(keep, r)
					}
				}
				o.got[id] = keep
			}
		}, []string{"2 of 6 (event, endpoint) pairs never delivered; 2 of 2 events lack at least one endpoint; missing per endpoint: 2:2"}},
		{"repeat to the same endpoint by a live process", func(o *outcome) {
			o.killed = map[string]bool{"103": true}
		}, []string{"Webhook:a to endpoint 1 delivered again", "was not killed"}},
		{"repeat on the connection of an earlier attempt to the same endpoint", func(o *outcome) {
			rs := o.got["Webhook:a"]
			rs[len(rs)-1].conn = 1
		}, []string{"Webhook:a to endpoint 1 delivered again", "same process repeated it"}},
		{"body changed on the repeat", func(o *outcome) {
			rs := o.got["Webhook:a"]
			rs[len(rs)-1].body = "A2"
		}, []string{"Webhook:a to endpoint 1 attempt 2: body differs"}},
		{"an endpoint the test did not create", func(o *outcome) {
			o.got["Webhook:b"] = append(o.got["Webhook:b"], receipt{start: at(20), sender: "101", conn: 1, body: "B", ep: "7"})
		}, []string{"Webhook:b to endpoint 7: delivered to an endpoint the test did not create"}},
		{"a pair written twice", func(o *outcome) {
			o.dupRows = []string{"Webhook:a WebhookEndpoint:x 2"}
		}, []string{"more than one delivery written for one event and endpoint (event endpoint rows): Webhook:a WebhookEndpoint:x 2"}},
		{"a fan-out left unfinished", func(o *outcome) {
			o.fanOutsLeft = []string{"Webhook:b 8/12"}
		}, []string{"deferred fan-out not finished at the end (event written/endpoints): Webhook:b 8/12"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.change(&o)
			s, bad := check(o)
			joined := strings.Join(bad, "\n")
			if tt.want == nil && len(bad) > 0 {
				t.Fatalf("unexpected problems:\n%s", joined)
			}
			for _, w := range tt.want {
				if !strings.Contains(joined, w) {
					t.Fatalf("want a problem mentioning %q, got:\n%s", w, joined)
				}
			}
			if tt.want == nil && (s != summary{Events: 2, Received: 7, Duplicates: 1, Kills: 1,
				Endpoints: 3, Pairs: 6, PairsDelivered: 6, PairsRepeated: 1}) {
				t.Fatalf("summary %+v", s)
			}
		})
	}
}

// One endpoint, as the crash test always had: its pairs are the events.
func TestCheckOneEndpointSummary(t *testing.T) {
	o := outcome{
		events: map[string]string{"Webhook:a": "A", "Webhook:b": "B"},
		got:    map[string][]receipt{"Webhook:a": {{body: "A", sender: "101", conn: 1}}},
	}
	s, bad := check(o)
	if s.Endpoints != 1 || s.Pairs != 2 || s.PairsDelivered != 1 {
		t.Fatalf("summary %+v", s)
	}
	if len(bad) != 1 || bad[0] != "Webhook:b committed but never delivered" {
		t.Fatalf("problems %q, want only b never delivered", bad)
	}
}
