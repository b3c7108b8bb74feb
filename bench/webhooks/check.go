package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vaspd/vaspd/store"
)

// outcome is what the crash test checks once every worker has stopped.
type outcome struct {
	events      map[string]string    // webhookId → stored body, as committed
	notDone     []string             // deliveries still not delivered, "id status"
	got         map[string][]receipt // what the receiver recorded, in arrival order, every endpoint's
	killed      map[string]bool      // senders (process ids) that were SIGKILLed
	rcvProblems []string             // overlaps, bad signatures, header mismatches

	// senderless is set when requests carry no X-Bench-Sender (vaspd
	// sends them): a receipt's sender is then the owner of its TCP
	// connection when the receiver could tell, and a duplicate whose
	// sender or previous sender is unknown is judged by kills, the
	// moments at which some process was SIGKILLed.
	senderless bool
	kills      []kill

	// endpoints are the receiver's keys (receipt.ep) of the endpoints
	// every event must reach; nil means one, "".
	endpoints []string
	// dupRows are the (event, endpoint) pairs the database holds more
	// than one delivery for, as "event endpoint count": one delivery per
	// pair is written, by the producer's transaction or the fan-out.
	dupRows []string
	// fanOutsLeft are the deferred fan-outs (webhook_fanouts) not
	// finished at the end, as "event written/total".
	fanOutsLeft []string
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

// load reads every committed event, every delivery not delivered, every
// (event, endpoint) pair with more than one delivery and every fan-out left.
func load(ctx context.Context, db *store.DB) (outcome, error) {
	o := outcome{events: map[string]string{}}
	rows, err := db.QueryContext(ctx, `SELECT id, payload FROM webhook_events`)
	if err != nil {
		return o, err
	}
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return o, err
		}
		o.events[id] = string(body)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return o, err
	}
	if o.notDone, err = lines(ctx, db, `SELECT id || ' ' || status FROM webhook_deliveries WHERE status <> 'delivered'`); err != nil {
		return o, err
	}
	if o.dupRows, err = lines(ctx, db, `SELECT event_id || ' ' || endpoint_id || ' ' || COUNT(*) FROM webhook_deliveries
		GROUP BY event_id, endpoint_id HAVING COUNT(*) > 1 ORDER BY event_id, endpoint_id`); err != nil {
		return o, err
	}
	// The endpoints are a comma-separated list; their number is one more
	// than its commas.
	o.fanOutsLeft, err = lines(ctx, db, `SELECT event_id || ' ' || written || '/' ||
		(LENGTH(endpoints) - LENGTH(REPLACE(endpoints, ',', '')) + 1) FROM webhook_fanouts ORDER BY created_at, event_id`)
	return o, err
}

// lines returns the one text column of every row of query.
func lines(ctx context.Context, db *store.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// summary counts what happened.
type summary struct {
	Events     int `json:"events"`
	Received   int `json:"received"`
	Duplicates int `json:"duplicates"`
	Kills      int `json:"kills"`
	// Unattributed is how many receipts came from an unknown process
	// (senderless only: the sender died before the receiver looked).
	Unattributed int `json:"unattributed"`
	// Endpoints is how many endpoints each event was for; Pairs, events ×
	// endpoints, the deliveries promised; PairsDelivered how many of them
	// arrived, PairsRepeated how many of those more than once.
	Endpoints      int `json:"endpoints"`
	Pairs          int `json:"pairs"`
	PairsDelivered int `json:"pairs_delivered"`
	PairsRepeated  int `json:"pairs_repeated"`
}

// check returns every broken promise: an event not delivered to one of
// the endpoints, a webhookId delivered that no committed transaction
// enqueued (a rolled-back one), a body that differs from the stored one, a
// duplicate that no crash explains, a delivery written twice, and whatever
// the receiver noticed (two senders at once, bad signatures).
//
// Every rule holds per (event, endpoint) pair: each endpoint gets every
// event once, and a repeat is judged against the attempts to the same
// endpoint only.
//
// A duplicate is explained only when the process that sent the previous
// attempt was SIGKILLed (so it may have died before recording the answer)
// and the new attempt comes from another process. When either sender is
// unknown (senderless), the most that can be required is that some process
// was SIGKILLed between the previous attempt's start (less killSlack) and
// the repeat. In all cases a repeat on a TCP connection that an earlier
// attempt of the same pair used is unexplained: a connection does not
// outlive its process, so the same live process sent both.
func check(o outcome) (summary, []string) {
	var bad []string
	eps := o.endpoints
	if len(eps) == 0 {
		eps = []string{""}
	}
	known := make(map[string]bool, len(eps))
	for _, ep := range eps {
		known[ep] = true
	}
	s := summary{Events: len(o.events), Kills: len(o.killed), Endpoints: len(eps), Pairs: len(o.events) * len(eps)}
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
	bad = append(bad, firstOf(o.fanOutsLeft, "deferred fan-out not finished at the end (event written/endpoints): ", "fan-outs not finished")...)
	bad = append(bad, firstOf(o.dupRows, "more than one delivery written for one event and endpoint (event endpoint rows): ", "pairs written twice")...)
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
		byEp := map[string][]receipt{}
		for _, r := range rs {
			byEp[r.ep] = append(byEp[r.ep], r)
		}
		for _, ep := range sortedKeys(byEp) {
			what := id + epLabel(ep)
			if !known[ep] {
				bad = append(bad, what+": delivered to an endpoint the test did not create")
				continue
			}
			prs := byEp[ep]
			s.PairsDelivered++
			if len(prs) > 1 {
				s.PairsRepeated++
			}
			s.Duplicates += len(prs) - 1
			for _, r := range prs {
				if o.senderless && r.sender == "" {
					s.Unattributed++
				}
			}
			bad = append(bad, checkPair(o, what, body, prs)...)
		}
	}
	bad = append(bad, missingPairs(o, eps)...)
	return s, bad
}

