package users

import (
	"slices"
	"sync"
	"time"
)

// DefaultLocalCacheTTL is how long GetByUMALocal may answer from memory.
//
// Every payreq and lnurlp request looks its recipient up by UMA local part,
// and a hot recipient is looked up hundreds of times a second. Updates and
// deletions made through this Service empty the cache when they commit, so
// a process never serves its own stale data; what another process sharing
// the database changed is seen within this TTL. A recipient deleted or
// renamed elsewhere (its address perhaps taken by another user) may thus
// still be found by its old address for one more second (an lnurlp
// answer), but is issued no invoice: the daemon's payment flow reads the
// user afresh in the transaction that records a payment or makes its
// invoice payable, and refuses one who is gone or no longer holds the
// address (vasp.LiveChecker, CheckLive, which then empties the cache). An
// invoice issued just before the deletion or rename stays payable, to its
// user, for its expiry.
const DefaultLocalCacheTTL = time.Second

// WithLocalCacheTTL sets how long GetByUMALocal may answer from memory
// (DefaultLocalCacheTTL); 0 or less disables the cache.
func WithLocalCacheTTL(ttl time.Duration) Option {
	return func(s *Service) { s.cache.ttl = ttl }
}

// localCache maps normalised UMA local parts to live users. Only found
// users are cached: a user created meanwhile is never hidden.
type localCache struct {
	ttl time.Duration

	mu      sync.Mutex
	gen     uint64 // bumped by every invalidation
	entries map[string]cachedUser
}

type cachedUser struct {
	u       User
	expires time.Time // monotonic
}

// maxCachedUsers bounds the memory a scan of many addresses can pin.
const maxCachedUsers = 10_000

// get returns a copy of the cached user for local, and the generation a
// caller that misses must pass to put.
func (c *localCache) get(local string) (User, bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[local]
	if !ok || !time.Now().Before(e.expires) {
		return User{}, false, c.gen
	}
	return e.u.clone(), true, c.gen
}

// put caches u unless an invalidation happened since gen was read: the
// row read may then predate a committed update.
func (c *localCache) put(local string, u User, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= maxCachedUsers {
		c.entries = map[string]cachedUser{}
	}
	c.entries[local] = cachedUser{u: u.clone(), expires: time.Now().Add(c.ttl)}
}

// invalidate forgets every cached user. Changes are rare next to lookups,
// and one update can concern two local parts (a renamed address), so the
// whole cache goes.
func (c *localCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
}

// clone copies what a caller could modify through a User.
func (u User) clone() User {
	u.PreferredCurrencies = slices.Clone(u.PreferredCurrencies)
	if u.Address != nil {
		a := *u.Address
		u.Address = &a
	}
	if u.BankAccount != nil {
		b := *u.BankAccount
		u.BankAccount = &b
	}
	if u.BusinessInfo != nil {
		b := *u.BusinessInfo
		u.BusinessInfo = &b
	}
	return u
}
