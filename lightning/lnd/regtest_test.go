//go:build unix

package lnd_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/lightning/regtest"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// Permissions is what the backend needs; the tests run with exactly these.
var perms = []string{"info:read", "invoices:read", "invoices:write", "offchain:read", "offchain:write"}

// rtNode is one side of the regtest network as the backend sees it.
type rtNode struct {
	lnd      *regtest.LND
	macaroon string
	db       *store.DB
	dbPath   string
}

func newRTNode(t *testing.T, l *regtest.LND) *rtNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mac := filepath.Join(t.TempDir(), l.Name+".macaroon")
	if err := l.BakeMacaroon(ctx, mac, perms...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), l.Name+".db")
	return &rtNode{lnd: l, macaroon: mac, db: storetest.SQLiteAt(t, path), dbPath: path}
}

// backend builds a fresh lnd.Node over the same database: calling it again
// is what a vaspd restart looks like to the backend.
func (r *rtNode) backend(t *testing.T, mod ...func(*lnd.Options)) *lnd.Node {
	t.Helper()
	o := lnd.Options{
		RESTURL: r.lnd.RESTURL(), TLSCertPath: r.lnd.TLSCert, MacaroonPath: r.macaroon, DB: r.db, Network: "regtest",
		PollInterval: 500 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
	}
	for _, m := range mod {
		m(&o)
	}
	n, err := lnd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func randHash(t *testing.T) lightning.Hash {
	var h lightning.Hash
	if _, err := rand.Read(h[:]); err != nil {
		t.Fatal(err)
	}
	return h
}

// shared is the one regtest network of this package: starting btcd and two
// lnd nodes, funding and opening a channel is the slow part, so
// TestRegtest and TestRegtestContract share it. TestMain closes it.
var shared struct {
	once sync.Once
	net  *regtest.Network
	err  error
}

func sharedNetwork(t *testing.T) *regtest.Network {
	t.Helper()
	regtest.Skip(t)
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		shared.net, shared.err = regtest.Start(ctx, regtest.Options{})
	})
	if shared.err != nil {
		t.Fatalf("regtest start: %v", shared.err)
	}
	return shared.net
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.net != nil {
		if code != 0 || shared.err != nil {
			fmt.Fprintf(os.Stderr, "regtest logs:\n%s", shared.net.LogTail(40))
		}
		if err := shared.net.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "regtest close: %v\n", err)
		}
	}
	os.Exit(code)
}

