package api_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// hostileText are query values no stored filter value can hold: a NUL and
// invalid UTF-8 (both refused by PostgreSQL as text), a control character.
var hostileText = []string{"%00", "a%00b", "%FF", "%C3%28", "a%0Ab"}

// TestListFiltersRefuseBadText: list filters holding bytes no stored
// value can hold answer 400, on every database, never a 500.
func TestListFiltersRefuseBadText(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		for _, v := range hostileText {
			for _, path := range []string{"/users?platformUserId=" + v, "/tokens?name=" + v} {
				st, m, _ := f.req(t, "GET", path, &f.admin, "")
				wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
			}
		}
	})
}

// TestPaymentListsRefuseBadUserID: the userId filters of /transactions and
// /uma-requests take user ids, so anything else is a 400, as it is for
// GET /receiver.
func TestPaymentListsRefuseBadUserID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		for _, v := range append([]string{"x", "Transaction:" + f.alice.UserID[len("User:"):]}, hostileText...) {
			for _, path := range []string{"/transactions?userId=" + v, "/uma-requests?userId=" + v} {
				status, raw, _ := f.call(t, "GET", path, &f.viewer, "")
				wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
			}
		}
	})
}

// TestDateFiltersTakeUnescapedPlus: a "+" offset left unescaped in a query
// string arrives as a space; every date filter reads it as the "+" it was,
// as /users always did, and still refuses what is not a date.
func TestDateFiltersTakeUnescapedPlus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		pay := newPayFixture(t, db)
		for _, q := range []string{"startDate=2025-01-02T15:04:05+01:00", "endDate=2025-01-02T15:04:05.5+01:00"} {
			status, raw, _ := pay.call(t, "GET", "/transactions?"+q, &pay.viewer, "")
			if status != http.StatusOK {
				t.Errorf("/transactions?%s: %d %s", q, status, raw)
			}
		}
		status, raw, _ := pay.call(t, "GET", "/transactions?endDate=2025-01-02T15:04:05%2001:00x", &pay.viewer, "")
		wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)

		wh := newWebhookFixture(t, db)
		for _, q := range []string{"since=2025-01-02T15:04:05+01:00", "until=2025-01-02T15:04:05.5+01:00"} {
			if st, m := wh.do(t, "GET", "/webhooks/deliveries?"+q, &wh.viewer, "", ""); st != http.StatusOK {
				t.Errorf("/webhooks/deliveries?%s: %d %v", q, st, m)
			}
		}
		st, m := wh.do(t, "GET", "/webhooks/deliveries?until=2025-13-02T15:04:05+01:00", &wh.viewer, "", "")
		wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
	})
}

