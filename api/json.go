package api

import (
	"bufio"
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/jsonkeys"
)

// MaxBodyBytes bounds every request body unless a route says otherwise.
const MaxBodyBytes = 1 << 20

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"status":500,"code":"INTERNAL_ERROR","message":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// DecodeJSON reads a JSON request body into v. It insists on a JSON content
// type, at most MaxBodyBytes, exactly one JSON value and no unknown fields,
// and answers each violation with the right 4xx.
func DecodeJSON(r *http.Request, v any) error {
	return decodeJSON(r, v, true)
}

// DecodeJSONLenient is DecodeJSON that ignores unknown fields, for bodies
// whose senders are known to add extras (e.g. other VASPs).
func DecodeJSONLenient(r *http.Request, v any) error {
	return decodeJSON(r, v, false)
}

func decodeJSON(r *http.Request, v any, strict bool) error {
	_, err := decodeJSONBody(r, v, strict)
	return err
}

// decodeJSONPatch is DecodeJSON for a PATCH body, which says more than v
// can hold: a member sent as null asks for the field to be removed (JSON
// merge patch, RFC 7396), where a pointer field of v reads null as absent.
// It returns the names of the top-level members that are null, folded as
// encoding/json matches them to fields: look one up with jsonkeys.Fold(name).
func decodeJSONPatch(r *http.Request, v any) (nulls map[string]bool, err error) {
	body, err := decodeJSONBody(r, v, true)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, jsonError(err) // v decoded it: not reached but for a non-object v
	}
	if members == nil {
		// null, which v reads as {}: a merge patch of null would replace
		// the whole resource, never the no-op {} is.
		return nil, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput, "request body must be a JSON object")
	}
	nulls = map[string]bool{}
	for k, raw := range members {
		if string(bytes.TrimSpace(raw)) == "null" {
			nulls[jsonkeys.Fold(k)] = true
		}
	}
	return nulls, nil
}

// decodeJSONBody is decodeJSON, returning the body read.
func decodeJSONBody(r *http.Request, v any, strict bool) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, vaspd.Errorf(http.StatusUnsupportedMediaType, vaspd.CodeUnsupportedMediaType,
				"Content-Type must be application/json")
		}
	} else {
		return nil, vaspd.Errorf(http.StatusUnsupportedMediaType, vaspd.CodeUnsupportedMediaType,
			"Content-Type must be application/json")
	}
	if err := uncompressed(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		return nil, bodyReadError(err)
	}
	if !utf8.Valid(body) {
		// encoding/json would read each invalid byte as U+FFFD, and
		// store and pass on a name other than the one sent (RFC 8259:
		// JSON text exchanged between systems is UTF-8).
		return nil, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "request body is not UTF-8 text")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, jsonError(err)
		}
		return nil, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "request body must hold a single JSON value")
	}
	if strict {
		return body, duplicateKeys(body)
	}
	return body, nil
}

// duplicateKeys refuses an object that names a key twice. encoding/json
// keeps the last value and matches field names case-insensitively, so
// {"amount":1,"Amount":9} would be read as 9 here and perhaps as 1 by
// whatever checked the request before us. data is known to be valid JSON.
func duplicateKeys(data []byte) error {
	if key, dup := jsonkeys.Duplicate(data); dup {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat,
			"key %q appears twice in one JSON object (keys are matched case-insensitively)", vaspd.Truncate(key, 64))
	}
	return nil
}

// uncompressed refuses a body sent with a content coding (415, RFC 9110
// §15.5.16): vaspd decodes none, and would read a compressed body's bytes
// as if they were the JSON or CSV itself.
func uncompressed(r *http.Request) error {
	for _, v := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return vaspd.Errorf(http.StatusUnsupportedMediaType, vaspd.CodeUnsupportedMediaType,
					"Content-Encoding %q is not supported: send the body uncompressed", vaspd.Truncate(c, 30))
			}
		}
	}
	return nil
}

