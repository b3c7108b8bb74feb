package lnd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
)

// The fuzz targets of outgoing payments (fuzz_test.go says what they all
// hold the backend to).

// failureReasons are the reasons a FAILED payment may carry.
var failureReasons = map[lightning.FailureReason]bool{
	lightning.FailureTimeout: true, lightning.FailureNoRoute: true, lightning.FailureError: true,
	lightning.FailureIncorrectDetails: true, lightning.FailureInsufficientBalance: true, lightning.FailureCanceled: true,
}

// checkPayment holds a payment the backend reported for hash: the hash's
// own, SUCCEEDED only with the preimage of the hash, FAILED with a reason,
// amounts within 0 to 21M BTC and the fee within maxFee when known.
func checkPayment(t *testing.T, what string, p lightning.Payment, hash lightning.Hash, amountMsat, maxFee int64) {
	t.Helper()
	if p.PaymentHash != hash {
		t.Fatalf("%s: payment %s reported for hash %s", what, p.PaymentHash, hash)
	}
	switch p.Status {
	case lightning.StatusSucceeded:
		if sha256.Sum256(p.Preimage[:]) != hash {
			t.Fatalf("%s: SUCCEEDED with preimage %s, which is not the preimage of %s", what, p.Preimage, hash)
		}
	case lightning.StatusFailed:
		if !failureReasons[p.FailureReason] {
			t.Fatalf("%s: FAILED with reason %q", what, p.FailureReason)
		}
	case lightning.StatusInFlight:
	default:
		t.Fatalf("%s: status %q", what, p.Status)
	}
	if !inRange(p.AmountMsat) || !inRange(p.FeeMsat) {
		t.Fatalf("%s: amount %d msat, fee %d msat", what, p.AmountMsat, p.FeeMsat)
	}
	if amountMsat > 0 && p.AmountMsat != amountMsat {
		t.Fatalf("%s: paying %d msat reported as %d msat", what, amountMsat, p.AmountMsat)
	}
	if maxFee > 0 && p.FeeMsat > maxFee {
		t.Fatalf("%s: fee %d msat above the limit of %d msat it was sent with", what, p.FeeMsat, maxFee)
	}
}

// fuzzMaxFee is the routing-fee limit the payments are sent with.
const fuzzMaxFee = 5_000

// nothingSent are the errors after which Pay promises nothing was sent.
var nothingSent = []error{lightning.ErrInvalidInvoice, lightning.ErrWrongNetwork, lightning.ErrInvoiceExpired,
	lightning.ErrAmountMismatch, lightning.ErrMainnetNotAllowed, lightning.ErrInsufficientFunds, lightning.ErrNoRoute}

