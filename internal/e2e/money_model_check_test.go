package e2e

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
)

// TestMoneyModel's final checks (money_model_test.go runs the operations).

// check runs once the operations ended: it waits for every payment to end
// and every completed one to be credited, then checks the model.
func (w *mmWorld) check() {
	t := w.t
	ctx := context.Background()
	// Every outgoing payment final: none is left PROCESSING.
	for _, p := range w.vasps {
		eventually(t, p.name+"'s payments final", func() bool {
			var n int
			err := p.daemon.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM uma_transactions WHERE direction = 'OUTGOING' AND status = 'PROCESSING'`).Scan(&n)
			return err == nil && n == 0
		})
	}
	// Each transaction as the API reads it now; the API lists exactly
	// those an execute answered.
	for i, p := range w.vasps {
		listed := map[string]string{}
		cursor := ""
		for {
			a := w.do("listTx", p, "GET", "/transactions?type=OUTGOING&limit=100"+cursor, nil)
			var page struct {
				Data       []mmTxResp `json:"data"`
				HasMore    bool       `json:"hasMore"`
				NextCursor string     `json:"nextCursor"`
			}
			if a.status != 200 || !w.decode("listTx", a, &page) {
				return
			}
			for _, tx := range page.Data {
				listed[tx.ID] = tx.Status
			}
			if !page.HasMore {
				break
			}
			cursor = "&cursor=" + url.QueryEscape(page.NextCursor)
		}
		for id, tx := range w.txs {
			if tx.vasp != i {
				continue
			}
			a := w.do("getTx", p, "GET", "/transactions/"+url.PathEscape(id), nil)
			var got mmTxResp
			if a.status != 200 || !w.decode("getTx", a, &got) {
				continue
			}
			if got.Status != "COMPLETED" && got.Status != "FAILED" {
				w.fail("transaction %s ended %s", id, got.Status)
			}
			if got.SentAmount.Amount != tx.sent || got.ReceivedAmount == nil || got.ReceivedAmount.Amount != tx.recv {
				w.fail("transaction %s reads %s, executed as %d → %d", id, a.body, tx.sent, tx.recv)
			}
			tx.status = got.Status
			if listed[id] != got.Status {
				w.fail("%s lists transaction %s as %q, reads %s", p.name, id, listed[id], got.Status)
			}
			delete(listed, id)
		}
		for id, st := range listed {
			w.fail("%s lists outgoing transaction %s (%s) that no execute answered", p.name, id, st)
		}
	}
	if t.Failed() {
		return
	}

	// The model: deposits − withdrawals − completed sends + completed
	// receipts, per user and currency.
	want := map[mmAcct]int64{}
	for a, n := range w.fiat {
		want[a] += n
	}
	completed := 0
	for _, tx := range w.txs {
		if tx.status == "COMPLETED" {
			completed++
			want[mmAcct{tx.sender.vasp, tx.sender.id, tx.sentCur}] -= tx.sent
			want[mmAcct{tx.receiver.vasp, tx.receiver.id, tx.recvCur}] += tx.recv
		}
	}
	refreshed := 0
	for _, p := range w.vasps {
		var n int
		if err := p.daemon.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM uma_quotes WHERE refresh_count > 0 AND transaction_id IS NOT NULL`).Scan(&n); err != nil {
			w.fail("%v", err)
		}
		refreshed += n
	}
	t.Logf("%d payments completed, %d failed; %d executed after an auto-refresh", completed, len(w.txs)-completed, refreshed)
	// Credits come from the receiver's settlement stream: wait for them.
	var last string
	ok := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last = w.diff(want)
		if last == "" {
			ok = true
			break
		}
	}
	if !ok {
		w.fail("balances differ from the model:\n%s", last)
	}
	for _, u := range w.users {
		_, held := w.balances(u)
		for c, n := range held {
			if n != 0 {
				w.fail("%s holds %d %s for payments, all final", u.addr, n, c)
			}
		}
	}
	for i := range w.vasps {
		w.checkDB(i)
	}
	w.checkWebhooks()
}

