package ssrf

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	g, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	refused := []string{
		"127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"100.64.0.1", "100.127.255.254", "169.254.169.254", "fe80::1", "fc00::1", "fd00:ec2::254",
		"0.0.0.0", "::", "224.0.0.1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"2002:7f00:1::", "64:ff9b::a00:1", "::127.0.0.1", "198.18.0.1",
		"::ffff:0:127.0.0.1", "::ffff:0:a9fe:a9fe", "::ffff:0:10.0.0.1", // IPv4-translated (SIIT)
	}
	for _, s := range refused {
		if err := g.Check(netip.MustParseAddr(s)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: want refusal, got %v", s, err)
		}
	}
	allowed := []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "172.32.0.1", "100.128.0.1", "64:ff9b::808:808", "::ffff:0:8.8.8.8"}
	for _, s := range allowed {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: want allowed, got %v", s, err)
		}
	}
}

func TestAllowList(t *testing.T) {
	g, err := New([]string{"127.0.0.0/8", "fd12::1", "hooks.internal."})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"127.0.0.1", "fd12::1"} {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: allow-listed, got %v", s, err)
		}
	}
	if err := g.Check(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("10.0.0.1 is not allow-listed")
	}
	if !g.HostAllowed("HOOKS.internal") || g.HostAllowed("other.internal") {
		t.Error("host allow-list")
	}
	if _, err := New([]string{"not a host/x"}); err == nil {
		t.Error("bad entry accepted")
	}
}

// Allow-list CIDRs in IPv4-mapped form cover the IPv4 addresses they map,
// whichever form the address to check comes in.
func TestAllowListMappedPrefixes(t *testing.T) {
	g, err := New([]string{"::ffff:10.0.0.0/104", "::FFFF:192.168.1.7/128"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"10.1.2.3", "::ffff:10.1.2.3", "192.168.1.7", "::ffff:192.168.1.7"} {
		if err := g.Check(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: allow-listed, got %v", s, err)
		}
	}
	for _, s := range []string{"127.0.0.1", "192.168.1.8", "::ffff:172.16.0.1", "fd00::1"} {
		if err := g.Check(netip.MustParseAddr(s)); err == nil {
			t.Errorf("%s: not allow-listed, but allowed", s)
		}
	}
	// The whole mapped range is every IPv4 address.
	all, err := New([]string{"::ffff:0.0.0.0/96"})
	if err != nil {
		t.Fatal(err)
	}
	if err := all.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("::ffff:0.0.0.0/96 does not allow 127.0.0.1: %v", err)
	}
	if err := all.Check(netip.MustParseAddr("::1")); err == nil {
		t.Error("::ffff:0.0.0.0/96 allows ::1")
	}
}

func TestControl(t *testing.T) {
	var g Guard
	if err := g.Control("tcp4", "127.0.0.1:80", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("loopback: %v", err)
	}
	if err := g.Control("tcp6", "[2606:4700::1]:443", nil); err != nil {
		t.Errorf("public v6: %v", err)
	}
	if err := g.Control("udp", "8.8.8.8:53", nil); err == nil {
		t.Error("udp accepted")
	}
}

// TestZonedAddresses: an IPv6 zone ("fe80::1%eth0", from a URL such as
// http://[fe80::1%25eth0]/) must not hide the address from the check:
// netip.Prefix.Contains is false for every zoned address.
func TestZonedAddresses(t *testing.T) {
	var g Guard
	for _, s := range []string{"fe80::1%eth0", "::1%lo", "fd00:ec2::254%1", "::ffff:127.0.0.1%eth0", "ff02::1%eth0"} {
		if err := g.Check(netip.MustParseAddr(s)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: want refusal, got %v", s, err)
		}
	}
	if err := g.Control("tcp6", "[fe80::1%eth0]:80", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("zoned link-local dial: %v", err)
	}
	a, err := New([]string{"fe80::/10"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(netip.MustParseAddr("fe80::1%eth0")); err != nil {
		t.Errorf("allow-listed zoned address: %v", err)
	}
}