// FuzzPay: Pay with any DecodePayReq answer, any SendPaymentV2 stream
// (closed or held open) and any TrackPaymentV2 answer, then TrackPayment.
// Pay returns within its bounds; a payment it reports is the invoice's,
// SUCCEEDED only with the preimage of its hash, for the invoice's amount
// and a fee within the limit; a final state it reports is the one stored,
// and TrackPayment reports the same; an error that promises nothing was
// sent leaves no record.
func FuzzPay(f *testing.F) {
	ok := []byte(fuzzPayReq)
	for _, s := range [][]string{
		{fuzzPaymentInFlight, fuzzPaymentSucceeded},
		{fuzzPaymentFailed},
		{fuzzPaymentInFlight},
		{strings.Replace(fuzzPaymentSucceeded, `"payment_preimage":"@P@"`, `"payment_preimage":"@H@"`, 1)},
		{strings.Replace(fuzzPaymentSucceeded, `"fee_msat":"1000"`, `"fee_msat":"-1000"`, 1)},
		{strings.Replace(fuzzPaymentSucceeded, `"value_msat":"50000"`, `"value_msat":"50001"`, 1)},
		{strings.Replace(fuzzPaymentFailed, `"FAILURE_REASON_NO_ROUTE"`, `"FAILURE_REASON_SOMETHING_NEW"`, 1)},
		{strings.Replace(fuzzPaymentSucceeded, `"status":"SUCCEEDED"`, `"status":"succeeded"`, 1)},
	} {
		f.Add(ok, uint16(0), false, []byte(streamOf(s...)), uint16(0), []byte(streamOf(s[len(s)-1])))
		f.Add(ok, uint16(0), true, []byte(streamOf(s[0])), uint16(0), []byte(streamOf(s[len(s)-1])))
	}
	f.Add(ok, uint16(300), false, []byte(`{"error":{"code":2,"message":"insufficient local balance"}}`), uint16(300), []byte(fuzzNotInitiated))
	f.Add(ok, uint16(300), false, []byte(`{"error":{"code":2,"message":"invoice expired"}}`), uint16(300), []byte(fuzzNotInitiated))
	f.Add(ok, uint16(300), false, []byte(`{"error":{"code":6,"message":"invoice is already paid"}}`), uint16(0), []byte(streamOf(fuzzPaymentSucceeded)))
	f.Add(ok, uint16(302), false, []byte("<html>\n<body>502 Bad Gateway</body>\n</html>"), uint16(300), []byte(fuzzNotInitiated))
	f.Add(ok, uint16(0), false, []byte("{\"result\":{\"status\":\"IN_FL"), uint16(300), []byte(fuzzNotInitiated))
	f.Add([]byte(strings.Replace(fuzzPayReq, `"num_msat":"50000"`, `"num_msat":"0"`, 1)), uint16(0), false, []byte(streamOf(fuzzPaymentSucceeded)), uint16(0), []byte(nil))
	f.Add([]byte(strings.Replace(fuzzPayReq, `"expiry":"3600"`, `"expiry":"99999999999"`, 1)), uint16(0), false, []byte(nil), uint16(0), []byte(nil))
	f.Add([]byte(`{"code":2,"message":"invoice not for current active network 'regtest'"}`), uint16(0), false, []byte(nil), uint16(0), []byte(nil))
	z := newLNDFuzz(f, func(o *lnd.Options) { o.MaxFeeMsat = fuzzMaxFee })
	f.Fuzz(func(t *testing.T, payReq []byte, sendStatus uint16, hold bool, send []byte, trackStatus uint16, track []byte) {
		c := newFuzzCase()
		decodeStatus := 200
		if bytes.Contains(payReq, []byte(`"code"`)) {
			decodeStatus = 500 // lnd refusing the invoice
		}
		z.start(c, map[string]fuzzAnswer{
			"payreq": {status: decodeStatus, body: payReq},
			"send":   {status: fuzzStatus(sendStatus), body: send, hold: hold},
			"track":  {status: fuzzStatus(trackStatus), body: track},
		})
		invoice := "lnbcrt500n1fuzz" + c.hash.String()[:16]
		var pr struct {
			PaymentHash string `json:"payment_hash"`
			NumMsat     string `json:"num_msat"`
		}
		_ = json.Unmarshal(z.sent(c, payReq), &pr)
		hash, _ := lightning.ParseHash(pr.PaymentHash)
		amount, _ := strconv.ParseInt(pr.NumMsat, 10, 64)
		req := lightning.PayRequest{Invoice: invoice, Timeout: 100 * time.Millisecond}
		if amount == 0 {
			req.AmountMsat = 7_000
		}
		want := max(amount, req.AmountMsat)

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		p, err := z.node.Pay(ctx, req)
		// Handing over is bounded by RequestTimeout (300 ms), waiting by the
		// pay timeout, each look-up by RequestTimeout.
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("Pay took %s", d)
		}
		z.checkLogs(t)
		var rec struct {
			status, preimage string
			fee              int64
		}
		recErr := z.db.QueryRowContext(ctx, `SELECT status, preimage, fee_msat FROM lnd_payments WHERE payment_hash = $1`,
			hash.String()).Scan(&rec.status, &rec.preimage, &rec.fee)
		if err != nil {
			z.checkError(t, "Pay", err)
			for _, e := range nothingSent {
				if errors.Is(err, e) && recErr == nil {
					t.Fatalf("Pay: %v (nothing sent), yet payment %s is recorded %s", err, hash, rec.status)
				}
			}
			if recErr != nil {
				return
			}
		} else {
			checkPayment(t, "Pay", p, hash, want, fuzzMaxFee)
			if recErr != nil {
				t.Fatalf("Pay reported %s, with no record: %v", p.Status, recErr)
			}
			if p.Status != lightning.StatusInFlight && lightning.PaymentStatus(rec.status) != p.Status {
				t.Fatalf("Pay reported %s; recorded %s", p.Status, rec.status)
			}
		}
		if rec.status == string(lightning.StatusSucceeded) {
			pre, perr := lightning.ParseHash(rec.preimage)
			if perr != nil || sha256.Sum256(pre[:]) != hash {
				t.Fatalf("recorded SUCCEEDED with preimage %q", rec.preimage)
			}
		}
		if rec.fee < 0 || rec.fee > fuzzMaxFee {
			t.Fatalf("recorded fee %d msat", rec.fee)
		}
		tp, err := z.node.TrackPayment(ctx, hash)
		if err != nil {
			z.checkError(t, "TrackPayment", err)
			return
		}
		checkPayment(t, "TrackPayment", tp, hash, want, fuzzMaxFee)
		if rec.status != string(lightning.StatusInFlight) && string(tp.Status) != rec.status {
			t.Fatalf("recorded %s, tracked as %s", rec.status, tp.Status)
		}
	})
}

