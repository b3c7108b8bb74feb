package e2e

// The operations of TestMoneyModel's workers (money_model_test.go).

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

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
	answered := time.Now()
	if txs[0] != nil && txs[1] != nil {
		w.fail("one Idempotency-Key %s executed two quotes at once: %s and %s", key, txs[0].ID, txs[1].ID)
	}
	for i, a := range as {
		if a.status == 0 || txs[i] != nil {
			continue
		}
		if a.code == "QUOTE_EXPIRED" && !answered.Before(qs[i].ExpiresAt) {
			// Its invoice expired before it was executed (the two quotes
			// are made one after the other, on a machine that may be
			// slow): refused as any expired quote, whatever the key.
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
