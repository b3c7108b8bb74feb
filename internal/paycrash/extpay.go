package paycrash

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
)

// The two money paths besides plain quotes, mixed into the payment stream
// (kindOf): auto-refreshing quotes, whose terms vaspd renews in place while
// executes and kills happen, and UMA requests, each paid with two quotes
// executed at once, of which one may pay.

const (
	kindRefresh = "refresh" // POST /quotes with autoRefresh
	kindRequest = "request" // two quotes for one UMA request (umaRequestId)
)

// kindOf is payment n's kind: one in five an auto-refreshing quote, one in
// six an UMA request (two quotes), the rest plain quotes.
func kindOf(n int) string {
	switch {
	case n%5 == 2:
		return kindRefresh
	case n%6 == 3:
		return kindRequest
	}
	return ""
}

// Invoice and refresh settings of a run. The receiver issues invoices of
// invoiceExpiry, a quote living three quarters of one (quote-expiry-margin
// takes a quarter of a short invoice's life: 12 s), and the sender
// refreshes an auto-refresh quote once less than refreshLead, and half its
// terms' life, is left: from 6 s of a
// quote's life, so that with the refresher's 5 s pass a quote is renewed
// 6–11 s after its terms were made, again and again, while the kills go on.
// Plain quotes, executed within a second or, across kills, a few seconds,
// live long enough; one a long outage outlives is refused QUOTE_EXPIRED,
// as documented.
const (
	invoiceExpiry = "16s"
	refreshLead   = "10s"
	// requestLife is an UMA request's expiry: longer than any run's
	// payments, so a request ends PAID or PENDING; one in three lives
	// shortRequestLife plus up to as much again instead, so that some
	// expire with a payment in flight (it must end PAID if the payment
	// completes) and some before they are paid (EXPIRED, their quotes
	// refused QUOTE_EXPIRED).
	requestLife      = 10 * time.Minute
	shortRequestLife = 2 * time.Second
	// maxPayments is the receiver's limit of payments of one request:
	// one, as a platform asking to be paid once sets it. The receiver
	// invoices both quotes of a request all the same, the second a
	// re-quote of the sender's VASP, which holds the request's one slot
	// (vasp.takeSlot), even while the first awaits approval in a receiver
	// killed meanwhile.
	maxPayments = 1
	// maxRefreshWait bounds the wait for a quote's refreshes.
	maxRefreshWait = 30 * time.Second
)

// payRefreshing makes payment n with an auto-refreshing quote: executed at
// once (half of them), or after its first refresh or its second, watched
// through GET /quotes/{id}; the wait and the execute run on their own, so
// the worker goes on with the stream.
func (s *stream) payRefreshing(ctx context.Context, n int) {
	p := &payment{N: n, Key: fmt.Sprintf("paycrash-execute-%d", n), Side: "RECEIVING", Kind: kindRefresh}
	if mrand.IntN(2) == 0 {
		p.Side = "SENDING"
	}
	if s.killsOn.Load() {
		switch mrand.IntN(3) {
		case 1:
			p.WaitRefreshes = 1 + mrand.IntN(4)/3 // one, or one time in four two
		case 2:
			p.WaitRefreshes = raceRefresh
		}
	}
	if !s.quoteUntil(ctx, p, 100+mrand.Int64N(900), "autoRefresh", true) {
		return
	}
	s.mu.Lock()
	s.payments = append(s.payments, p)
	s.mu.Unlock()
	if p.WaitRefreshes == 0 {
		sleep(ctx, mrand.N(300*time.Millisecond))
		s.execute(ctx, p)
		return
	}
	s.bg.Go(func() {
		if p.WaitRefreshes == raceRefresh {
			s.awaitLease(ctx, p)
		} else {
			s.awaitRefreshes(ctx, p)
		}
		s.execute(ctx, p)
	})
}

// raceRefresh is WaitRefreshes of a payment executed as its quote's
// refresh is under way (awaitLease).
const raceRefresh = -1

