package vasp_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

func TestParseRequiredCounterpartyFields(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    uma.CounterpartyDataOptions
		wantErr string
	}{
		{"", uma.CounterpartyDataOptions{}, ""},
		{"  ", uma.CounterpartyDataOptions{}, ""},
		{vasp.DefaultRequiredCounterpartyFields, uma.CounterpartyDataOptions{"name": {}}, ""},
		{"FULL_NAME, email:optional, BIRTH_DATE:Mandatory,IDENTIFIER",
			uma.CounterpartyDataOptions{"name": {Mandatory: true}, "email": {}, "birthDate": {Mandatory: true}}, ""},
		{"NATIONALITY,NATIONALITY", uma.CounterpartyDataOptions{"nationality": {Mandatory: true}}, ""},
		{"FULL_NAME,", nil, "empty entry"},
		{"TAX_ID", nil, `"TAX_ID" is not a field a sender can give`},
		{"FULL_NAME:sometimes", nil, "FIELD:optional"},
		{"IDENTIFIER:optional", nil, "always mandatory"},
		{"EMAIL,EMAIL:optional", nil, "both mandatory and optional"},
	} {
		got, err := vasp.ParseRequiredCounterpartyFields(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want one saying %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// What the operator requires of senders is what our lnurlp answers ask,
// and a payreq lacking a mandatory field is refused before anything is
// recorded or the platform asked; the sandbox sender gives every field.
func TestRequiredCounterpartyFields(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")

		def := w.service(t, nil)
		resp, err := def.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now()), "bob")
		wantCode(t, err, "")
		if want := uma.UMADataOptions("name"); !reflect.DeepEqual(resp.PayerData, want) {
			t.Fatalf("by default the lnurlp answer asks %v, want %v", resp.PayerData, want)
		}

		required, err := vasp.ParseRequiredCounterpartyFields("FULL_NAME,EMAIL,NATIONALITY:optional")
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.PayerData = required })
		resp, err = s.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now()), "bob")
		wantCode(t, err, "")
		want := uma.CounterpartyDataOptions{"identifier": {Mandatory: true}, "compliance": {Mandatory: true},
			"name": {Mandatory: true}, "email": {Mandatory: true}, "nationality": {}}
		if !reflect.DeepEqual(resp.PayerData, want) {
			t.Fatalf("the lnurlp answer asks %v, want %v", resp.PayerData, want)
		}

		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.PayerData.Name = "Alice"
		if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err = s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, uma.CodeMissingMandatoryPayerData)
		if !strings.Contains(err.Error(), "email") {
			t.Fatalf("the refusal does not name the missing field: %v", err)
		}
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("a payreq without mandatory payer data recorded %d transactions", n)
		}

		pr = payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.PayerData.Name, pr.PayerData.Email = "Alice", "alice@vasp1.example"
		if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err = s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, "")
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %d, %v", len(ts), err)
		}
		var payer map[string]any
		if err := json.Unmarshal(ts[0].Details.PayerData, &payer); err != nil || payer["email"] != "alice@vasp1.example" || payer["name"] != "Alice" {
			t.Fatalf("payer data kept %s (%v)", ts[0].Details.PayerData, err)
		}

		// The sandbox's sender gives what is required.
		all, err := vasp.ParseRequiredCounterpartyFields("FULL_NAME,EMAIL,BIRTH_DATE,NATIONALITY,COUNTRY_OF_RESIDENCE,PHONE_NUMBER,POSTAL_ADDRESS,ACCOUNT_IDENTIFIER")
		if err != nil {
			t.Fatal(err)
		}
		sb := w.service(t, func(o *vasp.Options) { o.PayerData = all })
		tx, err := sb.SandboxReceive(t.Context(), vasp.SandboxReceive{Sender: "$success.eur@" + vasp.SandboxDomain, Receiver: "$bob@" + ourDomain, Currency: "EUR", Amount: 100})
		if err != nil || tx.Status == vasp.StatusRejected || tx.Status == vasp.StatusFailed {
			t.Fatalf("sandbox receive with every field required: %+v, %v", tx, err)
		}
	})
}
