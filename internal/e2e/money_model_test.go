package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/users"
)

// TestMoneyModel is a seeded, randomized, concurrent model check of the
// money two real vaspd daemons move through the platform API. Workers do
// random operations on a handful of users of both VASPs at once: deposits
// and withdrawals (fresh, replayed, replayed concurrently, a key reused for
// another body, a reference reused, overdrafts), quotes of either locked
// side in several currencies (some auto-refreshed), executes (once, twice
// at once with one key or two, again once executed, with another quote's
// key, past the quote's expiry, beyond the balance, racing a refresh), the
// receivers' platforms approving, rejecting and deferring at random. A
// model keeps what each user should hold; the books are watched while the
// operations run, and once every payment is final the test checks that
// each user holds what the model says, that every completed payment was
// credited to its receiver once and every failed one debited nothing, that
// each node paid each invoice at most once, and that every answer was one
// of the documented ones, errors in the error JSON.
//
// The seed chooses every worker's operations and every platform's answer
// (the scheduling is the machine's): set it with -money.seed or
// VASPD_MONEY_SEED to replay a failure, which prints it; -money.ops or
// VASPD_MONEY_OPS sets the number of operations (400, 150 with -short).
func TestMoneyModel(t *testing.T) {
	seed := moneySeed(t)
	ops := moneyOps()
	each(t, func(t *testing.T, db dbKind) {
		runMoneyModel(t, seed, ops, func(tuneA, tuneB func(*daemon.Config)) (*vaspProc, *vaspProc) {
			return twoVASPsTuned(t, db, tuneA, tuneB)
		})
	})
	// The second VASP as two processes on one database behind a load
	// balancer, any request reaching either.
	t.Run("PostgreSQLCluster", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short")
		}
		runMoneyModel(t, seed, ops, func(tuneA, tuneB func(*daemon.Config)) (*vaspProc, *vaspProc) {
			return clusterPair(t, tuneA, tuneB)
		})
	})
}

// clusterPair starts a vaspd and a VASP of two vaspd processes sharing a
// PostgreSQL database (newCluster) that can pay each other.
func clusterPair(t *testing.T, tuneA, tuneB func(*daemon.Config)) (a, b *vaspProc) {
	la, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCluster(t, 2, la, tuneB)
	a = &vaspProc{t: t, name: "vasp1", ln: la}
	a.cfg = config(t, la, la, postgresDB(t))
	a.cfg.Lightning.DevnetPeers = c.front.base
	tuneA(&a.cfg)
	if err := a.cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	a.start()
	return a, c.front
}

var (
	flagMoneySeed = flag.String("money.seed", "", "seed of TestMoneyModel (default: $VASPD_MONEY_SEED, else random)")
	flagMoneyOps  = flag.Int("money.ops", 0, "operations of TestMoneyModel (default: $VASPD_MONEY_OPS, else 400, 150 with -short)")
)

func moneySeed(t *testing.T) uint64 {
	s := *flagMoneySeed
	if s == "" {
		s = os.Getenv("VASPD_MONEY_SEED")
	}
	if s == "" {
		return uint64(time.Now().UnixNano())
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("money seed %q: %v", s, err)
	}
	return n
}