// diff compares every user's available balances with the model.
func (w *mmWorld) diff(want map[mmAcct]int64) string {
	var out []string
	for _, u := range w.users {
		got, _ := w.balances(u)
		if got == nil {
			return "no balances"
		}
		for _, c := range mmCodes {
			if g, m := got[c], want[mmAcct{u.vasp, u.id, c}]; g != m {
				out = append(out, fmt.Sprintf("  %s: %d %s, the model says %d", u.addr, g, c, m))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// checkDB checks VASP i's books, node and transactions against what the
// executes answered.
func (w *mmWorld) checkDB(i int) {
	ctx := context.Background()
	p, other := w.vasps[i], w.vasps[1-i]
	if err := ledger.New(p.daemon.DB(), vaspd.SystemClock{}).Check(ctx, p.daemon.DB()); err != nil {
		w.fail("%s: %v", p.name, err)
	}
	w.checkSums(p)

	moves, theirs := w.movements(p), w.movements(other)
	userPosting := func(moves map[string][]mmPosting, id, user, cur string) (int64, bool) {
		ps, ok := moves[id]
		var n int64
		for _, x := range ps {
			if x.acct == string(ledger.UserAccount(user)) && x.cur == cur {
				n += x.amount
			}
		}
		return n, ok
	}

	// Deposits and withdrawals: those recorded, no other.
	byKind := map[string]int{}
	for id := range moves {
		byKind[strings.SplitN(id, "/", 2)[0]]++
	}
	recorded := map[string]int{}
	for _, m := range w.moves {
		if m.vasp != i {
			continue
		}
		recorded[strings.TrimSuffix(m.kind, "s")]++
		n, ok := userPosting(moves, m.id, m.user.id, m.cur)
		if want := map[bool]int64{true: -m.amount, false: m.amount}[m.kind == "withdrawals"]; !ok || n != want {
			w.fail("%s: %s %s moved %d %s of %s, answered %d", p.name, m.kind, m.id, n, m.cur, m.user.id, m.amount)
		}
	}
	for _, kind := range []string{"deposit", "withdrawal"} {
		if byKind[kind] != recorded[kind] {
			w.fail("%s: %d %s movements, %d answered 201", p.name, byKind[kind], kind, recorded[kind])
		}
	}

	// Outgoing payments: each as answered, reserved once, then settled or
	// released; on the receiver's side, credited once if completed and
	// never otherwise.
	type row struct {
		id, status, user, hash, cur, ccur, quote string
		amount, camount, msats                   int64
	}
	var out []row
	w.query(p, `SELECT id, status, user_id, COALESCE(payment_hash, ''), currency, amount, counter_currency, counter_amount,
		msats, COALESCE(quote_id, '') FROM uma_transactions WHERE direction = 'OUTGOING'`, func(scan func(...any) error) error {
		var r row
		out = append(out, r)
		x := &out[len(out)-1]
		return scan(&x.id, &x.status, &x.user, &x.hash, &x.cur, &x.amount, &x.ccur, &x.camount, &x.msats, &x.quote)
	})
	incoming := map[string]row{} // the other VASP's, by payment hash
	w.query(other, `SELECT id, status, user_id, COALESCE(payment_hash, ''), currency, amount
		FROM uma_transactions WHERE direction = 'INCOMING'`, func(scan func(...any) error) error {
		var r row
		err := scan(&r.id, &r.status, &r.user, &r.hash, &r.cur, &r.amount)
		incoming[r.hash] = r
		return err
	})
	payments := map[string][2]any{} // this node's, by hash: status, amount
	w.query(p, `SELECT payment_hash, status, amount_msat FROM ln_embedded_payments`, func(scan func(...any) error) error {
		var h, st string
		var n int64
		err := scan(&h, &st, &n)
		payments[h] = [2]any{st, n}
		return err
	})
	settled := map[string]bool{} // the other node's settled invoices
	w.query(other, `SELECT payment_hash FROM ln_embedded_invoices WHERE state = 'SETTLED'`, func(scan func(...any) error) error {
		var h string
		err := scan(&h)
		settled[h] = true
		return err
	})

	completedHashes := map[string]bool{}
	for _, r := range out {
		tx := w.txs[r.id]
		if tx == nil {
			w.fail("%s: outgoing transaction %s (%s) that no execute answered", p.name, r.id, r.status)
			continue
		}
		if r.status != tx.status || r.user != tx.sender.id || r.cur != tx.sentCur || r.amount != tx.sent ||
			r.ccur != tx.recvCur || r.camount != tx.recv || r.quote != tx.quoteID {
			w.fail("%s: transaction %s stored as %+v, answered %+v", p.name, r.id, r, *tx)
		}
		if n, ok := userPosting(moves, "reserve/"+r.hash, r.user, r.cur); !ok || n != -r.amount {
			w.fail("%s: payment %s reserved %d (%v), want %d", p.name, r.id, n, ok, -r.amount)
		}
		_, settledMove := moves["settle/"+r.hash]
		released, releasedMove := userPosting(moves, "release/"+r.hash, r.user, r.cur)
		in, credited := incoming[r.hash]
		got, receiveMove := userPosting(theirs, "receive/"+r.hash, tx.receiver.id, tx.recvCur)
		pay := payments[r.hash]
		switch r.status {
		case "COMPLETED":
			completedHashes[r.hash] = true
			if !settledMove || releasedMove {
				w.fail("%s: completed payment %s: settled %v, released %v", p.name, r.id, settledMove, releasedMove)
			}
			if !credited || in.status != "COMPLETED" || in.user != tx.receiver.id || in.cur != tx.recvCur || in.amount != tx.recv {
				w.fail("%s: completed payment %s reached %s as %+v, want COMPLETED %d %s for %s", p.name, r.id, other.name, in, tx.recv, tx.recvCur, tx.receiver.id)
			}
			if !receiveMove || got != tx.recv {
				w.fail("%s: completed payment %s credited %d %s to %s (%v), want %d", p.name, r.id, got, tx.recvCur, tx.receiver.addr, receiveMove, tx.recv)
			}
			if pay[0] != "SUCCEEDED" || pay[1] != r.msats {
				w.fail("%s: completed payment %s: the node's payment is %v, want SUCCEEDED for %d msats", p.name, r.id, pay, r.msats)
			}
			if !settled[r.hash] {
				w.fail("%s: completed payment %s: %s's invoice is not settled", p.name, r.id, other.name)
			}
		case "FAILED":
			if settledMove || !releasedMove || released != r.amount {
				w.fail("%s: failed payment %s: settled %v, released %d (%v), want %d", p.name, r.id, settledMove, released, releasedMove, r.amount)
			}
			if receiveMove || (credited && in.status == "COMPLETED") || settled[r.hash] {
				w.fail("%s: failed payment %s was credited on %s: %+v, receive movement %v, invoice settled %v", p.name, r.id, other.name, in, receiveMove, settled[r.hash])
			}
			if pay[0] == "SUCCEEDED" || pay[0] == "IN_FLIGHT" {
				w.fail("%s: failed payment %s: the node's payment is %v", p.name, r.id, pay)
			}
		default:
			w.fail("%s: payment %s is %s", p.name, r.id, r.status)
		}
	}
	// No node payment, reservation or credit beyond the transactions.
	for h, pay := range payments {
		if pay[0] == "SUCCEEDED" && !completedHashes[h] {
			w.fail("%s: the node paid %s (%v msats), which no completed transaction paid", p.name, h, pay[1])
		}
	}
	hashes := map[string]bool{}
	for _, r := range out {
		hashes[r.hash] = true
	}
	for id := range moves {
		if kind, h, _ := strings.Cut(id, "/"); (kind == "reserve" || kind == "settle" || kind == "release") && !hashes[h] {
			w.fail("%s: movement %s of no transaction", p.name, id)
		}
	}
	for h := range settled {
		if !completedHashes[h] {
			w.fail("%s: its invoice %s settled, paid by no completed payment of %s", other.name, h, p.name)
		}
	}
	// Quotes: one transaction each at most, in its state.
	w.query(p, `SELECT id, status, COALESCE(transaction_id, '') FROM uma_quotes`, func(scan func(...any) error) error {
		var id, st, txID string
		if err := scan(&id, &st, &txID); err != nil {
			return err
		}
		tx := w.txs[txID]
		switch {
		case txID == "" && st != "PENDING" && st != "EXPIRED": // EXPIRED: replaced by POST /quotes/{id}/refresh
			w.fail("%s: quote %s is %s without a transaction", p.name, id, st)
		case txID != "" && (tx == nil || tx.quoteID != id || tx.status != st):
			w.fail("%s: quote %s is %s with transaction %s, answered as %+v", p.name, id, st, txID, tx)
		}
		return nil
	})
	// The other side's credits: one per completed payment of this side.
	var receives int
	err := other.daemon.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM ledger_movements WHERE kind = 'receive'`).Scan(&receives)
	if err != nil || receives != len(completedHashes) {
		w.fail("%s: %d receive movements (%v), for %d completed payments of %s", other.name, receives, err, len(completedHashes), p.name)
	}
}

type mmPosting struct {
	acct, cur string
	amount    int64
}

// movements reads p's ledger: every movement's postings by its id.
func (w *mmWorld) movements(p *vaspProc) map[string][]mmPosting {
	moves := map[string][]mmPosting{}
	w.query(p, `SELECT movement_id, account, currency, amount FROM ledger_postings`, func(scan func(...any) error) error {
		var id string
		var x mmPosting
		if err := scan(&id, &x.acct, &x.cur, &x.amount); err != nil {
			return err
		}
		moves[id] = append(moves[id], x)
		return nil
	})
	return moves
}

// query runs q on p's database, calling row for each row.
func (w *mmWorld) query(p *vaspProc, q string, row func(scan func(...any) error) error) {
	rows, err := p.daemon.DB().QueryContext(context.Background(), q)
	if err != nil {
		w.fail("%s: %v", p.name, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			w.fail("%s: %v", p.name, err)
			return
		}
	}
	if err := rows.Err(); err != nil {
		w.fail("%s: %v", p.name, err)
	}
}

// checkWebhooks waits for each final payment's webhook: one (by
// webhookId) OUTGOING_PAYMENT of its status, and one INCOMING_PAYMENT
// COMPLETED for each completed one at its receiver's platform.
func (w *mmWorld) checkWebhooks() {
	ids := func(p *vaspProc, typ, status, txID string) int {
		seen := map[string]bool{}
		for _, m := range p.hooks.find(typ, status) {
			tx, _ := m["transaction"].(map[string]any)
			if tx["id"] == txID {
				id, _ := m["webhookId"].(string)
				seen[id] = true
			}
		}
		return len(seen)
	}
	var last string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		last = ""
		completed := [2]int{}
		for id, tx := range w.txs {
			p := w.vasps[tx.vasp]
			if n := ids(p, "OUTGOING_PAYMENT", tx.status, id); n != 1 {
				last = fmt.Sprintf("%s sent %d OUTGOING_PAYMENT %s webhooks for %s", p.name, n, tx.status, id)
			}
			if tx.status == "COMPLETED" {
				completed[1-tx.vasp]++
			}
		}
		for i, p := range w.vasps {
			seen := map[string]bool{}
			txs := map[string]bool{}
			for _, m := range p.hooks.find("INCOMING_PAYMENT", "COMPLETED") {
				id, _ := m["webhookId"].(string)
				seen[id] = true
				tx, _ := m["transaction"].(map[string]any)
				txID, _ := tx["id"].(string)
				txs[txID] = true
			}
			if len(seen) != completed[i] || len(txs) != completed[i] {
				last = fmt.Sprintf("%s sent %d INCOMING_PAYMENT COMPLETED webhooks about %d transactions, for %d completed payments", p.name, len(seen), len(txs), completed[i])
			}
		}
		if last == "" {
			return
		}
		if time.Now().After(deadline) {
			w.fail("%s", last)
			return
		}
	}
}
