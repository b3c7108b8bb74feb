package uma

import "testing"

// An Error without a code is LNURL's plain error (LUD-06): no "code" key,
// which UMA's table has no value for (a throttled request's answer), and
// ParseErrorBody reads it back as such.
func TestErrorWithoutCode(t *testing.T) {
	e := &Error{Reason: "slow down"}
	if got, want := string(e.Body()), `{"status":"ERROR","reason":"slow down"}`; got != want {
		t.Fatalf("body %s, want %s", got, want)
	}
	back, ok := ParseErrorBody(e.Body())
	if !ok || back.Code != "" || back.Reason != "slow down" {
		t.Fatalf("ParseErrorBody = %+v, %v", back, ok)
	}
	if got := string(Errorf(CodeInvalidNonce, "again").Body()); got != `{"status":"ERROR","reason":"again","code":"INVALID_NONCE"}` {
		t.Fatalf("with a code: %s", got)
	}
}
