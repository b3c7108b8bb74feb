package vasp_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver whose lookup asks payer data as mandatory that vaspd does not
// fill from the user record gets no payreq until the platform gives it in
// senderUserInfo (UMAaaS names): 400 MISSING_MANDATORY_USER_INFO naming
// the missing fields. What is given goes out as payer data, but only the
// fields the receiver asked for.
func TestQuoteMandatoryPayerData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.lnurlp = func(r *uma.LnurlpResponse) {
			r.PayerData[uma.DataName] = uma.CounterpartyDataOption{Mandatory: true} // alice has a name
			r.PayerData[uma.DataEmail] = uma.CounterpartyDataOption{Mandatory: true}
			r.PayerData["nationality"] = uma.CounterpartyDataOption{Mandatory: true}
			r.PayerData["birthDate"] = uma.CounterpartyDataOption{}
		}
		var got *uma.PayRequest
		reply := h.reply(nil)
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) { got = pr; reply(rw, pr) }
		l := h.lookup(t)
		quote := func(info map[string]any) (vasp.Quote, error) {
			return h.s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
				LockedSide: vasp.LockedSending, Amount: 1000, SenderUserInfo: info})
		}

		_, err := quote(map[string]any{"EMAIL": "alice@example.com", "PHONE_NUMBER": "+1555"})
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeMissingMandatoryUserInfo)
		if f, _ := vaspd.AsError(err).Details["requiredFields"].([]string); !slices.Equal(f, []string{"NATIONALITY"}) {
			t.Fatalf("requiredFields %v, want [NATIONALITY]", vaspd.AsError(err).Details)
		}
		_, err = quote(nil)
		wantStatus(t, err, http.StatusBadRequest, vaspd.CodeMissingMandatoryUserInfo)
		if f, _ := vaspd.AsError(err).Details["requiredFields"].([]string); !slices.Equal(f, []string{"EMAIL", "NATIONALITY"}) {
			t.Fatalf("requiredFields %v, want [EMAIL NATIONALITY]", vaspd.AsError(err).Details)
		}
		if got != nil {
			t.Fatal("a payreq was sent without the mandatory payer data")
		}
		for _, bad := range []map[string]any{
			{"EMAIL": 42, "NATIONALITY": "FR"},
			{"EMAIL": "a@b", "NATIONALITY": nil},
			{"EMAIL": "a@b", "NATIONALITY": ""},
			{"EMAIL": "a@b", "NATIONALITY": "FR", "FULL_NAME": []any{"x"}},
		} {
			_, err = quote(bad)
			wantStatus(t, err, http.StatusBadRequest, vaspd.CodeInvalidInput)
		}

		q, err := quote(map[string]any{"EMAIL": "alice@example.com", "NATIONALITY": "FR", "BIRTH_DATE": "1990-01-15",
			"PHONE_NUMBER": "+1555", "TAX_ID": "x"})
		if err != nil {
			t.Fatal(err)
		}
		pd := got.PayerData
		if pd.Name != "Alice" || pd.Email != "alice@example.com" || string(pd.Extra["nationality"]) != `"FR"` ||
			string(pd.Extra["birthDate"]) != `"1990-01-15"` {
			t.Fatalf("payer data sent: %+v", pd)
		}
		if _, ok := pd.Extra["phoneNumber"]; ok || len(pd.Extra) != 2 {
			t.Fatalf("payer data the receiver did not ask for was sent: %v", pd.Extra)
		}
		// A refresh sends the same payer data again.
		got = nil
		if _, err := h.s.RefreshQuote(t.Context(), q.ID); err != nil {
			t.Fatal(err)
		}
		if got == nil || got.PayerData.Email != "alice@example.com" || string(got.PayerData.Extra["nationality"]) != `"FR"` {
			t.Fatalf("refresh sent %+v", got)
		}
		// FULL_NAME, when given, is the name sent.
		if _, err := quote(map[string]any{"EMAIL": "a@b", "NATIONALITY": "FR", "FULL_NAME": "Alice Q. Sender"}); err != nil {
			t.Fatal(err)
		}
		if got.PayerData.Name != "Alice Q. Sender" {
			t.Fatalf("name sent %q", got.PayerData.Name)
		}
	})
}