// TestTransactionListFilters: GET /transactions applies UMAaaS's
// platformUserId, umaAddress, senderUmaAddress, receiverUmaAddress,
// reference and sortOrder: each filtered list is exactly the unfiltered
// one's transactions whose rendered fields match (vasp's
// TestListTransactionsFilters checks more cases), and a value none of them
// can hold is a 400.
func TestTransactionListFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		// Two payments from alice to bob (both ours): four transactions.
		for _, amount := range []int64{500, 700} {
			if st, raw := f.payBoth(t, f.quote(t, amount), &f.admin); st != http.StatusOK {
				t.Fatalf("execute: %d %s", st, raw)
			}
		}
		type tx struct {
			ID, Type, PlatformUserID, SenderUmaAddress, ReceiverUmaAddress string
			PaymentInstructions                                            *struct{ Reference string }
			ReconciliationInstructions                                     *struct{ Reference string }
		}
		list := func(query string) []tx {
			t.Helper()
			status, raw, _ := f.call(t, "GET", "/transactions?"+query, &f.viewer, "")
			if status != http.StatusOK {
				t.Fatalf("?%s: %d %s", query, status, raw)
			}
			var page struct{ Data []tx }
			if err := json.Unmarshal(raw, &page); err != nil {
				t.Fatal(err)
			}
			return page.Data
		}
		ids := func(ts []tx) []string {
			var out []string
			for _, x := range ts {
				out = append(out, x.ID)
			}
			return out
		}
		all := list("")
		if len(all) != 4 {
			t.Fatalf("%d transactions, want 4", len(all))
		}
		ref := func(x tx) string {
			if x.PaymentInstructions != nil {
				return x.PaymentInstructions.Reference
			}
			if x.ReconciliationInstructions != nil {
				return x.ReconciliationInstructions.Reference
			}
			return ""
		}
		alice, bob := "$alice@"+f.domain, "$bob@"+f.domain
		outRef := ""
		for _, x := range all {
			if x.Type == vasp.Outgoing && outRef == "" {
				outRef = ref(x)
			}
		}
		inRef := ""
		for _, x := range all {
			if x.Type == vasp.Incoming && inRef == "" {
				inRef = ref(x)
			}
		}
		for _, c := range []struct {
			query string
			match func(tx) bool
			n     int
		}{
			{"platformUserId=p-bob", func(x tx) bool { return x.PlatformUserID == "p-bob" }, 2},
			{"platformUserId=p-nobody", func(tx) bool { return false }, 0},
			// Stored trimmed of surrounding spaces: so is the filter.
			{"platformUserId=%20p-bob%20", func(x tx) bool { return x.PlatformUserID == "p-bob" }, 2},
			{"type=OUTGOING&platformUserId=p-alice", func(x tx) bool { return x.Type == vasp.Outgoing }, 2},
			{"umaAddress=" + url.QueryEscape(alice), func(x tx) bool { return x.SenderUmaAddress == alice || x.ReceiverUmaAddress == alice }, 4},
			{"senderUmaAddress=" + url.QueryEscape("$ALICE@"+f.domain), func(x tx) bool { return x.SenderUmaAddress == alice }, 4},
			{"senderUmaAddress=" + url.QueryEscape(bob), func(x tx) bool { return x.SenderUmaAddress == bob }, 0},
			{"receiverUmaAddress=" + url.QueryEscape(bob) + "&platformUserId=p-bob", func(x tx) bool {
				return x.ReceiverUmaAddress == bob && x.PlatformUserID == "p-bob"
			}, 2},
			{"umaAddress=" + url.QueryEscape("$carol@vasp1.example"), func(tx) bool { return false }, 0},
			{"reference=" + url.QueryEscape(outRef), func(x tx) bool { return ref(x) == outRef }, 1},
			{"reference=" + url.QueryEscape(inRef), func(x tx) bool { return ref(x) == inRef }, 1},
		} {
			var want []string
			for _, x := range all {
				if c.match(x) {
					want = append(want, x.ID)
				}
			}
			if got := ids(list(c.query)); !slices.Equal(got, want) || len(got) != c.n {
				t.Errorf("?%s: %v, want %v (%d)", c.query, got, want, c.n)
			}
		}
		asc := ids(all)
		slices.Reverse(asc)
		if got := ids(list("sortOrder=asc")); !slices.Equal(got, asc) {
			t.Errorf("sortOrder=asc: %v, want %v", got, asc)
		}
		// Pages oldest first: the cursor goes on from the last one listed.
		_, raw, m := f.call(t, "GET", "/transactions?sortOrder=asc&limit=2", &f.viewer, "")
		next, _ := m["nextCursor"].(string)
		if next == "" {
			t.Fatalf("first page oldest first: %s", raw)
		}
		if got := ids(list("sortOrder=asc&limit=2&cursor=" + url.QueryEscape(next))); !slices.Equal(got, asc[2:]) {
			t.Errorf("sortOrder=asc, second page: %v, want %v", got, asc[2:])
		}
		if got := ids(list("sortOrder=desc&limit=1")); !slices.Equal(got, ids(all)[:1]) {
			t.Errorf("sortOrder=desc: %v, want %v", got, ids(all)[:1])
		}
		for _, q := range []string{"sortOrder=ASC", "sortOrder=newest", "umaAddress=bob", "senderUmaAddress=%24bob%40",
			"receiverUmaAddress=%24b%C3%B6b%40x.example", "platformUserId=a%00b", "reference=" + strings.Repeat("r", 300),
			"paymentRequestId=x", "paymentRequestId=" + url.QueryEscape(f.alice.UserID)} {
			status, raw, _ := f.call(t, "GET", "/transactions?"+q, &f.viewer, "")
			wantAPIError(t, status, raw, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}
	})
}

// TestQueryParameterGivenTwice: a platform request naming a query
// parameter twice is 400 INVALID_INPUT naming it, on every route (which
// limit, which status filter was meant cannot be told), never the first
// value read; after authentication, as every input error is.
func TestQueryParameterGivenTwice(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		for _, path := range []string{"/users?limit=5&limit=50", "/tokens?name=a&name=b", "/users?createdAfter=2025-01-01T00:00:00Z&createdAfter=2026-01-01T00:00:00Z"} {
			st, m, _ := f.req(t, "GET", path, &f.admin, "")
			wantError(t, st, m, http.StatusBadRequest, vaspd.CodeInvalidInput)
			if msg, _ := m["message"].(string); !strings.Contains(msg, "once") {
				t.Errorf("%s: message %q, want it to say the parameter goes once", path, msg)
			}
		}
		if st, _, _ := f.req(t, "GET", "/users?limit=5&limit=50", nil, ""); st != http.StatusUnauthorized {
			t.Errorf("unauthenticated: %d, want 401 first", st)
		}
		if st, m, _ := f.req(t, "GET", "/users?limit=5", &f.admin, ""); st != http.StatusOK {
			t.Errorf("once: %d %v", st, m)
		}
	})
}
