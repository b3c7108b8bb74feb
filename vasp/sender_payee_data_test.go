package vasp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// A receiver that leaves out payee data our payreq marked mandatory gets
// no quote (LUD-22, UMAD-06); the error names the missing keys. The
// identifier is the exception: the signature already binds the answer to
// the address we paid, and the JS SDK leaves it out.
func TestQuoteMandatoryPayeeData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHostile(t, db)
		h.s.SetPayeeData(uma.CounterpartyDataOptions{
			uma.DataIdentifier: {Mandatory: true}, uma.DataCompliance: {Mandatory: true},
			uma.DataName: {Mandatory: true}, "accountIdentifier": {Mandatory: true}, uma.DataEmail: {},
		})
		l := h.lookup(t)
		with := func(name, account string) func(*uma.PayRequest, *uma.PayReqResponse) {
			return func(pr *uma.PayRequest, r *uma.PayReqResponse) {
				if !pr.PayeeData[uma.DataName].Mandatory {
					t.Errorf("payreq asks %v", pr.PayeeData)
				}
				r.PayeeData.Name = name
				if account != "" {
					r.PayeeData.Extra = map[string]json.RawMessage{"accountIdentifier": json.RawMessage(`"` + account + `"`)}
				}
			}
		}
		h.payreq = h.reply(with("", ""))
		_, err := h.quote(t, l, vasp.LockedSending, 1000)
		wantStatus(t, err, http.StatusFailedDependency, vaspd.CodePayreqRequestFailed)
		if msg := vaspd.AsError(err).Message; !strings.Contains(msg, "accountIdentifier, name") {
			t.Fatalf("error %q does not name the missing keys", msg)
		}
		h.payreq = h.reply(with("Bob", ""))
		_, err = h.quote(t, l, vasp.LockedSending, 1000)
		wantStatus(t, err, http.StatusFailedDependency, vaspd.CodePayreqRequestFailed)
		if msg := vaspd.AsError(err).Message; !strings.Contains(msg, "accountIdentifier") || strings.Contains(msg, "name") {
			t.Fatalf("error %q", msg)
		}

		h.payreq = h.reply(with("Bob", "DE89"))
		if _, err := h.quote(t, l, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
		// All mandatory keys but the identifier (signed for bob, dropped).
		h.payreq = func(rw http.ResponseWriter, pr *uma.PayRequest) {
			rec := httptest.NewRecorder()
			h.reply(with("Bob", "DE89"))(rec, pr)
			body := strings.Replace(rec.Body.String(), `"identifier":"$bob@`+h.domain+`",`, ``, 1)
			if body == rec.Body.String() {
				t.Errorf("no identifier to drop in %s", body)
			}
			_, _ = rw.Write([]byte(body))
		}
		if _, err := h.quote(t, l, vasp.LockedSending, 1000); err != nil {
			t.Fatal(err)
		}
	})
}