// awaitLease waits until the refresher has claimed p's quote (its payreq
// for new terms out: the quote leased, read from the sender's database) or
// refreshed it, then 0–40 ms more, so that the execute races the refresh's
// write: the execute claims the old terms and the refresh is superseded,
// or the refresh writes first and the execute starts over on the new terms
// (vasp/execute.go, errTermsMoved). After the last kill, 8 s are enough.
func (s *stream) awaitLease(ctx context.Context, p *payment) {
	from := time.Now()
	for sleep(ctx, 5*time.Millisecond) && time.Since(from) < maxRefreshWait && (s.killsOn.Load() || time.Since(from) < 8*time.Second) {
		var status string
		var next int64
		var n int
		err := s.sdb.QueryRowContext(ctx, `SELECT status, refresh_next_at, refresh_count FROM uma_quotes WHERE id = $1`, p.QuoteID).Scan(&status, &next, &n)
		if err != nil {
			continue
		}
		if status != "PENDING" {
			return
		}
		if n > 0 || next > store.Micros(time.Now()) { // claimed: see awaitRefresh's leased
			s.mu.Lock()
			p.SeenRefreshes = append(p.SeenRefreshes, n)
			s.mu.Unlock()
			sleep(ctx, mrand.N(40*time.Millisecond))
			return
		}
	}
}

// awaitRefreshes watches p's quote until it was refreshed p.WaitRefreshes
// times, is no longer PENDING, or maxRefreshWait passed; after the last
// kill, one refresh or 8 s are enough, so the run ends about as soon.
func (s *stream) awaitRefreshes(ctx context.Context, p *payment) {
	from := time.Now()
	for sleep(ctx, 700*time.Millisecond) && time.Since(from) < maxRefreshWait {
		var q struct {
			Status       string `json:"status"`
			RefreshCount int    `json:"refreshCount"`
		}
		err := s.sender.call(ctx, "GET", "/quotes/"+p.QuoteID, nil, &q)
		switch {
		case errors.Is(err, errNoAnswer):
			continue
		case err != nil:
			if ctx.Err() == nil {
				s.brokenf("payment %d: GET /quotes/%s: %v", p.N, p.QuoteID, err)
			}
			return
		}
		s.mu.Lock()
		p.SeenRefreshes = append(p.SeenRefreshes, q.RefreshCount)
		s.mu.Unlock()
		if q.Status != "PENDING" || q.RefreshCount >= p.WaitRefreshes ||
			!s.killsOn.Load() && (q.RefreshCount > 0 || time.Since(from) > 8*time.Second) {
			return
		}
	}
}

// payRequest makes payment n through an UMA request: $bob's platform asks
// $alice for an amount in EUR (POST /payment-requests on the receiver,
// sent until answered), whose vaspd delivers it to the sender's
// uma_request_endpoint (POST …/deliver until delivered, while the sender
// is down); the sender's platform finds it (GET /uma-requests) and makes
// two quotes for it, as a double click or a retried client would, and
// executes both at once, each with its own key: one pays the request, the
// other is refused 409 QUOTE_ALREADY_EXECUTED (or pays it if the first
// payment failed). The receiver's request allows maxPayments (one)
// payment and issues an invoice to each quote, one VASP's re-quote taking
// no other slot: what is checked here is the sender's paying the request
// once (the receiver credits every invoice paid), and the receiver's
// answering both quotes under kills.
func (s *stream) payRequest(ctx context.Context, n int) {
	amount := 100 + mrand.Int64N(900)
	life := requestLife
	if mrand.IntN(3) == 0 {
		life = shortRequestLife + mrand.N(shortRequestLife)
	}
	var req struct {
		ID, InvoiceUUID string
		Delivery        struct{ Status, Code, Message string }
	}
	expires := time.Now().Add(life)
	body := map[string]any{"userId": s.bobID, "amount": amount, "currency": "EUR", "expiresAt": expires,
		"senderUmaAddress": s.senderUMA, "maxNumPayments": maxPayments}
	for ctx.Err() == nil && req.ID == "" {
		err := s.recv.call(ctx, "POST", "/payment-requests", body, &req, "Idempotency-Key", fmt.Sprintf("paycrash-request-%d", n))
		var ae *apiclient.Error
		switch {
		case errors.Is(err, errNoAnswer), errors.Is(err, errNotSent):
			sleep(ctx, 50*time.Millisecond)
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest && ae.Code == "INVALID_INPUT" &&
			strings.Contains(ae.Message, "expiresAt") && time.Until(expires) < 2*time.Second:
			// A short-lived request whose POST was retried while the
			// receiver was down until less than the second a request
			// must have left (or nothing) remained: a request never
			// made (one made would be replayed under its key), refused
			// as the platform API says. The 2 s allow for the answer's
			// transit.
			s.mu.Lock()
			s.requestsUnmade++
			s.mu.Unlock()
			return
		case err != nil:
			if ctx.Err() == nil {
				s.brokenf("payment %d: POST /payment-requests: %v", n, err)
			}
			return
		}
	}
	id := ""
	for ctx.Err() == nil && id == "" {
		var err error
		if req.Delivery.Status != "DELIVERED" {
			// The sender down, or the receiver killed mid-delivery.
			sleep(ctx, 50*time.Millisecond)
			err = s.recv.call(ctx, "POST", "/payment-requests/"+req.ID+"/deliver", nil, &req)
		} else {
			id, err = s.findRequest(ctx, req.InvoiceUUID)
		}
		var ae *apiclient.Error
		switch {
		case errors.Is(err, errNoAnswer), errors.Is(err, errNotSent), err == nil:
		case errors.As(err, &ae) && ae.Status == http.StatusConflict:
			return // a short-lived request expired before it was delivered
		default:
			if ctx.Err() == nil {
				s.brokenf("payment %d: UMA request %s: %v", n, req.InvoiceUUID, err)
			}
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, id)
	s.mu.Unlock()
	pair := [2]*payment{}
	for i, suffix := range []string{"", ".b"} {
		p := &payment{N: n, Tag: suffix, Key: fmt.Sprintf("paycrash-execute-%d%s", n, suffix), Side: "RECEIVING",
			Kind: kindRequest, RequestID: id, Amount: amount}
		if !s.quoteUntil(ctx, p, amount, "umaRequestId", id) {
			// Expired (a short-lived request, the receiver down), or
			// broken, reported.
			if i == 1 {
				s.mu.Lock()
				s.payments = append(s.payments, pair[0])
				s.mu.Unlock()
				s.execute(ctx, pair[0])
			}
			return
		}
		pair[i] = p
	}
	pair[0].Sibling, pair[1].Sibling = pair[1].QuoteID, pair[0].QuoteID
	s.mu.Lock()
	s.payments = append(s.payments, pair[0], pair[1])
	s.mu.Unlock()
	sleep(ctx, mrand.N(300*time.Millisecond))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.execute(ctx, pair[1])
	}()
	sleep(ctx, mrand.N(20*time.Millisecond))
	s.execute(ctx, pair[0])
	<-done
	s.requote(ctx, pair)
}

