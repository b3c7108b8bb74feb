package vasp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/webhook"
)

// approvalHook is a platform's webhook receiver: it acknowledges every event
// with 200 but an approval ask (a transaction still PENDING), which ask
// answers, given the transaction's ID.
func approvalHook(t *testing.T, ask func(rw http.ResponseWriter, txID string)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct {
			Transaction struct{ ID, Status string } `json:"transaction"`
		}
		_ = json.Unmarshal(b, &m)
		if m.Transaction.Status != vasp.StatusPending {
			rw.WriteHeader(200)
			return
		}
		ask(rw, m.Transaction.ID)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The platform's first decision about an incoming payment stands, whether
// it came as the webhook's reply or as POST /transactions/{id}/approve|reject
// racing it.
func TestApprovalFirstDecisionWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var s *vasp.Service
		// platform decides through the API (decide: "approve", "reject" or
		// "" for none), now or after its reply, then replies status.
		var decide string
		var later bool
		var status int
		srv := approvalHook(t, func(rw http.ResponseWriter, txID string) {
			do := func() {
				if decide != "" {
					if _, err := s.Decide(context.Background(), txID, decide == "approve", nil, "no"); err != nil {
						t.Errorf("decide: %v", err)
					}
				}
			}
			if later {
				go func() { time.Sleep(100 * time.Millisecond); do() }()
			} else {
				do()
			}
			rw.WriteHeader(status)
		})
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		s = w.service(t, func(o *vasp.Options) {
			o.Webhooks = hooks
			o.ApprovalTimeout = 2 * time.Second
		})
		for _, tc := range []struct {
			name   string
			decide string
			later  bool
			status int
			want   string // transaction status
		}{
			{"reply approves", "", false, 200, vasp.StatusPending},
			{"reply rejects", "", false, 403, vasp.StatusRejected},
			{"rejected by API, then reply 200", "reject", false, 200, vasp.StatusRejected},
			{"approved by API, then reply 403", "approve", false, 403, vasp.StatusPending},
			{"reply 202, then approved by API", "approve", true, 202, vasp.StatusPending},
			{"reply 202, then rejected by API", "reject", true, 202, vasp.StatusRejected},
		} {
			t.Run(tc.name, func(t *testing.T) {
				decide, later, status = tc.decide, tc.later, tc.status
				_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
				if tc.want == vasp.StatusPending {
					wantCode(t, err, "")
				} else {
					wantCode(t, err, uma.CodeSenderNotAccepted)
				}
				ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
				if err != nil || len(ts) != 1 {
					t.Fatalf("list: %v", err)
				}
				if ts[0].Status != tc.want {
					t.Fatalf("transaction is %s (%s), want %s", ts[0].Status, ts[0].FailureReason, tc.want)
				}
				// One REJECTED webhook, from whichever path won; none for
				// a rejection that lost to an approval.
				if tc.want == vasp.StatusRejected {
					wantEndHooks(t, db, ts[0].ID, "REJECTED/")
				} else {
					wantEndHooks(t, db, ts[0].ID)
				}
				// Decided: the API can no longer change it.
				if _, err := s.Decide(t.Context(), ts[0].ID, true, nil, ""); err == nil {
					t.Fatal("a decided payment was decided again")
				}
			})
		}
	})
}

