package api_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// An amount out of range is 400 INVALID_AMOUNT on every route that takes
// one, as docs/users.md promises, whether the JSON integer fits no int64
// (refused while decoding, where it was INVALID_INPUT) or is past 9×10¹⁵
// or below 1 (where quotes, payment requests and the sandbox said
// INVALID_INPUT). Another integer field out of range stays INVALID_INPUT.
func TestAmountOutOfRange(t *testing.T) {
	const huge, tooLarge = "99999999999999999999", "9000000000000000001"
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newPayFixture(t, db)
		lookup := vaspd.NewID(vaspd.IDLookup)
		routes := []struct{ path, body string }{
			{"/quotes", `{"lookupId":"` + lookup + `","sendingCurrencyCode":"USD","receivingCurrencyCode":"EUR","lockedCurrencySide":"SENDING","lockedCurrencyAmount":AMOUNT}`},
			{"/payment-requests", `{"userId":"` + f.bob.UserID + `","amount":AMOUNT,"currency":"EUR"}`},
			{"/sandbox/send", `{"reference":"` + vaspd.NewID(vaspd.IDQuote) + `","currencyCode":"USD","currencyAmount":AMOUNT}`},
			{"/sandbox/receive", `{"senderUmaAddress":"$x@example.com","receivingCurrencyCode":"EUR","receivingCurrencyAmount":AMOUNT,"userId":"` + f.bob.UserID + `"}`},
			{"/ledger/transfers", `{"from":"system:overpaid","to":"system:fees","currencyCode":"BTC","amount":AMOUNT,"reference":"r"}`},
		}
		for _, rt := range routes {
			for _, amount := range []string{huge, "-" + huge, tooLarge, "0", "-1"} {
				st, raw, _ := f.call(t, "POST", rt.path, &f.admin, strings.Replace(rt.body, "AMOUNT", amount, 1), "Idempotency-Key", "k")
				if st != 400 || !strings.Contains(string(raw), `"INVALID_AMOUNT"`) {
					t.Errorf("POST %s amount %s: %d %s, want 400 INVALID_AMOUNT", rt.path, amount, st, raw)
				}
			}
		}
		// Not an amount: the decoder's INVALID_INPUT, saying why.
		st, raw, _ := f.call(t, "POST", "/payment-requests", &f.admin,
			`{"userId":"`+f.bob.UserID+`","amount":100,"currency":"EUR","maxNumPayments":`+huge+`}`)
		wantAPIError(t, st, raw, 400, vaspd.CodeInvalidInput)
		if !strings.Contains(string(raw), "maxNumPayments") {
			t.Errorf("maxNumPayments out of range: %s does not name it", raw)
		}
	})
}

// The same for a user's deposits and withdrawals, which said
// INVALID_AMOUNT past 9×10¹⁵ but INVALID_INPUT past int64.
func TestUserMovementAmountOutOfRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		for _, kind := range []string{"deposits", "withdrawals"} {
			for _, amount := range []string{"99999999999999999999", "-99999999999999999999", "9000000000000000001"} {
				st, m, _ := f.req(t, "POST", "/users/"+id+"/"+kind, &f.admin, `{"currencyCode":"USD","amount":`+amount+`}`, "Idempotency-Key", "k")
				wantError(t, st, m, 400, vaspd.CodeInvalidAmount)
			}
		}
	})
}
