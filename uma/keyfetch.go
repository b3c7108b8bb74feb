package uma

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// PublicKeySource yields a counterparty's keys by domain. *KeyFetcher is the
// implementation; tests and the server may substitute their own (for
// example a static map for a private network of VASPs).
type PublicKeySource interface {
	PublicKeys(ctx context.Context, domain string) (*PublicKeys, error)
}

// KeyCache stores counterparty keys by domain. Get must not return an entry
// whose expiry is at or before now. MemoryKeyCache is the in-memory
// implementation; one instance can be shared by many fetchers.
type KeyCache interface {
	Get(domain string, now time.Time) (*PublicKeys, bool)
	Put(domain string, keys *PublicKeys, expiresAt time.Time)
}

// KeyFetcher fetches GET <scheme>://<domain>/.well-known/lnurlpubkey and
// caches the result. The zero value works: http.Client with a 10 s timeout,
// a private MemoryKeyCache, time.Now.
type KeyFetcher struct {
	// Client performs the request; inject a transport for tests or proxies.
	Client *http.Client
	// Cache stores keys by domain; nil means a private in-memory cache.
	Cache KeyCache
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxTTL caps how long keys stay cached even when the counterparty's
	// expirationTimestamp is far away, so rotated keys are picked up
	// (default 24h). Keys without expirationTimestamp are cached DefaultTTL
	// (default 1h).
	MaxTTL     time.Duration
	DefaultTTL time.Duration

	once    sync.Once
	private *MemoryKeyCache

	mu        sync.Mutex
	fetchedAt map[string]time.Time // when each domain's keys were last fetched (RefreshPublicKeys)
}

// maxPubKeyBody bounds the response we read (real ones are ~2 KiB).
const maxPubKeyBody = 256 << 10

var defaultHTTPClient = &http.Client{Timeout: 10 * time.Second}

// PubKeyURL is the lnurlpubkey URL of domain.
func PubKeyURL(domain string) string { return BaseURL(domain) + "/.well-known/lnurlpubkey" }

// PublicKeys returns the keys of domain from the cache or the network.
// Errors: INVALID_INPUT for a malformed domain, COUNTERPARTY_PUBKEY_FETCH_ERROR
// (424) when the request fails or answers non-200, INVALID_PUBKEY_FORMAT or
// CERT_CHAIN_INVALID when the body is unusable.
func (f *KeyFetcher) PublicKeys(ctx context.Context, domain string) (*PublicKeys, error) {
	if err := ValidateDomain(domain); err != nil {
		return nil, err
	}
	now := f.now()
	cache := f.cache()
	if k, ok := cache.Get(domain, now); ok {
		return k, nil
	}
	f.fetched(domain, now)
	keys, err := f.fetch(ctx, domain)
	if err != nil {
		return nil, err
	}
	f.put(domain, keys, now)
	return keys, nil
}

// put caches domain's keys, fetched at now, until their
// expirationTimestamp (DefaultTTL without one), at most MaxTTL.
func (f *KeyFetcher) put(domain string, keys *PublicKeys, now time.Time) {
	exp := now.Add(f.defaultTTL())
	if !keys.ExpiresAt.IsZero() {
		exp = keys.ExpiresAt
	}
	if max := now.Add(f.maxTTL()); exp.After(max) {
		exp = max
	}
	if exp.After(now) {
		f.cache().Put(domain, keys, exp)
	}
}

// KeyRefresher is a PublicKeySource that can fetch a domain's keys anew,
// past its cache. Verifier asks it when a signature fails with the keys
// it was given: a counterparty that rotated its keys signs with the new
// ones while the old are cached (up to MaxTTL, 24 h by default), and
// every message it sends would be refused until then.
type KeyRefresher interface {
	RefreshPublicKeys(ctx context.Context, domain string) (*PublicKeys, error)
}

var _ KeyRefresher = (*KeyFetcher)(nil)

// KeyRefreshEvery is how often at most one domain's keys are fetched
// anew (by PublicKeys or RefreshPublicKeys): anyone can send a message
// that fails to verify, and each would otherwise make us fetch.
const KeyRefreshEvery = time.Minute

// maxFetchTimes bounds the domains whose last fetch is remembered; past
// it the memory is cleared (a domain may then be fetched anew sooner).
const maxFetchTimes = 10_000

// errFetchedRecently refuses a refresh within KeyRefreshEvery of a fetch.
var errFetchedRecently = Errorf(CodeCounterpartyPubkeyFetchError, "public keys fetched less than %s ago", KeyRefreshEvery)

// RefreshPublicKeys fetches domain's keys past the cache and caches them,
// unless they were fetched less than KeyRefreshEvery ago (an error then).
func (f *KeyFetcher) RefreshPublicKeys(ctx context.Context, domain string) (*PublicKeys, error) {
	if err := ValidateDomain(domain); err != nil {
		return nil, err
	}
	now := f.now()
	if !f.fetched(domain, now) {
		return nil, errFetchedRecently
	}
	keys, err := f.fetch(ctx, domain)
	if err != nil {
		return nil, err
	}
	f.put(domain, keys, now)
	return keys, nil
}

// fetched notes that domain's keys are fetched at now, reporting whether
// the last fetch was KeyRefreshEvery ago or more (or none is known).
func (f *KeyFetcher) fetched(domain string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if last, ok := f.fetchedAt[domain]; ok && now.Sub(last) < KeyRefreshEvery {
		return false
	}
	if f.fetchedAt == nil || len(f.fetchedAt) >= maxFetchTimes {
		f.fetchedAt = make(map[string]time.Time)
	}
	f.fetchedAt[domain] = now
	return true
}

