// Package paycrash is the payment crash test: two real `vaspd serve`
// processes, a sending VASP and a receiving one, each with its own
// database and embedded Lightning node on a loopback devnet, pay each
// other through the platform API while the driver SIGKILLs the sender,
// the receiver or both at random moments (with payments in flight: quotes
// claimed, Lightning payments on their way or settled but not booked,
// credits not yet made) and starts each again on its database and address
// (a third of the restarts killed again while they start). Some payments
// are auto-refresh quotes renewed in place while executed and killed, and
// some UMA requests, each paid with two quotes executed at once
// (extpay.go, extcheck.go).
// Then, once every payment has ended, it checks the house rule: nothing
// half-done after a restart (every payment ended, its books, its nodes'
// records and its platforms' webhooks agreeing); every money movement
// idempotent and double-entry (see check).
//
// In cluster mode (Options.Cluster, PostgreSQL) each VASP is two processes
// sharing its database behind a round-robin front on its domain address
// (cluster.go), and a kill strikes one of a VASP's processes or both.
//
// `go run ./bench/payments crash` runs it (scripts/ci/payment-crash.sh, on
// SQLite, PostgreSQL, and PostgreSQL in cluster mode); a small run is a test
// of this package.
package paycrash

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
)

// Options are a run's knobs.
type Options struct {
	Vaspd       string // a built vaspd binary
	DB          string // "sqlite" or "postgres"
	PostgresURL string // with DB "postgres": a schema per VASP is created there and dropped
	Payments    int    // payments to execute at least (more while kills remain, up to 4×)
	Workers     int    // payments at once
	Rate        float64
	Kills       int // made within 55 % of Timeout; fewer on a slow machine
	// Cluster runs each VASP as two processes sharing its PostgreSQL
	// schema behind a round-robin front on its domain address; a kill
	// strikes one of a VASP's processes, or both.
	Cluster bool
	Timeout time.Duration // the whole run
	Dir     string        // kept for inspection; "" is a temporary directory, removed
	Log     io.Writer     // progress, and the daemons' last log lines on a failure
}

// Summary is a run's one JSON line.
type Summary struct {
	Check    string         `json:"check"`
	DB       string         `json:"db"`
	Cluster  bool           `json:"cluster,omitempty"`
	OK       bool           `json:"ok"`
	Seconds  float64        `json:"seconds"`
	Kills    int            `json:"kills"`
	KillsOf  map[string]int `json:"kills_of"`
	Restarts int            `json:"restarts"`
	// Cluster mode: kills per process, kills of all of a VASP's
	// processes at once, and the fronts' requests sent on to the other
	// process (the one chosen could not be connected to), cut (sent, the
	// process died) and unserved (no process up).
	ProcessKills  map[string]int `json:"process_kills,omitempty"`
	WholeVASP     int            `json:"whole_vasp_kills,omitempty"`
	FrontRetried  int64          `json:"front_retried,omitempty"`
	FrontCut      int64          `json:"front_cut,omitempty"`
	FrontUnserved int64          `json:"front_unserved,omitempty"`
	// Restarts SIGKILLed again while starting (then started once more).
	WhileStarting int `json:"kills_while_starting"`
	// Kills that cut a payment between the sender's claim and the
	// receiver's credit, and what all of them cut (see Kill).
	KillsInFlight      int   `json:"kills_with_payments_in_flight"`
	ExecutesWaiting    int   `json:"executes_waiting_at_kills"`
	DevnetInFlight     int64 `json:"devnet_payments_at_kills"`
	SenderProcessing   int   `json:"processing_left_by_kills"`
	PaidNotBooked      int   `json:"paid_not_booked_left_by_kills"`
	ReceiverUncredited int   `json:"settled_not_credited_left_by_kills"`

	Payments             int     `json:"payments"`
	Completed            int     `json:"completed"`
	Failed               int     `json:"failed"`
	NotExecuted          int     `json:"not_executed"`
	RetriedExecutes      int     `json:"retried_executes"`
	LostAnswers          int     `json:"lost_execute_answers"`
	LostQuotes           int     `json:"lost_quote_answers"`
	Refused              int     `json:"counterparty_refusals"`
	Deposits             int     `json:"deposits"`
	LightningRedelivered int     `json:"lightning_redelivered"`
	DevnetCut            int64   `json:"devnet_payments_cut"`
	Webhooks             int     `json:"webhooks"`
	SettleSeconds        float64 `json:"settle_seconds"`
	// Auto-refresh quotes and UMA requests (extpay.go, extcheck.go):
	// kills that waited for a refresh and found one leased or just made,
	// and the quotes leased at them.
	KillsAtRefresh    int `json:"kills_at_refreshes"`
	LeasedAtKills     int `json:"refreshes_leased_at_kills"`
	RefreshQuotes     int `json:"refresh_quotes"`
	RefreshedExecuted int `json:"executed_after_refresh"`
	Refreshes         int `json:"refreshes"`
	TermsMoved        int `json:"executed_on_moved_terms"`
	RacedExecutes     int `json:"executes_racing_refreshes"`
	UnusedPayreqs     int `json:"refresh_invoices_unused"`
	Requests          int `json:"uma_requests"`
	RequestsPaid      int `json:"uma_requests_paid"`
	DoubleExecutes    int `json:"uma_requests_double_executed"`
	SecondRefused     int `json:"second_executes_refused"`
	SecondPaid        int `json:"second_executes_paid_after_failure"`
	RequotesRefused   int `json:"paid_requests_quoted_again_refused"`
	RequestsExpired   int `json:"uma_requests_expired"`
	RequestsUnmade    int `json:"uma_requests_expired_before_made"`
	Violations        int `json:"violations"`
}

