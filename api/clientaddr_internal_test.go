package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func proxies(t testing.TB, entries ...string) trustedProxies {
	t.Helper()
	var out trustedProxies
	for _, e := range entries {
		p, err := ParseTrustedProxy(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// request is a request from the peer remoteAddr with one X-Forwarded-For
// header line per xff entry (none for nil).
func request(remoteAddr string, xff ...string) *http.Request {
	r := &http.Request{RemoteAddr: remoteAddr, Header: http.Header{}}
	for _, v := range xff {
		r.Header.Add("X-Forwarded-For", v)
	}
	return r
}

// TestClientAddr: X-Forwarded-For is believed only from a trusted proxy,
// and then only as far as it is made of trusted proxies: the client is the
// rightmost address that is no trusted proxy, and nothing left of an entry
// that is no IP address (with or without a port) is believed.
func TestClientAddr(t *testing.T) {
	many := func(n int) string { // 10.0.0.1, …, 10.0.0.n
		var e []string
		for i := range n {
			e = append(e, fmt.Sprintf("10.0.0.%d", i+1))
		}
		return strings.Join(e, ", ")
	}
	trusted := proxies(t, "10.0.0.0/8", "192.0.2.10", "2001:db8:ffff::/48")
	for _, c := range []struct {
		name    string
		proxies trustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no trusted proxies: the header is ignored", nil, "10.0.0.1:1", []string{"198.51.100.1"}, "10.0.0.1"},
		{"untrusted peer with a forged header", trusted, "203.0.113.5:1", []string{"198.51.100.1"}, "203.0.113.5"},
		{"untrusted peer, forged trusted hops", trusted, "203.0.113.5:1", []string{"198.51.100.1, 10.0.0.2"}, "203.0.113.5"},
		{"trusted peer", trusted, "10.0.0.1:1", []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted peer, client's own forged entry left", trusted, "10.0.0.1:1", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", trusted, "10.0.0.1:1", []string{"1.2.3.4, 198.51.100.1, 192.0.2.10, 10.1.2.3"}, "198.51.100.1"},
		{"every entry trusted: the leftmost", trusted, "10.0.0.1:1", []string{"10.0.0.9, 192.0.2.10, 10.0.0.8"}, "10.0.0.9"},
		{"trusted peer, no header", trusted, "10.0.0.1:1", nil, "10.0.0.1"},
		{"trusted peer, empty header", trusted, "10.0.0.1:1", []string{""}, "10.0.0.1"},
		{"empty entry", trusted, "10.0.0.1:1", []string{"198.51.100.1,,10.0.0.2"}, "10.0.0.2"},
		{"garbage: nothing left of it", trusted, "10.0.0.1:1", []string{"198.51.100.1, garbage"}, "10.0.0.1"},
		{"garbage after a trusted hop", trusted, "10.0.0.1:1", []string{"198.51.100.1, unknown, 10.0.0.7"}, "10.0.0.7"},
		{"obfuscated token", trusted, "10.0.0.1:1", []string{"_hidden"}, "10.0.0.1"},
		{"an address with a port", trusted, "10.0.0.1:1", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"an IPv6 address with a port", trusted, "10.0.0.1:1", []string{" [2001:db8::1]:80 "}, "2001:db8::1"},
		{"trusted hops with ports", trusted, "10.0.0.1:1", []string{"1.2.3.4:1, 198.51.100.1:51234, 10.0.0.2:443, [2001:db8:ffff::1]:8443"}, "198.51.100.1"},
		{"ports and none mixed", trusted, "10.0.0.1:1", []string{"198.51.100.1, 10.0.0.2:443, 10.0.0.3"}, "198.51.100.1"},
		{"an IPv4-mapped address with a port", trusted, "10.0.0.1:1", []string{"198.51.100.1, [::ffff:10.0.0.3]:80"}, "198.51.100.1"},
		{"the longest address with a port", trusted, "10.0.0.1:1", []string{"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"}, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
		{"longer text with a port", trusted, "10.0.0.1:1", []string{"[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:065535"}, "10.0.0.1"},
		{"a bracketed IPv6 address", trusted, "10.0.0.1:1", []string{"[2001:db8::1]"}, "10.0.0.1"},
		{"a bracketed IPv4 address with a port", trusted, "10.0.0.1:1", []string{"[198.51.100.1]:80"}, "10.0.0.1"},
		{"an IPv6 address with a port, unbracketed", trusted, "10.0.0.1:1", []string{"2001:db8:1:2:3:4:5:6:80"}, "10.0.0.1"},
		{"an empty port", trusted, "10.0.0.1:1", []string{"198.51.100.1:"}, "10.0.0.1"},
		{"a port out of range", trusted, "10.0.0.1:1", []string{"198.51.100.1:65536"}, "10.0.0.1"},
		{"a signed port", trusted, "10.0.0.1:1", []string{"198.51.100.1:+80"}, "10.0.0.1"},
		{"a name with a port", trusted, "10.0.0.1:1", []string{"client.example:80"}, "10.0.0.1"},
		{"an address with a zone", trusted, "10.0.0.1:1", []string{"fe80::1%eth0"}, "10.0.0.1"},
		{"an address with a zone and a port", trusted, "10.0.0.1:1", []string{"[fe80::1%eth0]:80"}, "10.0.0.1"},
		{"IPv4 with leading zeros", trusted, "10.0.0.1:1", []string{"010.0.0.1"}, "10.0.0.1"},
		{"IPv4 with leading zeros and a port", trusted, "10.0.0.1:1", []string{"010.0.0.1:80"}, "10.0.0.1"},
		{"a name", trusted, "10.0.0.1:1", []string{"client.example"}, "10.0.0.1"},
		{"a huge entry", trusted, "10.0.0.1:1", []string{strings.Repeat("1", 70_000)}, "10.0.0.1"},
		{"spaces and tabs around entries", trusted, "10.0.0.1:1", []string{" \t198.51.100.1\t ,  10.0.0.3 "}, "198.51.100.1"},
		{"IPv6 proxy and client", trusted, "[2001:db8:ffff::1]:443", []string{"2001:db8:1:2::5, 2001:db8:ffff:0:1::"}, "2001:db8:1:2::5"},
		{"IPv6 client behind an IPv4 proxy", trusted, "10.0.0.1:1", []string{"2001:DB8:1:2::5"}, "2001:db8:1:2::5"},
		{"IPv4-mapped peer", trusted, "[::ffff:10.0.0.1]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped untrusted peer", trusted, "[::ffff:203.0.113.5]:80", []string{"198.51.100.1"}, "203.0.113.5"},
		{"IPv4-mapped client", trusted, "10.0.0.1:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped trusted hop", trusted, "10.0.0.1:1", []string{"198.51.100.1, ::ffff:10.0.0.3"}, "198.51.100.1"},
		{"peer with a zone", proxies(t, "fe80::/64"), "[fe80::1%eth0]:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"header lines in order", trusted, "10.0.0.1:1", []string{"1.2.3.4, 198.51.100.1", "10.0.0.5", "10.0.0.6, 10.0.0.7"}, "198.51.100.1"},
		{"the last line's client", trusted, "10.0.0.1:1", []string{"203.0.113.1", "198.51.100.1"}, "198.51.100.1"},
		{"an empty last line stops", trusted, "10.0.0.1:1", []string{"198.51.100.1", ""}, "10.0.0.1"},
		{"garbage on an earlier line", trusted, "10.0.0.1:1", []string{"198.51.100.1, x", "10.0.0.5"}, "10.0.0.5"},
		{"client within the bound", trusted, "10.0.0.1:1", []string{"198.51.100.1, " + many(maxForwardedHops-1)}, "198.51.100.1"},
		{"past the bound: the last hop walked", trusted, "10.0.0.1:1", []string{"198.51.100.1, " + many(40)}, "10.0.0.9"},
		{"the bound spans lines", trusted, "10.0.0.1:1", []string{"198.51.100.1", many(20), many(20)}, "10.0.0.9"},
		{"a peer that is no IP:port", trusted, "@", []string{"198.51.100.1"}, "invalid IP"},
	} {
		if got := c.proxies.clientAddr(request(c.peer, c.xff...)).String(); got != c.want {
			t.Errorf("%s: client %s, want %s", c.name, got, c.want)
		}
	}
}

// The limiter's key is the resolved client's: an IPv6 client behind a
// proxy is still its /64, and a peer that is no IP:port its own key.
func TestClientKeyBehindProxy(t *testing.T) {
	trusted := proxies(t, "10.0.0.0/8")
	for _, c := range []struct {
		peer string
		xff  []string
		want string
	}{
		{"10.0.0.1:1", []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"10.0.0.1:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"10.0.0.1:1", nil, "10.0.0.1"},
		{"203.0.113.5:1", []string{"198.51.100.1"}, "203.0.113.5"},
		{"@", []string{"198.51.100.1"}, "@"},
	} {
		if got := trusted.client(request(c.peer, c.xff...)).key(); got != c.want {
			t.Errorf("%s %q: key %q, want %q", c.peer, c.xff, got, c.want)
		}
	}
}

// FuzzClientAddr: whatever the header, the client is the peer or one of
// the header's entries (an IP:port one as its address), never one left of
// an entry that is neither, and an untrusted peer is always its own client.
func FuzzClientAddr(f *testing.F) {
	for _, s := range []string{"", "198.51.100.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", "x, 10.0.0.2", "::ffff:10.0.0.1,2001:db8::1", ",,,",
		"198.51.100.1:4711, 10.0.0.2:443", "[2001:db8::1]:80,[::ffff:10.0.0.2]:1", "x:1, [fe80::1%eth0]:80, 10.0.0.2"} {
		f.Add("10.0.0.1:1", s, "10.0.0.3")
		f.Add("203.0.113.5:1", s, "")
	}
	trusted := proxies(f, "10.0.0.0/8", "2001:db8::/32")
	f.Fuzz(func(t *testing.T, peer, line1, line2 string) {
		r := request(peer, line1, line2)
		got := trusted.clientAddr(r)
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			if got.IsValid() {
				t.Fatalf("peer %q is no IP:port, yet client %s", peer, got)
			}
			return
		}
		p := ap.Addr().Unmap().WithZone("")
		if !trusted.trusts(p) {
			if got != p {
				t.Fatalf("untrusted peer %s, client %s", p, got)
			}
			return
		}
		if got == p {
			return
		}
		// got must be an entry with only trusted proxies right of it.
		var entries []string
		for _, l := range []string{line1, line2} {
			entries = append(entries, strings.Split(l, ",")...)
		}
		slices.Reverse(entries)
		for i, e := range entries {
			if i == maxForwardedHops {
				break
			}
			e = strings.Trim(e, " \t")
			a, err := netip.ParseAddr(e)
			if err != nil {
				var ap netip.AddrPort
				ap, err = netip.ParseAddrPort(e)
				a = ap.Addr()
			}
			if err != nil || a.Zone() != "" {
				break
			}
			if a.Unmap() == got {
				return
			}
			if !trusted.trusts(a.Unmap()) {
				break
			}
		}
		t.Fatalf("client %s is not the peer nor a believable entry of %q, %q", got, line1, line2)
	})
}

// api-trusted-proxies entries: an IP address or a CIDR network, v4 or v6;
// IPv4-mapped ones are taken as IPv4. A network with host bits set is
// refused, as it is unclear whether the address or the network was meant.
func TestParseTrustedProxy(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8":          "10.0.0.0/8",
		" 192.0.2.7 ":         "192.0.2.7/32",
		"2001:DB8::/32":       "2001:db8::/32",
		"::1":                 "::1/128",
		"::ffff:10.0.0.1":     "10.0.0.1/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8",
		"0.0.0.0/0":           "0.0.0.0/0",
	} {
		p, err := ParseTrustedProxy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseTrustedProxy(%q) = %s, %v, want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", " ", "garbage", "10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "fe80::1%eth0", "10.0.0.0/8/8",
		"010.0.0.1", "*", "10.0.0.0-10.0.0.255", "proxy.example.com", "10.0.0.1:80", "[::1]", "2001:db8::1/64"} {
		if p, err := ParseTrustedProxy(in); err == nil {
			t.Errorf("ParseTrustedProxy(%q) = %s, want an error", in, p)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", strings.TrimSpace(in))) {
			t.Errorf("ParseTrustedProxy(%q): %v does not quote the entry", in, err)
		}
	}
}
