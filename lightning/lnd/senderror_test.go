package lnd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// An error answer to SendPaymentV2 that does not come from lnd refusing
// the payment — its REST proxy unable to reach its gRPC server, a gateway
// or reverse proxy timing out, a call cancelled on the way — does not say
// that lnd never took the payment: it may have, and register it a moment
// later. Such a send is not a refusal (which the caller books FAILED,
// releasing the money): Pay reports an unknown outcome and the payment
// stays recorded IN_FLIGHT, for TrackPayment (and its grace rule) to
// resolve. So is an "already paid" or "in flight" answer for a payment lnd
// does not show.
func TestSendErrorsThatAreNotRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		for _, tc := range []struct {
			what       string
			http, code int
			msg        string
		}{
			{"lnd's REST proxy cannot reach its gRPC server", 503, 14,
				`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:10009: connect: connection refused"`},
			{"gRPC deadline exceeded", 504, 4, "context deadline exceeded"},
			{"gRPC call cancelled", 499, 1, "context canceled"},
			{"gRPC internal error", 500, 13, "grpc: error while marshaling: proto: invalid UTF-8"},
			{"reverse proxy timeout", 504, -1, "<html><head><title>504 Gateway Time-out</title></head></html>"},
			{"reverse proxy, lnd down", 502, -1, "<html><head><title>502 Bad Gateway</title></head></html>"},
			{"already paid, yet unknown to lnd", 500, 6, "invoice is already paid"},
			{"in flight, yet unknown to lnd", 500, 6, "payment is in transition"},
		} {
			f.mu.Lock()
			f.refuse, f.refuseHTTP, f.refuseCode = tc.msg, tc.http, tc.code
			f.mu.Unlock()
			pr, hash, preimage := f.payReq(50_000, time.Hour)
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err == nil || p.Status == lightning.StatusFailed || refusal(err) {
				t.Errorf("%s: Pay answered %s/%s, %v; want an error that is not a refusal (outcome unknown)", tc.what, p.Status, p.FailureReason, err)
			}
			if tr, err := n.TrackPayment(ctx, hash); err != nil || tr.Status != lightning.StatusInFlight {
				t.Errorf("%s: record afterwards: %s, %v; want IN_FLIGHT (kept for the resolver)", tc.what, tr.Status, err)
			}
			// lnd did have the payment after all: it is found and booked.
			f.resolvePayment(hash, "SUCCEEDED", "")
			if tr, err := n.TrackPayment(ctx, hash); err != nil || tr.Status != lightning.StatusSucceeded || tr.Preimage != preimage {
				t.Errorf("%s: once lnd shows the payment: %s, %v; want SUCCEEDED with its preimage", tc.what, tr.Status, err)
			}
		}

		// An "already paid" answer for a payment lnd shows as paid is that
		// payment's success, with its preimage.
		f.mu.Lock()
		f.refuse, f.refuseHTTP, f.refuseCode = "invoice is already paid", 500, 6
		f.mu.Unlock()
		pr, hash, preimage := f.payReq(50_000, time.Hour)
		f.resolvePayment(hash, "SUCCEEDED", "")
		p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Errorf("already paid by lnd: %s, %v; want SUCCEEDED with the preimage", p.Status, err)
		}
	})
}

// refusal reports the errors after which vasp books a payment FAILED
// without asking again (vasp.refused).
func refusal(err error) bool {
	for _, e := range []error{lightning.ErrInvalidInvoice, lightning.ErrWrongNetwork, lightning.ErrInvoiceExpired,
		lightning.ErrAmountMismatch, lightning.ErrMainnetNotAllowed, lightning.ErrInsufficientFunds, lightning.ErrNoRoute} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// DecodePayReq, Pay's first call to lnd, breaking on its way (lnd's REST
// proxy unable to reach its gRPC server, a reverse proxy's 502 or 504
// page) says nothing about the invoice. It is not a refusal, which vasp
// books FAILED for good: Pay reports an outcome-unknown error, having
// recorded and sent nothing, so the payment stays reserved and is sent
// once lnd answers again. lnd's own verdict on a bad invoice is still one.
func TestDecodeBrokenOnItsWayIsNotARefusal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		for _, status := range []int{503, 502, 504} {
			f.mu.Lock()
			f.decodeBroken = status
			f.mu.Unlock()
			pr, hash, preimage := f.payReq(50_000, time.Hour)
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err == nil || p.Status == lightning.StatusFailed || refusal(err) {
				t.Errorf("decode answered %d: Pay answered %s, %v; want an error that is not a refusal", status, p.Status, err)
			}
			if _, err := n.TrackPayment(ctx, hash); !errors.Is(err, lightning.ErrNotFound) {
				t.Errorf("decode answered %d: TrackPayment: %v; want not found (nothing recorded or sent)", status, err)
			}
			f.mu.Lock()
			f.decodeBroken = 0
			f.mu.Unlock()
			p, err = n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
				t.Errorf("decode answered %d, then lnd is back: %s, %v; want SUCCEEDED", status, p.Status, err)
			}
		}
		if _, err := n.Pay(ctx, lightning.PayRequest{Invoice: "lnbcrt1notaninvoice", Timeout: 5 * time.Second}); !errors.Is(err, lightning.ErrInvalidInvoice) {
			t.Errorf("lnd's verdict on an invoice it cannot decode: %v; want ErrInvalidInvoice", err)
		}
	})
}

