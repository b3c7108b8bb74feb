package vasp_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// statusSink answers a callback POSTed to /s/{status} with that status, a
// UMA error body and, if the query has ra, that Retry-After. It counts the
// requests per path.
type statusSink struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]int
}

func newStatusSink(t *testing.T) *statusSink {
	c := &statusSink{got: map[string]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		c.mu.Lock()
		c.got[r.URL.Path]++
		c.mu.Unlock()
		if r.URL.Path == "/ok" {
			w.WriteHeader(200)
			return
		}
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/s/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if ra := r.URL.Query().Get("ra"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if code/100 == 3 {
			w.Header().Set("Location", "/ok")
		}
		if r.URL.Query().Get("raw") != "" {
			// Not UTF-8, and a NUL: PostgreSQL refuses both in TEXT.
			w.WriteHeader(code)
			_, _ = w.Write([]byte("\x00\xff\xfe refused"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":"ERROR","reason":"refused with %d","code":"CODE_%d"}`, code, code)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *statusSink) count(path string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.got[path] }

// TestCallbackRefusedForGood: a receiver's permanent refusal (a 4xx other
// than 408, 421, 424, 425 and 429, or a 501 Not Implemented: the receiver
// has no such endpoint) ends the callback at once, "refused",
// with the status and the start of the answer's error body kept on the
// row and one warning logged (without the callback URL, which may carry a
// token); the callback is not sent again. Network errors, other 5xx (505
// included), the retryable 4xx and redirects (never followed) stay owed.
func TestCallbackRefusedForGood(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var logs syncBuffer
		// The default client: redirects not followed, as in the daemon.
		s := w.service(t, func(o *vasp.Options) {
			o.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		sink := newStatusSink(t)
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()

		refused := map[int]vasp.Transaction{}
		for _, code := range []int{400, 401, 403, 404, 405, 409, 410, 412, 413, 415, 422, 501} {
			refused[code] = completed(t, w, s, fmt.Sprintf("%s/s/%d?token=s3cret", sink.srv.URL, code), w.clock.Now())
		}
		garbled := completed(t, w, s, sink.srv.URL+"/s/406?raw=1", w.clock.Now())
		retried := map[string]vasp.Transaction{}
		for _, code := range []int{408, 421, 424, 425, 429, 500, 502, 503, 504, 505, 301, 302, 307} {
			retried[strconv.Itoa(code)] = completed(t, w, s, fmt.Sprintf("%s/s/%d", sink.srv.URL, code), w.clock.Now())
		}
		retried["refused connection"] = completed(t, w, s, closed.URL+"/cb", w.clock.Now())
		allRounds(t, s)

		for code, tr := range refused {
			st, n, _ := s.CallbackState(t.Context(), tr.ID)
			why, _ := s.CallbackError(t.Context(), tr.ID)
			if st != "refused" || n != 1 {
				t.Errorf("answered %d: %s after %d attempts, want refused after 1", code, st, n)
			}
			if want := fmt.Sprintf(`HTTP %d: {"status":"ERROR","reason":"refused with %d","code":"CODE_%d"}`, code, code, code); why != want {
				t.Errorf("answered %d: error %q, want %q", code, why, want)
			}
			if got := logs.count(t, slog.LevelWarn, tr.ID); got != 1 {
				t.Errorf("answered %d: %d warnings, want 1", code, got)
			}
		}
		if st, _, _ := s.CallbackState(t.Context(), garbled.ID); st != "refused" {
			t.Errorf("a refusal whose body is not UTF-8 was not recorded: %s", st)
		}
		if logs.count(t, slog.LevelDebug, "s3cret") != 0 {
			t.Errorf("the callback URL's token was logged")
		}
		for what, tr := range retried {
			if st, n, _ := s.CallbackState(t.Context(), tr.ID); st != "pending" || n != 1 {
				t.Errorf("%s: %s after %d attempts, want pending after 1", what, st, n)
			}
		}
		if n := sink.count("/ok"); n != 0 {
			t.Errorf("a redirect was followed %d times", n)
		}

		// Refused callbacks are not sent again; the others are.
		w.clock.Advance(2 * time.Hour)
		if n := allRounds(t, s); n != len(retried) {
			t.Errorf("%d callbacks retried, want the %d retryable ones", n, len(retried))
		}
		for code := range refused {
			if n := sink.count(fmt.Sprintf("/s/%d", code)); n != 1 {
				t.Errorf("a callback refused with %d was sent %d times", code, n)
			}
		}
	})
}

// allRounds runs callback rounds until none is due; it returns how many
// callbacks they claimed.
func allRounds(t *testing.T, s *vasp.Service) int {
	t.Helper()
	total := 0
	for {
		n, err := s.CallbackRound(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// TestCallbackRetryAfter: a 429 or 503 with Retry-After is tried again no
// sooner than it says, bounded as the webhooks bound it (1 h).
func TestCallbackRetryAfter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		sink := newStatusSink(t)
		slow := completed(t, w, s, sink.srv.URL+"/s/429?ra=120", w.clock.Now())
		capped := completed(t, w, s, sink.srv.URL+"/s/503?ra=86400", w.clock.Now())
		if n, err := s.CallbackRound(t.Context()); n != 2 || err != nil {
			t.Fatalf("first round: %d %v", n, err)
		}
		// 10 s ± 10 % without Retry-After: both would be due by now.
		w.clock.Advance(119 * time.Second)
		if n, _ := s.CallbackRound(t.Context()); n != 0 {
			t.Fatalf("%d callbacks retried before their Retry-After", n)
		}
		w.clock.Advance(2 * time.Second)
		if n, _ := s.CallbackRound(t.Context()); n != 1 {
			t.Fatalf("the 429 with Retry-After: 120 was not retried after 121 s")
		}
		if _, n, _ := s.CallbackState(t.Context(), slow.ID); n != 2 {
			t.Fatalf("the 429's callback has %d attempts, want 2", n)
		}
		w.clock.Advance(57 * time.Minute) // 59 min after the first attempt
		if n, _ := s.CallbackRound(t.Context()); n != 1 {
			// only the 429 again (its Retry-After: 120 s)
			t.Fatalf("%d callbacks retried 59 min in, want only the 429", n)
		}
		if _, n, _ := s.CallbackState(t.Context(), capped.ID); n != 1 {
			t.Fatalf("a day's Retry-After was retried before the 1 h bound")
		}
		w.clock.Advance(2 * time.Minute)
		allRounds(t, s)
		if _, n, _ := s.CallbackState(t.Context(), capped.ID); n != 2 {
			t.Fatalf("a day's Retry-After was not bounded to 1 h: the 503's callback has %d attempts 61 min in, want 2", n)
		}
	})
}
