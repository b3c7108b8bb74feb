package jsonkeys

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDuplicate(t *testing.T) {
	for _, tc := range []struct {
		doc, dup string
	}{
		{`{"amount":1,"convert":"USD"}`, ""},
		{`{"amount":1,"amount":2}`, "amount"},
		{`{"amount":1,"Amount":2}`, "Amount"},
		{`{"amount":1,"\u0061mount":2}`, "amount"},
		{`{"k":1,"\u212a":2}`, "\u212a"}, // the Kelvin sign folds to k, as encoding/json matches it
		{`{"a":{"x":1,"x":2}}`, "x"},
		{`{"a":[{"x":1},{"x":2}]}`, ""},
		{`[{"x":1,"y":{"x":3}},{"x":2}]`, ""},
		{`{"a":"a","b":"a"}`, ""},
		{`{"a":"\"b\":1,\"a\"","b":2}`, ""},
		{`{"a\"":1,"a":2}`, ""},
		{`{"a\\":1,"a\\":2}`, `a\`},
		{`{"":1,"":2}`, ""},
		{`"just a string"`, ""},
		{`{"a":{},"b":[],"c":{"a":1},"a":0}`, "a"},
	} {
		key, ok := Duplicate([]byte(tc.doc))
		if want := tc.dup != "" || tc.doc == `{"":1,"":2}`; ok != want || key != tc.dup {
			t.Errorf("%s: Duplicate = %q, %v; want %q", tc.doc, key, ok, tc.dup)
		}
	}
}

// An object with many keys moves them to a map and still finds the
// repeat; with 100 000 distinct keys it takes no square time.
func TestDuplicateManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100_000 {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	b.WriteString(`"K77":1}`)
	if key, ok := Duplicate([]byte(b.String())); !ok || key != "K77" {
		t.Fatalf("Duplicate = %q, %v; want K77", key, ok)
	}
}

// reference is a json.Decoder walk of the tokens: slow, obviously right.
func reference(data []byte) (string, bool) {
	type frame struct {
		keys    map[string]bool
		wantKey bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].keys != nil && stack[top].wantKey {
			if key, ok := tok.(string); ok {
				if stack[top].keys[Fold(key)] {
					return key, true
				}
				stack[top].keys[Fold(key)] = true
				stack[top].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if top := len(stack) - 1; top >= 0 && stack[top].keys != nil {
			stack[top].wantKey = true
		}
	}
}

func FuzzDuplicate(f *testing.F) {
	for _, s := range []string{`{"a":1,"A":2}`, `{"a":{"b":[1,{"c":2,"c":3}]}}`, `{"\u0041":1,"a":2}`, `[1,"a",{"x":"y"}]`, `{"a\\":"\\","b":{"a\\":1}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		key, ok := Duplicate(data)
		rkey, rok := reference(data)
		if ok != rok || key != rkey {
			t.Fatalf("%q: Duplicate = %q, %v; the decoder walk finds %q, %v", data, key, ok, rkey, rok)
		}
	})
}

// A 1.2 KB UMA payreq, as a receiver checks each.
func BenchmarkDuplicate(b *testing.B) {
	doc := []byte(`{"amount":"1000.USD","convert":"EUR","payerData":{"identifier":"$alice@vasp1.example","name":"Alice Smith","email":"alice@example.com","compliance":{"utxos":[],"nodePubKey":"02a1b2c3","kycStatus":"VERIFIED","encryptedTravelRuleInfo":"` +
		strings.Repeat("ab", 400) + `","travelRuleFormat":"ivms@101.2023","signature":"3045022100aa","signatureNonce":"123456","signatureTimestamp":1700000000,"utxoCallback":"https://vasp1.example/api/uma/utxoCallback"}},"payeeData":{"name":{"mandatory":false},"compliance":{"mandatory":true}},"comment":"lunch"}`)
	for _, tc := range []struct {
		name string
		f    func([]byte) (string, bool)
	}{{"scan", Duplicate}, {"decoder", reference}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, ok := tc.f(doc); ok {
					b.Fatal("duplicate")
				}
			}
		})
	}
}
