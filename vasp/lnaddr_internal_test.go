package vasp

import (
	"encoding/json"
	"testing"

	"github.com/vaspd/vaspd/uma"
)

// FuzzPlainLnurlp: any body a plain LNURL-pay service answers a lookup
// with is parsed and checked without panicking, and one accepted is what
// the quote relies on: a payRequest whose callback we may call, a
// positive msat range holding a whole sat (its SAT currency valid) and
// metadata that is a JSON array with a text/plain entry.
func FuzzPlainLnurlp(f *testing.F) {
	f.Add([]byte(`{"tag":"payRequest","callback":"https://w.example/cb","minSendable":1000,"maxSendable":2000,"metadata":"[[\"text/plain\",\"x\"]]"}`))
	f.Add([]byte(`{"tag":"payRequest","callback":"http://localhost:1/cb","minSendable":"1","maxSendable":1e3,"metadata":"[[\"text/plain\",\"x\"],[\"image/png;base64\",\"AA\"]]","commentAllowed":-1}`))
	f.Add([]byte(`{"status":"ERROR","reason":"no"}`))
	f.Add([]byte(`{"tag":"payRequest","callback":"https://w.example/cb","minSendable":1500,"maxSendable":1800,"metadata":"[]"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := uma.ParseLnurlpResponse(body)
		if err != nil || checkPlainLnurlp(r) != nil {
			return
		}
		if r.Tag != "payRequest" || checkCounterpartyURL(r.Callback) != nil || r.MinSendable <= 0 || r.MaxSendable < r.MinSendable {
			t.Fatalf("accepted %+v", r)
		}
		if c := satCurrency(r); c.Validate() != nil {
			t.Fatalf("accepted %+v, whose SAT currency %+v is invalid", r, c)
		}
		var entries [][]json.RawMessage
		if json.Unmarshal([]byte(r.Metadata), &entries) != nil {
			t.Fatalf("accepted metadata %q", r.Metadata)
		}
	})
}
