package paycrash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vaspd/vaspd/store"
)

// Kill is one SIGKILL (of one process or both) and what it cut: what was
// in flight at that moment, read from the driver's own counters and, just
// after the kill, from the databases (what the crash left half-done for
// the restart to finish).
type Kill struct {
	Target  string  `json:"target"` // sender, receiver or both
	At      float64 `json:"at_s"`   // since the run began
	DownFor float64 `json:"down_s"` // from the kill until both were ready again

	// At the kill (the driver's view).
	ExecutesWaiting int   `json:"executes_waiting"` // executes sent, not answered
	QuotesWaiting   int   `json:"quotes_waiting"`   // lookups and quotes sent, not answered
	DevnetInFlight  int64 `json:"devnet_in_flight"` // Lightning payments between the nodes: held, at the receiver, or answered and held

	// Just after it (the databases').
	SenderProcessing    int `json:"sender_processing"`     // quotes claimed, money reserved, payment not booked
	SenderNodeInFlight  int `json:"sender_node_in_flight"` // the sender node's payments not final
	PaidNotBooked       int `json:"paid_not_booked"`       // of SenderProcessing: settled at the receiver already
	ReceiverUncredited  int `json:"receiver_uncredited"`   // invoices settled at the receiver, their payment not credited
	ReceiverPendingPaid int `json:"receiver_pending"`      // incoming payments PENDING (quoted; paid or not)

	WhileStarting int `json:"while_starting"` // restarts SIGKILLed again while starting
	// A kill that waited for an auto-refresh: quotes leased for one at
	// the kill (a payreq for new terms out, or terms being written); -1
	// for the other kills.
	RefreshLeases int  `json:"refresh_leases"`
	AtRefresh     bool `json:"at_refresh"` // it found a refresh leased or just made

	Processes []string `json:"processes"`            // the processes killed
	WholeVASP int      `json:"whole_vasp,omitempty"` // cluster mode: VASPs all of whose processes were killed
}

// inFlight reports whether the kill cut a payment between the sender's
// claim and the receiver's credit.
func (k Kill) inFlight() bool {
	return k.SenderProcessing > 0 || k.DevnetInFlight > 0 || k.ReceiverUncredited > 0 || k.ExecutesWaiting > 0
}

// killer SIGKILLs the sender, the receiver or both at random moments, and
// starts each again on its database and address.
type killer struct {
	sender, receiver *vasp
	link             *devnetLink
	s                *stream
	sdb, rdb         *store.DB // read-only
	began            time.Time
	log              func(format string, args ...any)
	newRates         func() error // rewrites the receiver's rates file, read at its restart
}