func moneyOps() int {
	if n := *flagMoneyOps; n > 0 {
		return n
	}
	if n, err := strconv.Atoi(os.Getenv("VASPD_MONEY_OPS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 150
	}
	return 400
}

// mmExpiry is the life of the invoices each VASP issues, so of the quotes
// the other's users make: short at the first, for executes past and at
// expiry; longer at the second, so that an auto-refreshed quote is due (its
// invoice half spent, and less than quote-refresh-lead, 30 s, left) for
// most of a round of the auto-refresh (every 5 s) before it expires.
var mmExpiry = [2]time.Duration{3 * time.Second, 6 * time.Second}

const (
	mmWorkers = 6
	// mmBudget bounds the operations' phase: workers start no operation
	// after it (the count run is logged), so a slow machine ends in time.
	mmBudget = 20 * time.Second
)

// mmCurrencies are the built-in demo rates' currencies, with what one
// smallest unit is worth in msats at least (the price, rounded down): the
// bound that makes an overdraft certain (see overdraftBound).
var mmCurrencies = map[string]int64{"USD": 10_000, "EUR": 10_869, "GBP": 12_658, "MXN": 526, "SAT": 1_000}

// mmCodes are mmCurrencies' codes, in an order of their own.
var mmCodes = []string{"EUR", "GBP", "MXN", "SAT", "USD"}

// mmDocumented are the answers each operation may give, as the README
// documents them ("201", or "409 QUOTE_EXPIRED" for an error and its
// code). Any other answer, any 5xx, fails the test.
var mmDocumented = map[string][]string{
	"deposit": {"201", "200", "400 INVALID_INPUT", "409 CONFLICT", "422 IDEMPOTENCY_KEY_REUSED"},
	"withdrawal": {"201", "200", "400 INVALID_INPUT", "400 INSUFFICIENT_BALANCE", "409 CONFLICT",
		"422 IDEMPOTENCY_KEY_REUSED"},
	"lookup": {"200"},
	// 424: the receiver's platform rejected the payment (403, 422, a
	// deferred rejection); 400: an amount outside a range.
	"quote": {"201", "400 AMOUNT_OUT_OF_RANGE", "424 PAYREQ_REQUEST_FAILED"},
	"execute": {"200", "400 INSUFFICIENT_BALANCE", "409 QUOTE_EXPIRED", "409 QUOTE_NOT_PENDING",
		"409 INVOICE_ALREADY_PAID", "422 IDEMPOTENCY_KEY_REUSED"},
	"refresh":  {"201", "400 AMOUNT_OUT_OF_RANGE", "409 QUOTE_ALREADY_EXECUTED", "424 PAYREQ_REQUEST_FAILED"},
	"decide":   {"200", "409 TRANSACTION_NOT_PENDING_PLATFORM_APPROVAL"},
	"keep":     {"400 INSUFFICIENT_BALANCE"},
	"balances": {"200"},
	"getQuote": {"200"},
	"getTx":    {"200"},
	"listTx":   {"200"},
}

type mmUser struct {
	vasp  int
	id    string
	addr  string   // $local@domain
	prefs []string // what it receives
}

// mmMove is a deposit or withdrawal that was recorded (answered 201).
type mmMove struct {
	vasp   int
	user   *mmUser
	kind   string // "deposits" or "withdrawals"
	key    string
	ref    string
	cur    string
	amount int64
	id     string // the ledger movement's
}

// mmTx is an outgoing transaction an execute answered.
type mmTx struct {
	vasp     int // the sender's VASP
	id       string
	quoteID  string
	sender   *mmUser
	receiver *mmUser
	sentCur  string
	sent     int64
	recvCur  string
	recv     int64
	status   string // the final status, once read
}

type mmQuote struct {
	QuoteID              string    `json:"quoteId"`
	Status               string    `json:"status"`
	LockedCurrencySide   string    `json:"lockedCurrencySide"`
	TotalSendingAmount   int64     `json:"totalSendingAmount"`
	TotalReceivingAmount int64     `json:"totalReceivingAmount"`
	ExpiresAt            time.Time `json:"expiresAt"`
	AutoRefresh          bool      `json:"autoRefresh"`
	RefreshCount         int       `json:"refreshCount"`
	TransactionID        string    `json:"transactionId"`
	SendingCurrency      struct {
		Code string `json:"code"`
	} `json:"sendingCurrency"`
	ReceivingCurrency struct {
		Code string `json:"code"`
	} `json:"receivingCurrency"`

	sender, receiver *mmUser
	locked           int64
}

type mmAmount struct {
	Amount   int64 `json:"amount"`
	Currency struct {
		Code string `json:"code"`
	} `json:"currency"`
}

type mmTxResp struct {
	ID             string    `json:"id"`
	Status         string    `json:"status"`
	Type           string    `json:"type"`
	QuoteID        string    `json:"quoteId"`
	SentAmount     mmAmount  `json:"sentAmount"`
	ReceivedAmount *mmAmount `json:"receivedAmount"`
}

type mmAnswer struct {
	status int // 0: no answer (the test failed already)
	code   string
	body   []byte
	header http.Header
}

type mmAcct struct {
	vasp int
	user string
	cur  string
}

// mmWorld is one run: the two daemons, the users, and the model.
type mmWorld struct {
	t     *testing.T
	seed  uint64
	vasps [2]*vaspProc
	users []*mmUser
	hc    *http.Client
	bg    sync.WaitGroup // deferred approvals
	held  sync.WaitGroup // quotes held, then executed

	mu        sync.Mutex
	fiat      map[mmAcct]int64 // deposits − withdrawals answered 201
	est       map[mmAcct]int64 // fiat, and the payments answered COMPLETED: to choose amounts
	moves     []*mmMove
	deposited int64 // msats (at least) of every deposit recorded
	quoteTx   map[string]string
	txs       map[string]*mmTx
	execKeys  [2][]string // keys that executed a quote, per VASP
	answers   map[string]int
	rejected  int  // approvals answered other than 200
	closed    bool // the operations ended: approvals are no longer deferred
}

func (w *mmWorld) fail(format string, args ...any) {
	w.t.Helper()
	w.t.Errorf("[seed %d] "+format, append([]any{w.seed}, args...)...)
}

func runMoneyModel(t *testing.T, seed uint64, ops int, start func(tuneA, tuneB func(*daemon.Config)) (*vaspProc, *vaspProc)) {
	t.Logf("TestMoneyModel seed %d, %d operations (replay: VASPD_MONEY_SEED=%d VASPD_MONEY_OPS=%d)", seed, ops, seed, ops)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("TestMoneyModel FAILED with seed %d: replay with VASPD_MONEY_SEED=%d VASPD_MONEY_OPS=%d", seed, seed, ops)
		}
	})
	tune := func(i int) func(*daemon.Config) {
		return func(c *daemon.Config) {
			c.Payments.InvoiceExpiry = mmExpiry[i]
			// Every UMA request comes from 127.0.0.1: the stress is on
			// the money, not on the per-address limit (tested on its own).
			c.UMARateLimit = 0
		}
	}
	a, b := start(tune(0), tune(1))
	w := &mmWorld{t: t, seed: seed, vasps: [2]*vaspProc{a, b},
		hc:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 45 * time.Second},
		fiat: map[mmAcct]int64{}, est: map[mmAcct]int64{}, quoteTx: map[string]string{}, txs: map[string]*mmTx{}, answers: map[string]int{}}
	t.Cleanup(w.hc.CloseIdleConnections)
	prefs := [][]string{{"USD", "EUR"}, {"EUR", "GBP"}, {"SAT", "MXN"}}
	for i, p := range w.vasps {
		for j, cs := range prefs {
			local := fmt.Sprintf("u%d%d", i, j)
			u, err := users.New(p.daemon.DB(), vaspd.SystemClock{}).Create(context.Background(), p.daemon.DB(), users.User{
				PlatformUserID: "platform-" + local, UserType: users.Individual, UMALocal: local,
				KYCStatus: users.KYCVerified, PreferredCurrencies: cs, FullName: "User " + local,
			})
			if err != nil {
				t.Fatal(err)
			}
			w.users = append(w.users, &mmUser{vasp: i, id: u.ID, addr: "$" + local + "@" + p.domain, prefs: cs})
		}
		w.approvals(i)
	}

	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() { w.watch(stop) })

	deadline := time.Now().Add(mmBudget)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ran := 0
	for i := range mmWorkers {
		n := ops / mmWorkers
		if i < ops%mmWorkers {
			n++
		}
		wg.Go(func() {
			k := &mmWorker{w: w, n: i, r: rand.New(rand.NewPCG(seed, uint64(i)))}
			done := 0
			for ; done < n && time.Now().Before(deadline) && !t.Failed(); done++ {
				k.op()
			}
			mu.Lock()
			ran += done
			mu.Unlock()
		})
	}
	wg.Wait()
	w.held.Wait()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.bg.Wait()
	close(stop)
	watch.Wait()
	t.Logf("%d of %d operations ran; %d payments executed; %d approvals not 200", ran, ops, len(w.txs), w.rejected)
	if ran < ops && !t.Failed() {
		t.Logf("the time budget (%s) ended the operations early", mmBudget)
	}
	w.check()
	var keys []string
	for k := range w.answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b2 strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b2, "  %-50s %d\n", k, w.answers[k])
	}
	t.Logf("answers:\n%s", b2.String())
}