func TestRegtest(t *testing.T) {
	net := sharedNetwork(t)
	alice, bob := newRTNode(t, net.Alice), newRTNode(t, net.Bob)
	a, b := alice.backend(t), bob.backend(t)

	t.Run("Info", func(t *testing.T) {
		ctx := testCtx(t)
		info, err := a.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.PubKey != net.Alice.PubKey || info.Network != "regtest" {
			t.Fatalf("info = %+v, want pubkey %s on regtest", info, net.Alice.PubKey)
		}
		// A vaspd configured for another network refuses the node.
		for _, network := range []string{"mainnet", "testnet"} {
			other := alice.backend(t, func(o *lnd.Options) { o.Network = network })
			if info, err := other.Info(ctx); !errors.Is(err, lnd.ErrOtherNetwork) {
				t.Fatalf("a regtest lnd for a %s vaspd: %+v, %v; want ErrOtherNetwork", network, info, err)
			}
		}
	})

	t.Run("CreateDecodePaySettle", func(t *testing.T) {
		ctx := testCtx(t)
		meta := []byte(`[["text/plain","pay $bob@localhost"]]`)
		dh := lightning.Hash(sha256.Sum256(meta))
		settled, errFn, err := b.SubscribeSettled(ctx, currentSettleIndex(t, net.Bob))
		if err != nil {
			t.Fatal(err)
		}
		inv, err := b.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 21_000_000, DescriptionHash: dh, Expiry: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if inv.State != lightning.InvoiceOpen || inv.AmountMsat != 21_000_000 || inv.DescriptionHash != dh || inv.Preimage.IsZero() {
			t.Fatalf("created invoice = %+v", inv)
		}
		if d := inv.ExpiresAt.Sub(inv.CreatedAt); d != 10*time.Minute {
			t.Fatalf("expiry = %s, want 10m", d)
		}
		if sha256.Sum256(inv.Preimage[:]) != inv.PaymentHash {
			t.Fatal("preimage does not hash to the payment hash")
		}
		dec, err := net.Alice.DecodePayReq(ctx, inv.PaymentRequest)
		if err != nil {
			t.Fatal(err)
		}
		if dec["destination"] != net.Bob.PubKey || dec["description_hash"] != dh.String() || dec["payment_hash"] != inv.PaymentHash.String() {
			t.Fatalf("lncli decodepayreq = %v", dec)
		}

		p, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1000, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != lightning.StatusSucceeded || p.Preimage != inv.Preimage || p.AmountMsat != 21_000_000 ||
			p.Destination != net.Bob.PubKey || p.PaymentHash != inv.PaymentHash || p.ResolvedAt.IsZero() {
			t.Fatalf("payment = %+v", p)
		}
		select {
		case got, ok := <-settled:
			if !ok {
				t.Fatalf("subscription ended: %v", errFn())
			}
			if got.PaymentHash != inv.PaymentHash || got.State != lightning.InvoiceSettled || got.AmountPaidMsat != 21_000_000 || got.SettleIndex == 0 {
				t.Fatalf("settled event = %+v", got)
			}
		case <-ctx.Done():
			t.Fatal("no settlement event")
		}
		look, err := b.LookupInvoice(ctx, inv.PaymentHash)
		if err != nil || look.State != lightning.InvoiceSettled || look.SettledAt.IsZero() {
			t.Fatalf("lookup after pay = %+v, %v", look, err)
		}
		tr, err := a.TrackPayment(ctx, inv.PaymentHash)
		if err != nil || tr.Status != lightning.StatusSucceeded || tr.Preimage != inv.Preimage {
			t.Fatalf("track = %+v, %v", tr, err)
		}
		if _, err := b.LookupInvoice(ctx, randHash(t)); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("lookup of unknown hash: %v, want ErrNotFound", err)
		}
		if _, err := a.TrackPayment(ctx, randHash(t)); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("track of unknown hash: %v, want ErrNotFound", err)
		}
	})

	t.Run("BobPaysAlice", func(t *testing.T) {
		ctx := testCtx(t)
		inv := mustInvoice(t, a, 5_000_000, time.Minute)
		p, err := b.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("bob → alice: %+v, %v", p, err)
		}
	})

	t.Run("DoublePay", func(t *testing.T) {
		ctx := testCtx(t)
		inv := mustInvoice(t, b, 3_000_000, time.Minute)
		before := localMsat(t, net.Alice)
		p1, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
		if err != nil || p1.Status != lightning.StatusSucceeded {
			t.Fatalf("first pay: %+v, %v", p1, err)
		}
		for i := range 2 {
			p2, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
			if err != nil || p2.Status != lightning.StatusSucceeded || p2.Preimage != p1.Preimage {
				t.Fatalf("pay #%d again: %+v, %v", i+2, p2, err)
			}
		}
		// A restarted vaspd (new backend, same database) does not pay twice either.
		p3, err := alice.backend(t).Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
		if err != nil || p3.PaymentHash != p1.PaymentHash || p3.Status != lightning.StatusSucceeded {
			t.Fatalf("pay after restart: %+v, %v", p3, err)
		}
		if spent := before - localMsat(t, net.Alice); spent != 3_000_000 {
			t.Fatalf("alice's local balance fell by %d msat, want exactly 3,000,000", spent)
		}
		look, err := b.LookupInvoice(ctx, inv.PaymentHash)
		if err != nil || look.AmountPaidMsat != 3_000_000 {
			t.Fatalf("bob's invoice: %+v, %v", look, err)
		}
	})

	t.Run("Expired", func(t *testing.T) {
		ctx := testCtx(t)
		inv := mustInvoice(t, b, 1_000_000, time.Second)
		time.Sleep(2100 * time.Millisecond)
		_, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 10 * time.Second})
		if !errors.Is(err, lightning.ErrInvoiceExpired) {
			t.Fatalf("pay expired invoice: %v, want ErrInvoiceExpired", err)
		}
		if _, err := a.TrackPayment(ctx, inv.PaymentHash); !errors.Is(err, lightning.ErrNotFound) {
			t.Fatalf("an expired invoice left a payment behind: %v", err)
		}
	})

	t.Run("InsufficientBalance", func(t *testing.T) {
		ctx := testCtx(t)
		inv := mustInvoice(t, b, localMsat(t, net.Alice)+1_000_000, time.Minute)
		p, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureInsufficientBalance {
			t.Fatalf("overdraft: %+v, %v; want FAILED/INSUFFICIENT_BALANCE", p, err)
		}
		tr, err := a.TrackPayment(ctx, inv.PaymentHash)
		if err != nil || tr.Status != lightning.StatusFailed || tr.FailureReason != lightning.FailureInsufficientBalance {
			t.Fatalf("track failed payment: %+v, %v", tr, err)
		}
	})

	t.Run("AmountRules", func(t *testing.T) {
		ctx := testCtx(t)
		inv := mustInvoice(t, b, 1_000_000, time.Minute)
		if _, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, AmountMsat: 2_000_000}); !errors.Is(err, lightning.ErrAmountMismatch) {
			t.Fatalf("amount on a fixed-amount invoice: %v", err)
		}
		zero := mustInvoice(t, b, 0, time.Minute)
		if _, err := a.Pay(ctx, lightning.PayRequest{Invoice: zero.PaymentRequest}); !errors.Is(err, lightning.ErrAmountMismatch) {
			t.Fatalf("zero-amount invoice without amount: %v", err)
		}
		p, err := a.Pay(ctx, lightning.PayRequest{Invoice: zero.PaymentRequest, AmountMsat: 1_234_000, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.AmountMsat != 1_234_000 {
			t.Fatalf("zero-amount invoice with amount: %+v, %v", p, err)
		}
		if _, err := a.Pay(ctx, lightning.PayRequest{Invoice: "lnbcrt1garbage"}); !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Fatalf("garbage invoice: %v", err)
		}
	})

	t.Run("RestartAndResume", func(t *testing.T) {
		ctx := testCtx(t)
		// vaspd processed settlements up to cursor, then stopped.
		cursor := currentSettleIndex(t, net.Bob)
		inv1 := mustInvoice(t, b, 1_100_000, time.Minute)
		inv2 := mustInvoice(t, b, 1_200_000, time.Minute)
		// Payments while vaspd is down; one interrupted mid-flight from
		// the payer's point of view (Pay gave up waiting at once).
		p, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv1.PaymentRequest, Timeout: time.Nanosecond})
		if err != nil {
			t.Fatalf("pay with instant timeout: %v", err)
		}
		t.Logf("status after an instant timeout: %s", p.Status)
		if _, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv2.PaymentRequest, Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		// Restart: new backends over the same databases.
		a2, b2 := alice.backend(t), bob.backend(t)
		waitFor(t, ctx, "payment 1 resolved after restart", func() bool {
			if _, err := a2.ResolveInFlight(ctx); err != nil {
				t.Logf("resolve: %v", err)
			}
			tr, err := a2.TrackPayment(ctx, inv1.PaymentHash)
			return err == nil && tr.Status == lightning.StatusSucceeded && tr.Preimage == inv1.Preimage
		})
		settled, errFn, err := b2.SubscribeSettled(ctx, cursor)
		if err != nil {
			t.Fatal(err)
		}
		// Both arrive, in settle-index order (which of the two lnd settled
		// first is up to it: the first payment was still in flight).
		want := map[lightning.Hash]bool{inv1.PaymentHash: true, inv2.PaymentHash: true}
		for i := range 2 {
			select {
			case got, ok := <-settled:
				if !ok {
					t.Fatalf("subscription ended: %v", errFn())
				}
				if !want[got.PaymentHash] || got.SettleIndex != cursor+uint64(i)+1 {
					t.Fatalf("event %d = %s #%d, want one of %s, %s at #%d", i, got.PaymentHash, got.SettleIndex,
						inv1.PaymentHash, inv2.PaymentHash, cursor+uint64(i)+1)
				}
				delete(want, got.PaymentHash)
			case <-ctx.Done():
				t.Fatalf("event %d not replayed after restart", i)
			}
		}
	})

	t.Run("UnknownInFlightFailsAfterGrace", func(t *testing.T) {
		// The process died after recording a payment but before lnd saw it.
		ctx := testCtx(t)
		clock := vaspd.NewFakeClock(time.Now())
		n := alice.backend(t, func(o *lnd.Options) { o.Clock = clock; o.UnknownPaymentGrace = time.Minute })
		inv := mustInvoice(t, b, 1_000_000, 10*time.Minute)
		h := inv.PaymentHash
		if _, err := alice.db.ExecContext(ctx, `INSERT INTO lnd_payments (node_pubkey, payment_hash, payment_request,
			destination, amount_msat, max_fee_msat, fee_msat, status, preimage, failure_reason, attempts, created_at, attempted_at)
			VALUES ($1, $2, $3, $4, 1000000, 1000, 0, 'IN_FLIGHT', '', '', 1, $5, $5)`,
			net.Alice.PubKey, h.String(), inv.PaymentRequest, net.Bob.PubKey, store.Micros(clock.Now())); err != nil {
			t.Fatal(err)
		}
		p, err := n.TrackPayment(ctx, h)
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("within grace: %+v, %v", p, err)
		}
		clock.Advance(2 * time.Minute)
		p, err = n.TrackPayment(ctx, h)
		if err != nil || p.Status != lightning.StatusFailed {
			t.Fatalf("after grace: %+v, %v", p, err)
		}
		// FAILED may be paid again, and this time it goes through.
		p, err = n.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded {
			t.Fatalf("retry: %+v, %v", p, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		ctx := testCtx(t)
		const distinct, samePayers = 8, 6
		before := localMsat(t, net.Alice)
		invs := make([]lightning.Invoice, distinct)
		for i := range invs {
			invs[i] = mustInvoice(t, b, int64(100_000*(i+1)), time.Minute)
		}
		same := mustInvoice(t, b, 777_000, time.Minute)
		var wg sync.WaitGroup
		errs := make(chan error, distinct+samePayers)
		pay := func(n *lnd.Node, bolt11 string) {
			defer wg.Done()
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: bolt11, Timeout: 45 * time.Second})
			if err == nil && p.Status != lightning.StatusSucceeded {
				err = fmt.Errorf("status %s (%s)", p.Status, p.FailureReason)
			}
			if err != nil {
				errs <- err
			}
		}
		for _, inv := range invs {
			wg.Add(1)
			go pay(a, inv.PaymentRequest)
		}
		for i := range samePayers {
			wg.Add(1)
			n := a
			if i%2 == 1 {
				n = alice.backend(t) // another vaspd process on the same database
			}
			go pay(n, same.PaymentRequest)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		want := int64(777_000)
		for i := range distinct {
			want += int64(100_000 * (i + 1))
		}
		if spent := before - localMsat(t, net.Alice); spent != want {
			t.Fatalf("alice spent %d msat, want %d (the shared invoice must be paid once)", spent, want)
		}
	})

	t.Run("UTXOs", func(t *testing.T) {
		ctx := testCtx(t)
		chans, err := a.UTXOs(ctx, lightning.Hash{})
		if err != nil || len(chans) != 1 || chans[0].AmountMsat <= 0 {
			t.Fatalf("channels: %+v, %v", chans, err)
		}
		inv := mustInvoice(t, b, 2_000_000, time.Minute)
		if _, err := a.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		used, err := a.UTXOs(ctx, inv.PaymentHash)
		if err != nil || len(used) != 1 || used[0].Outpoint != chans[0].Outpoint || used[0].AmountMsat != 2_000_000 {
			t.Fatalf("utxos of payment: %+v, %v (channel %+v)", used, err, chans)
		}
	})

	t.Run("LeastPrivilege", func(t *testing.T) {
		ctx := testCtx(t)
		ro := filepath.Join(t.TempDir(), "readonly.macaroon")
		if err := net.Alice.BakeMacaroon(ctx, ro, "info:read", "invoices:read", "offchain:read"); err != nil {
			t.Fatal(err)
		}
		n := alice.backend(t, func(o *lnd.Options) { o.MacaroonPath = ro })
		if _, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: randHash(t), Expiry: time.Minute}); err == nil {
			t.Fatal("CreateInvoice succeeded with a read-only macaroon")
		}
		inv := mustInvoice(t, b, 1_000, time.Minute)
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, Timeout: 10 * time.Second}); err == nil {
			t.Fatal("Pay succeeded with a read-only macaroon")
		}
		// A permission error ends a subscription instead of retrying forever.
		bad := filepath.Join(t.TempDir(), "info.macaroon")
		if err := net.Alice.BakeMacaroon(ctx, bad, "info:read"); err != nil {
			t.Fatal(err)
		}
		n2 := alice.backend(t, func(o *lnd.Options) { o.MacaroonPath = bad })
		sub2, errFn2, err := n2.SubscribeSettled(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case _, ok := <-sub2:
			if ok {
				t.Fatal("event with an info-only macaroon")
			}
			if errFn2() == nil {
				t.Fatal("subscription closed without an error")
			}
		case <-ctx.Done():
			t.Fatal("subscription with an info-only macaroon kept retrying")
		}
	})

	t.Run("CertificatePinned", func(t *testing.T) {
		ctx := testCtx(t)
		// Bob's certificate for alice's address: verification must fail.
		n := alice.backend(t, func(o *lnd.Options) { o.TLSCertPath = net.Bob.TLSCert })
		if _, err := n.Info(ctx); err == nil {
			t.Fatal("connected to alice while trusting only bob's certificate")
		}
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustInvoice(t *testing.T, n *lnd.Node, msat int64, expiry time.Duration) lightning.Invoice {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: msat, DescriptionHash: randHash(t), Expiry: expiry})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// localMsat is the node's channel balance once no HTLC is pending: a
// payment reports success when the preimage arrives, a moment before the
// channel's commitment is updated.
func localMsat(t *testing.T, l *regtest.LND) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var lc struct {
			Channels []struct {
				LocalBalance string `json:"local_balance"`
				PendingHTLCs []any  `json:"pending_htlcs"`
			} `json:"channels"`
		}
		if err := l.CLIJSON(ctx, &lc, "listchannels"); err != nil {
			t.Fatal(err)
		}
		var sum int64
		pending := false
		for _, c := range lc.Channels {
			v, err := strconv.ParseInt(c.LocalBalance, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += v * 1000
			pending = pending || len(c.PendingHTLCs) > 0
		}
		if !pending {
			return sum
		}
		select {
		case <-ctx.Done():
			t.Fatal("HTLCs still pending after 30 s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// currentSettleIndex is the highest settle index so far on l: a cursor
// from which only new settlements are delivered. It is read from lnd itself
// (every invoice, paged), not from a subscription's backlog, which would
// have to guess when the backlog is over.
func currentSettleIndex(t *testing.T, l *regtest.LND) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last, offset uint64
	for {
		var page struct {
			Invoices []struct {
				SettleIndex string `json:"settle_index"`
			} `json:"invoices"`
			LastIndexOffset string `json:"last_index_offset"`
		}
		if err := l.CLIJSON(ctx, &page, "listinvoices", "--paginate-forwards", "--max_invoices=1000",
			"--index_offset="+strconv.FormatUint(offset, 10)); err != nil {
			t.Fatal(err)
		}
		for _, inv := range page.Invoices {
			if inv.SettleIndex == "" {
				continue
			}
			i, err := strconv.ParseUint(inv.SettleIndex, 10, 64)
			if err != nil {
				t.Fatalf("listinvoices: settle_index %q: %v", inv.SettleIndex, err)
			}
			last = max(last, i)
		}
		next, err := strconv.ParseUint(page.LastIndexOffset, 10, 64)
		if err != nil {
			t.Fatalf("listinvoices: last_index_offset %q: %v", page.LastIndexOffset, err)
		}
		if len(page.Invoices) == 0 || next <= offset {
			return last
		}
		offset = next
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
