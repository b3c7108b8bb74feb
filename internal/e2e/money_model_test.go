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
// life half spent, and less than quote-refresh-lead, 30 s, left) for most
// of a round of the auto-refresh (every 5 s) before it expires: a quote
// lives three quarters of its invoice at the least (quote-expiry-margin),
// 6 s of 8.
var mmExpiry = [2]time.Duration{3 * time.Second, 8 * time.Second}

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