// checkPair checks the receipts of one (event, endpoint) pair, what, in
// arrival order: each carries the stored body, and each repeat is
// explained by a crash.
func checkPair(o outcome, what, body string, rs []receipt) []string {
	var bad []string
	for i, r := range rs {
		if r.body != body {
			bad = append(bad, fmt.Sprintf("%s attempt %d: body differs from the stored one", what, i+1))
		}
		if i == 0 {
			continue
		}
		prev := rs[i-1]
		switch {
		case sameConn(rs[:i], r):
			bad = append(bad, fmt.Sprintf("%s delivered again at %s on connection %d, which an earlier attempt used: the same process repeated it",
				what, r.start.Format(time.StampMicro), r.conn))
		case o.senderless && (prev.sender == "" || r.sender == ""):
			if !killedBetween(o.kills, prev.start.Add(-killSlack), r.start) {
				bad = append(bad, fmt.Sprintf("%s delivered again at %s, but no process was killed since its delivery at %s",
					what, r.start.Format(time.StampMicro), prev.start.Format(time.StampMicro)))
			}
		case !o.killed[prev.sender] || r.sender == prev.sender:
			bad = append(bad, fmt.Sprintf("%s delivered again at %s by process %s, but process %s that delivered it at %s was not killed",
				what, r.start.Format(time.StampMicro), r.sender, prev.sender, prev.start.Format(time.StampMicro)))
		}
	}
	return bad
}

// missingPairs reports every committed event not received by one of eps:
// the first 20 pairs, then (with more, or with several endpoints) the
// totals, and per endpoint how many it lacks — a fan-out that stops after
// a chunk leaves the same endpoints short of every wide event.
func missingPairs(o outcome, eps []string) []string {
	var bad []string
	events := sortedKeys(o.events)
	missing, short := 0, 0
	perEp := map[string]int{}
	for _, id := range events {
		have := map[string]bool{}
		for _, r := range o.got[id] {
			have[r.ep] = true
		}
		gap := false
		for _, ep := range eps {
			if have[ep] {
				continue
			}
			missing++
			perEp[ep]++
			gap = true
			if missing <= 20 {
				bad = append(bad, id+" committed but never delivered"+epLabel(ep))
			}
		}
		if gap {
			short++
		}
	}
	switch {
	case missing == 0:
	case len(eps) > 1:
		var per strings.Builder
		for _, ep := range eps {
			if perEp[ep] > 0 {
				fmt.Fprintf(&per, " %s:%d", ep, perEp[ep])
			}
		}
		bad = append(bad, fmt.Sprintf("… %d of %d (event, endpoint) pairs never delivered; %d of %d events lack at least one endpoint; missing per endpoint:%s",
			missing, len(events)*len(eps), short, len(events), per.String()))
	case missing > 20:
		bad = append(bad, fmt.Sprintf("… %d events never delivered in all", missing))
	}
	return bad
}

// firstOf turns up to 20 items into problems, prefix first, and counts the
// rest as what.
func firstOf(items []string, prefix, what string) []string {
	var bad []string
	for i, it := range items {
		if i == 20 {
			bad = append(bad, fmt.Sprintf("… %d %s in all", len(items), what))
			break
		}
		bad = append(bad, prefix+it)
	}
	return bad
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
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