// initialNodeMsat is each node's opening balance, given explicitly.
const initialNodeMsat = 100_000_000_000

// funding is the sender's user's first deposit, USD cents.
const funding = 100_000_00

// settleLimit bounds the wait, after the last restart, for every payment
// to end: a payment in flight ends within the pay timeout (2 s), the
// resolver's margin (5 s) and a round (2 s), the receiver's credit within
// a second of its settlement; and then for their webhooks (a delivery a
// kill cut is retried once its lease, 7 s, ends).
const settleLimit = 60 * time.Second

// Run runs the crash test. It returns the summary and the broken
// promises; an error is a run that could not be made (a process that
// would not start, a setup request refused) or was cut short.
func Run(ctx context.Context, o Options) (Summary, []string, error) {
	began := time.Now()
	sum := Summary{Check: "payment-crash", DB: o.DB, Cluster: o.Cluster, KillsOf: map[string]int{}}
	if o.Log == nil {
		o.Log = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(o.Log, "paycrash: "+format+"\n", args...) }
	if o.Payments < 1 || o.Workers < 1 || o.Rate <= 0 || o.Kills < 0 {
		return sum, nil, errors.New("payments, workers and rate must be positive, kills not negative")
	}
	if o.Cluster && o.DB != "postgres" {
		return sum, nil, errors.New("cluster mode needs PostgreSQL: SQLite is one process")
	}
	if o.Timeout <= 0 {
		o.Timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "vaspd-paycrash-")
		if err != nil {
			return sum, nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	bin, err := filepath.Abs(o.Vaspd)
	if err != nil {
		return sum, nil, err
	}

	// Two databases.
	dsns := map[string]string{}
	for _, name := range []string{"sender", "receiver"} {
		switch o.DB {
		case "sqlite":
			dsns[name] = filepath.Join(dir, name, "vaspd.db")
		case "postgres":
			if o.PostgresURL == "" {
				return sum, nil, errors.New("PostgreSQL: no server URL")
			}
			u, drop, err := postgres.NewSchema(ctx, o.PostgresURL, "paycrash_")
			if err != nil {
				return sum, nil, err
			}
			defer func() {
				if err := drop(); err != nil {
					logf("%v", err)
				}
			}()
			dsns[name] = u
		default:
			return sum, nil, fmt.Errorf("database %q: want sqlite or postgres", o.DB)
		}
	}
	taken := map[string]bool{}
	addrs := map[string]string{}
	names := []string{"sender", "receiver", "link"}
	if o.Cluster {
		names = append(names, "sender.1", "sender.2", "receiver.1", "receiver.2")
	}
	for _, name := range names {
		if addrs[name], err = freeAddr(taken); err != nil {
			return sum, nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return sum, nil, err
	}
	ratesFile := filepath.Join(dir, "receiver-rates.yaml")
	if err := writeRates(ratesFile); err != nil {
		return sum, nil, err
	}
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	devnetSecret := hex.EncodeToString(secret[:])
	// proc is process name of VASP v (name itself, or v.1, v.2 in a
	// cluster), listening on its own address, its domain v's.
	proc := func(v, name, peer string) *vaspd {
		dbURL := dsns[v]
		if o.DB == "sqlite" {
			dbURL = "sqlite:" + dbURL
		}
		p := &vaspd{name: name, bin: bin, addr: addrs[name],
			// A secret in the environment, not in the arguments that
			// any user's ps shows.
			env:     []string{"VASPD_DEVNET_SECRET=" + devnetSecret},
			logPath: filepath.Join(dir, name+".log"), outPath: filepath.Join(dir, name+".stdout"),
			args: []string{
				"--database-url", dbURL, "--data-dir", filepath.Join(dir, name),
				"--listen", addrs[name], "--domain", "localhost:" + port(addrs[v]),
				"--devnet-peers", "http://" + peer,
				"--counterparty-allow-nets", "127.0.0.0/8,localhost",
				// The platforms' webhook endpoint is the driver's; an
				// attempt a kill cut is retried 7 s later at most.
				"--webhook-allow-nets", "127.0.0.0/8", "--webhook-timeout", "2s",
				"--lightning-initial-balance-msat", strconv.Itoa(initialNodeMsat),
				// An execute answers PROCESSING after 2 s, so the
				// platform's retries and the resolver come sooner.
				"--pay-timeout", "2s", "--counterparty-timeout", "5s",
				"--log-level", "warn", "--log-format", "text",
				// Short invoices and an early refresh: auto-refresh
				// quotes are renewed while paid and killed (extpay.go).
				"--invoice-expiry", invoiceExpiry, "--quote-refresh-lead", refreshLead,
				// The receiver's price moves up to ±2 % at each restart
				// (writeRates), and a small quote's cent of rounding is
				// more: a refresh bounded by the default 2 % would often
				// stop (autoRefresh false), and this test is about
				// refreshes and executes under kills, not the bound
				// (vasp/refresh_bound_test.go tests it). 50 %: never hit.
				"--quote-refresh-max-change-bps", "5000",
			}}
		if v == "receiver" {
			// The receiving side's rates move at each restart.
			p.args = append(p.args, "--rates-file", ratesFile)
		}
		return p
	}
	// The sender's node reaches the receiver's through the link; the
	// receiver's reaches the sender's at its domain address.
	group := func(v, peer string) *vasp {
		if !o.Cluster {
			return &vasp{name: v, procs: []*vaspd{proc(v, v, peer)}}
		}
		g := &vasp{name: v, procs: []*vaspd{proc(v, v+".1", peer), proc(v, v+".2", peer)}}
		g.front = newFront(addrs[v], g.procs)
		return g
	}
	sender, receiver := group("sender", addrs["link"]), group("receiver", addrs["sender"])
	vasps := []*vasp{sender, receiver}
	procs := append(append([]*vaspd{}, sender.procs...), receiver.procs...)
	link := newDevnetLink(addrs["link"], "http://"+addrs["receiver"], 100*time.Millisecond)
	defer link.down()
	for _, g := range vasps {
		if g.front != nil {
			if err := g.front.serve(); err != nil {
				return sum, nil, err
			}
			defer g.front.close()
		}
	}
	hooks, err := newPlatformHooks()
	if err != nil {
		return sum, nil, err
	}
	defer hooks.close()
	var stopErrs []error
	stopped := false
	stopAll := func() {
		if stopped {
			return
		}
		stopped = true
		for _, v := range procs {
			if err := v.stop(15 * time.Second); err != nil {
				stopErrs = append(stopErrs, err)
			}
		}
	}
	defer stopAll()
	fail := func(err error) (Summary, []string, error) {
		for _, v := range procs {
			if t := v.tail(30); t != "" {
				logf("the last lines of %s's log:\n%s", v.name, t)
			}
		}
		return sum, nil, err
	}
	for _, g := range vasps {
		if err := g.startAll(ctx); err != nil {
			return fail(err)
		}
	}
	if err := link.up(); err != nil {
		return fail(err)
	}
	plat := map[*vasp]*platform{}
	for _, v := range vasps {
		id, secret, err := v.credential()
		if err != nil {
			return fail(err)
		}
		plat[v] = &platform{name: v.name, domain: "localhost:" + port(v.addr()), api: apiclient.Client{
			BaseURL: "http://" + v.addr(), ClientID: id, ClientSecret: secret,
			HTTP: &http.Client{Timeout: 30 * time.Second},
		}}
		if err := plat[v].call(ctx, "PATCH", "/config", map[string]any{"webhookEndpoint": hooks.base + "/" + v.name}, nil); err != nil {
			return fail(fmt.Errorf("%s: set the platform's webhook endpoint: %w", v.name, err))
		}
	}
	alice, err := createUser(ctx, plat[sender], "alice", "USD")
	if err != nil {
		return fail(err)
	}
	bob, err := createUser(ctx, plat[receiver], "bob", "EUR")
	if err != nil {
		return fail(err)
	}
	if err := plat[sender].call(ctx, "POST", "/users/"+alice+"/deposits", map[string]any{"currencyCode": "USD", "amount": funding,
		"reference": "paycrash-funding"}, nil, "Idempotency-Key", "paycrash-funding"); err != nil {
		return fail(fmt.Errorf("fund the sender's user: %w", err))
	}
	dbs := map[*vasp]*store.DB{}
	for _, v := range vasps {
		db, err := openReadOnly(ctx, dsns[v.name])
		if err != nil {
			return fail(err)
		}
		defer db.Close()
		dbs[v] = db
	}
	logf("%s: sender %s, receiver %s (devnet link %s); %d processes; %d payments or more, %d at once, %.0f/s; %d kills",
		o.DB, sender.addr(), receiver.addr(), link.addr, len(procs), o.Payments, o.Workers, o.Rate, o.Kills)

	// The payments and the kills, at once.
	s := &stream{sender: plat[sender], userID: alice, receiver: "$bob@" + plat[receiver].domain,
		target: o.Payments, max: 4 * o.Payments, rate: o.Rate, began: time.Now(),
		sdb: dbs[sender], recv: plat[receiver], bobID: bob, senderUMA: "$alice@" + plat[sender].domain}
	s.killsOn.Store(o.Kills > 0)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx)
		}()
	}
	k := &killer{sender: sender, receiver: receiver, link: link, s: s, sdb: dbs[sender], rdb: dbs[receiver], began: began, log: logf,
		newRates: func() error { return writeRates(ratesFile) }}
	kills, killErr := k.run(ctx, targets(o.Kills), o.Timeout*55/100)
	s.killsOn.Store(false)
	wg.Wait()
	s.bg.Wait()
	for _, kl := range kills {
		sum.Kills++
		sum.KillsOf[kl.Target]++
		if kl.inFlight() {
			sum.KillsInFlight++
		}
		sum.ExecutesWaiting += kl.ExecutesWaiting
		sum.DevnetInFlight += kl.DevnetInFlight
		sum.SenderProcessing += max(kl.SenderProcessing, 0)
		sum.PaidNotBooked += kl.PaidNotBooked
		sum.ReceiverUncredited += max(kl.ReceiverUncredited, 0)
		sum.WhileStarting += kl.WhileStarting
		if kl.AtRefresh {
			sum.KillsAtRefresh++
			sum.LeasedAtKills += kl.RefreshLeases
		}
		if o.Cluster {
			if sum.ProcessKills == nil {
				sum.ProcessKills = map[string]int{}
			}
			for _, p := range kl.Processes {
				sum.ProcessKills[p]++
			}
			sum.WholeVASP += kl.WholeVASP
		}
	}
	for _, p := range procs {
		sum.Restarts += p.starts - 1
	}
	if killErr != nil {
		return fail(killErr)
	}
	if ctx.Err() != nil {
		return fail(fmt.Errorf("the payments did not end within %s", o.Timeout))
	}

	// Every payment ends, after the last restart.
	settleFrom := time.Now()
	var bad []string
	if err := settled(ctx, plat[sender], dbs[sender], dbs[receiver]); err != nil {
		bad = append(bad, err.Error())
	}
	ob := observed{Alice: alice, Bob: bob, Funding: funding, InitialNodeMsat: initialNodeMsat,
		Payments: s.payments, Deposits: s.deposits, Requests: s.requests}
	if ob.Sender, err = observe(ctx, plat[sender], dbs[sender]); err != nil {
		return fail(fmt.Errorf("read the sender's end: %w", err))
	}
	if err := observeExt(ctx, plat[sender], &ob.Sender, s.payments, s.requests); err != nil {
		return fail(fmt.Errorf("read the sender's quotes and UMA requests: %w", err))
	}
	if ob.Receiver, err = observe(ctx, plat[receiver], dbs[receiver]); err != nil {
		return fail(fmt.Errorf("read the receiver's end: %w", err))
	}
	// Each end's webhook is enqueued with it; its delivery follows (a
	// kill's cut attempt after its lease).
	for deadline := time.Now().Add(settleLimit); ; {
		ob.Hooks = hooks.snapshot()
		if len(announced(ob))+len(requestsAnnounced(ob)) == 0 || time.Now().After(deadline) || !sleep(ctx, 200*time.Millisecond) {
			break
		}
	}
	sum.SettleSeconds = float64(int(time.Since(settleFrom).Seconds()*10)) / 10
	broken, t := check(ob)
	bad = append(bad, s.broken...)
	bad = append(bad, broken...)
	stopAll()
	for _, err := range stopErrs {
		bad = append(bad, err.Error())
	}
	sum.Payments, sum.Completed, sum.Failed, sum.NotExecuted = t.Executed, t.Completed, t.Failed, t.NotExecuted
	sum.RetriedExecutes, sum.LostAnswers, sum.LightningRedelivered = t.RetriedExecutes, t.LostAnswers, t.LightningRedelivered
	sum.LostQuotes, sum.Refused, sum.Deposits = s.lostQuotes, s.refusals, len(s.deposits)
	sum.RefreshQuotes, sum.RefreshedExecuted, sum.Refreshes, sum.TermsMoved = t.RefreshQuotes, t.RefreshedExecuted, t.Refreshes, t.TermsMoved
	sum.RacedExecutes, sum.UnusedPayreqs = t.RacedExecutes, t.UnusedPayreqs
	sum.Requests, sum.RequestsPaid, sum.DoubleExecutes = t.Requests, t.RequestsPaid, t.DoubleExecutes
	sum.SecondRefused, sum.SecondPaid, sum.RequotesRefused = t.SecondRefused, t.SecondPaid, t.RequotesRefused
	sum.RequestsExpired, sum.RequestsUnmade = t.RequestsExpired, s.requestsUnmade
	sum.DevnetCut = link.cut.Load()
	for _, g := range vasps {
		if g.front != nil {
			sum.FrontRetried += g.front.retried.Load()
			sum.FrontCut += g.front.cut.Load()
			sum.FrontUnserved += g.front.unserved.Load()
		}
	}
	hooks.mu.Lock()
	sum.Webhooks = hooks.n
	hooks.mu.Unlock()
	if o.Kills > 0 && sum.KillsInFlight == 0 {
		bad = append(bad, fmt.Sprintf("none of the %d kills found a payment in flight: the run proved nothing about payments cut by a crash", sum.Kills))
	}
	sum.Violations, sum.OK = len(bad), len(bad) == 0
	sum.Seconds = float64(int(time.Since(began).Seconds()*10)) / 10
	if len(bad) > 0 {
		for _, v := range procs {
			if t := v.tail(30); t != "" {
				logf("the last lines of %s's log:\n%s", v.name, t)
			}
		}
	}
	return sum, bad, nil
}

