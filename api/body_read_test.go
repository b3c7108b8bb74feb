package api_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
)

// TestJSONBodyNotUTF8: a JSON body that is not UTF-8 is refused. Decoded,
// each invalid byte would read as U+FFFD: "Jos\xe9" stored, and sent on to
// counterparties, as "Jos�".
func TestJSONBodyNotUTF8(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"{\"fullName\":\"Jos\xe9\"}", "{\"fullName\":\"B\xffob\"}", "{\"a\xc3\":1}"} {
		r := httptest.NewRequest("POST", "/", strings.NewReader(in))
		r.Header.Set("Content-Type", "application/json")
		var v map[string]any
		err := api.DecodeJSONLenient(r, &v)
		if e := vaspd.AsError(err); e.Status != 400 || e.Code != vaspd.CodeInvalidRequestFormat || !strings.Contains(e.Message, "UTF-8") {
			t.Errorf("%q: %v (decoded %v), want 400 INVALID_REQUEST_FORMAT, not UTF-8", in, err, v)
		}
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"fullName":"José \u00e9"}`))
	r.Header.Set("Content-Type", "application/json")
	var v map[string]any
	if err := api.DecodeJSONLenient(r, &v); err != nil || v["fullName"] != "José é" {
		t.Fatalf("UTF-8 body: %v, %v", v, err)
	}
}

// brokenBody is a request body whose read fails with err.
type brokenBody struct{ err error }

func (b brokenBody) Read([]byte) (int, error) { return 0, b.err }

// TestJSONBodyReadErrors: a body that cannot be read whole is answered for
// what happened — 408 when it did not arrive in time, 400 when the
// connection broke — never as malformed JSON, and without the network's
// words (addresses, ports).
func TestJSONBodyReadErrors(t *testing.T) {
	t.Parallel()
	timeout := &net.OpError{Op: "read", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18990},
		Err: os.ErrDeadlineExceeded}
	reset := &net.OpError{Op: "read", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 18990},
		Err: errors.New("connection reset by peer")}
	for _, c := range []struct {
		err    error
		status int
	}{
		{timeout, http.StatusRequestTimeout},
		{reset, http.StatusBadRequest},
		{io.ErrUnexpectedEOF, http.StatusBadRequest},
	} {
		r := httptest.NewRequest("POST", "/", brokenBody{c.err})
		r.Header.Set("Content-Type", "application/json")
		var v map[string]any
		e := vaspd.AsError(api.DecodeJSON(r, &v))
		if e.Status != c.status || e.Code != vaspd.CodeInvalidRequestFormat || strings.Contains(e.Message, "127.0.0.1") ||
			strings.Contains(e.Message, "malformed JSON") {
			t.Errorf("%v: %d %s %q, want %d INVALID_REQUEST_FORMAT without the network's words", c.err, e.Status, e.Code, e.Message, c.status)
		}
	}
}

// TestShortBodyOverTheWire: a client that sends less than its
// Content-Length is answered 408 once the server's read timeout passes.
func TestShortBodyOverTheWire(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := api.DecodeJSON(r, &v); err != nil {
			e := vaspd.AsError(err)
			api.WriteJSON(w, e.Status, map[string]any{"code": e.Code, "message": e.Message})
			return
		}
		api.WriteJSON(w, 200, v)
	}))
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{}")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusRequestTimeout || m["code"] != vaspd.CodeInvalidRequestFormat || strings.Contains(m["message"], "tcp") {
		t.Fatalf("short body: %d %v, want 408 INVALID_REQUEST_FORMAT without the network's words", resp.StatusCode, m)
	}
}
