package embedded_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// eachReopenable runs fn on SQLite and PostgreSQL with a function that
// opens the same database again, as a restarted process would.
func eachReopenable(t *testing.T, fn func(t *testing.T, open func() *store.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vaspd.db")
		fn(t, func() *store.DB { return storetest.SQLiteAt(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		fn(t, func() *store.DB { return storetest.PostgresAt(t, u) })
	})
}

// payee is bob in his own database behind his own HTTP server: another
// vaspd process.
func payee(t *testing.T) (*embedded.Node, string) {
	t.Helper()
	bob, err := embedded.Open(testCtx(t), storetest.SQLite(t), embedded.Options{Alias: "bob", DevnetSecret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Close() })
	return bob, serveNode(t, bob)
}

// serveNode serves n's devnet API as vaspd mounts it, and returns the
// server's base URL.
func serveNode(t *testing.T, n *embedded.Node) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(embedded.DevnetPrefix, n.DevnetHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestNodeKeyPersists: the node key is made once and survives reopening
// the database; another KeyName is another node.
func TestNodeKeyPersists(t *testing.T) {
	eachReopenable(t, func(t *testing.T, open func() *store.DB) {
		db := open()
		a, err := embedded.Open(testCtx(t), db, embedded.Options{})
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		other, err := embedded.Open(testCtx(t), db, embedded.Options{KeyName: "other"})
		if err != nil {
			t.Fatal(err)
		}
		other.Close()
		if other.PubKey() == a.PubKey() {
			t.Fatal("two key names gave one node")
		}
		db.Close()
		again, err := embedded.Open(testCtx(t), open(), embedded.Options{InitialBalanceMsat: 5})
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if again.PubKey() != a.PubKey() {
			t.Fatalf("pubkey %s after restart, was %s", again.PubKey(), a.PubKey())
		}
		if b := balance(t, again); b != embedded.DefaultInitialBalanceMsat {
			t.Fatalf("balance %d after restart: the opening balance was applied again", b)
		}
	})
}

// TestStartEmpty: a node created with StartEmpty has no balance, pays
// nothing, receives what it is paid, and is not emptied again on restart
// (nor given the default then). StartEmpty with a balance is refused.
func TestStartEmpty(t *testing.T) {
	eachReopenable(t, func(t *testing.T, open func() *store.DB) {
		bob, bobURL := payee(t)
		opts := embedded.Options{Alias: "alice", DevnetSecret: testSecret, DevnetPeers: []string{bobURL}, StartEmpty: true}
		alice, err := embedded.Open(testCtx(t), open(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if b := balance(t, alice); b != 0 {
			t.Fatalf("a node started empty has %d msat", b)
		}
		if p := payFinal(t, alice, newInvoice(t, bob, 1000).PaymentRequest); p.Status != lightning.StatusFailed ||
			p.FailureReason != lightning.FailureInsufficientBalance {
			t.Fatalf("an empty node's payment is %s (%s), want FAILED (INSUFFICIENT_BALANCE)", p.Status, p.FailureReason)
		}
		carol, err := embedded.Open(testCtx(t), storetest.SQLite(t), embedded.Options{Alias: "carol",
			DevnetSecret: testSecret, DevnetPeers: []string{serveNode(t, alice)}})
		if err != nil {
			t.Fatal(err)
		}
		defer carol.Close()
		if p := payFinal(t, carol, newInvoice(t, alice, 5000).PaymentRequest); p.Status != lightning.StatusSucceeded {
			t.Fatalf("paying the empty node: %s (%s)", p.Status, p.FailureReason)
		}
		alice.Close()
		plain := opts
		plain.StartEmpty = false
		for _, o := range []embedded.Options{opts, plain} {
			again, err := embedded.Open(testCtx(t), open(), o)
			if err != nil {
				t.Fatal(err)
			}
			if b := balance(t, again); b != 5000 {
				t.Fatalf("after a restart (StartEmpty %v) the node has %d msat, want the 5000 it received", o.StartEmpty, b)
			}
			again.Close()
		}
		if n, err := embedded.Open(testCtx(t), open(), embedded.Options{KeyName: "both", StartEmpty: true, InitialBalanceMsat: 5}); err == nil {
			n.Close()
			t.Fatal("StartEmpty with an initial balance was accepted")
		}
	})
}

func TestCorruptNodeKeyRefused(t *testing.T) {
	db := storetest.SQLite(t)
	for _, bad := range [][]byte{make([]byte, 31), make([]byte, 32), []byte(strings.Repeat("\xff", 32))} {
		if err := store.PutSecret(testCtx(t), db, "bad", bad); err != nil {
			t.Fatal(err)
		}
		if n, err := embedded.Open(testCtx(t), db, embedded.Options{KeyName: "bad"}); err == nil {
			n.Close()
			t.Fatalf("Open accepted the key %x", bad)
		}
	}
}

// TestRestartWithPaymentInFlight: the paying process stops (database
// closed too) while a payment is in flight; the next process resolves it.
func TestRestartWithPaymentInFlight(t *testing.T) {
	eachReopenable(t, func(t *testing.T, open func() *store.DB) {
		bob, srv := payee(t)
		opts := embedded.Options{Alias: "alice", DevnetSecret: testSecret, DevnetPeers: []string{srv},
			FeeBaseMsat: 10, RetryInterval: 50 * time.Millisecond}
		db := open()
		alice, err := embedded.Open(testCtx(t), db, opts)
		if err != nil {
			t.Fatal(err)
		}
		alice.SetFaults(embedded.Faults{HoldInFlight: true})
		inv := newInvoice(t, bob, 8000)
		if p := payWithin(t, alice, inv.PaymentRequest, 100*time.Millisecond); p.Status != lightning.StatusInFlight {
			t.Fatalf("held payment %s", p.Status)
		}
		alice.Close()
		db.Close()

		alice, err = embedded.Open(testCtx(t), open(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer alice.Close()
		// No one asks: the background retry finds it.
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := bob.LookupInvoice(testCtx(t), inv.PaymentHash)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == lightning.InvoiceSettled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("payment in flight at the restart never settled")
			}
			time.Sleep(20 * time.Millisecond)
		}
		p := track(t, alice, inv.PaymentHash)
		if p.Status != lightning.StatusSucceeded || p.FeeMsat != 10 {
			t.Fatalf("payment after restart %+v", p)
		}
		if got := balance(t, alice); got != embedded.DefaultInitialBalanceMsat-8010 {
			t.Fatalf("alice balance %d, want %d", got, embedded.DefaultInitialBalanceMsat-8010)
		}
	})
}

// TestCrashAfterDelivery: the payee settled but the payer died before
// recording the answer. After the restart the payer asks again, gets the
// same preimage, and the payee is paid once.
func TestCrashAfterDelivery(t *testing.T) {
	eachReopenable(t, func(t *testing.T, open func() *store.DB) {
		bob, srv := payee(t)
		opts := embedded.Options{DevnetSecret: testSecret, DevnetPeers: []string{srv}, RetryInterval: 50 * time.Millisecond}
		db := open()
		alice, err := embedded.Open(testCtx(t), db, opts)
		if err != nil {
			t.Fatal(err)
		}
		alice.SetFaults(embedded.Faults{HoldInFlight: true})
		inv := newInvoice(t, bob, 6000)
		bob0 := balance(t, bob)
		if p := payWithin(t, alice, inv.PaymentRequest, 100*time.Millisecond); p.Status != lightning.StatusInFlight {
			t.Fatalf("held payment %s", p.Status)
		}
		// The delivery that happened just before the crash.
		resp := devnetPost(t, srv, `{"payment_request":"`+inv.PaymentRequest+`","amount_msat":6000,"payer":"`+alice.PubKey()+`"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("delivery: HTTP %d", resp.StatusCode)
		}
		alice.Close()
		db.Close()

		alice, err = embedded.Open(testCtx(t), open(), opts)
		if err != nil {
			t.Fatal(err)
		}
		defer alice.Close()
		p := track(t, alice, inv.PaymentHash)
		if p.Status != lightning.StatusSucceeded || p.Preimage != inv.Preimage {
			t.Fatalf("payment after restart %+v, want SUCCEEDED with the invoice's preimage", p)
		}
		if got := balance(t, bob); got != bob0+6000 {
			t.Fatalf("bob balance %d, want %d: paid once", got, bob0+6000)
		}
		settled, _ := bob.LookupInvoice(testCtx(t), inv.PaymentHash)
		if settled.SettleIndex != 1 || settled.AmountPaidMsat != 6000 {
			t.Fatalf("invoice %+v", settled)
		}
	})
}
