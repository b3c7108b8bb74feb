package lnd_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// A payment lnd reports SUCCEEDED with a fee above the fee_limit_msat it
// was sent with is not booked (Pay, TrackPayment and ResolveInFlight
// fail, the record stays IN_FLIGHT), and it is logged at ERROR once, with
// its hash and both amounts and nothing secret: every later track fails
// the same way, and a caller retrying it would otherwise be all that
// showed it.
func TestFeeAboveLimitLoggedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		var log syncLog
		n := f.node(t, db, func(o *lnd.Options) {
			o.MaxFeeMsat = 2_000
			o.Logger = slog.New(slog.NewJSONHandler(&log, nil))
		})
		ctx := fctx(t)
		f.mu.Lock()
		f.paymentExtra = map[string]any{"fee_msat": "5000"}
		f.mu.Unlock()
		pr, hash, preimage := f.payReq(70_000, time.Hour)
		_, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		wantAmountError(t, f, "Pay", err, "fee_msat")
		for range 3 {
			_, err := n.TrackPayment(ctx, hash)
			wantAmountError(t, f, "TrackPayment", err, "fee_msat")
		}
		if left, err := n.ResolveInFlight(ctx); left != 1 || err == nil {
			t.Errorf("ResolveInFlight: %d left in flight, %v; want 1 and the fee's error", left, err)
		}
		var status string
		if err := db.QueryRowContext(ctx, `SELECT status FROM lnd_payments WHERE payment_hash = $1`, hash.String()).Scan(&status); err != nil || status != "IN_FLIGHT" {
			t.Errorf("record: %q, %v; want IN_FLIGHT", status, err)
		}
		logged := log.String()
		var errors []string
		for _, line := range strings.Split(logged, "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				errors = append(errors, line)
			}
		}
		if len(errors) != 1 {
			t.Fatalf("%d ERROR lines, want 1:\n%s", len(errors), logged)
		}
		for _, want := range []string{hash.String(), `"fee_msat":5000`, `"max_fee_msat":2000`, `"status":"SUCCEEDED"`} {
			if !strings.Contains(errors[0], want) {
				t.Errorf("the ERROR line does not say %s:\n%s", want, errors[0])
			}
		}
		for _, secret := range []string{preimage.String(), pr, string(f.macaroon[3:])} {
			if strings.Contains(logged, secret) {
				t.Errorf("the log shows a secret (%.12s...):\n%s", secret, logged)
			}
		}
	})
}
