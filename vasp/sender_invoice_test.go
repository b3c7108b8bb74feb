package vasp_test

import (
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// An UMA receiver's invoice is what our node pays: one it cannot pay as
// quoted is refused (424 PAYREQ_REQUEST_FAILED) before anything is kept,
// though the answer is signed with the receiver's key: an invoice on
// another network (mainnet or testnet where our node is on regtest), one
// for any amount (the payer would choose what leaves), one expired
// already, and one for another amount than the conversion the receiver
// signed up to (one sat more: not the msats asked, sender-locked; more
// than amount × multiplier + fee, receiver-locked). The receiver states
// no nodePubKey, so the invoices of a key of their own are refused for
// what they are, not for the node they pay.
func TestQuoteUnpayableInvoice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.fund(t, 100_000)
		l := h.lookup(t)
		key, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		var n byte // a payment hash of its own for each invoice
		foreign := func(network string, msats int64, at time.Time, expiry time.Duration) string {
			n++
			pr, err := bolt11.Encode(bolt11.Request{Network: network, PaymentHash: lightning.Hash{n},
				PaymentAddr: lightning.Hash{2}, AmountMsat: msats, DescriptionHash: lightning.Hash(uma.DescriptionHash("[]", nil)),
				Timestamp: at, Expiry: expiry}, key)
			if err != nil {
				t.Fatal(err)
			}
			return pr
		}
		// msats is what the invoice should be for: the amount asked,
		// sender-locked; amount × multiplier (1000), receiver-locked.
		msats := func(pr *uma.PayRequest) int64 {
			if pr.SendingCurrency != "" {
				return pr.Amount * 1000
			}
			return pr.Amount
		}
		for _, tc := range []struct {
			name string
			pr   func(pr *uma.PayRequest) string
		}{
			{"regtest, a valid control", func(pr *uma.PayRequest) string { return foreign("regtest", msats(pr), time.Now(), time.Minute) }},
			{"mainnet", func(pr *uma.PayRequest) string { return foreign("mainnet", msats(pr), time.Now(), time.Minute) }},
			{"testnet", func(pr *uma.PayRequest) string { return foreign("testnet", msats(pr), time.Now(), time.Minute) }},
			{"any amount", func(pr *uma.PayRequest) string { return foreign("regtest", 0, time.Now(), time.Minute) }},
			{"expired", func(pr *uma.PayRequest) string {
				return foreign("regtest", msats(pr), time.Now().Add(-2*time.Minute), time.Minute)
			}},
			{"one sat more", func(pr *uma.PayRequest) string { return foreign("regtest", msats(pr)+1000, time.Now(), time.Minute) }},
		} {
			for _, side := range []string{vasp.LockedSending, vasp.LockedReceiving} {
				t.Run(tc.name+"/"+side, func(t *testing.T) {
					h.payreq = h.reply(func(pr *uma.PayRequest, r *uma.PayReqResponse) {
						r.PR = tc.pr(pr)
						r.PayeeData.Compliance.NodePubKey = ""
					})
					q, err := h.quote(t, l, side, 1000)
					if tc.name == "regtest, a valid control" {
						if err != nil {
							t.Fatalf("a payable invoice refused: %v", err)
						}
						if _, err := db.ExecContext(t.Context(), `DELETE FROM uma_quotes WHERE id = $1`, q.ID); err != nil {
							t.Fatal(err)
						}
						return
					}
					wantStatus(t, err, 424, vaspd.CodePayreqRequestFailed)
				})
			}
		}
		var kept int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_quotes`).Scan(&kept); err != nil || kept != 0 {
			t.Fatalf("%d quotes kept (%v)", kept, err)
		}
	})
}