// An incoming payment left CREATED (the process crashed while asking the
// platform, or the sender hung up after the approval so no invoice was
// issued) ends REJECTED once its approval deadline has passed, and can no
// longer be approved or rejected then: 409 TRANSACTION_NOT_PENDING_PLATFORM_APPROVAL.
func TestStaleCreatedPaymentsEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.ApprovalTimeout = 5 * time.Second })
		created := func(approval string) string { return insertCreated(t, w, s, approval) }
		wantStatus := func(id, status, reason string) {
			t.Helper()
			tr, err := s.GetTransaction(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Status != status || tr.FailureReason != reason {
				t.Fatalf("transaction is %s (%s), want %s (%s)", tr.Status, tr.FailureReason, status, reason)
			}
		}
		wantRefused := func(id string) {
			t.Helper()
			for _, approve := range []bool{true, false} {
				_, err := s.Decide(t.Context(), id, approve, nil, "late")
				var e *vaspd.Error
				if !errors.As(err, &e) || e.Status != 409 || e.Code != vaspd.CodeTransactionNotPending {
					t.Fatalf("decide (approve=%v) after the deadline: %v, want 409 %s", approve, err, vaspd.CodeTransactionNotPending)
				}
			}
		}
		crashed := created("")          // nobody ever answered
		approved := created("APPROVED") // approved, but the invoice was never issued
		refused := created("REJECTED")  // rejected by the API, not yet applied
		w.clock.Advance(4 * time.Second)
		fresh := created("")
		s.SweepCreated(t.Context())
		wantStatus(crashed, vasp.StatusCreated, "") // within its deadline: left alone

		w.clock.Advance(2 * time.Second) // crashed's deadline passed, not fresh's
		wantRefused(crashed)
		if _, err := s.Decide(t.Context(), fresh, true, nil, ""); err != nil {
			t.Fatalf("decide within the deadline: %v", err)
		}

		w.clock.Advance(2 * time.Minute)
		s.SweepCreated(t.Context())
		wantStatus(crashed, vasp.StatusRejected, "PAYMENT_APPROVAL_TIMED_OUT")
		wantStatus(approved, vasp.StatusRejected, "PAY_REQUEST_FAILED")
		wantStatus(refused, vasp.StatusRejected, "REJECTED_BY_PLATFORM")
		wantStatus(fresh, vasp.StatusRejected, "PAY_REQUEST_FAILED")
		// The platform's refusal is told by status REJECTED alone: the
		// specification's failure reasons have no word for it.
		wantSpecTransaction(t, s, refused, "")
		wantSpecTransaction(t, s, crashed, "PAYMENT_APPROVAL_TIMED_OUT")
		for _, id := range []string{crashed, approved, refused, fresh} {
			wantRefused(id)
		}
	})
}

// A disabled primary endpoint is not asked, and its silence is no
// approval: the payment is rejected (PAYMENT_APPROVAL_WEBHOOK_ERROR), as a
// platform that configured an endpoint meant to screen what it receives.
func TestApprovalWithDisabledEndpointRejects(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		var asked atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			rw.WriteHeader(200)
		}))
		t.Cleanup(srv.Close)
		hooks, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
		if err != nil {
			t.Fatal(err)
		}
		e, _, _, err := hooks.ConfigurePrimary(t.Context(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		off := false
		if _, err := hooks.UpdateEndpoint(t.Context(), e.ID, delivery.EndpointInput{Enabled: &off}); err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Webhooks = hooks })
		_, err = s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", time.Now()))
		wantCode(t, err, uma.CodeSenderNotAccepted)
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %d, %v", len(ts), err)
		}
		if ts[0].Status != vasp.StatusRejected || ts[0].FailureReason != "PAYMENT_APPROVAL_WEBHOOK_ERROR" || asked.Load() != 0 {
			t.Fatalf("transaction is %s (%s), the disabled endpoint was asked %d times", ts[0].Status, ts[0].FailureReason, asked.Load())
		}
		wantEndHooks(t, db, ts[0].ID) // never asked: told nothing
	})
}

// insertCreated records an incoming payment to Bob left CREATED, with the
// platform's decision approval ("" = none stored), as a process that
// crashed while asking leaves it; it returns the payment's id.
func insertCreated(t *testing.T, w *world, s *vasp.Service, approval string) string {
	t.Helper()
	now := w.clock.Now()
	tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: vasp.Incoming, Status: vasp.StatusCreated,
		UserID: w.bob.UserID, PlatformUserID: w.bob.PlatformUserID, OurAddress: "$bob@" + ourDomain,
		Counterparty: "$alice@vasp1.example", Currency: "EUR", Amount: 500, Msats: 5_000_000, CreatedAt: now, UpdatedAt: now}
	if err := s.InsertDecidedTransaction(t.Context(), tr, approval); err != nil {
		t.Fatal(err)
	}
	return tr.ID
}

