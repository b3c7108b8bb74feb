package lnd_test

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store/storetest"
)

// backlogInvoices is how many invoices the backlog tests' node holds:
// three pages of ListInvoices (1000 each).
const backlogInvoices = 2500

// addOpen adds n open invoices and returns their hashes, in add order.
// Their payment requests are not real ones: nothing here reads them, and
// signing thousands is slow under -race.
func (f *fakeLND) addOpen(n int) []lightning.Hash {
	f.mu.Lock()
	f.payRequest = func(bolt11.Request, *secp256k1.PrivateKey) string { return "" }
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.payRequest = nil
		f.mu.Unlock()
	}()
	out := make([]lightning.Hash, n)
	for i := range out {
		out[i] = f.addInvoice(map[string]any{"value_msat": strconv.Itoa(1000 + i), "expiry": "3600"})
	}
	return out
}

// receive reads the next n settlements of ch.
func receive(t *testing.T, ctx context.Context, ch <-chan lightning.Invoice, wait func() error, n int) []lightning.Invoice {
	t.Helper()
	var got []lightning.Invoice
	for range n {
		select {
		case inv, ok := <-ch:
			if !ok {
				t.Fatalf("the stream ended after %d settlements: %v", len(got), wait())
			}
			got = append(got, inv)
		case <-ctx.Done():
			t.Fatalf("%d settlements delivered, want %d", len(got), n)
		}
	}
	return got
}

// From cursor 0 the backlog of settlements is delivered in settle-index
// order, whatever the order the invoices were added in, without holding
// the node's invoices in memory: ListInvoices is read a page at a time for
// the first settlement (the lowest settle index), which is delivered, and
// lnd's stream, from its settle index, replays the rest in order. Settle
// index 1 is the first there can be: the search ends on its page.
func TestBacklogFindsTheFirstSettlement(t *testing.T) {
	for _, c := range []struct {
		name      string
		order     []int // invoices (by add order) settled, in this order
		wantLists []int // index_offset of each ListInvoices call
	}{
		{"first settlement on the first page", []int{5, 2400, 10}, []int{0}},
		{"first settlement on the last page", []int{2400, 5, 1500}, []int{0, 1000, 2000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeLND(t)
			n := f.node(t, storetest.SQLite(t))
			hashes := f.addOpen(backlogInvoices)
			for _, i := range c.order {
				f.settle(hashes[i])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			ch, wait, err := n.SubscribeSettled(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := receive(t, ctx, ch, wait, len(c.order))
			for k, inv := range got {
				if want := hashes[c.order[k]]; inv.PaymentHash != want || inv.SettleIndex != uint64(k+1) {
					t.Fatalf("settlement %d: %s at %d, want %s at %d", k, inv.PaymentHash, inv.SettleIndex, want, k+1)
				}
			}
			f.mu.Lock()
			lists, subs := slices.Clone(f.lists), slices.Clone(f.subs)
			f.mu.Unlock()
			if !slices.Equal(lists, c.wantLists) {
				t.Errorf("ListInvoices from offsets %v, want %v", lists, c.wantLists)
			}
			if len(subs) == 0 || subs[0] != 1 {
				t.Errorf("subscriptions from %v, want the first from settle index 1", subs)
			}
		})
	}
}

// A search of the invoices sees every invoice settled before it began,
// but not one settled while it ran on a page it had read. When nothing
// was settled as it began, the lowest settle index it found may then not
// be the first, and the stream, resuming after it, would never replay the
// one it missed: a search that finds no settle index 1 is done again,
// after the one it found was settled, and that second search misses
// nothing.
func TestBacklogSettledDuringTheSearch(t *testing.T) {
	f := newFakeLND(t)
	n := f.node(t, storetest.SQLite(t))
	hashes := f.addOpen(backlogInvoices)
	f.onList = func(offset int) {
		if offset == 1000 { // the first page is read: settle one on it, then one on the last
			f.settle(hashes[5])
			f.settle(hashes[2400])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ch, wait, err := n.SubscribeSettled(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, ctx, ch, wait, 2)
	if got[0].PaymentHash != hashes[5] || got[0].SettleIndex != 1 || got[1].PaymentHash != hashes[2400] || got[1].SettleIndex != 2 {
		t.Fatalf("delivered %s at %d, %s at %d; want %s at 1, %s at 2",
			got[0].PaymentHash, got[0].SettleIndex, got[1].PaymentHash, got[1].SettleIndex, hashes[5], hashes[2400])
	}
}

// An lnd whose ListInvoices never ends (every page followed by another:
// a bug, a hostile proxy) does not keep one search going for ever: a
// search reads at most 10 000 pages of 1000 invoices (more than any node
// holds), then fails, naming the bound, and is tried again later. Nothing
// is delivered from a search that did not end (its lowest settle index
// may not be the first).
func TestBacklogSearchIsBounded(t *testing.T) {
	f := newFakeLND(t)
	var log syncLog
	n := f.node(t, storetest.SQLite(t), func(o *lnd.Options) { o.Logger = slog.New(slog.NewJSONHandler(&log, nil)) })
	f.addSettled(t, 1000)
	f.mu.Lock()
	f.invoices[0]["settle_index"] = "2" // settled, but not the first
	f.endlessList = true
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch, _, err := n.SubscribeSettled(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(log.String(), "invoice stream ended") {
		select {
		case inv := <-ch:
			t.Fatalf("delivered %+v from a search that did not end", inv)
		case <-ctx.Done():
			f.mu.Lock()
			lists := len(f.lists)
			f.mu.Unlock()
			t.Fatalf("one search still going after %d pages", lists)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	f.mu.Lock()
	lists, subs := len(f.lists), len(f.subs)
	f.mu.Unlock()
	if lists < 10_000 || lists > 10_000+10_000 || subs != 0 {
		t.Errorf("%d pages read and %d subscriptions before the search failed; want 10 000 and none", lists, subs)
	}
	if l := log.String(); !strings.Contains(l, "10000 pages") {
		t.Errorf("the failed search does not name its bound:\n%.1000s", l)
	}
}