// approvals has VASP i's platform approve (200), reject (403, 422), and
// defer (202) then approve or reject through the API, at random.
func (w *mmWorld) approvals(i int) {
	p := w.vasps[i]
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(w.seed, 1000+uint64(i)))
	p.hooks.mu.Lock()
	defer p.hooks.mu.Unlock()
	p.hooks.approve = func(m map[string]any) (int, any) {
		mu.Lock()
		v, delay := r.IntN(100), time.Duration(20+r.IntN(200))*time.Millisecond
		mu.Unlock()
		approved := map[string]any{"receiverUserInfo": map[string]any{"FULL_NAME": "Receiver"}}
		if v >= 70 {
			w.mu.Lock()
			w.rejected++
			w.mu.Unlock()
		}
		switch {
		case v < 70:
			return 200, approved
		case v < 78:
			return 403, map[string]any{"code": "REJECTED_BY_PLATFORM", "message": "no", "reason": "RESTRICTED_JURISDICTION"}
		case v < 82:
			return 422, map[string]any{"code": "ADDITIONAL_INFO_REQUIRED", "requiredFields": []string{"NATIONALITY"}}
		}
		id, _ := m["transaction"].(map[string]any)["id"].(string)
		path := "/transactions/" + url.PathEscape(id) + "/approve"
		var body any = approved
		if v >= 93 {
			path, body = "/transactions/"+url.PathEscape(id)+"/reject", map[string]any{"reason": "no"}
		}
		// Once the operations ended (the auto-refresh may still ask), no
		// decision is left to come after the checks: approve now.
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.closed {
			return 200, approved
		}
		w.bg.Go(func() {
			time.Sleep(delay)
			w.do("decide", p, "POST", path, body)
		})
		return 202, nil
	}
}

// do sends a platform API request as p's admin, checks that its answer is
// one documented for op (errors in the error JSON), and returns it.
func (w *mmWorld) do(op string, p *vaspProc, method, path string, body any, header ...string) mmAnswer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			w.fail("%v", err)
			return mmAnswer{}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		w.fail("%v", err)
		return mmAnswer{}
	}
	req.SetBasicAuth(p.clientID, p.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		w.fail("%s: %s %s: %v", op, method, path, err)
		return mmAnswer{}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		w.fail("%s: %s %s: read the answer: %v", op, method, path, err)
		return mmAnswer{}
	}
	a := mmAnswer{status: resp.StatusCode, body: raw, header: resp.Header}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		w.fail("%s: %s %s answered %d with Content-Type %q: %.300s", op, method, path, a.status, ct, raw)
	}
	key := strconv.Itoa(a.status)
	if a.status/100 != 2 {
		var e struct {
			Status  int            `json:"status"`
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil || e.Status != a.status || e.Code == "" || e.Message == "" {
			w.fail("%s: %s %s answered %d without the error JSON (%v): %.300s", op, method, path, a.status, err, raw)
		}
		a.code = e.Code
		key += " " + e.Code
	}
	if !slices.Contains(mmDocumented[op], key) {
		w.fail("%s: %s %s answered %s, which is not documented for it: %.300s", op, method, path, key, raw)
	}
	w.mu.Lock()
	w.answers[op+" "+key]++
	w.mu.Unlock()
	return a
}

func (w *mmWorld) decode(what string, a mmAnswer, out any) bool {
	if err := json.Unmarshal(a.body, out); err != nil {
		w.fail("%s: decode %.300s: %v", what, a.body, err)
		return false
	}
	return true
}

// overdraftBound is an amount of cur no user can hold: more than every
// deposit recorded so far is worth, twice (spreads and fees only take).
// 0 when it is beyond what a quote or a withdrawal accepts.
func (w *mmWorld) overdraftBound(cur string) int64 {
	w.mu.Lock()
	v := w.deposited
	w.mu.Unlock()
	n := 2*v/mmCurrencies[cur] + 1
	if n > 90_000_000 {
		return 0
	}
	return n
}

// certainOverdraft reports whether amount of cur is more than any user can
// hold now, by the deposits recorded when it is asked (after the answer).
func (w *mmWorld) certainOverdraft(cur string, amount int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return amount*mmCurrencies[cur] > 2*w.deposited
}

// watch checks the books while the operations run: every currency's
// postings sum to zero and no balance is negative in either database, and
// the balances the API shows are never negative.
func (w *mmWorld) watch(stop chan struct{}) {
	r := rand.New(rand.NewPCG(w.seed, 2000))
	for {
		select {
		case <-stop:
			return
		case <-time.After(30 * time.Millisecond):
		}
		for _, p := range w.vasps {
			w.checkSums(p)
		}
		u := w.users[r.IntN(len(w.users))]
		w.balances(u)
	}
}