// Payee data the sender asks as mandatory, and that vaspd cannot fill
// itself, must come from the platform's approval (UMAaaS: the requested
// fields "must be included"). POST /transactions/{id}/approve without
// them is refused (400 MISSING_MANDATORY_USER_INFO) and leaves the payment
// waiting, so the platform can approve again with them, here through
// another process on the same database than the one holding the payreq; a
// 200 reply without them rejects the payment (MISSING_MANDATORY_PAYEE_DATA)
// instead of handing the sender an invoice with an answer it must refuse.
// The name is not needed from the platform when the user has one.
func TestApprovalMandatoryReceiverUserInfo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		type ask struct{ ID string }
		asks := make(chan ask, 1)
		var reply atomic.Value // func(http.ResponseWriter)
		srv := approvalHook(t, func(rw http.ResponseWriter, txID string) {
			asks <- ask{txID}
			reply.Load().(func(http.ResponseWriter))(rw)
		})
		newHooks := func() *delivery.Service {
			h, err := delivery.New(db, delivery.Options{AllowNets: []string{"127.0.0.0/8"}})
			if err != nil {
				t.Fatal(err)
			}
			return h
		}
		hooksA := newHooks()
		if _, _, _, err := hooksA.ConfigurePrimary(t.Context(), srv.URL); err != nil {
			t.Fatal(err)
		}
		a := w.service(t, func(o *vasp.Options) { o.Webhooks, o.ApprovalTimeout = hooksA, time.Minute })
		b := w.service(t, func(o *vasp.Options) { o.Webhooks, o.ApprovalTimeout = newHooks(), time.Minute })
		emailAsked := uma.CounterpartyDataOptions{uma.DataIdentifier: {Mandatory: true}, uma.DataCompliance: {Mandatory: true},
			uma.DataName: {Mandatory: true}, uma.DataEmail: {Mandatory: true}, "nationality": {}}

		t.Run("202, approved without then with the field", func(t *testing.T) {
			decided := make(chan error, 1)
			reply.Store(func(rw http.ResponseWriter) { rw.WriteHeader(202) })
			go func() {
				q := <-asks
				// Without EMAIL (NATIONALITY is optional, FULL_NAME is Bob's own).
				_, err := b.Decide(context.Background(), q.ID, true, map[string]any{"NATIONALITY": "FR"}, "")
				var e *vaspd.Error
				if !errors.As(err, &e) || e.Status != 400 || e.Code != vaspd.CodeMissingMandatoryUserInfo || !strings.Contains(e.Message, "EMAIL") {
					decided <- fmt.Errorf("approve without EMAIL: %v, want 400 %s naming EMAIL", err, vaspd.CodeMissingMandatoryUserInfo)
					return
				}
				_, err = b.Decide(context.Background(), q.ID, true, map[string]any{"EMAIL": "bob@example.com"}, "")
				decided <- err
			}()
			resp, err := a.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, emailAsked))
			if derr := <-decided; derr != nil {
				t.Fatal(derr)
			}
			wantCode(t, err, "")
			// As the sender reads it.
			raw, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var got uma.PayReqResponse
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if err := got.CheckMandatoryPayeeData(emailAsked); err != nil || got.PayeeData.Email != "bob@example.com" || got.PayeeData.Name != "Bob" {
				t.Fatalf("the sender reads payee data %s: %v", raw, err)
			}
		})

		t.Run("200 without the field", func(t *testing.T) {
			reply.Store(func(rw http.ResponseWriter) {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(200)
				_, _ = rw.Write([]byte(`{"receiverUserInfo":{"NATIONALITY":"FR"}}`))
			})
			_, err := a.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, emailAsked))
			q := <-asks
			wantCode(t, err, uma.CodeMissingMandatoryPayeeData)
			tr, gerr := a.GetTransaction(t.Context(), q.ID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tr.Status != vasp.StatusRejected || tr.FailureReason != webhook.IncomingFailureMissingMandatoryPayeeData {
				t.Fatalf("transaction is %s (%s)", tr.Status, tr.FailureReason)
			}
			wantEndHooks(t, db, q.ID, "REJECTED/"+webhook.IncomingFailureMissingMandatoryPayeeData)
			if _, err := b.Decide(t.Context(), q.ID, true, map[string]any{"EMAIL": "bob@example.com"}, ""); err == nil {
				t.Fatal("a rejected payment was approved")
			}
		})

		// A 200 naming a field twice gives two answers for the payee data:
		// encoding/json kept the last, and sent it to the sender as the
		// platform's, which may have meant the first. Refused, as the
		// platform API refuses such a request.
		for _, body := range []string{
			`{"receiverUserInfo":{"EMAIL":"first@example.com"},"receiverUserInfo":{"EMAIL":"last@example.com"}}`,
			`{"receiverUserInfo":{"EMAIL":"first@example.com","email":"last@example.com"}}`,
		} {
			t.Run("200 naming a field twice: "+body, func(t *testing.T) {
				reply.Store(func(rw http.ResponseWriter) {
					rw.Header().Set("Content-Type", "application/json")
					rw.WriteHeader(200)
					_, _ = rw.Write([]byte(body))
				})
				resp, err := a.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, emailAsked))
				q := <-asks
				wantCode(t, err, uma.CodeSenderNotAccepted)
				if resp != nil && resp.PayeeData != nil {
					t.Fatalf("answered with payee data %+v", resp.PayeeData)
				}
				tr, gerr := a.GetTransaction(t.Context(), q.ID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				if tr.Status != vasp.StatusRejected || tr.FailureReason != "PAYMENT_APPROVAL_WEBHOOK_ERROR" {
					t.Fatalf("transaction is %s (%s)", tr.Status, tr.FailureReason)
				}
				wantEndHooks(t, db, q.ID, "REJECTED/PAYMENT_APPROVAL_WEBHOOK_ERROR")
			})
		}

		t.Run("200 without the name, which Bob has", func(t *testing.T) {
			reply.Store(func(rw http.ResponseWriter) { rw.WriteHeader(200) })
			nameAsked := uma.CounterpartyDataOptions{uma.DataIdentifier: {Mandatory: true}, uma.DataCompliance: {Mandatory: true}, uma.DataName: {Mandatory: true}}
			resp, err := a.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, nameAsked))
			<-asks
			wantCode(t, err, "")
			if resp.PayeeData.Name != "Bob" {
				t.Fatalf("payee name %q", resp.PayeeData.Name)
			}
		})
	})
}

