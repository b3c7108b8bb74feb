package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// idempotentCreate is a POST that creates something, as testIdempotencyKey
// sends it, and what its test knows of it.
type idempotentCreate struct {
	// send sends body with the header Idempotency-Key: key ("" for an
	// empty one, which is no key).
	send   func(t *testing.T, body, key string) (int, map[string]any, http.Header)
	status int    // the answer to a create, and to its replays
	id     string // the answer's field naming what was created
	table  string // holds what was created, a row each

	body    string   // the request, sent first under key
	key     string   // body's Idempotency-Key
	retries []string // body again, also spelled otherwise: replays of it
	others  []string // other requests: refused under key

	// then goes on, where the endpoint's test needs to, from the first
	// answer once the retries were replayed and the others refused (what
	// was created changes, a retry answers it as it is now).
	then func(t *testing.T, first map[string]any)
	// conflict is the code of the 409 refusing body sent without a key
	// after another key created it again, where what it creates must be
	// unique (a user's address); "" where it creates another.
	conflict string
	total    int    // rows in table once all that was sent
	race     string // the request sent at once under one key; body if ""
}

// testIdempotencyKey checks that a platform retrying c's POST after a lost
// response, with its Idempotency-Key, gets what the first request created
// (the same status, marked Idempotent-Replayed), never a second one; that
// the key sent with another request is refused, a malformed one too; that
// another key, or none, is another request; and that of concurrent
// retries one creates.
func testIdempotencyKey(t *testing.T, db *store.DB, c idempotentCreate) {
	t.Helper()
	count := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM `+c.table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	st, first, h := c.send(t, c.body, c.key)
	if st != c.status || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("create: %d %v %v", st, first, h)
	}
	// fmt.Sprint prints a map's keys sorted: the whole answer is the
	// first's.
	for _, again := range c.retries {
		st, got, h := c.send(t, again, c.key)
		if st != c.status || h.Get("Idempotent-Replayed") != "true" || fmt.Sprint(got) != fmt.Sprint(first) {
			t.Fatalf("retry %s: %d %v %v\nwant the first answer %v", again, st, got, h, first)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d in %s after retries", n, c.table)
	}
	// The same key with another request: refused, nothing created, even
	// when the other request could be created.
	for _, other := range c.others {
		st, got, _ := c.send(t, other, c.key)
		wantError(t, st, got, http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused)
	}
	// A malformed key is refused before anything is done with the request.
	for _, bad := range []string{"has space", strings.Repeat("k", 256)} {
		st, got, _ := c.send(t, c.body, bad)
		wantError(t, st, got, http.StatusBadRequest, vaspd.CodeInvalidInput)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d in %s after reused and malformed keys", n, c.table)
	}
	if c.then != nil {
		c.then(t, first)
	}

	// Another key, or none, is another request.
	st, second, h := c.send(t, c.body, c.key+"-other")
	if st != c.status || second[c.id] == first[c.id] || h.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another key: %d %v %v", st, second, h)
	}
	st, got, _ := c.send(t, c.body, "")
	if c.conflict != "" {
		wantError(t, st, got, http.StatusConflict, c.conflict)
	} else if st != c.status || got[c.id] == first[c.id] {
		t.Fatalf("no key: %d %v", st, got)
	}
	if n := count(); n != c.total {
		t.Fatalf("%d in %s, want %d", n, c.table, c.total)
	}

	// Concurrent retries of one request create one.
	race := c.race
	if race == "" {
		race = c.body
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		ids     = map[any]bool{}
	)
	start := make(chan struct{}) // all at once, so that they overlap
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, got, h := c.send(t, race, c.key+"-race")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case st != c.status:
				t.Errorf("concurrent create: %d %v", st, got)
			case h.Get("Idempotent-Replayed") == "":
				created++
			}
			ids[got[c.id]] = true
		}()
	}
	close(start)
	wg.Wait()
	if created != 1 || len(ids) != 1 || count() != c.total+1 {
		t.Fatalf("%d created, %s %v, %d in %s", created, c.id, ids, count(), c.table)
	}
}
