package embedded_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// syncBuffer is a log destination safe for the node's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// nodeState is what a devnet call may change: the node's balance and
// what it received and paid.
type nodeState struct {
	balance          int64
	settled, paidSum int64 // invoices settled, and the sum they were paid
	payments         int64 // rows of outgoing payments
	invoice          lightning.Invoice
}

// FuzzDevnetHandler: what a devnet peer — or anyone who reaches the
// handler — can send: any method, path, Authorization and body, the body
// able to name a fresh open invoice of the node (@INV@, its amount @AMT@),
// an expired one (@EXP@), another node's (@OTHER@), a valid payer (@PAYER@)
// and the node itself (@SELF@), on any starting balance. Without exactly
// "Bearer <secret>" the answer is 401 and nothing changes. With it, the
// answer is one of the documented statuses; money moves only with a 200
// SETTLED, whose preimage is the invoice's, crediting exactly the amount
// paid once, and never past 21M BTC; a FAILED, any other answer, or a bad
// message moves nothing. The secret is never in an answer or a log.
func FuzzDevnetHandler(f *testing.F) {
	pay := func(pr, amt, payer string) []byte {
		return []byte(`{"payment_request":"` + pr + `","amount_msat":` + amt + `,"payer":"` + payer + `"}`)
	}
	for _, b := range [][]byte{
		pay("@INV@", "@AMT@", "@PAYER@"),
		pay("@INV@", "1", "@PAYER@"),
		pay("@INV@", "@AMT@", "@SELF@"),
		pay("@INV@", "@AMT@", "02"+strings.Repeat("00", 32)),
		pay("@EXP@", "@AMT@", "@PAYER@"),
		pay("@OTHER@", "@AMT@", "@PAYER@"),
		pay("LIGHTNING:@INV@", "@AMT@", "@PAYER@"),
		pay("@INV@", "-5", "@PAYER@"),
		pay("@INV@", "2100000000000000000", "@PAYER@"),
		pay("@INV@", "1e3", "@PAYER@"),
		[]byte(`{"payment_request":"@INV@","amount_msat":1000,"payer":"@PAYER@","extra":1}`),
		[]byte(`{"payment_request":"@INV@"}{"payment_request":"@INV@"}`),
		[]byte(`null`),
		[]byte(``),
	} {
		f.Add(uint8(0), "", "POST", "pay", b, uint32(1_000_000), int64(0))
		f.Add(uint8(3), "wrong secret", "POST", "pay", b, uint32(1_000_000), int64(0))
	}
	f.Add(uint8(0), "", "POST", "pay", pay("@INV@", "2100000000000000000", "@PAYER@"), uint32(0), int64(0))
	f.Add(uint8(0), "", "GET", "info", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(1), "", "GET", "info", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(2), "Bearer "+testSecret+" ", "GET", "info", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(4), "x", "GET", "info", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(5), "", "GET", "info", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(0), "", "GET", "pay", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(0), "", "POST", "../v1/pay", pay("@INV@", "@AMT@", "@PAYER@"), uint32(1000), int64(0))
	f.Add(uint8(0), "", "DELETE", "nothing", []byte(nil), uint32(0), int64(0))
	f.Add(uint8(0), "", "POST", "pay", append(pay("@INV@", "@AMT@", "@PAYER@"), bytes.Repeat([]byte(" "), 70_000)...), uint32(1000), int64(0))

	db := storetest.SQLite(f)
	clock := vaspd.NewFakeClock(time.Now().UTC())
	logs := &syncBuffer{}
	ctx := context.Background()
	n, err := embedded.Open(ctx, db, embedded.Options{KeyName: "fuzz.payee", DevnetSecret: testSecret, Clock: clock,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	other, err := embedded.Open(ctx, db, embedded.Options{KeyName: "fuzz.other", Clock: clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { other.Close() })
	desc := sha256.Sum256([]byte("fuzz"))
	expired, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: desc, Expiry: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	clock.Advance(2 * time.Second)
	otherInv, err := other.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: desc, Expiry: 24 * time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	h := n.DevnetHandler()

	state := func(t *testing.T, hash lightning.Hash) nodeState {
		t.Helper()
		var s nodeState
		var err error
		if s.balance, err = n.Balance(ctx); err != nil {
			t.Fatalf("balance: %v", err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(amount_paid_msat), 0) FROM ln_embedded_invoices
			WHERE node_pubkey = $1 AND state = $2`, n.PubKey(), string(lightning.InvoiceSettled)).Scan(&s.settled, &s.paidSum); err != nil {
			t.Fatalf("settled invoices: %v", err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM ln_embedded_payments WHERE node_pubkey = $1`, n.PubKey()).Scan(&s.payments); err != nil {
			t.Fatalf("payments: %v", err)
		}
		if s.invoice, err = n.LookupInvoice(ctx, hash); err != nil {
			t.Fatalf("invoice: %v", err)
		}
		return s
	}

	f.Fuzz(func(t *testing.T, auth uint8, token, method, path string, body []byte, invMsat uint32, start int64) {
		// The node's balance, anything from 0 to 21M BTC.
		if start < 0 {
			start = -(start + 1)
		}
		if err := n.SetBalance(ctx, start%(bolt11.MaxAmountMsat+1)); err != nil {
			t.Fatal(err)
		}
		inv, err := n.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: int64(invMsat), DescriptionHash: desc, Expiry: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		body = []byte(strings.NewReplacer("@INV@", inv.PaymentRequest, "@AMT@", strconv.FormatUint(uint64(max(invMsat, 1)), 10),
			"@EXP@", expired.PaymentRequest, "@OTHER@", otherInv.PaymentRequest,
			"@PAYER@", other.PubKey(), "@SELF@", n.PubKey()).Replace(string(body)))

		var header string
		switch auth % 6 {
		case 0:
			header = "Bearer " + testSecret
		case 1:
		case 2:
			header = token
		case 3:
			header = "Bearer " + token
		case 4:
			header = "Bearer " + testSecret + token
		case 5:
			header = "bearer " + testSecret
		}
		valid := header == "Bearer "+testSecret

		req := httptest.NewRequest(http.MethodPost, embedded.DevnetPrefix+"pay", bytes.NewReader(body))
		if validMethod(method) {
			req.Method = method
		}
		req.URL.Path = embedded.DevnetPrefix + path
		if header != "" || auth%6 != 1 {
			req.Header.Set("Authorization", header)
		}
		// The payment the body names, if any.
		var named struct {
			PaymentRequest string `json:"payment_request"`
			AmountMsat     int64  `json:"amount_msat"`
		}
		_ = json.Unmarshal(body, &named)
		hash := inv.PaymentHash
		if d, err := bolt11.Decode(named.PaymentRequest, ""); err == nil && d.Destination == n.PubKey() {
			hash = d.PaymentHash
		}

		before := state(t, hash)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		after := state(t, hash)

		answer := w.Body.String()
		var hdrs strings.Builder
		w.Result().Header.Write(&hdrs)
		for what, s := range map[string]string{"answer": answer, "answer's headers": hdrs.String(), "log": logs.String()} {
			if strings.Contains(s, testSecret) {
				t.Fatalf("the %s quotes the devnet secret: %.300q", what, s)
			}
		}
		if after.balance < 0 || after.balance > bolt11.MaxAmountMsat {
			t.Fatalf("balance %d msat after the call (before %d)", after.balance, before.balance)
		}
		moved := after != before

		switch code := w.Code; {
		case !valid:
			if code != http.StatusUnauthorized {
				t.Fatalf("Authorization %q: HTTP %d, want 401", header, code)
			}
		case code == http.StatusOK && req.Method == http.MethodGet && path == "info":
			var info struct{ Pubkey, Network string }
			if json.Unmarshal(w.Body.Bytes(), &info) != nil || info.Pubkey != n.PubKey() || info.Network != bolt11.Regtest {
				t.Fatalf("info answered %q", answer)
			}
		case code == http.StatusOK:
			var r struct {
				Result        string `json:"result"`
				Preimage      string `json:"preimage"`
				FailureReason string `json:"failure_reason"`
			}
			dec := json.NewDecoder(w.Body)
			if req.Method != http.MethodPost || path != "pay" || dec.Decode(&r) != nil {
				t.Fatalf("%s %s answered 200 %q", req.Method, req.URL.Path, answer)
			}
			switch r.Result {
			case "SETTLED":
				pre, err := lightning.ParseHash(r.Preimage)
				if err != nil || sha256.Sum256(pre[:]) != hash {
					t.Fatalf("SETTLED with preimage %q, not the preimage of %s", r.Preimage, hash)
				}
				if after.invoice.State != lightning.InvoiceSettled {
					t.Fatalf("answered SETTLED; the invoice is %s", after.invoice.State)
				}
				if !moved {
					if before.invoice.State != lightning.InvoiceSettled {
						t.Fatalf("answered SETTLED for an open invoice, and nothing moved")
					}
					return // the same payer asking again
				}
				credit := after.balance - before.balance
				if credit != named.AmountMsat || credit <= 0 || after.invoice.AmountPaidMsat != credit ||
					after.settled != before.settled+1 || after.paidSum != before.paidSum+credit || after.payments != before.payments {
					t.Fatalf("paying %d msat: balance %d → %d, settled %d → %d (sum %d → %d), invoice paid %d msat",
						named.AmountMsat, before.balance, after.balance, before.settled, after.settled, before.paidSum, after.paidSum,
						after.invoice.AmountPaidMsat)
				}
				if a := before.invoice.AmountMsat; a > 0 && (credit < a || credit > 2*a) {
					t.Fatalf("invoice of %d msat settled for %d msat", a, credit)
				}
				return
			case "FAILED":
				switch lightning.FailureReason(r.FailureReason) {
				case lightning.FailureIncorrectDetails, lightning.FailureNoRoute, lightning.FailureError:
				default:
					t.Fatalf("FAILED with reason %q", r.FailureReason)
				}
				// A payee that cannot hold the amount (21M BTC) refuses
				// finally, canceling the invoice: nothing else moves.
				if lightning.FailureReason(r.FailureReason) == lightning.FailureNoRoute &&
					before.invoice.State == lightning.InvoiceOpen && after.invoice.State == lightning.InvoiceCanceled {
					after.invoice.State = before.invoice.State
					moved = after != before
				}
			default:
				t.Fatalf("pay answered %q", answer)
			}
		case code == http.StatusBadRequest, code == http.StatusNotFound, code == http.StatusMethodNotAllowed,
			code == http.StatusServiceUnavailable:
			if code != http.StatusNotFound && !strings.HasPrefix(answer, `{"error":"devnet: `) && code != http.StatusMethodNotAllowed {
				t.Fatalf("HTTP %d answered %q, not the error JSON", code, answer)
			}
		case code == http.StatusMovedPermanently || code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect:
			// net/http's mux, to the clean form of the path: nothing served.
		default:
			t.Fatalf("HTTP %d (%q) is none of the devnet's statuses", code, answer)
		}
		if moved {
			t.Fatalf("HTTP %d %q moved money: %+v → %+v", w.Code, answer, before, after)
		}
	})
}

// validMethod reports whether m is an HTTP method token.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range m {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}

// FuzzDevnetPeerAnswer: what a devnet peer answers a payment with — any
// status and body, the body able to name the invoice's preimage (@P@) and
// hash (@H@), the answer complete or held open. Pay returns within its
// timeout; the payment is SUCCEEDED only with the preimage of its hash.
// Whatever the payer records, in one snapshot with its balance: SUCCEEDED
// with the preimage and its amount and fee debited, FAILED with a reason
// and its money back, or IN_FLIGHT with its money reserved, to be asked
// again. The secret never reaches the log.
func FuzzDevnetPeerAnswer(f *testing.F) {
	for _, b := range []string{
		`{"result":"SETTLED","preimage":"@P@"}`,
		`{"result":"SETTLED","preimage":"@H@"}`,
		`{"result":"SETTLED","preimage":"@P@00"}`,
		`{"result":"SETTLED"}`,
		`{"result":"FAILED","failure_reason":"NO_ROUTE","message":"invoice is not for this node"}`,
		`{"result":"FAILED","failure_reason":"INSUFFICIENT_BALANCE"}`,
		`{"result":"FAILED"}`,
		`{"result":"MAYBE","preimage":"@P@"}`,
		`{"result":"SETTLED","preimage":"@P@"} trailing`,
		`{"result":"SETT`,
		`not json`,
		``,
	} {
		f.Add(uint16(0), false, []byte(b))
	}
	f.Add(uint16(0), true, []byte(`{"result":"SETTLED","preimage":"@P@"}`))
	f.Add(uint16(0), true, []byte(`{"result":"SETT`))
	f.Add(uint16(303), false, []byte(`{"error":"devnet: try again"}`))
	f.Add(uint16(201), false, []byte(`{"error":"devnet: bad or missing credentials"}`))
	f.Add(uint16(200), false, []byte(`{"error":"devnet: malformed request"}`))

	db := storetest.SQLite(f)
	ctx := context.Background()
	payee, err := embedded.Open(ctx, db, embedded.Options{KeyName: "fuzz.peer.payee"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { payee.Close() })
	var (
		mu      sync.Mutex
		answer  []byte
		status  int
		hold    bool
		badAuth string
		payers  int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		a, s, h := answer, status, hold
		if got := r.Header.Get("Authorization"); got != "Bearer "+testSecret {
			badAuth = got
		}
		mu.Unlock()
		w.WriteHeader(s)
		w.Write(a)
		if h && s != http.StatusNoContent && s != http.StatusNotModified {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	f.Cleanup(srv.Close)
	logs := &syncBuffer{}
	desc := sha256.Sum256([]byte("fuzz"))
	const start, amount, fee = 1_000_000_000, 1_000_000, 1 + 1_000_000*1000/1_000_000

	f.Fuzz(func(t *testing.T, st uint16, held bool, body []byte) {
		inv, err := payee.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: amount, DescriptionHash: desc, Expiry: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		answer = []byte(strings.NewReplacer("@P@", inv.Preimage.String(), "@H@", inv.PaymentHash.String()).Replace(string(body)))
		status, hold = 200+int(st%400), held
		payers++
		name := "fuzz.peer.payer." + strconv.Itoa(payers)
		mu.Unlock()
		// A payer of its own for each case: Close ends its attempts, so
		// none of them moves its money during another case.
		payer, err := embedded.Open(ctx, db, embedded.Options{KeyName: name, InitialBalanceMsat: start, DevnetSecret: testSecret,
			DevnetPeers: []string{payee.PubKey() + "@" + srv.URL}, DevnetTimeout: 300 * time.Millisecond,
			FeeBaseMsat: 1, FeePPM: 1000, RetryInterval: time.Hour,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		p, err := payer.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1_000_000, Timeout: 50 * time.Millisecond})
		if d := time.Since(began); d > 3*time.Second {
			t.Fatalf("Pay took %s (timeout 50 ms)", d)
		}
		payer.Close()
		if err != nil {
			t.Fatalf("Pay: %v", err)
		}
		if p.PaymentHash != inv.PaymentHash {
			t.Fatalf("paid %s, asked %s", p.PaymentHash, inv.PaymentHash)
		}
		if p.Status == lightning.StatusSucceeded && sha256.Sum256(p.Preimage[:]) != inv.PaymentHash {
			t.Fatalf("SUCCEEDED with preimage %s, not the preimage of %s", p.Preimage, inv.PaymentHash)
		}

		// The payer's record and balance, in one snapshot.
		var (
			recStatus, reason, preimage string
			bal                         int64
		)
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT status, failure_reason, preimage FROM ln_embedded_payments
				WHERE node_pubkey = $1 AND payment_hash = $2`, payer.PubKey(), inv.PaymentHash.String()).Scan(&recStatus, &reason, &preimage); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `SELECT balance_msat FROM ln_embedded_nodes WHERE pubkey = $1`, payer.PubKey()).Scan(&bal)
		}); err != nil {
			t.Fatal(err)
		}
		if p.Status != lightning.StatusInFlight && string(p.Status) != recStatus {
			t.Fatalf("Pay answered %s; recorded %s", p.Status, recStatus)
		}
		switch lightning.PaymentStatus(recStatus) {
		case lightning.StatusSucceeded:
			pre, err := lightning.ParseHash(preimage)
			if err != nil || sha256.Sum256(pre[:]) != inv.PaymentHash {
				t.Fatalf("recorded SUCCEEDED with preimage %q", preimage)
			}
			fallthrough
		case lightning.StatusInFlight:
			if bal != start-amount-fee {
				t.Fatalf("recorded %s, balance %d (from %d): want %d msat and fee %d debited", recStatus, bal, start, amount, fee)
			}
		case lightning.StatusFailed:
			switch lightning.FailureReason(reason) {
			case lightning.FailureIncorrectDetails, lightning.FailureNoRoute, lightning.FailureError:
			default:
				t.Fatalf("recorded FAILED with reason %q", reason)
			}
			if bal != start {
				t.Fatalf("recorded FAILED, balance %d (from %d): the money is not back", bal, start)
			}
		default:
			t.Fatalf("recorded status %q", recStatus)
		}
		mu.Lock()
		defer mu.Unlock()
		if badAuth != "" {
			t.Fatalf("the payer called its peer with Authorization %q", badAuth)
		}
		if strings.Contains(logs.String(), testSecret) {
			t.Fatalf("the log quotes the devnet secret: %.300q", logs.String())
		}
	})
}
