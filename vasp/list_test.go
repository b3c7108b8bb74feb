package vasp_test

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// startDate and endDate are both inclusive (UMAaaS listTransactions): a
// transaction created exactly at either bound is listed.
func TestListTransactionsDateBoundsInclusive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		if _, err := s.PayRequest(t.Context(), "bob", pr); err != nil {
			t.Fatal(err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %d, %v", len(ts), err)
		}
		at := ts[0].CreatedAt
		for _, tc := range []struct {
			name     string
			from, to time.Time
			want     int
		}{
			{"endDate at creation", time.Time{}, at, 1},
			{"startDate at creation", at, time.Time{}, 1},
			{"both at creation", at, at, 1},
			{"endDate just before", time.Time{}, at.Add(-time.Microsecond), 0},
			{"startDate just after", at.Add(time.Microsecond), time.Time{}, 0},
		} {
			got, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{From: tc.from, To: tc.to}, "", 10)
			if err != nil || len(got) != tc.want {
				t.Errorf("%s: listed %d, want %d (%v)", tc.name, len(got), tc.want, err)
			}
		}
	})
}

// Every UMAaaS listTransactions filter narrows the list (one ignored would
// list every user's payments to a platform that asked for one's), and
// sortOrder=asc pages oldest first.
func TestListTransactionsFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		at := w.clock.Now()
		add := func(dir, status string, r vasp.Recipient, ours, counterparty string) vasp.Transaction {
			t.Helper()
			at = at.Add(time.Second)
			var h [32]byte
			_, _ = rand.Read(h[:])
			tr := vasp.Transaction{ID: vaspd.NewID(vaspd.IDTransaction), Direction: dir, Status: status,
				UserID: r.UserID, PlatformUserID: r.PlatformUserID, OurAddress: ours, Counterparty: counterparty,
				PaymentHash: hex.EncodeToString(h[:]), Invoice: "lnbcrt1", Currency: "EUR", Amount: 1000, Msats: 1_000_000,
				CreatedAt: at, UpdatedAt: at}
			if dir == vasp.Outgoing {
				tr.QuoteID = vaspd.NewID(vaspd.IDQuote)
			}
			if err := s.InsertTransaction(t.Context(), tr); err != nil {
				t.Fatal(err)
			}
			return tr
		}
		// Bob received from Carol and from Alice's Lightning Address, and
		// was being asked by Dave; Alice paid Carol.
		in1 := add(vasp.Incoming, vasp.StatusCompleted, w.bob, "$bob@"+ourDomain, "$Carol@Vasp1.example")
		in2 := add(vasp.Incoming, vasp.StatusPending, w.bob, "$bob@"+ourDomain, "alice@wallet.example")
		in3 := add(vasp.Incoming, vasp.StatusCreated, w.bob, "$bob@"+ourDomain, "$dave@vasp1.example")
		out1 := add(vasp.Outgoing, vasp.StatusCompleted, w.alice, "$alice@"+ourDomain, "$carol@vasp1.example")
		// Carol's payment paid a payment request of Bob's.
		const preq = "PaymentRequest:01a2483e-0000-7000-8000-000000000001"
		if _, err := db.ExecContext(t.Context(), `UPDATE uma_transactions SET payment_request_id = $1 WHERE id = $2`, preq, in1.ID); err != nil {
			t.Fatal(err)
		}
		ids := func(ts []vasp.Transaction) []string {
			var out []string
			for _, tr := range ts {
				out = append(out, tr.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			f    vasp.TransactionFilter
			want []vasp.Transaction // newest first
		}{
			{"none", vasp.TransactionFilter{}, []vasp.Transaction{out1, in3, in2, in1}},
			{"platformUserId", vasp.TransactionFilter{PlatformUserID: "p-alice"}, []vasp.Transaction{out1}},
			{"platformUserId of no one", vasp.TransactionFilter{PlatformUserID: "p-nobody"}, nil},
			{"umaAddress, either side", vasp.TransactionFilter{Address: "carol@vasp1.example"}, []vasp.Transaction{out1, in1}},
			{"umaAddress, ours", vasp.TransactionFilter{Address: vasp.NormalizeAddress("$bob@" + ourDomain)}, []vasp.Transaction{in3, in2, in1}},
			{"senderUmaAddress, a counterparty", vasp.TransactionFilter{Sender: "carol@vasp1.example"}, []vasp.Transaction{in1}},
			{"senderUmaAddress, a Lightning Address", vasp.TransactionFilter{Sender: "alice@wallet.example"}, []vasp.Transaction{in2}},
			{"senderUmaAddress, ours", vasp.TransactionFilter{Sender: vasp.NormalizeAddress("$alice@" + ourDomain)}, []vasp.Transaction{out1}},
			{"receiverUmaAddress, a counterparty", vasp.TransactionFilter{Receiver: "carol@vasp1.example"}, []vasp.Transaction{out1}},
			{"receiverUmaAddress, ours", vasp.TransactionFilter{Receiver: vasp.NormalizeAddress("$bob@" + ourDomain)}, []vasp.Transaction{in3, in2, in1}},
			{"sender and receiver", vasp.TransactionFilter{Sender: "carol@vasp1.example", Receiver: vasp.NormalizeAddress("$bob@" + ourDomain)}, []vasp.Transaction{in1}},
			{"reference of an outgoing payment: its quote", vasp.TransactionFilter{Reference: out1.QuoteID}, []vasp.Transaction{out1}},
			{"reference of an incoming payment: itself", vasp.TransactionFilter{Reference: in2.ID}, []vasp.Transaction{in2}},
			{"an incoming payment awaiting approval has none", vasp.TransactionFilter{Reference: in3.ID}, nil},
			{"an outgoing payment's id is not its reference", vasp.TransactionFilter{Reference: out1.ID}, nil},
			{"paymentRequestId", vasp.TransactionFilter{PaymentRequestID: preq}, []vasp.Transaction{in1}},
			{"paymentRequestId of none", vasp.TransactionFilter{PaymentRequestID: "PaymentRequest:01a2483e-0000-7000-8000-000000000002"}, nil},
			{"ascending", vasp.TransactionFilter{Ascending: true}, []vasp.Transaction{in1, in2, in3, out1}},
		} {
			got, err := s.ListTransactions(t.Context(), tc.f, "", 10)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if g, want := ids(got), ids(tc.want); !slices.Equal(g, want) {
				t.Errorf("%s: listed %v, want %v", tc.name, g, want)
			}
		}
		// Pages in either order: the cursor is the last id of the page.
		for _, asc := range []bool{false, true} {
			var all []string
			cursor := ""
			for range 5 {
				page, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{Ascending: asc}, cursor, 3)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				all = append(all, ids(page)...)
				cursor = page[len(page)-1].ID
			}
			want := ids([]vasp.Transaction{out1, in3, in2, in1})
			if asc {
				slices.Reverse(want)
			}
			if !slices.Equal(all, want) {
				t.Errorf("ascending %v: paged %v, want %v", asc, all, want)
			}
		}
	})
}
