package rest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// The fuzz targets below hold the client to what the lnd backend relies on
// whatever lnd (or a proxy in its place) answers: no panic, no hang past
// the context, unary answers decoded only from a 200 with JSON, stream
// messages handed over exactly as the lines framed them, and errors that
// are one line, bounded, and never quote the macaroon — even when the
// server echoes the header it received ("@M@" in a fuzzed body is replaced
// by it, "@MU@" by it in upper case, as a proxy's debugging page would).

// maxErrorLen bounds an error's text: lnd's message is at most maxMessage
// bytes; the rest is the path, codes and our own words.
const maxErrorLen = 512

// checkError fails unless err reads as one bounded line without the
// macaroon.
func checkError(t *testing.T, err error, macaroon []byte) {
	t.Helper()
	msg := err.Error()
	if len(msg) > maxErrorLen {
		t.Fatalf("error of %d bytes (more than %d): %.300q…", len(msg), maxErrorLen, msg)
	}
	for _, r := range msg {
		if r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085' || (unicode.IsControl(r) && r != '\t') {
			t.Fatalf("error is not one line of text (%U): %q", r, msg)
		}
	}
	lower := strings.ToLower(msg)
	if strings.Contains(lower, hex.EncodeToString(macaroon)) || strings.Contains(msg, string(macaroon)) {
		t.Fatalf("error quotes the macaroon: %q", msg)
	}
}

// fuzzServer answers every request with the current case.
type fuzzServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	cur fuzzAnswer
}

type fuzzAnswer struct {
	status int
	body   []byte
	hold   bool // after the body, keep the connection open until the client leaves
}

func newFuzzServer(f *testing.F) *fuzzServer {
	s := &fuzzServer{}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		a := s.cur
		s.mu.Unlock()
		mac := r.Header.Get("Grpc-Metadata-macaroon")
		body := bytes.ReplaceAll(a.body, []byte("@MU@"), []byte(strings.ToUpper(mac)))
		body = bytes.ReplaceAll(body, []byte("@M@"), []byte(mac))
		w.WriteHeader(a.status)
		w.Write(body)
		// A 204 or 304 has no body to hold: it is complete with its
		// headers, and the client may send its next request on the
		// connection, which a handler still running would hold up.
		if a.hold && a.status != http.StatusNoContent && a.status != http.StatusNotModified {
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	f.Cleanup(s.srv.Close)
	return s
}

func (s *fuzzServer) answer(a fuzzAnswer) {
	s.mu.Lock()
	s.cur = a
	s.mu.Unlock()
}

// echoed is body as the server sends it.
func echoed(body []byte) []byte {
	mac := hex.EncodeToString(testMacaroon)
	body = bytes.ReplaceAll(body, []byte("@MU@"), []byte(strings.ToUpper(mac)))
	return bytes.ReplaceAll(body, []byte("@M@"), []byte(mac))
}

// fuzzStatus maps a fuzzed number onto an HTTP status a server may send:
// 0 is 200, n is 200 + n mod 400 (2xx to 5xx; 1xx are not answers).
func fuzzStatus(n uint16) int {
	return 200 + int(n%400)
}

// FuzzDo: a unary call with any status and body. It succeeds only for a
// 200 carrying JSON within the size bound, decoding exactly that JSON; an
// error answer is an *Error with the answer's HTTP status; every error is
// one bounded line without the macaroon.
func FuzzDo(f *testing.F) {
	f.Add(uint16(0), true, []byte(`{"r_hash":"AAEC","add_index":"7"}`))
	f.Add(uint16(0), true, []byte(`{"value_msat":1e99}`))
	f.Add(uint16(0), true, []byte(`[1,2`))
	f.Add(uint16(0), true, []byte(``))
	f.Add(uint16(304), true, []byte(`{"code":5,"message":"unable to locate invoice","details":[]}`))
	f.Add(uint16(300), true, []byte(`{"error":{"code":2,"message":"payment isn't initiated"}}`+"\n"))
	s := newFuzzServer(f)
	c, err := New(Config{BaseURL: s.srv.URL, TLSCertPEM: certPEM(s.srv), Macaroon: testMacaroon,
		RequestTimeout: 2 * time.Second, DialTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	type typedAnswer struct {
		ValueMsat string   `json:"value_msat"`
		Htlcs     []string `json:"htlcs"`
	}
	f.Fuzz(func(t *testing.T, status uint16, typed bool, body []byte) {
		code := fuzzStatus(status)
		s.answer(fuzzAnswer{status: code, body: body})
		sent := echoed(body)
		var (
			raw json.RawMessage
			out any = &raw
			tv  typedAnswer
		)
		if typed {
			out = &tv
		}
		err := c.Do(context.Background(), http.MethodGet, "/v1/invoice/00", nil, out)
		if err == nil {
			if code != http.StatusOK {
				t.Fatalf("HTTP %d decoded as an answer", code)
			}
			if !json.Valid(sent) {
				t.Fatalf("answer %q is not JSON, yet decoded", sent)
			}
			if typed {
				var want typedAnswer
				if json.Unmarshal(sent, &want) != nil || !reflect.DeepEqual(tv, want) {
					t.Fatalf("answer %q decoded as %+v", sent, tv)
				}
			} else if !bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace(sent)) {
				t.Fatalf("answer %q decoded as %q", sent, raw)
			}
			return
		}
		checkError(t, err, testMacaroon)
		var e *Error
		if code != http.StatusOK && (!errors.As(err, &e) || e.HTTPStatus != code) {
			t.Fatalf("HTTP %d: error %v is not an *Error with that status", code, err)
		}
		if e != nil {
			checkError(t, errors.New(e.Message), testMacaroon)
		}
		if IsPermanent(err) && !permanentAnswer(code, sent) {
			t.Fatalf("HTTP %d %q read as a permanent refusal: %v", code, sent, err)
		}
	})
}

// permanentAnswer reports whether an answer says what IsPermanent looks
// for — a refused or under-privileged macaroon — in lnd's own words.
func permanentAnswer(status int, body []byte) bool {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return true
	}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Code == CodePermissionDenied || eb.Code == CodeUnauthenticated) {
		return true
	}
	m := strings.ToLower(string(body))
	return strings.Contains(m, "permission denied") || strings.Contains(m, "verification failed") || strings.Contains(m, "macaroon")
}