// targets is the kill schedule: n kills, each of the sender, the
// receiver or both, each kind at least once when n allows.
func targets(n int) []string {
	kinds := []string{"sender", "receiver", "both"}
	var out []string
	for i := range n {
		if i < len(kinds) {
			out = append(out, kinds[i])
		} else {
			out = append(out, kinds[rand.IntN(len(kinds))])
		}
	}
	rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// run does the kills one after another: each a random 0.7–2.5 s after the
// previous restart, then, within a second, at a moment a payment is in
// flight where it strikes (awaitInFlight). It makes no kill after budget
// (since the run began): a slow machine keeps the time the end needs, and
// makes fewer kills, which the summary counts.
func (k *killer) run(ctx context.Context, schedule []string, budget time.Duration) ([]Kill, error) {
	var done []Kill
	// No kill before the first execute: on a machine slow to start the
	// payments (the short run of go test ./..., beside other packages on
	// two cores) a kill made before cuts nothing, and a run whose kills
	// all cut nothing proves nothing.
	for k.s.executed.Load() == 0 && time.Since(k.began) < budget {
		if !sleep(ctx, 10*time.Millisecond) {
			return done, ctx.Err()
		}
	}
	for i, target := range schedule {
		if !sleep(ctx, 700*time.Millisecond+rand.N(1800*time.Millisecond)) {
			return done, ctx.Err()
		}
		if time.Since(k.began) > budget {
			k.log("the kills' time (%s) is spent: %d of %d kills made", budget, len(done), len(schedule))
			return done, nil
		}
		// Every sixth kill, from the third, waits for an auto-refresh
		// instead (extpay.go): the refresher needs the sender up a pass.
		// Every other one strikes as the refresh is under way, the others
		// once it is made, as the executes waiting for it go.
		leases, seen := -1, false
		if i%6 == 2 {
			leases, seen = k.awaitRefresh(ctx, 7*time.Second, i%12 == 2)
		} else {
			sleep(ctx, k.awaitInFlight(ctx, target, time.Second))
		}
		if target != "sender" && k.newRates != nil {
			if err := k.newRates(); err != nil {
				return done, err
			}
		}
		kill, err := k.strike(ctx, target)
		kill.RefreshLeases, kill.AtRefresh = leases, seen
		done = append(done, kill)
		if err != nil {
			return done, err
		}
		k.log("kill %d (%s %v) at %.1f s: %d executes and %d quotes waiting, %d payments in the devnet; left %d PROCESSING (%d paid, not booked), %d settled not credited; down %.2f s, killed %d times more while starting",
			len(done), target, kill.Processes, kill.At, kill.ExecutesWaiting, kill.QuotesWaiting, kill.DevnetInFlight,
			kill.SenderProcessing, kill.PaidNotBooked, kill.ReceiverUncredited, kill.DownFor, kill.WhileStarting)
	}
	return done, nil
}

// awaitInFlight returns once a payment is in flight at target, or after
// limit, with the delay to strike after: for the sender, an execute
// waiting for its answer or a payment in the devnet, struck a few
// milliseconds into it (claimed, paying, or paid and not yet booked); for
// the receiver, a payment it is settling, struck within two milliseconds
// (the settlement committed or not, its credit made or not), or after half
// the limit any payment in the devnet or quote it is asked for.
func (k *killer) awaitInFlight(ctx context.Context, target string, limit time.Duration) time.Duration {
	from := time.Now()
	for time.Since(from) < limit && ctx.Err() == nil {
		link := k.link.inFlight()
		switch {
		case target == "sender" && (k.s.executing.Load() > 0 || link > 0):
			return rand.N(15 * time.Millisecond)
		case target != "sender" && k.link.forwarded.Load() > 0:
			return rand.N(2 * time.Millisecond)
		case target != "sender" && time.Since(from) > limit/2 && (link > 0 || k.s.quoting.Load() > 0):
			return rand.N(15 * time.Millisecond)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return 0
}

// strike kills target (in a cluster, one of each VASP's processes or, one
// time in three, all of them), records what the kill cut, and restarts
// what it killed after a random pause of up to 0.8 s (one restart in three
// killed again while it starts, then started once more).
func (k *killer) strike(ctx context.Context, target string) (Kill, error) {
	kill := Kill{Target: target, At: time.Since(k.began).Seconds(),
		ExecutesWaiting: int(k.s.executing.Load()), QuotesWaiting: int(k.s.quoting.Load()), DevnetInFlight: k.link.inFlight()}
	kill.At = float64(int(kill.At*100)) / 100
	from := time.Now()
	type hit struct {
		g *vasp
		p *vaspd
	}
	var procs []hit
	for _, g := range []*vasp{k.sender, k.receiver} {
		if target != "both" && target != g.name {
			continue
		}
		ps := g.pick()
		if len(g.procs) > 1 && len(ps) == len(g.procs) {
			kill.WholeVASP++
		}
		for _, p := range ps {
			procs = append(procs, hit{g, p})
			kill.Processes = append(kill.Processes, p.name)
		}
	}
	// Together, for "both": one right after the other.
	var errs []error
	for _, h := range procs {
		if err := h.g.kill(h.p); err != nil {
			errs = append(errs, err)
		}
		if h.g == k.receiver && h.g.front == nil {
			k.link.down() // the receiver's address dies with it (a front stays)
		}
	}
	k.look(ctx, &kill)
	if len(errs) > 0 {
		return kill, fmt.Errorf("kill %s: %v", target, errs)
	}
	sleep(ctx, rand.N(800*time.Millisecond))
	var wg sync.WaitGroup
	var mu sync.Mutex
	startErrs := make([]error, len(procs))
	for i, h := range procs {
		p := h.p
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One restart in three crashes too, while starting: up to
			// 1.5 s in, ready or not.
			if rand.IntN(3) == 0 {
				hit, err := p.crashStart(rand.N(1500 * time.Millisecond))
				if err != nil {
					startErrs[i] = err
					return
				}
				if hit {
					mu.Lock()
					kill.WhileStarting++
					mu.Unlock()
				}
			}
			if err := h.g.start(ctx, p); err != nil {
				startErrs[i] = fmt.Errorf("restart after a SIGKILL: %w", err)
				return
			}
			if h.g == k.receiver && h.g.front == nil {
				startErrs[i] = k.link.up()
			}
		}()
	}
	wg.Wait()
	kill.DownFor = float64(int(time.Since(from).Seconds()*100)) / 100
	for _, err := range startErrs {
		if err != nil {
			return kill, err
		}
	}
	return kill, nil
}

// look reads from both databases what the kill left half-done.
func (k *killer) look(ctx context.Context, kill *Kill) {
	kill.SenderProcessing = count(ctx, k.sdb, `SELECT COUNT(*) FROM uma_transactions WHERE direction = 'OUTGOING' AND status = 'PROCESSING'`)
	kill.SenderNodeInFlight = count(ctx, k.sdb, `SELECT COUNT(*) FROM ln_embedded_payments WHERE status = 'IN_FLIGHT'`)
	kill.ReceiverUncredited = count(ctx, k.rdb, `SELECT COUNT(*) FROM ln_embedded_invoices i JOIN uma_transactions t
		ON t.direction = 'INCOMING' AND t.payment_hash = i.payment_hash WHERE i.state = 'SETTLED' AND t.status <> 'COMPLETED'`)
	kill.ReceiverPendingPaid = count(ctx, k.rdb, `SELECT COUNT(*) FROM uma_transactions WHERE direction = 'INCOMING' AND status = 'PENDING'`)
	// Paid, not booked: the sender's PROCESSING payments whose invoice
	// the receiver's node has settled (two databases: hashes compared
	// here).
	processing := map[string]bool{}
	rows, err := k.sdb.QueryContext(ctx, `SELECT payment_hash FROM uma_transactions WHERE direction = 'OUTGOING' AND status = 'PROCESSING'`)
	if err == nil {
		for rows.Next() {
			var h string
			if rows.Scan(&h) == nil {
				processing[h] = true
			}
		}
		rows.Close()
	}
	if len(processing) == 0 {
		return
	}
	rows, err = k.rdb.QueryContext(ctx, `SELECT payment_hash FROM ln_embedded_invoices WHERE state = 'SETTLED'`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		if rows.Scan(&h) == nil && processing[h] {
			kill.PaidNotBooked++
		}
	}
}
