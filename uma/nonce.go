package uma

import (
	"context"
	"sync"
	"time"
)

// NonceCache records the nonces of signed messages we accepted, so a
// replayed message is refused. Nonces are scoped by signer domain because
// most SDKs draw them from only 32 bits: a global cache would see birthday
// collisions between unrelated VASPs.
//
// The server implements it with SQL, e.g. a table
//
//	uma_nonces(signer_domain TEXT, nonce TEXT, ts BIGINT, PRIMARY KEY (signer_domain, nonce))
//
// where CheckAndSave is one INSERT that fails on the primary key (→ return
// Errorf(CodeInvalidNonce, ...)), and a periodic purge deletes rows older
// than the Verifier's MaxAge (rows must be kept at least that long).
type NonceCache interface {
	// CheckAndSave atomically records (domain, nonce) and returns an
	// INVALID_NONCE *Error if the pair was already recorded or ts is older
	// than the cache's cut-off. ts is the message's signature timestamp.
	CheckAndSave(ctx context.Context, domain, nonce string, ts time.Time) error
}

// MemoryNonceCache is a NonceCache in process memory, for tests and single
// process deployments. Entries older than the cut-off are rejected and
// purged by PurgeOlderThan. The zero value accepts any timestamp.
type MemoryNonceCache struct {
	mu     sync.Mutex
	cutoff time.Time
	seen   map[nonceKey]time.Time
}

type nonceKey struct{ domain, nonce string }

// NewMemoryNonceCache returns a cache that rejects timestamps before oldestValid.
func NewMemoryNonceCache(oldestValid time.Time) *MemoryNonceCache {
	return &MemoryNonceCache{cutoff: oldestValid}
}

// CheckAndSave implements NonceCache.
func (c *MemoryNonceCache) CheckAndSave(_ context.Context, domain, nonce string, ts time.Time) error {
	if nonce == "" {
		return Errorf(CodeInvalidNonce, "empty nonce")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts.Before(c.cutoff) {
		return Errorf(CodeInvalidNonce, "timestamp is older than the replay window")
	}
	k := nonceKey{domain, nonce}
	if _, dup := c.seen[k]; dup {
		return Errorf(CodeInvalidNonce, "nonce already used")
	}
	if c.seen == nil {
		c.seen = make(map[nonceKey]time.Time)
	}
	c.seen[k] = ts
	return nil
}

// PurgeOlderThan forgets entries with ts before t and moves the cut-off to t
// (messages older than t are then rejected, so forgetting them is safe).
func (c *MemoryNonceCache) PurgeOlderThan(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.cutoff) {
		c.cutoff = t
	}
	for k, ts := range c.seen {
		if ts.Before(t) {
			delete(c.seen, k)
		}
	}
}

// Len is the number of remembered nonces.
func (c *MemoryNonceCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
