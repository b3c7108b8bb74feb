package main

import (
	"fmt"
	"sort"
	"time"
)

// outcome is what the crash test checks once every worker has stopped.
type outcome struct {
	events      map[string]string    // webhookId → stored body, as committed
	notDone     []string             // deliveries still not delivered, "id status"
	got         map[string][]receipt // what the receiver recorded, in arrival order
	killed      map[string]bool      // senders (process ids) that were SIGKILLed
	rcvProblems []string             // overlaps, bad signatures, header mismatches
}

// summary counts what happened.
type summary struct {
	Events     int `json:"events"`
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	Kills      int `json:"kills"`
}

// check returns every broken promise: an event not delivered, a webhookId
// delivered that no committed transaction enqueued (a rolled-back one), a
// body that differs from the stored one, a duplicate that no crash explains,
// and whatever the receiver noticed (two senders at once, bad signatures).
//
// A duplicate is explained only when the process that sent the previous
// attempt was SIGKILLed (so it may have died before recording the answer)
// and the new attempt comes from another process.
func check(o outcome) (summary, []string) {
	var bad []string
	s := summary{Events: len(o.events), Kills: len(o.killed)}
	bad = append(bad, o.rcvProblems...)
	for _, d := range o.notDone {
		bad = append(bad, "delivery not delivered at the end: "+d)
	}
	ids := make([]string, 0, len(o.got))
	for id := range o.got {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rs := o.got[id]
		s.Received += len(rs)
		body, ok := o.events[id]
		if !ok {
			bad = append(bad, fmt.Sprintf("%s delivered but never committed (a rolled-back enqueue?)", id))
			continue
		}
		for i, r := range rs {
			if r.body != body {
				bad = append(bad, fmt.Sprintf("%s attempt %d: body differs from the stored one", id, i+1))
			}
			if i == 0 {
				continue
			}
			s.Duplicates++
			prev := rs[i-1]
			if !o.killed[prev.sender] || r.sender == prev.sender {
				bad = append(bad, fmt.Sprintf("%s delivered again at %s by process %s, but process %s that delivered it at %s was not killed",
					id, r.start.Format(time.StampMicro), r.sender, prev.sender, prev.start.Format(time.StampMicro)))
			}
		}
	}
	missing := 0
	for id := range o.events {
		if len(o.got[id]) == 0 {
			missing++
			if missing <= 20 {
				bad = append(bad, id+" committed but never delivered")
			}
		}
	}
	if missing > 20 {
		bad = append(bad, fmt.Sprintf("… %d events never delivered in all", missing))
	}
	return s, bad
}
