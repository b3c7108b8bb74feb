package vasp_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A sender-locked amount too large for our rate to convert (its msats
// past int64) is 400 AMOUNT_OUT_OF_RANGE, as a smaller one beyond the
// receiver's range is: with the rates file's max it is outside our range,
// and without one it is still no amount we can send. It was 400
// INVALID_INPUT "rates: amount too large", the rate converted before our
// range was applied. Nothing is sent to the receiver.
func TestQuoteSendingPastWhatConverts(t *testing.T) {
	for _, max := range []int64{100_000_000, 0} {
		t.Run(map[bool]string{true: "with max", false: "without max"}[max > 0], func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				h := newHostile(t, db)
				cfg := rates.DefaultConfig()
				for i := range cfg.Currencies {
					cfg.Currencies[i].Max = max
				}
				p, err := rates.NewConfigProvider(cfg, nil)
				if err != nil {
					t.Fatal(err)
				}
				h.s = h.w.service(t, func(o *vasp.Options) { o.Clock, o.Rates = vaspd.SystemClock{}, p })
				var payreqs atomic.Int64
				reply := h.payreq
				h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) { payreqs.Add(1); reply(rw, pr) }
				_, err = h.quote(t, h.lookup(t), vasp.LockedSending, 1_000_000_000_000_000)
				wantStatus(t, err, http.StatusBadRequest, vaspd.CodeAmountOutOfRange)
				if n := payreqs.Load(); n != 0 {
					t.Fatalf("%d payreqs sent", n)
				}
			})
		})
	}
}
