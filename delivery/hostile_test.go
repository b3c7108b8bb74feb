package delivery

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// rawReceiver answers every connection with the bytes of reply, whatever the
// request, then hangs up: a receiver speaking broken HTTP. Given a hold, it
// holds each connection open, saying nothing more, until hold is closed.
func rawReceiver(t *testing.T, reply func() string, hold <-chan struct{}) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = http.ReadRequest(bufio.NewReader(c))
				_, _ = c.Write([]byte(reply()))
				if hold != nil {
					<-hold
				}
			}()
		}
	}()
	return "http://" + l.Addr().String() + "/hook"
}

// TestHostileStatusLineIsLoggable: the error text of a broken answer quotes
// the receiver's bytes and is cut to 1000 bytes for the log. Cut inside a
// multi-byte character, it was invalid UTF-8, which PostgreSQL refuses in
// TEXT columns: recording the batch failed, and was retried for ever.
func TestHostileStatusLineIsLoggable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clock := vaspd.NewFakeClock(t0)
		s := newTestService(t, db, clock)
		// Two receivers whose status lines differ by one ASCII byte: the
		// cut at byte 1000 falls inside a "é" for one of them.
		for _, pad := range []string{"x", "xx"} {
			u := rawReceiver(t, func() string { return pad + strings.Repeat("é", 800) + "\r\n\r\n" }, nil)
			mustEndpoint(t, s, u, func(in *EndpointInput) { in.EventTypes = &[]string{"T_" + strings.ToUpper(pad)} })
			id := enqueue(t, s, Event{Type: "T_" + strings.ToUpper(pad)})
			if n := step(t, s); n != 1 {
				t.Fatalf("pad %q: %d attempts", pad, n)
			}
			d := onlyDelivery(t, s, id)
			if d.Status != StatusPending || d.Attempts != 1 || len(d.AttemptLog) != 1 {
				t.Fatalf("pad %q: not recorded: %+v", pad, d)
			}
			for _, e := range []string{d.LastError, d.AttemptLog[0].Error} {
				if e == "" || !utf8.ValidString(e) || len(e) > 1000 {
					t.Fatalf("pad %q: logged error %q", pad, e)
				}
			}
			// The synchronous send records the same error.
			resp, err := s.Send(ctx, Event{Type: TypeTest}, SendOptions{EndpointID: d.EndpointID})
			if err != nil || resp.Err == nil {
				t.Fatalf("pad %q: send: %v %+v", pad, err, resp)
			}
			if sd := onlyDelivery(t, s, resp.WebhookID); sd.Status != StatusFailed || !utf8.ValidString(sd.LastError) {
				t.Fatalf("pad %q: synchronous send not recorded: %+v", pad, sd)
			}
		}
	})
}

func TestLogText(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 10, "plain"},
		{"a\x00b", 10, "a\uFFFDb"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"aé", 2, "a"},
		{"aéb", 3, "aé"},
		{"ééé", 5, "éé"},
	} {
		if got := logText(c.in, c.n); got != c.want {
			t.Errorf("logText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

// TestHugeResponseHeadersRefused: a receiver's response headers are read
// into memory whole, for every attempt in flight; beyond a bound (64 KiB,
// not net/http's 10 MiB default) the answer is a failure.
func TestHugeResponseHeadersRefused(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0))
	u := rawReceiver(t, func() string {
		return "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\nContent-Length: 0\r\n\r\n"
	}, nil)
	mustEndpoint(t, s, u)
	id := enqueue(t, s, Event{Type: TypeTest})
	if n := step(t, s); n != 1 {
		t.Fatalf("%d attempts", n)
	}
	if d := onlyDelivery(t, s, id); d.Status != StatusPending || d.AttemptLog[0].StatusCode != 0 || !strings.Contains(d.LastError, "header") {
		t.Fatalf("1 MiB of response headers accepted: %+v", d)
	}
}

// TestSwitchingProtocolsCannotOutliveTheTimeout: a receiver that answers
// "101 Switching Protocols" (which vaspd never asks for) and then holds the
// connection open: net/http hands the raw connection over as the response
// body, outside the request's context, so reading it was not bounded by
// the attempt's timeout and the attempt hung for as long as the receiver
// liked — past its lease, holding its endpoint's slot. The attempt, queued
// or synchronous, ends at its timeout like any other.
func TestSwitchingProtocolsCannotOutliveTheTimeout(t *testing.T) {
	db := storetest.SQLite(t)
	s := newTestService(t, db, vaspd.NewFakeClock(t0), shortTimeouts)
	hold := make(chan struct{})
	var once sync.Once
	hangUp := func() { once.Do(func() { close(hold) }) }
	t.Cleanup(hangUp)
	// After its 101 the receiver says nothing more, for as long as it likes
	// (until hangUp).
	u := rawReceiver(t, func() string {
		return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello"
	}, hold)
	e, _ := mustEndpoint(t, s, u, func(in *EndpointInput) { in.TimeoutMS = ptr(int64(200)) })
	// within runs f, which must end well within the watchdog; if it does
	// not, the receiver hangs up (so f ends) and the test fails.
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			f()
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second): // a watchdog, not synchronization: the attempt's timeout is 200 ms
			hangUp()
			<-done
			t.Fatalf("%s outlived its 200 ms timeout until the receiver hung up", what)
		}
	}
	id := enqueue(t, s, Event{Type: TypeTest})
	within("a queued attempt", func() { step(t, s) })
	d := onlyDelivery(t, s, id)
	if d.Status != StatusPending || d.AttemptLog[0].StatusCode != 101 || !strings.Contains(d.LastError, "timed out after 200ms") {
		t.Fatalf("101 answer: %+v", d)
	}
	var resp *Response
	var err error
	within("a synchronous send", func() {
		resp, err = s.Send(context.Background(), Event{Type: TypeTest}, SendOptions{EndpointID: e.ID})
	})
	if err != nil || resp.Delivered() {
		t.Fatalf("send: %v %+v", err, resp)
	}
}