// streamLine is a stream line as the gateway frames it.
type streamLine struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// FuzzStream: a server-streaming call with any status and body, the
// connection closed or held open after it. fn receives the "result" of
// each line in order, exactly; the call ends with io.EOF at the end of a
// well-formed stream, an *Error at an error line (or a non-200 status), a
// decode error at a line that is not a stream message, and the context's
// error when the server holds the stream open — never later than the
// context allows.
func FuzzStream(f *testing.F) {
	f.Add(uint16(0), false, uint8(0), []byte("{\"result\":{\"n\":1}}\n\n{\"result\":{\"n\":2}}\n{\"result\":{\"n\":3}}\n"))
	f.Add(uint16(0), false, uint8(2), []byte("{\"result\":{\"n\":1}}\r\n{\"result\":{\"n\":2}}\r\n"))
	f.Add(uint16(0), true, uint8(0), []byte("{\"result\":{\"status\":\"IN_FLIGHT\"}}\n"))
	f.Add(uint16(0), false, uint8(0), []byte("{\"result\":{\"n\":1}}\n{\"error\":{\"code\":2,\"message\":\"payment isn't initiated\"}}\n"))
	f.Add(uint16(0), false, uint8(0), []byte("{\"result\":{\"n\":1}}\nnot json\n"))
	f.Add(uint16(0), false, uint8(0), []byte("{\"result\":null}\n{}\nnull\n{\"result\":{\"n\":1}}"))
	f.Add(uint16(0), false, uint8(0), []byte("{\"result\":{\"n\":1}}{\"result\":{\"n\":2}}\n"))
	f.Add(uint16(0), false, uint8(0), []byte("{\"result\":1e999999999999999999999999999999999999999999999999999999999999999999999999}\n[1,\"x\"]\n"))
	f.Add(uint16(300), false, uint8(0), []byte(`{"error":{"code":2,"message":"invalid payment request"}}`))
	s := newFuzzServer(f)
	c, err := New(Config{BaseURL: s.srv.URL, TLSCertPEM: certPEM(s.srv), Macaroon: testMacaroon,
		RequestTimeout: 2 * time.Second, DialTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status uint16, hold bool, stopAfter uint8, body []byte) {
		code := fuzzStatus(status)
		s.answer(fuzzAnswer{status: code, body: body, hold: hold})
		sent := echoed(body)

		// What the stream holds, line by line.
		var (
			want    []json.RawMessage
			wantEnd = "eof" // or "error" (an error line), "decode", "stop"
		)
		if code != http.StatusOK {
			wantEnd = "status"
		} else {
			sc := bufio.NewScanner(bytes.NewReader(sent))
			sc.Buffer(nil, maxResponse)
			for sc.Scan() {
				line := bytes.TrimSpace(sc.Bytes())
				if len(line) == 0 {
					continue
				}
				var m streamLine
				if err := json.Unmarshal(line, &m); err != nil {
					wantEnd = "decode"
					break
				}
				if m.Error != nil {
					wantEnd = "error"
					break
				}
				if m.Result == nil {
					continue
				}
				want = append(want, m.Result)
				if stopAfter > 0 && len(want) == int(stopAfter) {
					wantEnd = "stop"
					break
				}
			}
			if sc.Err() != nil {
				wantEnd = "decode"
			}
		}
		if hold && code == http.StatusNoContent || hold && code == http.StatusNotModified {
			hold = false // the server does not hold what has no body
		}
		if hold && wantEnd == "eof" {
			wantEnd = "ctx"
		}

		// A held stream ends only with its context; one the server closes
		// ends long before this one's.
		limit := 5 * time.Second
		if hold {
			limit = 100 * time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		var got []json.RawMessage
		start := time.Now()
		err := c.Stream(ctx, http.MethodGet, "/v2/router/track/AA", nil, func(raw json.RawMessage) (bool, error) {
			got = append(got, append(json.RawMessage(nil), raw...))
			return stopAfter > 0 && len(got) == int(stopAfter), nil
		})
		if d := time.Since(start); d > limit+2*time.Second {
			t.Fatalf("stream returned after %s (context: %s)", d, limit)
		}
		if hold && errors.Is(err, context.DeadlineExceeded) {
			// The deadline may come before all of a held stream arrived
			// (a busy machine): what arrived is a prefix of it.
			if len(got) > len(want) {
				t.Fatalf("%d messages handed over, the stream holds %d", len(got), len(want))
			}
			want, wantEnd = want[:len(got)], "ctx"
		}
		if len(got) != len(want) {
			t.Fatalf("%d messages handed over, the stream holds %d (%s): %q", len(got), len(want), wantEnd, got)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("message %d handed over as %q, sent as %q", i, got[i], want[i])
			}
		}
		var e *Error
		switch wantEnd {
		case "stop":
			if err != nil {
				t.Fatalf("fn stopped the stream; error %v", err)
			}
			return
		case "eof":
			if !errors.Is(err, io.EOF) {
				t.Fatalf("end of a well-formed stream: %v, want io.EOF", err)
			}
			return
		case "ctx":
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stream held open: %v, want the context's deadline", err)
			}
		case "status", "error":
			if !errors.As(err, &e) || e.HTTPStatus != code {
				t.Fatalf("%s: %v is not an *Error of HTTP %d", wantEnd, err, code)
			}
			checkError(t, errors.New(e.Message), testMacaroon)
		case "decode":
			if err == nil || errors.Is(err, io.EOF) || errors.As(err, &e) {
				t.Fatalf("a line that is no stream message: %v, want a decode error", err)
			}
		}
		checkError(t, err, testMacaroon)
	})
}
