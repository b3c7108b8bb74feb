package vasp_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// utxoNode is w's node whose UTXOs answer is chosen by the test: an error
// for the next fail calls, then err if set, else utxos.
type utxoNode struct {
	lightning.Node
	fail  atomic.Int32
	err   error
	utxos []lightning.UTXO
}

func (n *utxoNode) UTXOs(ctx context.Context, h lightning.Hash) ([]lightning.UTXO, error) {
	if n.fail.Add(-1) >= 0 {
		return nil, errors.New("node unreachable")
	}
	return n.utxos, n.err
}

// TestCallbackUTXOLookupFails: a callback whose UTXO lookup fails is not
// sent (never with an empty list for want of the real one): the attempt
// counts as failed, is logged as a warning and retried on the schedule,
// and the callback goes out with the UTXOs once the node answers. A
// lookup that succeeds with none, or a node that knows no UTXOs for the
// payment (ErrNotFound: lnd for an incoming payment), sends an empty list.
func TestCallbackUTXOLookupFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		node := &utxoNode{Node: w.node, utxos: []lightning.UTXO{{Outpoint: "ab12:1", AmountMsat: 1_000_000}}}
		node.fail.Store(2)
		s := w.service(t, func(o *vasp.Options) {
			o.Node = node
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		sink := newCallbackSink(t)
		tr := completed(t, w, s, sink.srv.URL+"/cb", w.clock.Now())
		for i, wait := range []time.Duration{0, 12 * time.Second} {
			w.clock.Advance(wait)
			if n, err := s.CallbackRound(t.Context()); n != 1 || err != nil {
				t.Fatalf("round %d: %d %v", i+1, n, err)
			}
			st, n, _ := s.CallbackState(t.Context(), tr.ID)
			why, _ := s.CallbackError(t.Context(), tr.ID)
			if sink.count() != 0 || st != "pending" || n != i+1 || why == "" {
				t.Fatalf("lookup %d failed: %d sent, %s after %d attempts (%q), want nothing sent, pending after %d",
					i+1, sink.count(), st, n, why, i+1)
			}
		}
		if got := logs.count(t, slog.LevelWarn, tr.ID); got != 2 {
			t.Errorf("%d warnings for 2 failed lookups", got)
		}
		w.clock.Advance(30 * time.Second)
		if n, _ := s.CallbackRound(t.Context()); n != 1 {
			t.Fatalf("not retried after the failed lookups")
		}
		if st, n, _ := s.CallbackState(t.Context(), tr.ID); st != "sent" || n != 3 || sink.count() != 1 {
			t.Fatalf("after the node answered: %s after %d attempts, %d sent", st, n, sink.count())
		}
		sink.mu.Lock()
		got := sink.got[0].Utxos
		sink.mu.Unlock()
		if len(got) != 1 || got[0].Utxo != "ab12:1" || got[0].AmountMsats != 1_000_000 {
			t.Fatalf("sent UTXOs %+v", got)
		}

		// None, truly: an empty list, at once.
		for _, c := range []struct {
			utxos []lightning.UTXO
			err   error
		}{{nil, nil}, {nil, lightning.ErrNotFound}} {
			node.utxos, node.err = c.utxos, c.err
			before := sink.count()
			none := completed(t, w, s, sink.srv.URL+"/cb", w.clock.Now())
			if n, _ := s.CallbackRound(t.Context()); n != 1 {
				t.Fatalf("%v: %d claimed", c.err, n)
			}
			if st, _, _ := s.CallbackState(t.Context(), none.ID); st != "sent" || sink.count() != before+1 {
				t.Fatalf("no UTXOs (%v): %s", c.err, st)
			}
			sink.mu.Lock()
			raw := sink.raw[len(sink.raw)-1]
			sink.mu.Unlock()
			var body struct{ Utxos *[]any }
			if err := json.Unmarshal(raw, &body); err != nil || body.Utxos == nil || len(*body.Utxos) != 0 {
				t.Fatalf("no UTXOs (%v): sent %s, want \"utxos\": []", c.err, raw)
			}
		}
	})
}
