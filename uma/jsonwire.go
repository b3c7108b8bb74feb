package uma

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vaspd/vaspd/internal/jsonkeys"
)

// Helpers for reading numbers liberally: peers send integers as JSON numbers,
// as floats with a zero fraction (Python 1000.0), in exponent form, or as
// strings. Everything must end up as an exact int64 or be rejected.

var errNotInteger = errors.New("not an integer")

// flexInt64 decodes a JSON number or numeric string into an int64; null leaves it 0.
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	v, err := parseJSONInt64(b)
	if err != nil {
		return err
	}
	*f = flexInt64(v)
	return nil
}

// parseJSONInt64 reads an exact integer from a JSON number or string literal.
func parseJSONInt64(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return 0, nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		s = strings.TrimSpace(s)
	}
	return parseInt64Text(s)
}

// parseInt64Text reads "123", "-5", "1000.0", "1e3"; rejects fractions and overflow.
func parseInt64Text(s string) (int64, error) {
	if len(s) == 0 || len(s) > 64 {
		return 0, errNotInteger
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	// Only now allow the float forms; big.Rat keeps them exact.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return 0, errNotInteger
		}
	}
	if strings.ContainsAny(s, "eE") {
		// Bound the exponent before big.Rat tries to build 10^huge.
		i := strings.IndexAny(s, "eE")
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || exp > 30 || exp < -30 {
			return 0, errNotInteger
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, errNotInteger
	}
	return r.Num().Int64(), nil
}

// flexFloat decodes a JSON number or numeric string into a finite float64.
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return errors.New("not a finite number")
	}
	*f = flexFloat(v)
	return nil
}

// flexBool decodes true/false or "true"/"false"; null leaves it false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(bytes.TrimSpace(b)), `"`) {
	case "true", "True", "TRUE", "1":
		*f = true
	case "false", "False", "FALSE", "0", "null", "":
		*f = false
	default:
		return errors.New("not a boolean")
	}
	return nil
}

// optString decodes a string or null (JS fixtures send "name": null) and
// also accepts numbers (some peers send nonces as numbers) as their text.
type optString string

func (o *optString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*o = ""
		return nil
	}
	if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*o = optString(n.String())
		return nil
	}
	// b is a JSON value the decoder has already validated. A string
	// without escapes and in valid UTF-8 is its own content; decoding it
	// again would scan it twice more (validation, then the copy), and the
	// longest strings a receiver reads — encrypted travel-rule data — are
	// of this kind.
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
		*o = optString(b[1 : len(b)-1])
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*o = optString(s)
	return nil
}

// nonNil returns s, or an empty non-nil slice so that it marshals as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// jsonObjectKeys decodes a JSON object into raw members; null gives nil.
func jsonObject(b []byte) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// marshalNoEscape marshals without HTML escaping, so "<", ">" and "&" in URLs
// and reasons stay readable (all SDKs emit them unescaped).
func marshalNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// repeatedKey refuses, with code, a counterparty's JSON naming a key twice
// in one object: encoding/json reads the last of the two, and matches
// names case-insensitively, where the counterparty's signer, or whoever
// reads what we keep of it, may read the first (jsonkeys). body must be
// valid JSON: it is checked after it decoded.
func repeatedKey(body []byte, code ErrorCode, what string) error {
	if key, dup := jsonkeys.Duplicate(body); dup {
		return Errorf(code, "%s names %q twice in one object (names are matched case-insensitively)", what, truncate(key))
	}
	return nil
}
