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
	// Complete marks id done for retain. It returns ErrClaimLost if the
	// token no longer holds the claim.
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
	claims  int
}

type memEntry struct {
	done    bool
	token   string
	expires time.Time
}

// sweepEvery is how many Claims pass between sweeps of expired entries, so
// memory stays proportional to the ids within their retention.
const sweepEvery = 1024

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
	if s.claims++; s.claims%sweepEvery == 0 {
		for k, e := range s.entries {
			if !now.Before(e.expires) {
				delete(s.entries, k)
			}
		}
	}
	if e, ok := s.entries[id]; ok && now.Before(e.expires) {
		if e.done {
			return "", ErrDuplicate
		}
		return "", ErrInProgress
	}
	s.entries[id] = memEntry{token: token, expires: now.Add(lease)}
	return token, nil
}

// Complete implements [Store].
func (s *MemoryStore) Complete(ctx context.Context, id, token string, retain time.Duration) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || e.done || e.token != token {
		return ErrClaimLost
	}
	s.entries[id] = memEntry{done: true, token: token, expires: now.Add(retain)}
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

// Len reports how many ids the store holds, expired ones included until the
// next sweep.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
