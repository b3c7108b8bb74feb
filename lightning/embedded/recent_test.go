package embedded

import "testing"

// TestRecent: the oldest key goes first; a key taken and put again counts
// from its new put, not from its first (its old slot, when reused, must not
// evict it).
func TestRecent(t *testing.T) {
	var c recent[int, string]
	for k := 0; k < recentSize; k++ {
		c.put(k, "v")
	}
	c.put(0, "again") // in place: still the oldest
	if v, ok := c.get(0); !ok || v != "again" {
		t.Fatalf("get(0) = %q, %v", v, ok)
	}
	if _, ok := c.take(1); !ok {
		t.Fatal("take(1) missed")
	}
	if _, ok := c.take(1); ok {
		t.Fatal("take(1) twice")
	}
	c.put(1, "new")         // slot 0: evicts key 0
	c.put(recentSize, "v2") // slot 1, where key 1 was first put: key 1 stays
	if _, ok := c.get(0); ok {
		t.Fatal("the oldest key was kept")
	}
	if v, ok := c.get(1); !ok || v != "new" {
		t.Fatalf("key 1, put again, was evicted by its old slot: %q, %v", v, ok)
	}
	for k := 2; k < recentSize; k++ {
		if _, ok := c.get(k); !ok {
			t.Fatalf("key %d evicted early", k)
		}
	}
}