// bodyReadError answers a request body that could not be read whole: one
// over its limit (413), one that did not arrive before the server's read
// timeout (408: a client that sent less than its Content-Length, or
// stalled), or a connection that broke. The network's own words (its
// addresses, ports) are not a client's business.
func bodyReadError(err error) error {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return vaspd.Errorf(http.StatusRequestEntityTooLarge, vaspd.CodeRequestTooLarge,
			"request body is larger than %d bytes", maxErr.Limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return vaspd.Errorf(http.StatusRequestTimeout, vaspd.CodeInvalidRequestFormat,
			"the request body did not arrive in time (is Content-Length the body's length?)")
	case connectionBroke(err), errors.Is(err, io.ErrUnexpectedEOF):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "the request body ended before it was whole")
	}
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "the request body could not be read: %s", vaspd.Truncate(err.Error(), 200))
}

// readFailed reports whether err, from a reader of the request body that
// also parses it (the CSV upload's multipart reader), is the body's read
// failing — over its limit, not in time, the connection broken — which
// bodyReadError answers, rather than what was read not parsing.
func readFailed(err error) bool {
	var maxErr *http.MaxBytesError
	return errors.As(err, &maxErr) || errors.Is(err, os.ErrDeadlineExceeded) || connectionBroke(err)
}

// connectionBroke reports whether err is the network's (*net.OpError).
func connectionBroke(err error) bool {
	var netErr *net.OpError
	return errors.As(err, &netErr)
}

// jsonError answers a body, read whole (bodyReadError answers one that
// was not), that does not decode.
func jsonError(err error) error {
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "request body is truncated JSON")
	case errors.As(err, &syntaxErr):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "malformed JSON at byte %d", syntaxErr.Offset)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput, "request body must be a JSON object")
	case errors.As(err, &typeErr) && amountOutOfRange(typeErr):
		// As checkAmount answers one that fits an int64 but not the range.
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidAmount,
			"%s must be from 1 to %d, in the currency's smallest unit (%s is out of range)",
			typeErr.Field, int64(maxAmount), vaspd.Truncate(strings.TrimPrefix(typeErr.Value, "number "), 30))
	case errors.As(err, &typeErr):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput, "field %q must be %s", typeErr.Field, jsonKind(typeErr))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput, "unknown field %s",
			strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidRequestFormat, "malformed JSON: %s", vaspd.Truncate(err.Error(), 200))
	}
}

// jsonKind names what JSON value the field of e takes, in JSON's words: the
// Go type tells a client nothing (and says how the server is built).
func jsonKind(e *json.UnmarshalTypeError) string {
	t := e.Type
	if t == nil {
		return "of another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v, ok := strings.CutPrefix(e.Value, "number "); ok && !strings.ContainsAny(v, ".eE") {
			return "an integer in range (" + vaspd.Truncate(v, 30) + " is out of range)"
		}
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of another type"
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// amountOutOfRange tells whether e is a JSON integer too large (or too
// small) for the integer field of an amount: the API's amount fields, and
// only they, are named "amount" or "…Amount" (amountToSend too), and an
// amount out of range is INVALID_AMOUNT however far out it is.
func amountOutOfRange(e *json.UnmarshalTypeError) bool {
	if e.Type == nil {
		return false
	}
	t := e.Type
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
	default:
		return false
	}
	v, ok := strings.CutPrefix(e.Value, "number ")
	if !ok || v == "" || strings.ContainsAny(v, ".eE") {
		return false // a fraction: not an integer, whatever its size
	}
	name := e.Field[strings.LastIndexByte(e.Field, '.')+1:]
	return strings.Contains(strings.ToLower(name), "amount")
}

// PathID reads a typed id from the route's path parameter name, checks it
// and returns it in the case ids are stored in (vaspd.CanonicalID).
func PathID(r *http.Request, name, typ, notFoundCode string) (string, error) {
	id, err := vaspd.CanonicalID(typ, r.PathValue(name))
	if err != nil {
		return "", vaspd.Errorf(http.StatusNotFound, notFoundCode, "%s", fmt.Sprint(err))
	}
	return id, nil
}

// decodeOptionalJSON decodes a JSON body into v, or leaves v alone when
// the request has no body (for POSTs whose parameters are optional). A body of
// unknown length (chunked, or HTTP/2 without content-length) that turns
// out empty is no body either.
func decodeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength < 0 {
		br := bufio.NewReader(r.Body)
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return nil
		}
		r.Body = struct {
			io.Reader
			io.Closer
		}{br, r.Body}
	}
	return DecodeJSON(r, v)
}