// An error line lnd streams after its first message, once it registered
// the payment, is not a refusal, whatever its code and whatever
// TrackPaymentV2 answers next (here, a broken lnd that says it never saw
// the payment): the payment was taken, and may be paid. Pay reports an
// unknown outcome and the record stays IN_FLIGHT, not deleted as a
// payment never sent (which the caller books FAILED, releasing the money).
func TestSendErrorAfterLndTookThePayment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"},
				{"error": map[string]any{"code": 2, "message": "invalid payment request"}}}, false
		}
		f.trackUnknown = true
		pr, hash, preimage := f.payReq(50_000, time.Hour)
		p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if err == nil || p.Status == lightning.StatusFailed || refusal(err) {
			t.Fatalf("Pay answered %s/%s, %v; want an error that is not a refusal (outcome unknown)", p.Status, p.FailureReason, err)
		}
		if tr, err := n.TrackPayment(fctx(t), hash); err != nil || tr.Status != lightning.StatusInFlight {
			t.Fatalf("record afterwards: %s, %v; want IN_FLIGHT (kept for the resolver)", tr.Status, err)
		}
		f.mu.Lock()
		f.trackUnknown = false
		f.mu.Unlock()
		f.resolvePayment(hash, "SUCCEEDED", "")
		if tr, err := n.TrackPayment(fctx(t), hash); err != nil || tr.Status != lightning.StatusSucceeded || tr.Preimage != preimage {
			t.Fatalf("once lnd shows the payment: %s, %v; want SUCCEEDED with its preimage", tr.Status, err)
		}
	})
}

// While lnd is not ready — its wallet locked after a restart, its RPC
// server starting — its RPC interceptor answers every call with a plain
// error (gRPC Unknown, HTTP 500) that says so. That is not lnd's verdict on
// the call: DecodePayReq answering so is not an invalid invoice (a
// refusal, which vasp books FAILED for good), and no answer of lnd then is
// anything but the node unavailable for now (lightning.ErrUnavailable,
// which vasp's sweeps take for the node unreachable).
func TestLndNotReadyIsUnavailable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		if _, err := n.Info(ctx); err != nil {
			t.Fatal(err)
		}
		for _, msg := range []string{
			"wallet locked, unlock it to enable full RPC access",
			"wallet not created, create one to enable full RPC access",
			"the RPC server is in the process of starting up, but not yet ready to accept calls",
			"waiting to start, RPC services not available",
			"server is still in the process of starting",
		} {
			f.mu.Lock()
			f.intercept = msg
			f.mu.Unlock()
			pr, hash, preimage := f.payReq(50_000, time.Hour)
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err == nil || p.Status == lightning.StatusFailed || refusal(err) || !errors.Is(err, lightning.ErrUnavailable) {
				t.Errorf("%q: Pay answered %s, %v; want ErrUnavailable, not a refusal", msg, p.Status, err)
			}
			if _, err := n.TrackPayment(ctx, hash); !errors.Is(err, lightning.ErrUnavailable) {
				t.Errorf("%q: TrackPayment: %v; want ErrUnavailable", msg, err)
			}
			if _, err := n.LookupInvoice(ctx, hash); !errors.Is(err, lightning.ErrUnavailable) {
				t.Errorf("%q: LookupInvoice: %v; want ErrUnavailable", msg, err)
			}
			// lnd stops being ready after the invoice was decoded:
			// SendPaymentV2 answers so, and TrackPaymentV2 says it
			// does not know the payment, or answers so too.
			for _, track := range []string{"/v2/router/send", "/v2/router/"} {
				f.mu.Lock()
				f.intercept, f.interceptPaths = msg, []string{track, "/v2/router/send"}
				f.mu.Unlock()
				p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
				if err == nil || p.Status == lightning.StatusFailed || refusal(err) || !errors.Is(err, lightning.ErrUnavailable) {
					t.Errorf("%q from %s: Pay answered %s, %v; want ErrUnavailable, not a refusal", msg, track, p.Status, err)
				}
				f.mu.Lock()
				f.intercept, f.interceptPaths = "", nil
				f.mu.Unlock()
				if p, err := n.TrackPayment(ctx, hash); err != nil || p.Status != lightning.StatusInFlight {
					t.Errorf("%q from %s: then TrackPayment: %s, %v; want IN_FLIGHT (kept for the resolver)", msg, track, p.Status, err)
				}
				if _, err := db.ExecContext(ctx, `DELETE FROM lnd_payments WHERE payment_hash = $1`, hash.String()); err != nil {
					t.Fatal(err)
				}
			}
			p, err = n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
				t.Errorf("%q, then lnd is ready: %s, %v; want SUCCEEDED", msg, p.Status, err)
			}
		}
	})
}