// checkSums checks, in one statement each (one snapshot), that p's
// postings sum to zero per currency and no balance row is negative.
func (w *mmWorld) checkSums(p *vaspProc) {
	ctx := context.Background()
	rows, err := p.daemon.DB().QueryContext(ctx, `SELECT currency, CAST(SUM(amount) AS TEXT) FROM ledger_postings GROUP BY currency`)
	if err != nil {
		w.fail("%s: sum postings: %v", p.name, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var cur, sum string
		if err := rows.Scan(&cur, &sum); err != nil {
			w.fail("%s: %v", p.name, err)
			return
		}
		if sum != "0" {
			w.fail("%s: postings in %s sum to %s, not zero", p.name, cur, sum)
		}
	}
	if err := rows.Err(); err != nil {
		w.fail("%s: %v", p.name, err)
	}
	var acct, cur string
	var bal int64
	err = p.daemon.DB().QueryRowContext(ctx, `SELECT account, currency, balance FROM ledger_balances WHERE balance < 0 LIMIT 1`).Scan(&acct, &cur, &bal)
	if err == nil {
		w.fail("%s: %s holds %d %s", p.name, acct, bal, cur)
	}
}

type mmBalances struct {
	UserID   string `json:"userId"`
	Balances []struct {
		Currency struct {
			Code string `json:"code"`
		} `json:"currency"`
		Available int64 `json:"available"`
		Held      int64 `json:"held"`
	} `json:"balances"`
}

// balances reads u's balances through the API, checking none is negative.
func (w *mmWorld) balances(u *mmUser) (available, held map[string]int64) {
	a := w.do("balances", w.vasps[u.vasp], "GET", "/users/"+url.PathEscape(u.id)+"/balances", nil)
	var bs mmBalances
	if a.status != 200 || !w.decode("balances", a, &bs) {
		return nil, nil
	}
	available, held = map[string]int64{}, map[string]int64{}
	for _, b := range bs.Balances {
		if b.Available < 0 || b.Held < 0 {
			w.fail("%s holds %d %s available and %d held", u.addr, b.Available, b.Currency.Code, b.Held)
		}
		available[b.Currency.Code], held[b.Currency.Code] = b.Available, b.Held
	}
	return available, held
}

// mmWorker runs one goroutine's operations from its own random source.
type mmWorker struct {
	w    *mmWorld
	n    int
	r    *rand.Rand
	keys int
}

func (k *mmWorker) key(prefix string) string {
	k.keys++
	return fmt.Sprintf("%s-%d-%d-%d", prefix, k.w.seed%100000, k.n, k.keys)
}

func (k *mmWorker) user() *mmUser { return k.w.users[k.r.IntN(len(k.w.users))] }

func (k *mmWorker) userOf(vasp int) *mmUser {
	var us []*mmUser
	for _, u := range k.w.users {
		if u.vasp == vasp {
			us = append(us, u)
		}
	}
	return us[k.r.IntN(len(us))]
}

func (k *mmWorker) currency(u *mmUser) string {
	if k.r.IntN(10) < 7 {
		return u.prefs[k.r.IntN(len(u.prefs))]
	}
	return mmCodes[k.r.IntN(len(mmCodes))]
}

// richest is the currency u holds most of by the estimate, or one of its
// own.
func (k *mmWorker) richest(u *mmUser) (string, int64) {
	k.w.mu.Lock()
	defer k.w.mu.Unlock()
	best, most := u.prefs[0], int64(0)
	for _, c := range mmCodes {
		if n := k.w.est[mmAcct{u.vasp, u.id, c}]; n > most {
			best, most = c, n
		}
	}
	return best, most
}

func (k *mmWorker) op() {
	switch v := k.r.IntN(100); {
	case v < 22:
		k.move("deposits")
	case v < 34:
		k.move("withdrawals")
	case v < 36:
		k.keep()
	case v < 40:
		k.balances()
	case v < 45:
		k.overdraw()
	case v < 50:
		k.race()
	default:
		k.pay()
	}
}

func (k *mmWorker) balances() { k.w.balances(k.user()) }

// keep asks to keep money of system:overpaid as income: nobody overpaid,
// so there is none and nothing may move.
func (k *mmWorker) keep() {
	p := k.w.vasps[k.r.IntN(2)]
	k.w.do("keep", p, "POST", "/ledger/transfers", map[string]any{"from": "system:overpaid", "to": "system:fees",
		"currencyCode": "BTC", "amount": 1 + k.r.Int64N(100_000)}, "Idempotency-Key", k.key("keep"))
}

// move records a deposit or withdrawal: fresh, concurrent copies, a
// replay of a recorded one, a recorded key with another body, a recorded
// reference with another key.
func (k *mmWorker) move(kind string) {
	w := k.w
	op := strings.TrimSuffix(kind, "s")
	u := k.user()
	cur := k.currency(u)
	amount := 100 + k.r.Int64N(50_000)
	if kind == "withdrawals" {
		w.mu.Lock()
		have := w.est[mmAcct{u.vasp, u.id, cur}]
		w.mu.Unlock()
		amount = 1 + k.r.Int64N(max(have*5/4, 100))
		if have > 0 && k.r.IntN(8) == 0 {
			amount = have // all of it, if the estimate is right
		}
		if k.r.IntN(10) == 0 {
			if n := w.overdraftBound(cur); n > 0 {
				amount = n
			}
		}
	}
	m := &mmMove{vasp: u.vasp, user: u, kind: kind, key: k.key(op[:3]), cur: cur, amount: amount}
	if k.r.IntN(2) == 0 {
		m.ref = "ref-" + m.key
	}
	v := k.r.IntN(100)
	var prev *mmMove
	if v >= 60 {
		w.mu.Lock()
		var same []*mmMove
		for _, x := range w.moves {
			if x.kind == kind {
				same = append(same, x)
			}
		}
		if len(same) > 0 {
			prev = same[k.r.IntN(len(same))]
		}
		w.mu.Unlock()
		if prev == nil {
			v = 0
		}
	}
	switch {
	case v < 45:
		k.settleCopies(m, []mmAnswer{k.request(m, k.r.IntN(4) == 0, "")})
	case v < 60:
		// Concurrent copies of one request: one records it, the others
		// answer what it recorded.
		n := 2 + k.r.IntN(2)
		as := make([]mmAnswer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { as[i] = k.request(m, i%2 == 1, "") })
		}
		wg.Wait()
		k.settleCopies(m, as)
	case v < 80:
		// A replay, the key in the header or the field.
		a := k.request(prev, k.r.IntN(2) == 0, "")
		if a.status == 0 {
			return
		}
		var got struct {
			ID     string `json:"id"`
			Amount int64  `json:"amount"`
		}
		if a.status != 200 || a.header.Get("Idempotent-Replayed") != "true" || !w.decode(op, a, &got) || got.ID != prev.id || got.Amount != prev.amount {
			w.fail("%s replayed (key %s): %d %s %s, want 200 replaying %s", op, prev.key, a.status, a.header.Get("Idempotent-Replayed"), a.body, prev.id)
		}
	case v < 92:
		// The key again with another amount.
		other := *prev
		other.amount += 1 + k.r.Int64N(10)
		a := k.request(&other, false, "")
		if a.status != 0 && a.code != "IDEMPOTENCY_KEY_REUSED" {
			w.fail("%s with key %s reused for another amount: %d %s, want 422 IDEMPOTENCY_KEY_REUSED", op, prev.key, a.status, a.body)
		}
	default:
		// A recorded reference under a new key; or the header and the
		// field disagreeing.
		if prev.ref != "" {
			// References are unique per kind in a VASP, across users.
			m.user = k.userOf(prev.vasp)
			m.vasp, m.ref, m.cur, m.amount = prev.vasp, prev.ref, prev.cur, prev.amount
			a := k.request(m, false, "")
			if a.status != 0 && a.code != "CONFLICT" {
				w.fail("%s with reference %s recorded under key %s, again under key %s: %d %s, want 409 CONFLICT", op, prev.ref, prev.key, m.key, a.status, a.body)
			}
			return
		}
		a := k.request(m, true, m.key+"-other")
		if a.status != 0 && a.code != "INVALID_INPUT" {
			w.fail("%s with the header and field keys differing: %d %s, want 400 INVALID_INPUT", op, a.status, a.body)
		}
	}
}