// With no webhook endpoint nobody is asked, so nobody can give the payee
// data the sender asked as mandatory that vaspd does not fill: the payreq
// is refused (MISSING_MANDATORY_PAYEE_DATA) before anything is recorded,
// as for a mandatory key vaspd does not know, rather than answered with an
// invoice and payee data the sender must refuse.
func TestNoEndpointMandatoryPayeeData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		_, err := s.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, uma.CounterpartyDataOptions{uma.DataIdentifier: {Mandatory: true},
			uma.DataCompliance: {Mandatory: true}, uma.DataEmail: {Mandatory: true}}))
		wantCode(t, err, uma.CodeMissingMandatoryPayeeData)
		if ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 10); err != nil || len(ts) != 0 {
			t.Fatalf("%d transactions recorded (%v), want none", len(ts), err)
		}
		// The name vaspd gives itself (Bob has one); optional data may lack.
		resp, err := s.PayRequest(t.Context(), "bob", payRequestAsking(t, sender.Signing, uma.CounterpartyDataOptions{uma.DataIdentifier: {Mandatory: true},
			uma.DataCompliance: {Mandatory: true}, uma.DataName: {Mandatory: true}, uma.DataEmail: {}}))
		wantCode(t, err, "")
		if resp.PayeeData.Name != "Bob" {
			t.Fatalf("payee name %q", resp.PayeeData.Name)
		}
	})
}
