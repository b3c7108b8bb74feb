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

	// senderless is set when requests carry no X-Bench-Sender (vaspd
	// sends them): a receipt's sender is then the owner of its TCP
	// connection when the receiver could tell, and a duplicate whose
	// sender or previous sender is unknown is judged by kills, the
	// moments at which some process was SIGKILLed.
	senderless bool
	kills      []kill
}

// kill is when one SIGKILL happened: from just before the signal was sent
// to when the process had been reaped.
type kill struct{ from, to time.Time }

// killSlack is how long after a kill a request the killed process had
// already written may still reach the receiver's handler (where receipts
// are timed): a kill up to this long before the previous receipt's start
// still explains a repeat. Far shorter than a lease (attempt timeout +
// margin, 7 s in the vaspd crash test), so a live process repeating itself
// after its lease ran out is not excused by a kill just before its attempt.
const killSlack = 500 * time.Millisecond

// summary counts what happened.
type summary struct {
	Events     int `json:"events"`
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	Kills      int `json:"kills"`
	// Unattributed is how many receipts came from an unknown process
	// (senderless only: the sender died before the receiver looked).
	Unattributed int `json:"unattributed"`
}

// check returns every broken promise: an event not delivered, a webhookId
// delivered that no committed transaction enqueued (a rolled-back one), a
// body that differs from the stored one, a duplicate that no crash explains,
// and whatever the receiver noticed (two senders at once, bad signatures).
//
// A duplicate is explained only when the process that sent the previous
// attempt was SIGKILLed (so it may have died before recording the answer)
// and the new attempt comes from another process. When either sender is
// unknown (senderless), the most that can be required is that some process
// was SIGKILLed between the previous attempt's start (less killSlack) and
// the repeat. In all cases a repeat on a TCP connection that an earlier
// attempt of the same webhookId used is unexplained: a connection does not
// outlive its process, so the same live process sent both.
func check(o outcome) (summary, []string) {
	var bad []string
	s := summary{Events: len(o.events), Kills: len(o.killed)}
	if o.senderless {
		s.Kills = len(o.kills)
	}
	bad = append(bad, o.rcvProblems...)
	for i, d := range o.notDone {
		if i == 20 {
			// Enough to see what is wrong; the other kinds of problems
			// below must still show in the output.
			bad = append(bad, fmt.Sprintf("… %d deliveries not delivered in all", len(o.notDone)))
			break
		}
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
			if o.senderless && r.sender == "" {
				s.Unattributed++
			}
			if r.body != body {
				bad = append(bad, fmt.Sprintf("%s attempt %d: body differs from the stored one", id, i+1))
			}
			if i == 0 {
				continue
			}
			s.Duplicates++
			prev := rs[i-1]
			switch {
			case sameConn(rs[:i], r):
				bad = append(bad, fmt.Sprintf("%s delivered again at %s on connection %d, which an earlier attempt used: the same process repeated it",
					id, r.start.Format(time.StampMicro), r.conn))
			case o.senderless && (prev.sender == "" || r.sender == ""):
				if !killedBetween(o.kills, prev.start.Add(-killSlack), r.start) {
					bad = append(bad, fmt.Sprintf("%s delivered again at %s, but no process was killed since its delivery at %s",
						id, r.start.Format(time.StampMicro), prev.start.Format(time.StampMicro)))
				}
			case !o.killed[prev.sender] || r.sender == prev.sender:
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

// sameConn reports whether r came on a connection one of earlier came on
// (0 = unknown, never the same).
func sameConn(earlier []receipt, r receipt) bool {
	if r.conn == 0 {
		return false
	}
	for _, e := range earlier {
		if e.conn == r.conn {
			return true
		}
	}
	return false
}

// killedBetween reports whether some kill may have happened within
// [from, to]: its signal was sent by to and its process reaped at from or later.
func killedBetween(kills []kill, from, to time.Time) bool {
	for _, k := range kills {
		if !k.from.After(to) && !k.to.Before(from) {
			return true
		}
	}
	return false
}
