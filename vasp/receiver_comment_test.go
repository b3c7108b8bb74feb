package vasp_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// We advertise LUD-12 commentAllowed (vasp.MaxDescriptionLen characters,
// what our own senders may send) to UMA and plain LNURL senders alike, and
// refuse a longer comment or one that is not UTF-8 text instead of
// cutting it; a comment at the limit is kept whole.
func TestPayRequestCommentAllowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)

		for name, u := range map[string]*url.URL{
			"UMA":   lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now()),
			"LNURL": {Scheme: "https", Host: ourDomain, Path: "/.well-known/lnurlp/bob"},
		} {
			resp, err := s.Lnurlp(t.Context(), u, "bob")
			wantCode(t, err, "")
			if resp.CommentAllowed != vasp.MaxDescriptionLen {
				t.Fatalf("%s lnurlp commentAllowed %d, want %d", name, resp.CommentAllowed, vasp.MaxDescriptionLen)
			}
		}

		atLimit := strings.Repeat("é", vasp.MaxDescriptionLen) // 510 bytes
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.Comment = atLimit
		_, err := s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, "")
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 || ts[0].Details.Comment != atLimit {
			t.Fatalf("transactions %+v, %v: want the whole comment kept", ts, err)
		}

		over := atLimit + "x"
		pr = payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.Comment = over
		_, err = s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, uma.CodeInvalidInput)
		if !strings.Contains(uma.AsError(err).Reason, "255") {
			t.Fatalf("reason %q does not give the limit", uma.AsError(err).Reason)
		}
		_, err = s.PayRequest(t.Context(), "bob", &uma.PayRequest{Amount: 100_000, Comment: over})
		wantCode(t, err, uma.CodeInvalidInput)
		q, err := uma.ParsePayRequestQuery(url.Values{"amount": {"100000"}, "comment": {"thanks\xff"}})
		if err == nil {
			_, err = s.PayRequest(t.Context(), "bob", q)
		}
		clientError(t, err)
		if n := countRows(t, db, "uma_transactions"); n != 1 {
			t.Fatalf("%d transactions recorded, want 1", n)
		}
	})
}
