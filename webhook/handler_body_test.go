package webhook

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// bodyTimeoutHandler is a Handler whose body read is bounded by timeout.
func bodyTimeoutHandler(t *testing.T, timeout time.Duration, h EventHandlerFunc) *Handler {
	t.Helper()
	now := func() time.Time { return vecAttempt.Add(90 * time.Second) }
	hd, err := NewHandler(HandlerConfig{
		Verifier:    mustStandard(t, StandardConfig{Secrets: []string{vecSecret}, Now: now}),
		Handler:     h,
		BodyTimeout: timeout,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return hd
}

// stall sends a request's headers and the start of its body, then nothing,
// and returns the status line and body of the answer, or fails if none comes
// within wait.
func stall(t *testing.T, url, framing, start string, wait time.Duration) (string, map[string]any) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /webhooks HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"+framing+"\r\n\r\n"+start); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within %s to a stalled body: %v", wait, err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.Status, body
}

// A client that sends the headers and then trickles (or stops sending) the
// body is answered 408 once BodyTimeout has passed, on a server with no
// ReadTimeout (as most set only ReadHeaderTimeout), instead of holding the
// connection and the handler's goroutine for as long as it likes.
func TestHandlerBodyTimeout(t *testing.T) {
	h := bodyTimeoutHandler(t, 300*time.Millisecond, func(context.Context, Event) (Reply, error) { return OK(), nil })
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, c := range []struct{ name, framing, start string }{
		{"content-length", "Content-Length: 200", `{"type":`},
		{"chunked", "Transfer-Encoding: chunked", "8\r\n{\"type\":\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := stall(t, srv.URL, c.framing, c.start, 5*time.Second)
			if !strings.HasPrefix(status, "408") || body["code"] != CodeInvalidInput {
				t.Fatalf("answer %s %v, want 408 %s", status, body, CodeInvalidInput)
			}
		})
	}
}

// A server ReadTimeout shorter than BodyTimeout still bounds the read: the
// Handler's own deadline never loosens the server's.
func TestHandlerBodyTimeoutKeepsShorterServerTimeout(t *testing.T) {
	h := bodyTimeoutHandler(t, time.Minute, func(context.Context, Event) (Reply, error) { return OK(), nil })
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	status, _ := stall(t, srv.URL, "Content-Length: 200", `{"type":`, 5*time.Second)
	if !strings.HasPrefix(status, "408") {
		t.Fatalf("answer %s, want 408", status)
	}
}

// A request with a nil Body (a handler called directly, as in a platform's
// tests or behind some middleware; a server never makes one) is answered
// 400 with the package's error JSON: io.ReadAll through MaxBytesReader
// panicked on it.
func TestHandlerNilBody(t *testing.T) {
	r := newReceiver(t, nil, approveAll)
	req := signed(t, vecTestID, vecTestBody)
	req.Body = nil
	var res response
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("nil body panicked: %v", p)
			}
		}()
		res = r.serve(t, req)
	}()
	res.expect(t, http.StatusBadRequest, CodeInvalidInput)
	if n := r.calls.Load(); n != 0 {
		t.Fatalf("the platform handler ran %d times", n)
	}
	// Nothing was claimed: the same event with its body goes through.
	r.serve(t, signed(t, vecTestID, vecTestBody)).expect(t, http.StatusOK, "")
}
