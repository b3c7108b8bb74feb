package embedded

import "sync"

// recentSize is how many entries a recent map keeps: enough for the
// payments in flight between one call and the next (PreparePayment and the
// Pay that follows it), small enough to need no other bound.
const recentSize = 64

// recent is a small map that keeps the last recentSize keys put and forgets
// the oldest. Its zero value is ready to use and it is safe for concurrent
// use. It serves the node's hand-overs from one call to the next (decoded
// invoices, rows just recorded), where a miss only costs the work it saves.
type recent[K comparable, V any] struct {
	mu   sync.Mutex
	m    map[K]recentEntry[V]
	ring [recentSize]K // the key put in each slot, oldest at next
	next int
}

type recentEntry[V any] struct {
	v    V
	slot int // ring slot of the key; a key taken and put again has a new one
}

// put stores v under k, replacing what k held.
func (c *recent[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[K]recentEntry[V], recentSize)
	}
	if e, ok := c.m[k]; ok {
		c.m[k] = recentEntry[V]{v: v, slot: e.slot}
		return
	}
	if old := c.ring[c.next]; c.m[old].slot == c.next {
		delete(c.m, old) // evict the oldest, unless taken already or moved
	}
	c.ring[c.next] = k
	c.m[k] = recentEntry[V]{v: v, slot: c.next}
	c.next = (c.next + 1) % recentSize
}

// get returns what k holds.
func (c *recent[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e.v, ok
}

// take returns what k holds and forgets it.
func (c *recent[K, V]) take(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok {
		delete(c.m, k)
	}
	return e.v, ok
}
