package ledger_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A check of a ledger in use, given the database itself, reads one
// snapshot: movements committing while it runs are all in it or all out.
// It read the postings and the balance rows at two moments, so a deposit
// committed between the two statements was a balance without its postings
// ("balance … is 100, postings sum to 0"), failing tests' final checks
// while a payment still settled in the background.
func TestCheckOfALedgerInUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		alice := vaspd.NewID(vaspd.IDUser)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := l.Post(ctx, ledger.Deposit(fmt.Sprintf("d%d", i), alice, "EUR", 100, "")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		deadline := time.Now().Add(2 * time.Second)
		for n := 0; time.Now().Before(deadline); n++ {
			if err := l.Check(ctx, db); err != nil {
				close(stop)
				wg.Wait()
				t.Fatalf("check %d beside deposits: %v", n, err)
			}
		}
		close(stop)
		wg.Wait()
	})
}
