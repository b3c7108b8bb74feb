package paycrash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/store"
)

// platform is one VASP's platform API as its platform calls it.
type platform struct {
	name   string
	domain string // localhost:port, the UMA domain
	api    apiclient.Client
}

// errNoAnswer is a request that got no answer (a transport error: the
// process was down, or died with the request); errNotSent wraps it when
// the request provably never arrived (the connection refused, or vaspd
// still starting).
var (
	errNoAnswer = errors.New("no answer")
	errNotSent  = fmt.Errorf("%w: not received", errNoAnswer)
)

// call does one request. An answer outside 2xx is an *apiclient.Error; no
// answer is errNoAnswer (errNotSent when refused at connect); a 2xx whose
// body does not decode is neither, and is a broken promise of its own.
//
// 503 SERVICE_UNAVAILABLE says "try again" (with Retry-After): a vaspd
// restarted after a kill answers it until its database is up ("vaspd is
// starting", its routes not yet installed: errNotSent), and a request that
// timed out inside vaspd with it (its outcome unknown: errNoAnswer).
func (p *platform) call(ctx context.Context, method, path string, body, out any, header ...string) error {
	err := p.api.Do(ctx, method, path, body, out, header...)
	var ae *apiclient.Error
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable && ae.Code == "SERVICE_UNAVAILABLE":
		if strings.HasPrefix(ae.Message, "vaspd is starting") {
			return fmt.Errorf("%w (%v)", errNotSent, err)
		}
		return fmt.Errorf("%w: %v", errNoAnswer, err)
	case err == nil, errors.As(err, &ae):
		return err
	case errors.As(err, &syn), errors.As(err, &typ):
		return fmt.Errorf("%s %s %s: the answer does not decode: %w", p.name, method, path, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w: connection refused (%v)", errNotSent, err)
	}
	return fmt.Errorf("%w: %v", errNoAnswer, err)
}

// status is an error's HTTP status and code ("424 PAYREQ_REQUEST_FAILED"),
// or "" for no answer.
func status(err error) string {
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		return fmt.Sprintf("%d %s", ae.Status, ae.Code)
	}
	return ""
}

// payment is one payment of the stream, as its platform saw it.
type payment struct {
	N         int
	Tag       string // the executed quote's description: its incoming transaction's at the receiver
	Key       string // the execute's Idempotency-Key
	QuoteID   string
	Side      string
	Sending   int64 // the quote's totalSendingAmount (USD cents)
	Receiving int64 // its totalReceivingAmount (EUR cents)
	Msats     int64 // its invoice amount

	Attempts    int      // execute requests sent
	Refused     int      // of them never received: the sender was down or starting
	Lost        int      // of them without an answer after the request went out
	TxIDs       []string // the transaction of each answer
	Statuses    []string // the status of each answer
	NotExecuted string   // an execute's documented refusal (409 QUOTE_EXPIRED, QUOTE_ALREADY_EXECUTED): the quote must have no transaction
	Refusal     string   // that refusal's message

	// Kind is "" (a plain quote), kindRefresh (an auto-refreshing quote)
	// or kindRequest (one of two quotes paying one UMA request); see
	// extpay.go.
	Kind          string
	WaitRefreshes int      // kindRefresh: refreshes waited for before the execute (0: executed at once; raceRefresh)
	SeenRefreshes []int    // kindRefresh: the quote's refreshCount at each look before the execute
	RequestID     string   // kindRequest: the UMA request paid
	Amount        int64    // kindRequest: the request's amount (EUR cents)
	Sibling       string   // kindRequest: the other quote made for the request
	Requote       string   // kindRequest, the first of two: a quote made once an execute answered COMPLETED ("refused": 409)
	AnsweredSent  []int64  // each answered transaction's sentAmount (USD cents)
	AnsweredRecv  []int64  // and receivedAmount (EUR cents)
	Quoted        [3]int64 // the check's copy of a refreshed quote: Sending, Receiving, Msats as first quoted
}

// deposit is one deposit the platform recorded for the sender's user.
type deposit struct {
	Key      string
	Amount   int64
	Attempts int
	IDs      []string // the movement of each answer
}

// stream is the payment stream: workers that pay $bob from $alice, paced,
// through the sender's platform API, retrying what a kill interrupted as a
// platform would: a lookup or quote again from the start, an execute with
// the same Idempotency-Key until it answers.
type stream struct {
	sender   *platform
	userID   string // the sender's user
	receiver string // $bob@…
	target   int    // payments to execute at least
	max      int    // and at most
	rate     float64
	began    time.Time
	killsOn  atomic.Bool // cleared once the last kill's process is back

	// UMA requests (extpay.go): the receiver's platform, its user, the
	// sender's user's UMA address.
	recv      *platform
	bobID     string
	senderUMA string
	requests  []string       // the UMA requests made (their ids)
	bg        sync.WaitGroup // payments waiting for refreshes, then executing
	sdb       *store.DB      // the sender's database, read-only: a quote's refresh lease

	next      atomic.Int64 // payment numbers handed out
	executing atomic.Int64 // executes waiting for their answer now
	executed  atomic.Int64 // executes begun, ever
	quoting   atomic.Int64 // lookups and quotes waiting for their answer now

	mu         sync.Mutex
	payments   []*payment
	deposits   []*deposit
	lostQuotes int // quote requests whose answer never came (the quote may exist, never executed)
	refusals   int // lookups and quotes the receiver's absence refused (424)
	// requestsUnmade are short-lived UMA requests whose life ran out
	// while the receiver was down, before any POST of theirs was made.
	requestsUnmade int
	broken         []string // answers no documentation allows
}