// requote quotes a request one of whose executes answered COMPLETED once
// more, as a platform unaware it was paid would: POST /quotes must refuse
// it (409 QUOTE_ALREADY_EXECUTED) before any payreq goes out. What it
// answered is pair[0].Requote: "refused", or the quote it made.
func (s *stream) requote(ctx context.Context, pair [2]*payment) {
	s.mu.Lock()
	paid := slices.Contains(pair[0].Statuses, "COMPLETED") || slices.Contains(pair[1].Statuses, "COMPLETED")
	s.mu.Unlock()
	if !paid {
		return
	}
	p := &payment{N: pair[0].N, Side: "RECEIVING", Tag: ".c"}
	for attempt := 1; ctx.Err() == nil && attempt <= 20; attempt++ {
		p.Tag = fmt.Sprintf("paycrash %d.c.%d", p.N, attempt)
		err := s.quote(ctx, p, pair[0].Amount, "umaRequestId", pair[0].RequestID)
		var ae *apiclient.Error
		switch {
		case err == nil:
			s.mu.Lock()
			pair[0].Requote = p.QuoteID
			s.mu.Unlock()
			return
		case errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Code == "QUOTE_ALREADY_EXECUTED":
			s.mu.Lock()
			pair[0].Requote = "refused"
			s.mu.Unlock()
			return
		case errors.Is(err, errNoAnswer), errors.As(err, &ae) && ae.Status == http.StatusFailedDependency:
			sleep(ctx, 50*time.Millisecond)
		default:
			if ctx.Err() == nil {
				s.brokenf("payment %d: quote again for the paid UMA request %s: %v", p.N, pair[0].RequestID, err)
			}
			return
		}
	}
}