// A macaroon without a permission a payment needs (offchain:read for
// DecodePayReq and TrackPaymentV2, offchain:write for SendPaymentV2) has
// lnd answer "permission denied" (gRPC Unknown, HTTP 500, as its macaroon
// service's errors come). That is the operator's configuration, not lnd's
// verdict on the invoice: no refusal (which vasp books FAILED for good, a
// valid invoice failed as invalid), but an error naming the macaroon
// (ErrMacaroonRefused), nothing sent; the payment is paid once the
// macaroon is fixed.
func TestMacaroonWithoutPermissionIsNotARefusal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		ctx := fctx(t)
		if _, err := n.Info(ctx); err != nil {
			t.Fatal(err)
		}
		pr, hash, preimage := f.payReq(50_000, time.Hour)
		for _, paths := range [][]string{{"/v1/payreq/"}, {"/v2/router/send"}, {"/v2/router/"}} {
			f.mu.Lock()
			f.intercept, f.interceptPaths = "permission denied", paths
			f.mu.Unlock()
			p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
			if err == nil || p.Status == lightning.StatusFailed || refusal(err) || !errors.Is(err, lnd.ErrMacaroonRefused) {
				t.Errorf("permission denied on %s: Pay answered %s/%s, %v; want ErrMacaroonRefused, not a refusal", paths, p.Status, p.FailureReason, err)
			}
			f.mu.Lock()
			f.intercept, f.interceptPaths = "", nil
			f.mu.Unlock()
			if _, err := db.ExecContext(ctx, `DELETE FROM lnd_payments WHERE payment_hash = $1`, hash.String()); err != nil {
				t.Fatal(err)
			}
		}
		if got := f.sendCount(); got != 0 {
			t.Fatalf("lnd received %d sends without the permission to send", got)
		}
		p, err := n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("once the macaroon has the permissions: %s, %v; want SUCCEEDED", p.Status, err)
		}
	})
}

// A SendPaymentV2 stream that ends (a proxy's idle timeout, lnd's REST
// proxy restarting) once lnd has the payment, before it is final, does not
// end Pay's wait: Pay returns when the payment is final or when its
// Timeout passes (lightning.Node), so it follows the payment with
// TrackPaymentV2 for the rest of the wait. Returning IN_FLIGHT at once
// made vasp answer PROCESSING for a payment that succeeded a moment later.
func TestSendStreamDroppedIsFollowed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFakeLND(t)
		n := f.node(t, db)
		f.onSend = func(string) ([]map[string]any, bool) {
			return []map[string]any{{"status": "IN_FLIGHT"}}, false // then the stream ends
		}
		pr, hash, preimage := f.payReq(50_000, time.Hour)
		go func() {
			time.Sleep(300 * time.Millisecond)
			f.resolvePayment(hash, "SUCCEEDED", "")
		}()
		p, err := n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusSucceeded || p.Preimage != preimage {
			t.Fatalf("send stream ended while in flight, paid 300 ms later: %s, %v; want SUCCEEDED within the 5 s wait", p.Status, err)
		}

		// Still in flight when the wait is over: IN_FLIGHT, no error.
		pr, hash, _ = f.payReq(50_000, time.Hour)
		start := time.Now()
		p, err = n.Pay(fctx(t), lightning.PayRequest{Invoice: pr, Timeout: 500 * time.Millisecond})
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("send stream ended, payment in flight past the wait: %s, %v; want IN_FLIGHT", p.Status, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Pay took %s with a 500 ms wait", d)
		}
		f.resolvePayment(hash, "FAILED", "FAILURE_REASON_NO_ROUTE")
		if p, err := n.TrackPayment(fctx(t), hash); err != nil || p.Status != lightning.StatusFailed || p.FailureReason != lightning.FailureNoRoute {
			t.Fatalf("then: %s/%s, %v; want FAILED/NO_ROUTE", p.Status, p.FailureReason, err)
		}

		// The caller's context ends while the payment is followed: as
		// when it ends with the send stream up, the payment's state,
		// IN_FLIGHT, and no error (lnd has it: nothing is unknown).
		pr, _, _ = f.payReq(50_000, time.Hour)
		ctx, cancel := context.WithTimeout(fctx(t), 300*time.Millisecond)
		defer cancel()
		p, err = n.Pay(ctx, lightning.PayRequest{Invoice: pr, Timeout: 5 * time.Second})
		if err != nil || p.Status != lightning.StatusInFlight {
			t.Fatalf("send stream ended, caller's context ended while following: %s, %v; want IN_FLIGHT and no error", p.Status, err)
		}
	})
}
