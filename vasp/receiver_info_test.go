package vasp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// infoDown is the embedded node (its invoices still stored in our
// database) whose Info fails while down is set.
type infoDown struct {
	*embedded.Node
	down bool
}

func (n *infoDown) Info(ctx context.Context) (lightning.NodeInfo, error) {
	if n.down {
		return lightning.NodeInfo{}, errors.New("node unreachable")
	}
	return n.Node.Info(ctx)
}

// A payreq that fails because the node cannot tell its identity leaves
// nothing behind: no transaction, no invoice, no nonce (the sender may
// send the same payreq again), whichever way the node stores invoices.
func TestPayRequestNodeInfoFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		down := &infoDown{Node: w.node}
		for i, tc := range []struct {
			name string
			node lightning.Node
		}{
			{"shared database", down},
			{"node storing its own invoices", opaqueNode{down}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := w.service(t, func(o *vasp.Options) { o.Node = tc.node })
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				down.down = true
				if _, err := s.PayRequest(t.Context(), "bob", pr); err == nil {
					t.Fatal("payreq answered without the node's identity")
				}
				if n, m := countRows(t, db, "uma_transactions"), countRows(t, db, "ln_embedded_invoices"); n != i || m != i {
					t.Fatalf("a failed payreq left %d transactions and %d invoices, want %d", n, m, i)
				}
				down.down = false
				resp, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, "")
				if resp.PayeeData == nil || resp.PayeeData.Compliance == nil || resp.PayeeData.Compliance.NodePubKey == "" {
					t.Fatalf("answer %+v lacks the node's key", resp.PayeeData)
				}
				_, err = s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, uma.CodeInvalidNonce)
			})
		}
	})
}