// request sends m; inField puts the key in the body's idempotencyKey
// field, header (if not "") in the header too.
func (k *mmWorker) request(m *mmMove, inField bool, header string) mmAnswer {
	cur := m.cur
	if len(m.key)%5 == 0 {
		cur = " " + strings.ToLower(cur) // the code as a platform may send it
	}
	body := map[string]any{"currencyCode": cur, "amount": m.amount}
	if m.ref != "" {
		body["reference"] = m.ref
	}
	var hdr []string
	if inField {
		body["idempotencyKey"] = m.key
		if header != "" {
			hdr = []string{"Idempotency-Key", header}
		}
	} else {
		hdr = []string{"Idempotency-Key", m.key}
	}
	op := strings.TrimSuffix(m.kind, "s")
	return k.w.do(op, k.w.vasps[m.vasp], "POST", "/users/"+url.PathEscape(m.user.id)+"/"+m.kind, body, hdr...)
}

// settleCopies books the answers of copies of one request m: at most one
// 201 (which the model takes), every 200 replaying it.
func (k *mmWorker) settleCopies(m *mmMove, as []mmAnswer) {
	w := k.w
	op := strings.TrimSuffix(m.kind, "s")
	created, ids := 0, map[string]bool{}
	for _, a := range as {
		switch a.status {
		case 201, 200:
			var got struct {
				ID     string `json:"id"`
				Amount int64  `json:"amount"`
				UserID string `json:"userId"`
			}
			if !w.decode(op, a, &got) {
				continue
			}
			if got.Amount != m.amount || got.UserID != m.user.id || got.ID == "" {
				w.fail("%s answered %s for %d %s of %s", op, a.body, m.amount, m.cur, m.user.id)
			}
			ids[got.ID] = true
			m.id = got.ID
			if a.status == 201 {
				created++
			} else if a.header.Get("Idempotent-Replayed") != "true" {
				w.fail("%s answered 200 without Idempotent-Replayed: true", op)
			}
		case 400:
			if a.code == "INSUFFICIENT_BALANCE" && op == "withdrawal" {
				continue
			}
			w.fail("%s of %d %s (key %s): %s %s", op, m.amount, m.cur, m.key, a.code, a.body)
		case 0:
		default:
			w.fail("%s of %d %s (key %s): %d %s", op, m.amount, m.cur, m.key, a.status, a.body)
		}
	}
	if created > 1 || len(ids) > 1 || (len(ids) == 1 && created == 0) {
		w.fail("%d copies of one %s (key %s) recorded it %d times as %d movements", len(as), op, m.key, created, len(ids))
	}
	if created == 1 {
		w.mu.Lock()
		sign := int64(1)
		if m.kind == "withdrawals" {
			sign = -1
		} else {
			w.deposited += m.amount * mmCurrencies[m.cur] * 2 // at most twice the floor price
		}
		w.fiat[mmAcct{m.vasp, m.user.id, m.cur}] += sign * m.amount
		w.est[mmAcct{m.vasp, m.user.id, m.cur}] += sign * m.amount
		w.moves = append(w.moves, m)
		w.mu.Unlock()
	}
	if m.kind == "withdrawals" && created == 1 && w.certainOverdraft(m.cur, m.amount) {
		w.fail("withdrawal of %d %s, more than anyone holds, was recorded", m.amount, m.cur)
	}
}

