package vasp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

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
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var m struct {
				Transaction struct{ ID, Status string } `json:"transaction"`
			}
			_ = json.Unmarshal(b, &m)
			if m.Transaction.Status != "PENDING" {
				rw.WriteHeader(200)
				return
			}
			do := func() {
				if decide != "" {
					if _, err := s.Decide(context.Background(), m.Transaction.ID, decide == "approve", nil, "no"); err != nil {
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
		}))
		t.Cleanup(srv.Close)
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
				// Decided: the API can no longer change it.
				if _, err := s.Decide(t.Context(), ts[0].ID, true, nil, ""); err == nil {
					t.Fatal("a decided payment was decided again")
				}
			})
		}
	})
}