// FuzzTrack: TrackPayment of a payment vaspd has no record of, and UTXOs
// of it and of the node, with any TrackPaymentV2 and ListChannels answers.
// A payment reported is the hash's own, SUCCEEDED only with its preimage;
// UTXOs are channels lnd listed, each a txid:index outpoint as lnd writes
// it, each amount and their sum within 0 to 21M BTC; the node's are its
// active channels at their exact local balance.
func FuzzTrack(f *testing.F) {
	for _, p := range []string{fuzzPaymentSucceeded, fuzzPaymentFailed, fuzzPaymentInFlight,
		strings.Replace(fuzzPaymentSucceeded, `"total_amt_msat":"51000"`, `"total_amt_msat":"`+overMax+`"`, 1),
	} {
		f.Add(uint16(0), []byte(streamOf(p)), uint16(0), []byte(fuzzChannels), false)
		f.Add(uint16(0), []byte(streamOf(p)), uint16(0), []byte(fuzzChannels), true)
	}
	f.Add(uint16(300), []byte(fuzzNotInitiated), uint16(0), []byte(fuzzChannels), false)
	f.Add(uint16(0), []byte(nil), uint16(0), []byte(`{"channels":[{"active":true,"channel_point":"`+fuzzTxid+`:0","chan_id":"1","local_balance":"-1"}]}`), true)
	f.Add(uint16(0), []byte(nil), uint16(0), []byte(`{"channels":[{"active":true,"channel_point":"`+fuzzTxid+`:0","local_balance":"`+overMaxSat+`"}]}`), true)
	for _, point := range []string{"a:0", fuzzTxid, fuzzTxid + ":01", fuzzTxid + ":4294967296", strings.ToUpper(fuzzTxid) + ":1"} {
		channels := []byte(strings.Replace(fuzzChannels, fuzzTxid+":0", point, 1))
		f.Add(uint16(0), []byte(streamOf(fuzzPaymentSucceeded)), uint16(0), channels, false)
		f.Add(uint16(0), []byte(nil), uint16(0), channels, true)
	}
	z := newLNDFuzz(f, nil)
	f.Fuzz(func(t *testing.T, trackStatus uint16, track []byte, channelsStatus uint16, channels []byte, node bool) {
		c := newFuzzCase()
		z.start(c, map[string]fuzzAnswer{
			"track":    {status: fuzzStatus(trackStatus), body: track},
			"channels": {status: fuzzStatus(channelsStatus), body: channels},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		p, err := z.node.TrackPayment(ctx, c.hash)
		if err != nil {
			z.checkError(t, "TrackPayment", err)
		} else {
			checkPayment(t, "TrackPayment", p, c.hash, 0, 0)
		}
		var h lightning.Hash
		if !node {
			h = c.hash
		}
		utxos, err := z.node.UTXOs(ctx, h)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("TrackPayment and UTXOs took %s", d)
		}
		z.checkLogs(t)
		if err != nil {
			z.checkError(t, "UTXOs", err)
			return
		}
		var lc struct {
			Channels []struct {
				Active       bool   `json:"active"`
				ChannelPoint string `json:"channel_point"`
				LocalBalance string `json:"local_balance"`
			} `json:"channels"`
		}
		if err := json.Unmarshal(z.sent(c, channels), &lc); err != nil {
			t.Fatalf("UTXOs from a ListChannels answer that does not decode (%v)", err)
		}
		var sum int64
		for _, u := range utxos {
			txid, index, ok := strings.Cut(u.Outpoint, ":")
			n, err := strconv.ParseUint(index, 10, 32)
			if b, herr := hex.DecodeString(txid); !ok || herr != nil || len(b) != 32 || txid != strings.ToLower(txid) ||
				err != nil || strconv.FormatUint(n, 10) != index {
				t.Fatalf("UTXO %q is not a txid:index outpoint as lnd writes it", u.Outpoint)
			}
			if !inRange(u.AmountMsat) || sum+u.AmountMsat > lightning.MaxAmountMsat && !node {
				t.Fatalf("UTXO %s of %d msat (after %d msat)", u.Outpoint, u.AmountMsat, sum)
			}
			sum += u.AmountMsat
			listed := false
			for _, ch := range lc.Channels {
				if ch.ChannelPoint != u.Outpoint {
					continue
				}
				// The node's: an active channel at its local balance.
				x, ok := exact(ch.LocalBalance)
				listed = listed || !node || ch.Active && ok && x.Mul(x, big.NewInt(1000)).Cmp(big.NewInt(u.AmountMsat)) == 0
			}
			if !listed {
				t.Fatalf("UTXO %s of %d msat is no channel lnd listed (as active, with that balance)", u.Outpoint, u.AmountMsat)
			}
		}
		if !node && len(utxos) > 0 {
			var tr struct {
				Result struct {
					PaymentHash string `json:"payment_hash"`
				} `json:"result"`
			}
			line, _, _ := bytes.Cut(z.sent(c, track), []byte("\n"))
			if json.Unmarshal(line, &tr) != nil || (tr.Result.PaymentHash != "" && tr.Result.PaymentHash != c.hash.String()) {
				t.Fatalf("UTXOs of payment %s from lnd's answer for %q", c.hash, tr.Result.PaymentHash)
			}
		}
	})
}