// quote looks up receiver for sender and asks for a quote.
func (k *mmWorker) quote(from, to *mmUser, cur, side string, amount int64, auto bool) *mmQuote {
	w := k.w
	p := w.vasps[from.vasp]
	a := w.do("lookup", p, "GET", "/receiver/"+url.PathEscape(to.addr)+"?userId="+url.QueryEscape(from.id), nil)
	var l lookupResp
	if a.status != 200 || !w.decode("lookup", a, &l) {
		return nil
	}
	rcur := to.prefs[k.r.IntN(len(to.prefs))]
	a = w.do("quote", p, "POST", "/quotes", map[string]any{
		"lookupId": l.LookupID, "sendingCurrencyCode": cur, "receivingCurrencyCode": rcur,
		"lockedCurrencySide": side, "lockedCurrencyAmount": amount, "autoRefresh": auto,
	})
	q := &mmQuote{sender: from, receiver: to, locked: amount}
	if a.status != 201 || !w.decode("quote", a, q) {
		return nil
	}
	locked := q.TotalSendingAmount
	if side == "RECEIVING" {
		locked = q.TotalReceivingAmount
	}
	if q.Status != "PENDING" || q.SendingCurrency.Code != cur || q.ReceivingCurrency.Code != rcur || locked != amount ||
		q.LockedCurrencySide != side || q.AutoRefresh != auto || q.TotalSendingAmount <= 0 || q.TotalReceivingAmount <= 0 {
		w.fail("quote of %d %s (%s-locked) %s → %s: %s", amount, cur, side, cur, rcur, a.body)
		return nil
	}
	return q
}

// execute executes q (by POST /fbo/confirm/{quoteId} when fbo) with key
// ("" for none), and books the transaction answered.
func (k *mmWorker) execute(q *mmQuote, key string, fbo bool) (mmAnswer, *mmTxResp) {
	w := k.w
	path := "/quotes/" + url.PathEscape(q.QuoteID) + "/execute"
	if fbo {
		path = "/fbo/confirm/" + url.PathEscape(q.QuoteID)
	}
	var hdr []string
	if key != "" {
		hdr = []string{"Idempotency-Key", key}
	}
	a := w.do("execute", w.vasps[q.sender.vasp], "POST", path, nil, hdr...)
	if a.status != 200 {
		return a, nil
	}
	var tx mmTxResp
	if !w.decode("execute", a, &tx) {
		return a, nil
	}
	w.sawTx(q, tx)
	return a, &tx
}

// executeOnce is the only execute of q with key: if it pays, the key is
// stored with its transaction (which another key's execute of q would
// have answered too, without storing its key).
func (k *mmWorker) executeOnce(q *mmQuote, key string, fbo bool) (mmAnswer, *mmTxResp) {
	a, tx := k.execute(q, key, fbo)
	if tx != nil && key != "" {
		k.w.mu.Lock()
		k.w.execKeys[q.sender.vasp] = append(k.w.execKeys[q.sender.vasp], key)
		k.w.mu.Unlock()
	}
	return a, tx
}

// sawTx books an outgoing transaction an execute (or a read) of q
// answered: one per quote, ever.
func (w *mmWorld) sawTx(q *mmQuote, tx mmTxResp) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.quoteTx[q.QuoteID]; ok && prev != tx.ID {
		w.fail("quote %s executed as two transactions, %s and %s", q.QuoteID, prev, tx.ID)
		return
	}
	w.quoteTx[q.QuoteID] = tx.ID
	if !slices.Contains([]string{"PROCESSING", "COMPLETED", "FAILED"}, tx.Status) || tx.Type != "OUTGOING" || tx.QuoteID != q.QuoteID ||
		tx.SentAmount.Currency.Code != q.SendingCurrency.Code || tx.ReceivedAmount == nil ||
		tx.ReceivedAmount.Currency.Code != q.ReceivingCurrency.Code {
		w.fail("execute of quote %s answered %+v", q.QuoteID, tx)
		return
	}
	// The locked side's amount is the quote's whatever the terms
	// (an auto-refresh may renew the other); without auto-refresh, both
	// are the quote's.
	if (q.LockedCurrencySide == "SENDING" && tx.SentAmount.Amount != q.locked) ||
		(q.LockedCurrencySide == "RECEIVING" && tx.ReceivedAmount.Amount != q.locked) ||
		(!q.AutoRefresh && (tx.SentAmount.Amount != q.TotalSendingAmount || tx.ReceivedAmount.Amount != q.TotalReceivingAmount)) {
		w.fail("execute of quote %s (%d → %d, %s-locked) answered %d → %d", q.QuoteID, q.TotalSendingAmount,
			q.TotalReceivingAmount, q.LockedCurrencySide, tx.SentAmount.Amount, tx.ReceivedAmount.Amount)
	}
	if t, ok := w.txs[tx.ID]; ok {
		if t.sent != tx.SentAmount.Amount || t.recv != tx.ReceivedAmount.Amount {
			w.fail("transaction %s answered with other amounts: %+v, first %+v", tx.ID, tx, t)
		}
		return
	}
	if tx.Status == "COMPLETED" {
		w.est[mmAcct{q.sender.vasp, q.sender.id, tx.SentAmount.Currency.Code}] -= tx.SentAmount.Amount
		w.est[mmAcct{q.receiver.vasp, q.receiver.id, tx.ReceivedAmount.Currency.Code}] += tx.ReceivedAmount.Amount
	}
	w.txs[tx.ID] = &mmTx{vasp: q.sender.vasp, id: tx.ID, quoteID: q.QuoteID, sender: q.sender, receiver: q.receiver,
		sentCur: tx.SentAmount.Currency.Code, sent: tx.SentAmount.Amount, recvCur: tx.ReceivedAmount.Currency.Code, recv: tx.ReceivedAmount.Amount}
}

