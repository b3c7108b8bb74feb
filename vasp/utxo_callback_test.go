package vasp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// signedCallback is a post-transaction callback from domain, signed afresh
// (a new nonce) with key: what a sender retrying a callback sends.
func signedCallback(t *testing.T, key *uma.PrivateKey, now time.Time, cb uma.PostTransactionCallback) []byte {
	t.Helper()
	cb.Sign(key, now)
	b, err := json.Marshal(&cb)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// utxoCallbackRows counts the callbacks kept about one transaction.
func utxoCallbackRows(t *testing.T, db *store.DB, txID string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_utxo_callbacks WHERE transaction_id = $1`, txID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// receiveAtOnce hands s the callbacks bodies about transaction txID all at
// once, as a sender's copies racing each other arrive, and answers what
// each was answered.
func receiveAtOnce(s *vasp.Service, txID string, bodies [][]byte) []error {
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.ReceiveUtxoCallback(context.Background(), txID, bodies[i])
		}()
	}
	wg.Wait()
	return errs
}

// A sender retrying a callback we kept (its first attempt timed out after
// we stored it) signs it afresh: the retry is answered as a success and
// not kept a second time, however it orders its UTXOs; a callback saying
// something else is kept.
func TestUtxoCallbackRetryKeptOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		tr := completed(t, w, s, "", w.clock.Now())
		first := uma.PostTransactionCallback{VaspDomain: "vasp1.example", TransactionStatus: uma.TransactionCompleted,
			Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}, {Utxo: "cd:1", AmountMsats: 2000}}}
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, signedCallback(t, alices.Signing, w.clock.Now(), first)), "")

		retries := []uma.PostTransactionCallback{first, first}
		retries[1].Utxos = []uma.UtxoWithAmount{first.Utxos[1], first.Utxos[0]}
		for _, cb := range retries {
			w.clock.Advance(time.Second)
			wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, signedCallback(t, alices.Signing, w.clock.Now(), cb)), "")
		}
		if n := utxoCallbackRows(t, db, tr.ID); n != 1 {
			t.Fatalf("%d callbacks kept after retries of one, want 1", n)
		}

		other := first
		other.Utxos = []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1001}}
		failed := first
		failed.TransactionStatus, failed.ErrorCode = uma.TransactionFailed, uma.CodeInternalError
		for _, cb := range []uma.PostTransactionCallback{other, failed} {
			wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, signedCallback(t, alices.Signing, w.clock.Now(), cb)), "")
		}
		if n := utxoCallbackRows(t, db, tr.ID); n != 3 {
			t.Fatalf("%d callbacks kept, want 3 (three different ones)", n)
		}
	})
}

// Copies of one callback signed apart and arriving at once are all
// answered as a success, and one is kept.
func TestUtxoCallbackConcurrentCopiesKeptOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		const rounds, copies = 3, 12
		for round := range rounds {
			tr := completed(t, w, s, "", w.clock.Now())
			cb := uma.PostTransactionCallback{VaspDomain: "vasp1.example", Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}}}
			bodies := make([][]byte, copies)
			for i := range bodies {
				bodies[i] = signedCallback(t, alices.Signing, w.clock.Now(), cb)
			}
			for i, err := range receiveAtOnce(s, tr.ID, bodies) {
				if err != nil {
					t.Fatalf("round %d, copy %d: %v, want success", round, i, err)
				}
			}
			if n := utxoCallbackRows(t, db, tr.ID); n != 1 {
				t.Fatalf("round %d: %d callbacks kept of %d copies, want 1", round, n, copies)
			}
		}
	})
}

// A counterparty cannot grow our table without bound about one payment:
// past MaxUtxoCallbacks different callbacks, more are refused with a 4xx
// the sender must not retry, also when they arrive at once, while a retry
// of one kept is still a success.
func TestUtxoCallbackCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		distinct := func(i int) []byte {
			return signedCallback(t, alices.Signing, w.clock.Now(), uma.PostTransactionCallback{VaspDomain: "vasp1.example",
				Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: int64(1000 + i)}}})
		}

		tr := completed(t, w, s, "", w.clock.Now())
		for i := range vasp.MaxUtxoCallbacks {
			wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, distinct(i)), "")
		}
		err := s.ReceiveUtxoCallback(t.Context(), tr.ID, distinct(vasp.MaxUtxoCallbacks))
		wantCode(t, err, uma.CodeForbidden)
		if st := uma.AsError(err).HTTPStatus(); st != http.StatusForbidden {
			t.Fatalf("over the cap: HTTP %d, want 403", st)
		}
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, distinct(0)), "")
		if n := utxoCallbackRows(t, db, tr.ID); n != vasp.MaxUtxoCallbacks {
			t.Fatalf("%d callbacks kept, want %d", n, vasp.MaxUtxoCallbacks)
		}

		// At once: the cap holds against callbacks racing for its last places.
		racing := completed(t, w, s, "", w.clock.Now())
		const copies = 3 * vasp.MaxUtxoCallbacks
		bodies := make([][]byte, copies)
		for i := range bodies {
			bodies[i] = distinct(i)
		}
		ok := 0
		for i, err := range receiveAtOnce(s, racing.ID, bodies) {
			switch {
			case err == nil:
				ok++
			case !uma.AsError(err).Is(uma.CodeForbidden):
				t.Fatalf("callback %d: %v, want success or FORBIDDEN", i, err)
			}
		}
		if n := utxoCallbackRows(t, db, racing.ID); n != vasp.MaxUtxoCallbacks || ok != n {
			t.Fatalf("%d callbacks kept, %d answered success, want %d", n, ok, vasp.MaxUtxoCallbacks)
		}
	})
}

// The txid of a callback URL is the caller's bytes: one that is no id of
// ours (not UTF-8, a NUL, anything else) is REQUEST_NOT_FOUND, a 404 the
// sender does not retry, on every database. It was looked up as given,
// and PostgreSQL, which stores only UTF-8 text, failed the query: a 500,
// logged as our failure, that a sender retries for days.
func TestUtxoCallbackTxidNotAnID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		tr := completed(t, w, s, "", w.clock.Now())
		body := func() []byte {
			return signedCallback(t, alices.Signing, w.clock.Now(), uma.PostTransactionCallback{VaspDomain: "vasp1.example",
				Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}}})
		}
		for _, txid := range []string{tr.ID + "\xff", "Transaction:\xff", "Quote:\xff\xfe", tr.ID + "\x00", "\x00", "Quote:nope",
			strings.ToUpper(tr.ID)} {
			err := s.ReceiveUtxoCallback(t.Context(), txid, body())
			wantCode(t, err, uma.CodeRequestNotFound)
			if st := uma.AsError(err).HTTPStatus(); st != http.StatusNotFound {
				t.Fatalf("txid %q: HTTP %d, want 404", txid, st)
			}
		}
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, body()), "")
		if n := utxoCallbackRows(t, db, tr.ID); n != 1 {
			t.Fatalf("%d callbacks kept, want 1", n)
		}
	})
}

// The counterparty's domain as its payer identifier spelt it (with :443,
// or a trailing dot: verified with the same keys, at the same server) is
// the domain its callbacks name plainly: they are kept, as its nonces
// share one scope and the deny list matches both.
func TestUtxoCallbackDomainSpeltOtherwise(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for _, counterparty := range []string{"$alice@vasp1.example:443", "$alice@vasp1.example."} {
			tr := completed(t, w, s, "", w.clock.Now())
			if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET counterparty = $1 WHERE id = $2`, counterparty, tr.ID); err != nil {
				t.Fatal(err)
			}
			body := signedCallback(t, alices.Signing, w.clock.Now(), uma.PostTransactionCallback{VaspDomain: "vasp1.example",
				Utxos: []uma.UtxoWithAmount{{Utxo: strings.Repeat("ab", 32) + ":0", AmountMsats: 1000}}})
			if err := s.ReceiveUtxoCallback(t.Context(), tr.ID, body); err != nil {
				t.Fatalf("callback about a payment from %s: %v", counterparty, err)
			}
			if n := utxoCallbackRows(t, db, tr.ID); n != 1 {
				t.Fatalf("%d callbacks kept about the payment from %s, want 1", n, counterparty)
			}
		}
	})
}
