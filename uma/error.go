package uma

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Error is a typed UMA protocol error: a standard code (which fixes the HTTP
// status), a human-readable reason, and for UNSUPPORTED_UMA_VERSION the
// versions the HTTP layer must advertise in the 412 body.
//
// Every function of this package that rejects input returns an *Error, so the
// HTTP layer can always answer with
//
//	w.WriteHeader(e.HTTPStatus()); w.Write(e.Body())
//
// Reason is sent to the counterparty: it never contains secrets. Err, the
// optional cause, is for logs only and is not part of the JSON body.
type Error struct {
	Code   ErrorCode
	Reason string

	// Only for CodeUnsupportedUMAVersion: the version that was refused and
	// the major versions we support (sent as "supportedMajorVersions").
	UnsupportedVersion     string
	SupportedMajorVersions []int

	Err error
}

// Errorf returns an *Error with code and a formatted reason.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// wrapErr returns an *Error with code whose reason is reason plus the cause's
// text. Use only with causes whose text is safe to send to a counterparty
// (parse errors of their own input), never with I/O errors of ours.
func wrapErr(code ErrorCode, err error, reason string) *Error {
	var ue *Error
	if errors.As(err, &ue) && ue.Code == code {
		return ue
	}
	if err != nil {
		reason = reason + ": " + causeText(err)
	}
	return &Error{Code: code, Reason: reason, Err: err}
}

// causeText is err's text as a counterparty may read it. encoding/json's
// type errors name the Go type the value did not fit ("cannot unmarshal
// array into Go value of type struct { Amount json.RawMessage …"): that
// tells the sender nothing it can act on, and says how we are built. They
// are told in JSON's words; the whole error stays in Err, for logs.
func causeText(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	value, _, _ := strings.Cut(te.Value, " ") // "number -5": the kind alone
	if te.Field == "" && te.Type != nil && (te.Type.Kind() == reflect.Struct || te.Type.Kind() == reflect.Map) {
		return fmt.Sprintf("a JSON %s where an object was expected", value)
	}
	if te.Field == "" {
		return fmt.Sprintf("a JSON %s is not the value expected", value)
	}
	return fmt.Sprintf("field %q cannot be a JSON %s", te.Field, value)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches an ErrorCode sentinel: errors.Is(err, uma.CodeInvalidSignature).
func (e *Error) Is(target error) bool {
	c, ok := target.(ErrorCode)
	return ok && c == e.Code
}

// HTTPStatus is the status to answer with (from the protocol error table).
func (e *Error) HTTPStatus() int { return e.Code.HTTPStatus() }

// errorBody is the wire shape shared by every SDK.
type errorBody struct {
	Status                 string    `json:"status"`
	Reason                 string    `json:"reason"`
	Code                   ErrorCode `json:"code,omitempty"` // none: LNURL's plain error (LUD-06)
	UnsupportedVersion     string    `json:"unsupportedVersion,omitempty"`
	SupportedMajorVersions []int     `json:"supportedMajorVersions,omitempty"`
}

// MarshalJSON renders {"status":"ERROR","reason":...,"code":...} plus, for
// UNSUPPORTED_UMA_VERSION, "unsupportedVersion" and "supportedMajorVersions".
// An Error without a Code is LNURL's plain {"status":"ERROR","reason":...}:
// for what UMA's table has no code for (throttling), rather than a code an
// SDK could take for something else.
func (e *Error) MarshalJSON() ([]byte, error) {
	reason := e.Reason
	if reason == "" {
		reason = e.Code.Description()
	}
	b := errorBody{Status: "ERROR", Reason: reason, Code: e.Code}
	if e.Code == CodeUnsupportedUMAVersion {
		b.UnsupportedVersion = e.UnsupportedVersion
		b.SupportedMajorVersions = e.SupportedMajorVersions
		if b.SupportedMajorVersions == nil {
			b.SupportedMajorVersions = SupportedMajorVersions()
		}
	}
	return json.Marshal(b)
}

// Body is the JSON error body (MarshalJSON without the error return).
func (e *Error) Body() []byte {
	b, err := e.MarshalJSON()
	if err != nil { // cannot happen: only strings and ints
		return []byte(`{"status":"ERROR","reason":"internal error","code":"INTERNAL_ERROR"}`)
	}
	return b
}

// AsError returns the *Error inside err, or an INTERNAL_ERROR wrapping it
// (with a generic reason, so the cause's text is never sent to a peer).
// It returns nil for a nil err.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var c ErrorCode
	if errors.As(err, &c) {
		return &Error{Code: c, Reason: c.Description()}
	}
	return &Error{Code: CodeInternalError, Reason: "internal error", Err: err}
}

// ParseErrorBody parses an error answer of a counterparty (any status). It
// accepts "supportedMajorVersions" as an int array or as a string holding one
// (uma-kotlin-sdk), and plain LNURL errors without "code" (LUD-06
// {"status":"ERROR","reason":...}; Code is then empty). ok is false when body
// is not an error body at all (no "status":"ERROR" and no "code").
func ParseErrorBody(body []byte) (e *Error, ok bool) {
	var raw struct {
		Status                 string          `json:"status"`
		Reason                 string          `json:"reason"`
		Code                   string          `json:"code"`
		UnsupportedVersion     string          `json:"unsupportedVersion"`
		SupportedMajorVersions json.RawMessage `json:"supportedMajorVersions"`
	}
	if json.Unmarshal(body, &raw) != nil {
		return nil, false
	}
	if !strings.EqualFold(raw.Status, "ERROR") && raw.Code == "" {
		return nil, false
	}
	e = &Error{Code: ErrorCode(raw.Code), Reason: raw.Reason, UnsupportedVersion: raw.UnsupportedVersion}
	if len(raw.SupportedMajorVersions) > 0 {
		e.SupportedMajorVersions, _ = parseMajorVersionList(raw.SupportedMajorVersions)
	}
	return e, true
}

// parseMajorVersionList reads [1,0], "[1, 0]" or "1,0".
func parseMajorVersionList(raw json.RawMessage) ([]int, error) {
	var ints []int
	if err := json.Unmarshal(raw, &ints); err == nil {
		return ints, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(s), &ints); err == nil {
		return ints, nil
	}
	for _, part := range strings.Split(strings.Trim(s, "[] "), ",") {
		var v int
		if _, err := fmt.Sscanf(strings.TrimSpace(part), "%d", &v); err != nil {
			return nil, err
		}
		ints = append(ints, v)
	}
	return ints, nil
}