// overdraw executes a quote for more than anyone holds: refused, and
// nothing moves.
func (k *mmWorker) overdraw() {
	w := k.w
	from := k.user()
	to := k.userOf(1 - from.vasp)
	cur := []string{"USD", "EUR", "GBP"}[k.r.IntN(3)]
	n := w.overdraftBound(cur)
	if n == 0 {
		return
	}
	q := k.quote(from, to, cur, "SENDING", n, false)
	if q == nil {
		return
	}
	a, tx := k.execute(q, k.key("exe"), k.r.IntN(4) == 0)
	if a.status == 0 {
		return
	}
	if (a.code != "INSUFFICIENT_BALANCE" || tx != nil) && w.certainOverdraft(cur, q.TotalSendingAmount) {
		w.fail("execute of %d %s, more than anyone holds, by %s: %d %s", q.TotalSendingAmount, cur, from.addr, a.status, a.body)
	}
}

// race sends, at once, two requests with one new Idempotency-Key and
// different bodies: two deposits of different amounts (one is recorded,
// the other refused), or executes of two quotes (one pays at most, the
// other is refused).
func (k *mmWorker) race() {
	w := k.w
	if k.r.IntN(2) == 0 {
		u := k.user()
		m1 := &mmMove{vasp: u.vasp, user: u, kind: "deposits", key: k.key("dep"), cur: k.currency(u), amount: 100 + k.r.Int64N(50_000)}
		m2 := *m1
		m2.amount++
		var a1, a2 mmAnswer
		var wg sync.WaitGroup
		wg.Go(func() { a1 = k.request(m1, false, "") })
		wg.Go(func() { a2 = k.request(&m2, true, "") })
		wg.Wait()
		if a1.status == 0 || a2.status == 0 {
			return
		}
		win, lose, m := a1, a2, m1
		if a2.status == 201 {
			win, lose, m = a2, a1, &m2
		}
		if win.status != 201 || lose.code != "IDEMPOTENCY_KEY_REUSED" {
			w.fail("two deposits at once with key %s, of %d and %d: %d %s and %d %s, want one 201 and one 422 IDEMPOTENCY_KEY_REUSED",
				m1.key, m1.amount, m2.amount, a1.status, a1.body, a2.status, a2.body)
		}
		k.settleCopies(m, []mmAnswer{win})
		return
	}
	from := k.user()
	to := k.userOf(1 - from.vasp)
	cur, have := k.richest(from)
	var qs [2]*mmQuote
	for i := range qs {
		if qs[i] = k.quote(from, to, cur, "SENDING", 100+k.r.Int64N(max(have/2, 1_000)), false); qs[i] == nil {
			return
		}
	}
	key := k.key("exe")
	var as [2]mmAnswer
	var txs [2]*mmTxResp
	var wg sync.WaitGroup
	for i := range qs {
		wg.Go(func() { as[i], txs[i] = k.execute(qs[i], key, false) })
	}
	wg.Wait()
	if txs[0] != nil && txs[1] != nil {
		w.fail("one Idempotency-Key %s executed two quotes at once: %s and %s", key, txs[0].ID, txs[1].ID)
	}
	for i, a := range as {
		if a.status == 0 || txs[i] != nil {
			continue
		}
		paid := txs[1-i] != nil
		if paid && a.code != "IDEMPOTENCY_KEY_REUSED" && a.code != "INSUFFICIENT_BALANCE" {
			w.fail("execute of quote %s with key %s, which paid quote %s at once: %d %s", qs[i].QuoteID, key, qs[1-i].QuoteID, a.status, a.body)
		}
		if !paid && a.code == "IDEMPOTENCY_KEY_REUSED" {
			// The key is stored only with a payment.
			w.fail("execute of quote %s with key %s, which paid nothing else: %d %s", qs[i].QuoteID, key, a.status, a.body)
		}
	}
	for i := range qs {
		if txs[i] != nil {
			w.mu.Lock()
			w.execKeys[from.vasp] = append(w.execKeys[from.vasp], key)
			w.mu.Unlock()
		}
	}
}

