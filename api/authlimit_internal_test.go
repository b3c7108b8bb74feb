package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
)

// peerKey is the limiter's key of a request from the peer remoteAddr, no
// proxy trusted.
func peerKey(remoteAddr string) string {
	return trustedProxies(nil).client(&http.Request{RemoteAddr: remoteAddr}).key()
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:4711":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:4711":        "192.0.2.7", // IPv4-mapped: the IPv4 client
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":       "2001:db8:1:2::/64", // the same /64
		"[2001:db8:1:3::1]:1":            "2001:db8:1:3::/64",
		"[fe80::1%eth0]:80":              "fe80::/64",
		"[::1]:80":                       "::/64",
		"not an address":                 "not an address",
		"@":                              "@",
		"[2001:db8::1]":                  "[2001:db8::1]", // no port: not a TCP peer, its own key
		"203.0.113.9:0":                  "203.0.113.9",
		"[2001:DB8:0:0:0:0:0:1]:65535":   "2001:db8::/64",
		"[2001:db8:aaaa:bbbb:cccc::]:80": "2001:db8:aaaa:bbbb::/64",
	} {
		if got := peerKey(addr); got != want {
			t.Errorf("key of peer %q = %q, want %q", addr, got, want)
		}
	}
}

// An IPv6 client cannot escape its throttling by walking the addresses of
// its /64; another /64 is another client.
func TestAuthLimiterGroupsIPv6By64(t *testing.T) {
	clock := vaspd.NewFakeClock(time.Unix(1_700_000_000, 0))
	l := newAuthLimiter(clock, slog.New(slog.DiscardHandler), 5, 100)
	for i := range 5 {
		k := peerKey(fmt.Sprintf("[2001:db8:1:2::%x]:1", i+1))
		if l.wait(k) != 0 {
			t.Fatalf("attempt %d throttled", i)
		}
		l.failed(k)
	}
	if l.wait(peerKey("[2001:db8:1:2:dead:beef:0:1]:1")) == 0 {
		t.Fatal("another address of the /64 is not throttled")
	}
	if l.wait(peerKey("[2001:db8:1:3::1]:1")) != 0 {
		t.Fatal("another /64 is throttled")
	}
}

// The limiter remembers at most its bound of clients, however many
// addresses fail; the most recent ones are kept, and clients whose bucket
// has refilled are forgotten first.
func TestAuthLimiterBounded(t *testing.T) {
	clock := vaspd.NewFakeClock(time.Unix(1_700_000_000, 0))
	l := newAuthLimiter(clock, slog.New(slog.DiscardHandler), 2, 50)
	key := func(i int) string { return peerKey(fmt.Sprintf("[2001:db8:%x:%x::1]:1", i>>16, i&0xffff)) }
	for i := range 1000 {
		l.failed(key(i))
		l.failed(key(i))
		if n := len(l.clients); n > 50 || n != l.lru.Len() {
			t.Fatalf("after %d clients: %d remembered, %d listed", i+1, n, l.lru.Len())
		}
	}
	if l.wait(key(999)) == 0 || l.wait(key(950)) == 0 {
		t.Fatal("the most recent clients are not throttled")
	}
	if l.wait(key(0)) != 0 {
		t.Fatal("the first client is still remembered")
	}
	// A minute on, every bucket has refilled: the next failure forgets
	// them all instead of evicting one.
	clock.Advance(time.Minute)
	l.failed(key(5000))
	if len(l.clients) != 1 || l.lru.Len() != 1 {
		t.Fatalf("%d remembered after every bucket refilled", len(l.clients))
	}
}

// A client that keeps failing gets one attempt per interval, never a
// burst again, until it stops for long enough.
func TestAuthLimiterRefill(t *testing.T) {
	clock := vaspd.NewFakeClock(time.Unix(1_700_000_000, 0))
	l := newAuthLimiter(clock, slog.New(slog.DiscardHandler), 6, 100) // 10 s each
	for range 6 {
		l.failed("c")
	}
	if d := l.wait("c"); d != 10*time.Second {
		t.Fatalf("wait %s", d)
	}
	for range 3 {
		clock.Advance(10 * time.Second)
		if d := l.wait("c"); d != 0 {
			t.Fatalf("wait %s after an interval", d)
		}
		l.failed("c")
		if d := l.wait("c"); d != 10*time.Second {
			t.Fatalf("wait %s after a failure", d)
		}
	}
	clock.Advance(time.Minute)
	for i := range 6 {
		if l.wait("c") != 0 {
			t.Fatalf("attempt %d of a new burst throttled", i)
		}
		l.failed("c")
	}
	if newAuthLimiter(clock, nil, 0, 100) != nil || newAuthLimiter(clock, nil, -1, 100).wait("c") != 0 {
		t.Fatal("a limit of 0 or less limits")
	}
}