// depositEvery is how often, in payments, the platform deposits again
// into the sender's user, during the kills as well.
const depositEvery = 10

// depositAmount is each such deposit, in USD cents.
const depositAmount = 10_00

func (s *stream) brokenf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken = append(s.broken, fmt.Sprintf(format, args...))
}

// work runs one worker until the stream is done or ctx ends.
func (s *stream) work(ctx context.Context) {
	for ctx.Err() == nil {
		n := int(s.next.Add(1))
		if n > s.max || (n > s.target && !s.killsOn.Load()) {
			return
		}
		// Paced: payment n starts no sooner than n/rate after the start.
		if !sleep(ctx, time.Until(s.began.Add(time.Duration(float64(n-1)/s.rate*float64(time.Second))))) {
			return
		}
		if n%depositEvery == 0 {
			s.deposit(ctx, n)
		}
		switch kindOf(n) {
		case kindRefresh:
			s.payRefreshing(ctx, n)
		case kindRequest:
			s.payRequest(ctx, n)
		default:
			s.pay(ctx, n)
		}
	}
}

// deposit records a deposit for the sender's user, retried with its key
// until answered.
func (s *stream) deposit(ctx context.Context, n int) {
	d := &deposit{Key: fmt.Sprintf("paycrash-deposit-%d", n), Amount: depositAmount}
	s.mu.Lock()
	s.deposits = append(s.deposits, d)
	s.mu.Unlock()
	for ctx.Err() == nil {
		var out struct {
			ID     string `json:"id"`
			Amount int64  `json:"amount"`
		}
		s.mu.Lock()
		d.Attempts++
		s.mu.Unlock()
		err := s.sender.call(ctx, "POST", "/users/"+s.userID+"/deposits",
			map[string]any{"currencyCode": "USD", "amount": d.Amount, "reference": d.Key}, &out, "Idempotency-Key", d.Key)
		switch {
		case errors.Is(err, errNoAnswer):
			sleep(ctx, 50*time.Millisecond)
			continue
		case err != nil:
			if ctx.Err() == nil {
				s.brokenf("deposit %s: %v", d.Key, err)
			}
			return
		}
		s.mu.Lock()
		d.IDs = append(d.IDs, out.ID)
		s.mu.Unlock()
		if out.Amount != d.Amount {
			s.brokenf("deposit %s of %d answered %d", d.Key, d.Amount, out.Amount)
		}
		return
	}
}

// pay makes payment n: a lookup and a quote (again from the start until
// one is answered), a moment's wait, then the execute until answered.
func (s *stream) pay(ctx context.Context, n int) {
	p := &payment{N: n, Key: fmt.Sprintf("paycrash-execute-%d", n), Side: "RECEIVING"}
	if rand.IntN(2) == 0 {
		p.Side = "SENDING"
	}
	amount := 100 + rand.Int64N(900)
	if !s.quoteUntil(ctx, p, amount) {
		return
	}
	s.mu.Lock()
	s.payments = append(s.payments, p)
	s.mu.Unlock()
	// A platform's user looks at the quote before confirming it: kills
	// of the receiver land between quotes and their executes too.
	sleep(ctx, rand.N(300*time.Millisecond))
	s.execute(ctx, p)
}