// pay quotes a payment to a user of the other VASP and executes it in one
// of several ways.
func (k *mmWorker) pay() {
	w := k.w
	v := k.r.IntN(100)
	from := k.user()
	switch {
	case v >= 72 && v < 82:
		from = k.userOf(0) // its quotes live long enough to be auto-refreshed
	case v >= 82 && v < 92:
		from = k.userOf(1) // its quotes expire soon
	}
	to := k.userOf(1 - from.vasp)
	cur, have := k.richest(from)
	if k.r.IntN(5) == 0 {
		cur = k.currency(from)
	}
	side := "SENDING"
	amount := 100 + k.r.Int64N(max(have*6/5, 1_000))
	if have > 0 && k.r.IntN(8) == 0 {
		amount = have // all of it, if the estimate is right
	}
	if k.r.IntN(2) == 0 {
		side, amount = "RECEIVING", 50+k.r.Int64N(5_000)
	}
	auto := k.r.IntN(4) == 0
	switch {
	case v >= 72 && v < 82:
		auto = true
	case v >= 82 && v < 92:
		auto = false // waits for the expiry of terms that do not move
	}
	q := k.quote(from, to, cur, side, amount, auto)
	if q == nil {
		return
	}
	fbo := func() bool { return k.r.IntN(5) == 0 }
	switch {
	case v < 34:
		key := k.key("exe")
		if k.r.IntN(5) == 0 {
			key = ""
		}
		k.executeOnce(q, key, fbo())
	case v < 50:
		// Concurrent executes, with one key (v < 44) or each its own:
		// one payment, every answer its transaction.
		n := 2 + k.r.IntN(2)
		keys, fbos := make([]string, n), make([]bool, n)
		one := k.key("exe")
		for i := range n {
			keys[i], fbos[i] = one, fbo()
			if v >= 44 {
				keys[i] = k.key("exe")
			}
		}
		var wg sync.WaitGroup
		txs := make([]*mmTxResp, n)
		for i := range n {
			wg.Go(func() { _, txs[i] = k.execute(q, keys[i], fbos[i]) })
		}
		wg.Wait()
		if v < 44 && slices.ContainsFunc(txs, func(tx *mmTxResp) bool { return tx != nil }) {
			w.mu.Lock()
			w.execKeys[from.vasp] = append(w.execKeys[from.vasp], one)
			w.mu.Unlock()
		}
	case v < 57:
		// Executed, then again: the same transaction.
		key := k.key("exe")
		_, first := k.executeOnce(q, key, fbo())
		if first == nil {
			return
		}
		again := []string{key, k.key("exe"), ""}[k.r.IntN(3)]
		a, tx := k.execute(q, again, fbo())
		if a.status != 0 && (tx == nil || tx.ID != first.ID) {
			w.fail("execute of executed quote %s (key %q): %d %s, want 200 with %s", q.QuoteID, again, a.status, a.body, first.ID)
		}
	case v < 62:
		// Another quote's key: refused, this quote unexecuted.
		w.mu.Lock()
		keys := w.execKeys[from.vasp]
		var key string
		if len(keys) > 0 {
			key = keys[k.r.IntN(len(keys))]
		}
		w.mu.Unlock()
		if key == "" {
			k.executeOnce(q, k.key("exe"), false)
			return
		}
		a, tx := k.execute(q, key, fbo())
		if a.status != 0 && (a.code != "IDEMPOTENCY_KEY_REUSED" || tx != nil) {
			w.fail("execute of quote %s with key %s of another quote: %d %s, want 422 IDEMPOTENCY_KEY_REUSED", q.QuoteID, key, a.status, a.body)
		}
		if k.r.IntN(2) == 0 {
			k.executeOnce(q, k.key("exe"), false) // still payable
		}
	case v < 72:
		// A refresh racing an execute, then maybe the new quote paid too.
		var wg sync.WaitGroup
		var ra mmAnswer
		var tx *mmTxResp
		key, viaFBO, pause := k.key("exe"), fbo(), time.Duration(k.r.IntN(3))*time.Millisecond
		wg.Go(func() { _, tx = k.executeOnce(q, key, viaFBO) })
		time.Sleep(pause)
		wg.Go(func() {
			ra = w.do("refresh", w.vasps[from.vasp], "POST", "/quotes/"+url.PathEscape(q.QuoteID)+"/refresh", nil)
		})
		wg.Wait()
		if ra.code == "QUOTE_ALREADY_EXECUTED" && tx == nil {
			w.fail("refresh of quote %s answered QUOTE_ALREADY_EXECUTED, but its execute paid nothing", q.QuoteID)
		}
		if ra.status == 201 {
			nq := &mmQuote{sender: from, receiver: to, locked: amount}
			if w.decode("refresh", ra, nq) && k.r.IntN(2) == 0 {
				k.executeOnce(nq, k.key("exe"), fbo())
			}
		}
	case v < 82:
		// Held (in the background: the worker goes on) until the
		// auto-refresh renews its terms (half their life left, in one of
		// its 5 s rounds), or until it nearly expires, then executed.
		key, viaFBO := k.key("exe"), fbo()
		w.held.Go(func() {
			for time.Until(q.ExpiresAt) > 300*time.Millisecond {
				a := w.do("getQuote", w.vasps[from.vasp], "GET", "/quotes/"+url.PathEscape(q.QuoteID), nil)
				var got mmQuote
				if a.status != 200 || !w.decode("getQuote", a, &got) || got.RefreshCount > 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			k.executeOnce(q, key, viaFBO)
		})
	case v < 87:
		// Held past its expiry: refused, nothing paid.
		key, viaFBO := k.key("exe"), fbo()
		w.held.Go(func() {
			time.Sleep(time.Until(q.ExpiresAt) + 300*time.Millisecond)
			a, tx := k.execute(q, key, viaFBO)
			if a.status != 0 && (a.code != "QUOTE_EXPIRED" || tx != nil) {
				w.fail("execute of quote %s past its expiry %s: %d %s, want 409 QUOTE_EXPIRED", q.QuoteID, q.ExpiresAt, a.status, a.body)
			}
		})
	case v < 92:
		// Executed as it expires: refused, or paid, or failed with the
		// money given back.
		key, viaFBO, early := k.key("exe"), fbo(), time.Duration(k.r.IntN(60))*time.Millisecond
		w.held.Go(func() {
			time.Sleep(time.Until(q.ExpiresAt) - early)
			k.executeOnce(q, key, viaFBO)
		})
	default:
		// Read while executed.
		var wg sync.WaitGroup
		key, viaFBO := k.key("exe"), fbo()
		wg.Go(func() { k.executeOnce(q, key, viaFBO) })
		a := w.do("getQuote", w.vasps[from.vasp], "GET", "/quotes/"+url.PathEscape(q.QuoteID), nil)
		wg.Wait()
		var got mmQuote
		if a.status == 200 && w.decode("getQuote", a, &got) && !slices.Contains([]string{"PENDING", "PROCESSING", "COMPLETED", "FAILED", "EXPIRED"}, got.Status) {
			w.fail("quote %s reads %s", q.QuoteID, a.body)
		}
	}
}
