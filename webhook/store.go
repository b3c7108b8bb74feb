package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Store remembers which webhook ids have been processed, so that a retry of
// an event the platform already handled is answered 409 instead of running
// the platform's handler twice.
//
// A webhook id moves through two states. Claim puts it in "processing" for a
// lease; Complete moves it to "done" for a retention period; Release forgets
// it, so that a retry after a handler failure runs again. The token returned
// by Claim must be passed to Complete and Release: if the lease expired and
// another request took the id over, the stale holder cannot complete or
// release the new holder's claim.
//
// Implementations must make Claim atomic: of two concurrent Claims of the
// same id, exactly one succeeds.
type Store interface {
	// Claim reserves id for lease. It returns ErrDuplicate if id is done,
	// ErrInProgress if another claim holds an unexpired lease.
	Claim(ctx context.Context, id string, lease time.Duration) (token string, err error)
	// Complete marks id done for retain. It returns ErrClaimLost if another
	// claim holds the id (the lease of token ran out and a retry claimed it
	// again). An id whose expired claim the store has forgotten, and no one
	// has claimed since, is marked done under token: the handler processed
	// the event, and a retry must be answered as a duplicate. Completing an id that the same
	// token completed already returns nil and changes nothing: the
	// Handler tries a failed Complete again, and the first may have
	// committed with its answer lost (a connection dropped), which must
	// not be reported as a lost claim.
	Complete(ctx context.Context, id, token string, retain time.Duration) error
	// Release forgets a claim that token still holds; releasing a lost
	// claim is not an error.
	Release(ctx context.Context, id, token string) error
}

// Store outcomes.
var (
	// ErrDuplicate: the webhook id was already processed (answered 409).
	ErrDuplicate = errors.New("webhook: already processed")
	// ErrInProgress: another request is processing the same webhook id right
	// now (answered 429 with Retry-After, so the sender tries again later).
	ErrInProgress = errors.New("webhook: being processed")
	// ErrClaimLost: the claim's lease expired and the id was claimed again.
	ErrClaimLost = errors.New("webhook: claim lost")
)

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// MemoryStore is an in-process [Store]: right for a single receiver process
// and for tests. Entries are forgotten when they expire and on restart, so a
// multi-instance or restart-sensitive platform should use [SQLStore]. The
// zero value is ready to use.
type MemoryStore struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]memEntry
	// queue holds an expiry for every claim and completion, earliest
	// first (a min-heap), so that each Claim forgets the few entries that
	// have expired without walking the map. An expiry an entry has since
	// moved past (completed, claimed again, released) is dropped when it
	// comes up.
	queue expiryHeap
}

type memEntry struct {
	done    bool
	token   string
	expires time.Time
}

type expiry struct {
	at time.Time
	id string
}

// sweepBatch bounds how many due expiries one Claim looks at. Each Claim
// queues at most two (its claim and its completion), so memory stays
// proportional to the ids within their retention, and a Claim's cost does
// not grow with how many the store holds.
const sweepBatch = 16

func (s *MemoryStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Claim implements [Store].
func (s *MemoryStore) Claim(ctx context.Context, id string, lease time.Duration) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	token, err := newToken()
	if err != nil {
		return "", err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entries == nil {
		s.entries = make(map[string]memEntry)
	}
	s.sweep(now)
	if e, ok := s.entries[id]; ok && now.Before(e.expires) {
		if e.done {
			return "", ErrDuplicate
		}
		return "", ErrInProgress
	}
	s.put(id, memEntry{token: token, expires: now.Add(lease)})
	return token, nil
}

// put stores e under id and queues its expiry. Called with s.mu held.
func (s *MemoryStore) put(id string, e memEntry) {
	s.entries[id] = e
	s.queue.push(expiry{at: e.expires, id: id})
}

// sweep forgets up to sweepBatch of the earliest expiries that are due,
// deleting their entries if those still end then. Called with s.mu held.
func (s *MemoryStore) sweep(now time.Time) {
	for range sweepBatch {
		if s.queue.n == 0 || now.Before(s.queue.at(0).at) {
			return
		}
		x := s.queue.pop()
		if e, ok := s.entries[x.id]; ok && e.expires.Equal(x.at) {
			delete(s.entries, x.id)
		}
	}
}

// expiryHeap is a min-heap of expiries by time, kept in chunks of
// chunkSize so that growing it never copies it: one slice of two million
// expiries copied on append stalled its Claim for about 100 ms.
type expiryHeap struct {
	chunks []*[chunkSize]expiry
	n      int
}

const chunkBits = 10
const chunkSize = 1 << chunkBits

func (h *expiryHeap) at(i int) *expiry { return &h.chunks[i>>chunkBits][i&(chunkSize-1)] }

func (h *expiryHeap) less(i, j int) bool { return h.at(i).at.Before(h.at(j).at) }

func (h *expiryHeap) swap(i, j int) { a, b := h.at(i), h.at(j); *a, *b = *b, *a }

func (h *expiryHeap) push(x expiry) {
	if h.n == len(h.chunks)*chunkSize {
		h.chunks = append(h.chunks, new([chunkSize]expiry))
	}
	*h.at(h.n) = x
	h.n++
	for i := h.n - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

func (h *expiryHeap) pop() expiry {
	x := *h.at(0)
	h.n--
	*h.at(0) = *h.at(h.n)
	*h.at(h.n) = expiry{} // no reference to the id kept
	if h.n <= (len(h.chunks)-2)*chunkSize {
		// Two chunks free: give one back, keeping one for the next pushes.
		h.chunks[len(h.chunks)-1] = nil
		h.chunks = h.chunks[:len(h.chunks)-1]
	}
	for i := 0; ; {
		c := 2*i + 1
		if c >= h.n {
			break
		}
		if c+1 < h.n && h.less(c+1, c) {
			c++
		}
		if !h.less(c, i) {
			break
		}
		h.swap(i, c)
		i = c
	}
	return x
}

// Complete implements [Store].
func (s *MemoryStore) Complete(ctx context.Context, id, token string, retain time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if ok && e.token != token {
		return ErrClaimLost
	}
	if ok && e.done {
		return nil // completed by this claim already: see Store
	}
	// Held by this claim, or forgotten after its lease (a Claim's sweep)
	// and claimed by no one since: see Store.
	s.put(id, memEntry{done: true, token: token, expires: now.Add(retain)})
	return nil
}

// Release implements [Store].
func (s *MemoryStore) Release(ctx context.Context, id, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ok && !e.done && e.token == token {
		delete(s.entries, id)
	}
	return nil
}

// Len reports how many ids the store holds, expired ones included until a
// Claim sweeps them (each Claim a few, the earliest first).
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
