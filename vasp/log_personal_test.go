package vasp_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// TestLogsNameNoPayerOrPayee: the log lines of a payment, sent and
// received, name it by its transaction (and the counterparty's domain),
// never by a payer's or payee's UMA address, which is personal data: an
// outgoing payment (lookup, quote with a receiver's utxoCallback we do
// not keep, execute) and an incoming one whose sender's utxoCallback we
// do not keep, and a payment request its payer's VASP does not receive,
// each log, at Debug and above, nothing with the address of either user,
// while the warnings are still logged with the payment's id.
func TestLogsNameNoPayerOrPayee(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var logs syncBuffer
		logTo := func(o *vasp.Options) {
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
		// Sent: alice pays bob at the counterparty.
		r := newRefresher(t, db, logTo)
		payreq := r.payreq
		r.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			payreq(&badUtxoCallback{ResponseWriter: rw}, pr)
		}
		r.fund(t, 100_000)
		q, err := r.quote(t, r.lookup(t), vasp.LockedReceiving, 900)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := r.s.ExecuteQuote(t.Context(), q.ID, "")
		if err != nil || tr.Status != vasp.StatusCompleted {
			t.Fatalf("execute: %+v %v", tr, err)
		}
		if n := logs.count(t, slog.LevelInfo, tr.ID); n == 0 {
			t.Errorf("the outgoing payment %s is not logged by its id:\n%s", tr.ID, logs.String())
		}
		if n := logs.count(t, slog.LevelWarn, "receiver's utxoCallback not kept"); n != 1 {
			t.Errorf("%d warnings of the receiver's utxoCallback:\n%s", n, logs.String())
		}

		// Received: carol at vasp1.example pays bob here.
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, logTo)
		pr := &uma.PayRequest{Amount: 500, SendingCurrency: "EUR", ReceivingCurrency: "EUR",
			PayerData: &uma.PayerData{Identifier: "$carol.payer@vasp1.example", Compliance: &uma.CompliancePayerData{
				KycStatus: uma.KycVerified, NodePubKey: "02ab", UtxoCallback: "ftp://vasp1.example/carol.payer"}}}
		if err := pr.Sign(sender.Signing, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PayRequest(t.Context(), "bob", pr); err != nil {
			t.Fatal(err)
		}
		if n := logs.count(t, slog.LevelWarn, "sender's utxoCallback not kept"); n != 1 {
			t.Errorf("%d warnings of the sender's utxoCallback:\n%s", n, logs.String())
		}
		in, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range in {
			if x.Direction == vasp.Incoming && logs.count(t, slog.LevelWarn, x.ID) == 0 {
				t.Errorf("the incoming payment's warning does not name it (%s):\n%s", x.ID, logs.String())
			}
		}

		// A payment request its payer's VASP never receives (nothing
		// listens on port 1).
		p := newPaymentRequest(t, s, w, func(in *vasp.PaymentRequestInput) { in.SenderUMA = "$dana.payer@localhost:1" })
		if p.Delivery.Status != vasp.DeliveryFailed || logs.count(t, slog.LevelWarn, p.ID) != 1 {
			t.Errorf("payment request %s: %+v, its warning not logged by its id:\n%s", p.ID, p.Delivery, logs.String())
		}

		for _, personal := range []string{"$bob@", "bob@" + r.domain, "$alice@", "alice@" + ourDomain, "carol.payer", "dana.payer"} {
			if strings.Contains(logs.String(), personal) {
				t.Errorf("the logs hold %q:\n%s", personal, logs.String())
			}
		}
	})
}

// badUtxoCallback is a payreq answer whose payee compliance data names a
// utxoCallback we may not call (ftp): written through, with it added.
type badUtxoCallback struct{ http.ResponseWriter }

func (b *badUtxoCallback) Write(p []byte) (int, error) {
	out := strings.Replace(string(p), `"nodePubKey":`, `"utxoCallback":"ftp://receiver.example/bob","nodePubKey":`, 1)
	if _, err := b.ResponseWriter.Write([]byte(out)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