// quoteUntil quotes p (a lookup and a quote) again from the start until
// one is answered, reporting whether it was: a lookup or quote without an
// answer, or refused for the receiver's absence (424), is made again;
// anything else is a broken promise. extra are more fields of the quote's
// body, name then value.
func (s *stream) quoteUntil(ctx context.Context, p *payment, amount int64, extra ...any) bool {
	base := p.Tag
	for attempt := 1; ctx.Err() == nil; attempt++ {
		p.Tag = fmt.Sprintf("paycrash %d%s.%d", p.N, base, attempt)
		err := s.quote(ctx, p, amount, extra...)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var ae *apiclient.Error
		switch {
		case errors.Is(err, errNotSent):
		case errors.Is(err, errNoAnswer):
			s.mu.Lock()
			s.lostQuotes++
			s.mu.Unlock()
		case errors.As(err, &ae) && ae.Status == http.StatusFailedDependency:
			// The receiver is down or died with the request: as
			// documented, a counterparty failure.
			s.mu.Lock()
			s.refusals++
			s.mu.Unlock()
		case errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Code == "QUOTE_EXPIRED" && p.Kind == kindRequest:
			// The UMA request expired while the receiver was down: as
			// documented, refused.
			return false
		default:
			s.brokenf("payment %d: %v", p.N, err)
			return false
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return false
}

func (s *stream) quote(ctx context.Context, p *payment, amount int64, extra ...any) error {
	s.quoting.Add(1)
	defer s.quoting.Add(-1)
	var l struct {
		LookupID string `json:"lookupId"`
	}
	if err := s.sender.call(ctx, "GET", "/receiver/"+url.PathEscape(s.receiver)+"?userId="+url.QueryEscape(s.userID), nil, &l); err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	var q struct {
		QuoteID              string `json:"quoteId"`
		TotalSendingAmount   int64  `json:"totalSendingAmount"`
		TotalReceivingAmount int64  `json:"totalReceivingAmount"`
		InvoiceAmountMsats   int64  `json:"invoiceAmountMsats"`
	}
	body := map[string]any{
		"lookupId": l.LookupID, "sendingCurrencyCode": "USD", "receivingCurrencyCode": "EUR",
		"lockedCurrencySide": p.Side, "lockedCurrencyAmount": amount, "description": p.Tag,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	err := s.sender.call(ctx, "POST", "/quotes", body, &q)
	if err != nil {
		return fmt.Errorf("quote: %w", err)
	}
	if q.QuoteID == "" || q.TotalSendingAmount <= 0 || q.TotalReceivingAmount <= 0 || q.InvoiceAmountMsats <= 0 {
		return fmt.Errorf("quote answered %+v", q)
	}
	p.QuoteID, p.Sending, p.Receiving, p.Msats = q.QuoteID, q.TotalSendingAmount, q.TotalReceivingAmount, q.InvoiceAmountMsats
	return nil
}

// maxExecuteErrors bounds the error answers (5xx) one execute is retried
// through: each is a broken promise already reported.
const maxExecuteErrors = 5

// execute executes p's quote with its Idempotency-Key until an answer
// comes: a transaction, or a documented refusal.
func (s *stream) execute(ctx context.Context, p *payment) {
	s.executed.Add(1)
	s.executing.Add(1)
	defer s.executing.Add(-1)
	errs := 0
	for ctx.Err() == nil {
		var tx struct {
			ID             string     `json:"id"`
			Status         string     `json:"status"`
			QuoteID        string     `json:"quoteId"`
			SentAmount     *apiAmount `json:"sentAmount"`
			ReceivedAmount *apiAmount `json:"receivedAmount"`
		}
		err := s.sender.call(ctx, "POST", "/quotes/"+p.QuoteID+"/execute", nil, &tx, "Idempotency-Key", p.Key)
		s.mu.Lock()
		p.Attempts++
		switch {
		case errors.Is(err, errNotSent):
			p.Refused++
		case errors.Is(err, errNoAnswer):
			p.Lost++
		case err == nil:
			p.TxIDs, p.Statuses = append(p.TxIDs, tx.ID), append(p.Statuses, tx.Status)
			p.AnsweredSent = append(p.AnsweredSent, amountOf(tx.SentAmount, "USD"))
			p.AnsweredRecv = append(p.AnsweredRecv, amountOf(tx.ReceivedAmount, "EUR"))
		}
		s.mu.Unlock()
		var ae *apiclient.Error
		switch {
		case errors.Is(err, errNoAnswer):
			sleep(ctx, 50*time.Millisecond)
			continue
		case err == nil:
			if tx.ID == "" || tx.QuoteID != p.QuoteID {
				s.brokenf("payment %d: execute of %s answered transaction %q of quote %q", p.N, p.QuoteID, tx.ID, tx.QuoteID)
			}
			return
		case errors.As(err, &ae) && ae.Status == http.StatusConflict &&
			(ae.Code == "QUOTE_EXPIRED" || ae.Code == "QUOTE_ALREADY_EXECUTED" && p.Kind == kindRequest):
			// QUOTE_ALREADY_EXECUTED: the other quote for the same UMA
			// request is paying it or paid it (checked at the end).
			s.mu.Lock()
			p.NotExecuted, p.Refusal = status(err), ae.Message
			s.mu.Unlock()
			return
		case errors.As(err, &ae) && ae.Status >= 500 && errs < maxExecuteErrors:
			// Its outcome is unknown: asked again with the key, but
			// an error answer is no answer the API documents here.
			errs++
			s.brokenf("payment %d: execute of %s answered %v", p.N, p.QuoteID, err)
			sleep(ctx, 100*time.Millisecond)
			continue
		default:
			if ctx.Err() == nil {
				s.brokenf("payment %d: execute of %s: %v", p.N, p.QuoteID, err)
			}
			return
		}
	}
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
