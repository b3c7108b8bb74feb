package embedded_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestSettleRefusalIsFinal: two deliveries of one payment by one payer (two
// processes sharing the payer's node both retry it) reach the payee around
// the invoice's expiry. The first checked the invoice before it expired and
// waits for the payee's node row (locked by another transaction); the
// second arrives after the expiry. The second must not be refused while the
// first goes on to settle: the payer would take its money back (the refusal
// is final) and the payee keep it. PostgreSQL only: SQLite's write
// transactions run one at a time.
func TestSettleRefusalIsFinal(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := testCtx(t)
	c := newCluster(t, db, nil)
	alice, bob := c.alice(), c.bob()
	inv := newInvoice(t, bob, 1000)
	before := balance(t, bob)
	body := `{"payment_request":"` + inv.PaymentRequest + `","amount_msat":1000,"payer":"` + alice.PubKey() + `"}`

	type answer struct {
		Result, Preimage, FailureReason, Message string
		err                                      error
	}
	deliver := func() <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			var a answer
			defer func() { ch <- a }()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.srv[1].URL+embedded.DevnetPrefix+"pay", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testSecret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				a.err = err
				return
			}
			defer resp.Body.Close()
			var out struct {
				Result        string `json:"result"`
				Preimage      string `json:"preimage"`
				FailureReason string `json:"failure_reason"`
				Message       string `json:"message"`
			}
			a.err = json.NewDecoder(resp.Body).Decode(&out)
			a.Result, a.Preimage, a.FailureReason, a.Message = out.Result, out.Preimage, out.FailureReason, out.Message
		}()
		return ch
	}
	// blockedBy returns the backend waiting for a lock pid holds, or 0.
	blockedBy := func(pid int) int {
		var p int
		err := db.QueryRowContext(ctx, `SELECT COALESCE(MIN(pid), 0) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&p)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Another transaction holds bob's node row.
	holderPID, release, held := make(chan int, 1), make(chan struct{}), make(chan error, 1)
	go func() {
		held <- db.InTx(context.Background(), func(tx *store.Tx) error {
			var p int
			if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&p); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE ln_embedded_nodes SET balance_msat = balance_msat WHERE pubkey = $1`, bob.PubKey()); err != nil {
				return err
			}
			holderPID <- p
			<-release
			return nil
		})
	}()
	holder := <-holderPID
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	first := deliver()
	var firstPID int
	for deadline := time.Now().Add(10 * time.Second); firstPID == 0; time.Sleep(5 * time.Millisecond) {
		if firstPID = blockedBy(holder); firstPID == 0 && time.Now().After(deadline) {
			t.Fatal("the first delivery never waited for the node row")
		}
	}
	c.clock.Advance(2 * time.Hour) // the invoice expires
	second := deliver()
	var secondAnswer *answer
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		select {
		case a := <-second:
			secondAnswer = &a
		default:
		}
		if secondAnswer != nil || blockedBy(firstPID) != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second delivery neither answered nor waited")
		}
	}
	close(release)
	released = true
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	a1 := <-first
	a2 := secondAnswer
	if a2 == nil {
		a := <-second
		a2 = &a
	}
	if a1.err != nil || a2.err != nil {
		t.Fatalf("deliveries: %v, %v", a1.err, a2.err)
	}
	inv2, err := bob.LookupInvoice(ctx, inv.PaymentHash)
	if err != nil {
		t.Fatal(err)
	}
	if inv2.State != lightning.InvoiceSettled {
		t.Fatalf("invoice %s, want SETTLED (the first delivery was checked before the expiry)", inv2.State)
	}
	for i, a := range []*answer{&a1, a2} {
		if a.Result != "SETTLED" || a.Preimage != inv.Preimage.String() {
			t.Fatalf("delivery %d: %s %s (%s) while the invoice settled for the same payer: the payer would fail a payment the payee kept",
				i+1, a.Result, a.FailureReason, a.Message)
		}
	}
	if got := balance(t, bob); got != before+1000 {
		t.Fatalf("payee balance %d, want %d", got, before+1000)
	}
}