func (f *KeyFetcher) fetch(ctx context.Context, domain string) (*PublicKeys, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, PubKeyURL(domain), nil)
	if err != nil {
		return nil, wrapErr(CodeInvalidInput, err, "cannot build pubkey request")
	}
	req.Header.Set("Accept", "application/json")
	client := f.Client
	if client == nil {
		client = defaultHTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &Error{Code: CodeCounterpartyPubkeyFetchError, Reason: "cannot fetch public keys of " + domain, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Never asked for; its body is the raw connection, which no client
		// timeout or context bounds, so it is not read.
		return nil, Errorf(CodeCounterpartyPubkeyFetchError, "public keys of %s: HTTP 101 Switching Protocols", domain)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPubKeyBody+1))
	if err != nil {
		return nil, &Error{Code: CodeCounterpartyPubkeyFetchError, Reason: "cannot read public keys of " + domain, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, Errorf(CodeCounterpartyPubkeyFetchError, "public keys of %s: HTTP %d", domain, resp.StatusCode)
	}
	if len(body) > maxPubKeyBody {
		return nil, Errorf(CodeInvalidPubkeyFormat, "pubkey response of %s is too large", domain)
	}
	r, err := ParsePubKeyResponse(body)
	if err != nil {
		return nil, err
	}
	keys, err := r.PublicKeys()
	if err != nil {
		return nil, fmt.Errorf("public keys of %s: %w", domain, err)
	}
	return keys, nil
}

func (f *KeyFetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *KeyFetcher) cache() KeyCache {
	if f.Cache != nil {
		return f.Cache
	}
	f.once.Do(func() { f.private = &MemoryKeyCache{} })
	return f.private
}

func (f *KeyFetcher) maxTTL() time.Duration {
	if f.MaxTTL > 0 {
		return f.MaxTTL
	}
	return 24 * time.Hour
}

func (f *KeyFetcher) defaultTTL() time.Duration {
	if f.DefaultTTL > 0 {
		return f.DefaultTTL
	}
	return time.Hour
}

// MemoryKeyCache is a KeyCache in process memory, safe for concurrent use.
// Its zero value is ready. Expired entries are dropped when read, and the
// cache holds at most MaxEntries domains: any domain can serve valid keys,
// so without a bound many of them would grow it without limit. Making room
// drops the expired entries first (expired by the latest time passed to
// Get), then the least recently used.
type MemoryKeyCache struct {
	// MaxEntries bounds the number of domains cached (default 10,000).
	MaxEntries int

	mu      sync.Mutex
	m       map[string]*list.Element // of *keyCacheEntry
	lru     list.List                // most recently used first
	now     time.Time                // the latest time passed to Get
	sweptAt time.Time                // when expired entries were last dropped
}

type keyCacheEntry struct {
	domain string
	keys   *PublicKeys
	exp    time.Time
}

const defaultMaxKeyCacheEntries = 10_000

// Get implements KeyCache.
func (c *MemoryKeyCache) Get(domain string, now time.Time) (*PublicKeys, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.now) {
		c.now = now
	}
	el, ok := c.m[domain]
	if !ok {
		return nil, false
	}
	e := el.Value.(*keyCacheEntry)
	if !now.Before(e.exp) {
		c.remove(el)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.keys, true
}

// Put implements KeyCache.
func (c *MemoryKeyCache) Put(domain string, keys *PublicKeys, expiresAt time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]*list.Element)
	}
	if el, ok := c.m[domain]; ok {
		e := el.Value.(*keyCacheEntry)
		e.keys, e.exp = keys, expiresAt
		c.lru.MoveToFront(el)
		return
	}
	max := c.MaxEntries
	if max <= 0 {
		max = defaultMaxKeyCacheEntries
	}
	if len(c.m) >= max && c.now.Sub(c.sweptAt) >= time.Minute {
		// A full pass, at most once a minute (of the callers' clock).
		c.sweptAt = c.now
		for el := c.lru.Back(); el != nil; {
			prev := el.Prev()
			if !c.now.Before(el.Value.(*keyCacheEntry).exp) {
				c.remove(el)
			}
			el = prev
		}
	}
	for len(c.m) >= max {
		c.remove(c.lru.Back())
	}
	c.m[domain] = c.lru.PushFront(&keyCacheEntry{domain: domain, keys: keys, exp: expiresAt})
}

func (c *MemoryKeyCache) remove(el *list.Element) {
	delete(c.m, el.Value.(*keyCacheEntry).domain)
	c.lru.Remove(el)
}

// Len is the number of domains cached, expired or not.
func (c *MemoryKeyCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// Delete removes domain.
func (c *MemoryKeyCache) Delete(domain string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[domain]; ok {
		c.remove(el)
	}
}

// StaticKeys is a PublicKeySource backed by a fixed map, for tests and
// closed networks.
type StaticKeys map[string]*PublicKeys

// PublicKeys implements PublicKeySource.
func (s StaticKeys) PublicKeys(_ context.Context, domain string) (*PublicKeys, error) {
	if k, ok := s[domain]; ok {
		return k, nil
	}
	return nil, Errorf(CodeCounterpartyPubkeyFetchError, "no keys for %s", truncate(domain))
}
