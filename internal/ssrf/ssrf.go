// Package ssrf refuses connections to addresses a webhook must never reach:
// private, loopback, link-local, CGNAT, unique-local, multicast, reserved and
// cloud metadata ranges. The check runs in net.Dialer.Control, after DNS
// resolution and immediately before connect, so a hostname that resolves (or
// re-resolves, DNS rebinding) to an internal address is refused too.
package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal, so callers can tell a policy
// refusal from a network failure.
var ErrRefused = errors.New("address refused by the SSRF guard")

// blocked lists special-purpose ranges (IANA IPv4/IPv6 special-purpose
// registries) that are not globally reachable, plus metadata addresses.
var blocked = mustPrefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // private
	"100.64.0.0/10",   // CGNAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, incl. 169.254.169.254 metadata
	"172.16.0.0/12",   // private
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // private
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, incl. broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard
	"2001::/23",       // IETF protocol assignments (Teredo, ORCHID …)
	"2001:db8::/32",   // documentation
	"fc00::/7",        // unique local (ULA), incl. fd00:ec2::254 metadata
	"fe80::/10",       // link-local
	"fec0::/10",       // deprecated site-local
	"ff00::/8",        // multicast
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which addresses may be dialled. Its zero value refuses every
// blocked range and allows everything else.
type Guard struct {
	allowNets  []netip.Prefix
	allowHosts map[string]bool
}

// New builds a Guard whose allow-list entries are CIDRs ("10.0.0.0/8"), single
// IPs ("127.0.0.1") or host names ("receiver.internal"); an allowed host name
// lets any address it resolves to through, an allowed CIDR any host that
// resolves into it.
func New(allow []string) (*Guard, error) {
	g := &Guard{allowHosts: map[string]bool{}}
	for _, a := range allow {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if p, err := netip.ParsePrefix(a); err == nil {
			g.allowNets = append(g.allowNets, unmapPrefix(p.Masked()))
			continue
		}
		if ip, err := netip.ParseAddr(a); err == nil {
			g.allowNets = append(g.allowNets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(a, "/ ") {
			return nil, fmt.Errorf("allow-list entry %q is neither a CIDR, an IP nor a host name", a)
		}
		g.allowHosts[strings.ToLower(strings.TrimSuffix(a, "."))] = true
	}
	return g, nil
}

// unmapPrefix turns an IPv4-mapped prefix ("::ffff:10.0.0.0/104") into the
// IPv4 prefix it covers ("10.0.0.0/8"): Check unmaps the addresses it
// judges, so a mapped prefix would never match. A mapped prefix of fewer
// than 96 bits is not one (its masked address is no longer mapped).
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// HostAllowed reports whether host is on the allow-list by name.
func (g *Guard) HostAllowed(host string) bool {
	return g != nil && g.allowHosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// Check returns nil if ip may be dialled, or an error wrapping ErrRefused.
func (g *Guard) Check(ip netip.Addr) error {
	// A zone ("fe80::1%eth0") only picks the interface; prefixes never
	// contain a zoned address, so judge the address without it.
	ip = ip.WithZone("").Unmap()
	if g != nil {
		for _, p := range g.allowNets {
			if p.Contains(ip) {
				return nil
			}
		}
	}
	if reason := blockedReason(ip); reason != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefused, ip, reason)
	}
	return nil
}

// The IPv6 ranges whose addresses embed an IPv4 address in their last 32
// bits. ipv4Translated is SIIT's (RFC 2765), ::ffff:0:a.b.c.d: not the
// IPv4-mapped ::ffff:a.b.c.d, which Check unmaps, but as much an IPv4
// address in IPv6 form.
var (
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	ipv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	ipv4Compatible = netip.MustParsePrefix("::/96")
)

func blockedReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "not an IP address"
	}
	// IPv6 forms that embed an IPv4 address are judged by that address.
	if ip.Is6() {
		b := ip.As16()
		switch {
		case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002::/16
			v4 := netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
			if r := blockedReason(v4); r != "" {
				return "a 6to4 address embedding " + v4.String() + " (" + r + ")"
			}
		case nat64.Contains(ip): // NAT64
			v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
			if r := blockedReason(v4); r != "" {
				return "a NAT64 address embedding " + v4.String() + " (" + r + ")"
			}
		case ipv4Translated.Contains(ip): // SIIT (RFC 2765): the translator delivers it to the IPv4
			v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
			if r := blockedReason(v4); r != "" {
				return "an IPv4-translated address embedding " + v4.String() + " (" + r + ")"
			}
		case ipv4Compatible.Contains(ip): // deprecated IPv4-compatible
			return "an IPv4-compatible IPv6 address"
		}
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return "in the non-public range " + p.String()
		}
	}
	return ""
}

// Control is a net.Dialer.Control function enforcing g. address is the
// resolved "ip:port" the dialer is about to connect to.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") {
		return fmt.Errorf("%w: network %s", ErrRefused, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrRefused, address)
	}
	return g.Check(ap.Addr())
}

// MaxResponseHeaderBytes bounds the response headers NewTransport reads.
const MaxResponseHeaderBytes = 64 << 10

// NewTransport is an http.Transport whose every connection is checked by g
// at dial time (after DNS, so a name resolving to a private address is
// refused too). Allow-listed host names dial unchecked. It uses no proxy: a
// proxy would dial on our behalf, past the guard.
func NewTransport(g *Guard, connect time.Duration) *http.Transport {
	guarded := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second, Control: g.Control}
	open := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil && g.HostAllowed(host) {
				return open.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout: connect,
		// A receiver's headers are read into memory whole, for every
		// attempt in flight: bound them well below net/http's 10 MiB.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
}