// findRequest is the id of the UMA request of invoiceUUID, as GET
// /uma-requests lists the sender's user's.
func (s *stream) findRequest(ctx context.Context, invoiceUUID string) (string, error) {
	rs, err := list[apiRequest](ctx, s.sender, "/uma-requests?userId="+url.QueryEscape(s.userID))
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.InvoiceUUID == invoiceUUID {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("request_pay answered, yet GET /uma-requests lists no request of invoice %s", invoiceUUID)
}

// apiRequest is an UMA request as GET /uma-requests answers it.
type apiRequest struct {
	ID            string    `json:"id"`
	InvoiceUUID   string    `json:"invoiceUUID"`
	Amount        int64     `json:"amount"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	TransactionID string    `json:"transactionId"`
	ExpiresAt     time.Time `json:"expiresAt"`
	// When the end's GET was sent and answered: the status an unpaid
	// request may read with depends on its expiry then.
	readFrom, readTo time.Time
}

// apiQuote is a quote as GET /quotes/{id} answers it.
type apiQuote struct {
	Status               string `json:"status"`
	TotalSendingAmount   int64  `json:"totalSendingAmount"`
	TotalReceivingAmount int64  `json:"totalReceivingAmount"`
	InvoiceAmountMsats   int64  `json:"invoiceAmountMsats"`
	TransactionID        string `json:"transactionId"`
	AutoRefresh          bool   `json:"autoRefresh"`
	RefreshCount         int    `json:"refreshCount"`
	PaymentHash          string `json:"-"` // the sender's database's
}

// observeExt reads the end of the quotes of refresh and request payments
// (GET /quotes/{id}, their payment hash from the sender's database) and of
// their UMA requests (GET /uma-requests/{id}).
func observeExt(ctx context.Context, p *platform, v *view, pays []*payment, requests []string) error {
	v.Quotes, v.Requests = map[string]apiQuote{}, map[string]apiRequest{}
	hashes := map[string]string{}
	for _, x := range v.quoteHashes {
		hashes[x[0]] = x[1]
	}
	for _, pay := range pays {
		if pay.Kind == "" {
			continue
		}
		var q apiQuote
		if err := p.call(ctx, "GET", "/quotes/"+pay.QuoteID, nil, &q); err != nil {
			return err
		}
		q.PaymentHash = hashes[pay.QuoteID]
		v.Quotes[pay.QuoteID] = q
	}
	for _, id := range requests {
		var r apiRequest
		from := time.Now()
		if err := p.call(ctx, "GET", "/uma-requests/"+url.PathEscape(id), nil, &r); err != nil {
			return err
		}
		r.readFrom, r.readTo = from, time.Now()
		v.Requests[id] = r
	}
	return nil
}

// names reports whether msg names id (a clear refusal names the other
// quote).
func names(msg, id string) bool { return id != "" && strings.Contains(msg, id) }

// awaitRefresh waits, at most limit, for an auto-refresh at the sender
// and returns how many quotes are leased for one then, and whether it saw
// one: midRefresh, until a quote is leased (a payreq for new terms out, or
// the terms being written) or one was just refreshed; otherwise until one
// was refreshed, then 0–1.5 s more, as the executes waiting for it are
// sent. Kills a second or two apart would seldom let one happen.
func (k *killer) awaitRefresh(ctx context.Context, limit time.Duration, midRefresh bool) (int, bool) {
	refreshed := func() int {
		return count(ctx, k.sdb, `SELECT COALESCE(SUM(refresh_count), 0) FROM uma_quotes WHERE auto_refresh = TRUE`)
	}
	leased := func() int {
		// A claim moves refresh_next_at into the future: to its end, at
		// most halfway to the quote's expiry (vasp/refresh.go, claimEnd),
		// which with 12 s quotes is as near as a failed attempt's hand
		// back a pass (5 s) on, so the two are not told apart: a quote
		// whose refresh failed less than a pass ago counts as leased too.
		// (Told apart by a later bound before the claim was shortened, the
		// test then found no lease at all.)
		return count(ctx, k.sdb, `SELECT COUNT(*) FROM uma_quotes WHERE auto_refresh = TRUE AND status = 'PENDING'
			AND transaction_id IS NULL AND refresh_next_at > $1`, store.Micros(time.Now()))
	}
	before := refreshed()
	for from := time.Now(); time.Since(from) < limit && ctx.Err() == nil; {
		if n := leased(); midRefresh && n > 0 {
			return n, true
		}
		if refreshed() > before {
			if !midRefresh {
				sleep(ctx, mrand.N(1500*time.Millisecond))
			}
			return max(leased(), 0), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, false
}

// writeRates writes the receiving VASP's rates file (--rates-file, read at
// each start): the demo rates with the euro's price moved by up to ±2 %, so
// that the receiver restarted after a kill quotes other terms, and an
// auto-refresh quote renewed then moves to other amounts, as it would on a
// live rate.
func writeRates(path string) error {
	c := rates.DefaultConfig()
	for i := range c.Currencies {
		if c.Currencies[i].Code == "EUR" {
			c.Currencies[i].BTCPrice = strconv.Itoa(90_160 + mrand.IntN(3_681))
		}
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