// settled waits until no payment is in flight: none PROCESSING at the
// sender (the API's answer), none in flight at its node, and no invoice
// settled at the receiver whose payment is not credited.
func settled(ctx context.Context, sender *platform, sdb, rdb *store.DB) error {
	ctx, cancel := context.WithTimeout(ctx, settleLimit)
	defer cancel()
	var processing []apiTx
	var inFlight, uncredited int
	for {
		var err error
		processing, err = list[apiTx](ctx, sender, "/transactions?type=OUTGOING&status=PROCESSING")
		inFlight = count(ctx, sdb, `SELECT COUNT(*) FROM ln_embedded_payments WHERE status = 'IN_FLIGHT'`)
		uncredited = count(ctx, rdb, `SELECT COUNT(*) FROM ln_embedded_invoices i JOIN uma_transactions t
			ON t.direction = 'INCOMING' AND t.payment_hash = i.payment_hash WHERE i.state = 'SETTLED' AND t.status <> 'COMPLETED'`)
		if err == nil && len(processing) == 0 && inFlight == 0 && uncredited == 0 {
			return nil
		}
		if !sleep(ctx, 200*time.Millisecond) {
			ids := make([]string, 0, len(processing))
			for _, tx := range processing {
				ids = append(ids, tx.ID)
			}
			return fmt.Errorf("stuck: %s after the last restart, the sender still has %d payments PROCESSING %v and %d in flight at its node, the receiver %d settled invoices not credited (-1: not read)",
				settleLimit, len(processing), ids, inFlight, uncredited)
		}
	}
}

// createUser registers $local@domain, receiving in currency, through the
// platform API.
func createUser(ctx context.Context, p *platform, local, currency string) (string, error) {
	var u struct {
		ID string `json:"id"`
	}
	err := p.call(ctx, "POST", "/users", map[string]any{
		"umaAddress": "$" + local + "@" + p.domain, "platformUserId": "paycrash-" + local, "userType": "INDIVIDUAL",
		"kycStatus": "VERIFIED", "preferredCurrencies": []string{currency}, "fullName": strings.ToUpper(local[:1]) + local[1:],
	}, &u, "Idempotency-Key", "paycrash-user-"+local)
	if err != nil {
		return "", fmt.Errorf("%s: create user %s: %w", p.name, local, err)
	}
	return u.ID, nil
}

// port is addr's port.
func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}
