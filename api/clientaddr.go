package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vaspd/vaspd"
)

// The address of the client a request comes from. Behind a reverse proxy
// the connection's peer is the proxy, and the client is what the proxy
// appends to X-Forwarded-For; but anyone can write that header, so it is
// believed only from the proxies the operator names (Options.TrustedProxies,
// vaspd serve's api-trusted-proxies), and only as far as the hops it lists
// are such proxies themselves:
//
//   - a peer that is no trusted proxy is the client, whatever it sends;
//   - from a trusted peer, X-Forwarded-For (all its header lines, in order,
//     each a comma-separated list) is walked from the right, skipping
//     trusted proxies: the first address that is none is the client, as
//     everything left of it was written by that client or its own proxies;
//   - an entry with a port (203.0.113.7:51234, [2001:db8::1]:443, as Azure
//     Application Gateway appends) is its address: where the walk stops is
//     decided by trust, not by format, as an entry is only ever believed
//     when everything right of it is a trusted proxy;
//   - an entry that is no IP address, with or without a port (garbage,
//     "unknown", nginx's obfuscated "_token", a zone) stops the walk at the
//     last trusted hop walked: nothing left of it can be told apart from
//     what the client wrote. So does the end of the header (every entry
//     trusted: the leftmost is the client) and maxForwardedHops.
//
// Only X-Forwarded-For is read, which every common proxy (nginx, HAProxy,
// cloud load balancers) sets: not Forwarded (RFC 7239), X-Real-IP or the
// like. Reading two headers would let a client pick the one its proxy does
// not rewrite, and Forwarded's own syntax (quoted strings, bracketed IPv6
// with ports, obfuscated identifiers) buys nothing here. IPv4-mapped IPv6
// addresses are taken as IPv4, peers and entries alike, so that a
// dual-stack listener's peers match IPv4 networks.

// maxForwardedHops bounds the X-Forwarded-For entries looked at, so that a
// hostile header (up to the server's 64 KiB) costs no more than a long
// chain of real proxies: past it, the last trusted hop walked is the
// client.
const maxForwardedHops = 32

// maxEntryText is the longest text an entry may be, an IPv6 address's
// longest with a port ("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"):
// a longer one is refused before it is parsed.
const maxEntryText = len("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535")

// trustedProxies are the networks of the reverse proxies whose
// X-Forwarded-For is believed, each normalised by normalProxy.
type trustedProxies []netip.Prefix

// newTrustedProxies normalises Options.TrustedProxies; it panics on a
// prefix that is not valid, as New does on a bad TrustedOrigins entry:
// configuration is validated with ParseTrustedProxy first.
func newTrustedProxies(ps []netip.Prefix) trustedProxies {
	out := make(trustedProxies, 0, len(ps))
	for _, p := range ps {
		if !p.IsValid() {
			panic(fmt.Sprintf("api: Options.TrustedProxies: %v is not a valid network", p))
		}
		out = append(out, normalProxy(p))
	}
	return out
}

// normalProxy masks p to its network and takes an IPv4-mapped one as the
// IPv4 network it maps, as addresses are compared unmapped.
func normalProxy(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

func (t trustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of r's client (see above): IPv4-mapped
// addresses as IPv4, without a zone. It is the zero Addr when the peer is
// no IP:port (a listener other than TCP), whose RemoteAddr stands for the
// client then.
func (t trustedProxies) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	client := ap.Addr().Unmap().WithZone("")
	if len(t) == 0 || !t.trusts(client) {
		return client
	}
	lines := r.Header.Values("X-Forwarded-For")
	walked := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest, more := lines[i], true
		for more {
			if walked == maxForwardedHops {
				return client
			}
			walked++
			// The entries from the right, without splitting the whole
			// line: only those walked are ever looked at.
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, more = rest, false
			}
			a, ok := forwardedAddr(entry)
			if !ok {
				return client
			}
			if !t.trusts(a) {
				return a
			}
			client = a
		}
	}
	return client
}

// forwardedAddr is an X-Forwarded-For entry's address: an IPv4 or IPv6
// address, or one with a port (1.2.3.4:80, [2001:db8::1]:443), between
// optional spaces and tabs, IPv4-mapped taken as IPv4; ok is false for
// anything else.
func forwardedAddr(entry string) (netip.Addr, bool) {
	entry = strings.Trim(entry, " \t")
	if len(entry) > maxEntryText {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(entry)
	if err != nil {
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(entry)
		a = ap.Addr()
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// client is a request's client, resolved once by the middleware for its
// log line and the failure limiter alike (clientOf).
type client struct {
	addr netip.Addr // clientAddr's
	peer string     // for a peer that is no IP:port: its RemoteAddr, trimmed and truncated
}

// client resolves r's client (clientAddr).
func (t trustedProxies) client(r *http.Request) client {
	if a := t.clientAddr(r); a.IsValid() {
		return client{addr: a}
	}
	return client{peer: vaspd.Truncate(strings.TrimSpace(r.RemoteAddr), 100)}
}

// String is the client as logged: its address, or its peer's text.
func (c client) String() string {
	if c.addr.IsValid() {
		return c.addr.String()
	}
	return c.peer
}

// key is the failure limiter's client (authlimit.go): its IPv4 address, or
// its IPv6 address's /64, which one host commonly holds whole; a peer that
// is no IP:port is its own key.
func (c client) key() string {
	if !c.addr.IsValid() {
		return c.peer
	}
	if c.addr.Is4() {
		return c.addr.String()
	}
	p, _ := c.addr.Prefix(64)
	return p.String()
}

// ParseTrustedProxy parses a trusted proxy as configured: an IPv4 or IPv6
// address, or a network in CIDR notation (10.0.0.0/8, 2001:db8::/32), an
// IPv4-mapped one taken as IPv4. A network with bits set past its prefix
// (10.0.0.1/8) is refused: whether the address or the network was meant
// cannot be told, and guessing the network would trust far more. Errors
// quote the entry (an address is no secret).
func ParseTrustedProxy(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	q := fmt.Sprintf("%q", vaspd.Truncate(v, 100))
	const shape = "want an IP address (192.0.2.7, 2001:db8::7) or a network in CIDR notation (10.0.0.0/8, 2001:db8::/32)"
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s is not an IP address or network: %s", q, shape)
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("%s has bits set past its /%d prefix: write the network (%s) or the address alone (%s)",
				q, p.Bits(), p.Masked(), p.Addr())
		}
		return normalProxy(p), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not an IP address or network: %s", q, shape)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%s has a zone, which no peer's address is compared with: %s", q, shape)
	}
	return normalProxy(netip.PrefixFrom(a, a.BitLen())), nil
}
