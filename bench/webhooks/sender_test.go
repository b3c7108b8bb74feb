package main

import (
	"net"
	"os"
	"strconv"
	"testing"
)

// connOwner must find the process holding a connection's client end, or
// the vaspd crash test would fall back to kill times for every duplicate.
func TestConnOwner(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp (not Linux): senders stay unknown")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, server := connectTo(t, ln), ln.Addr().(*net.TCPAddr).Port
	me := os.Getpid()
	if got := connOwner([]int{me + 1_000_000, me}, client, server); got != strconv.Itoa(me) {
		t.Fatalf("connOwner = %q, want %d", got, me)
	}
	// A connection that does not exist (the client port to the wrong server).
	if got := connOwner([]int{me}, client, client); got != "" {
		t.Fatalf("connOwner of no connection = %q, want unknown", got)
	}
	if got := connOwner(nil, client, server); got != "" {
		t.Fatalf("connOwner without candidates = %q, want unknown", got)
	}
}

// connOwners names the owners of several connections with one look, and
// leaves out a port no connection to the server has.
func TestConnOwners(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp (not Linux): senders stay unknown")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	server := ln.Addr().(*net.TCPAddr).Port
	var ports []int
	for range 3 {
		ports = append(ports, connectTo(t, ln))
	}
	me := strconv.Itoa(os.Getpid())
	got := connOwners([]int{os.Getpid() + 1_000_000, os.Getpid()}, append(ports, server), server)
	if len(got) != len(ports) {
		t.Fatalf("connOwners = %v, want the %d client ports only", got, len(ports))
	}
	for _, p := range ports {
		if got[p] != me {
			t.Fatalf("connOwners[%d] = %q, want %s", p, got[p], me)
		}
	}
}

// connectTo opens a loopback connection to ln, kept open (both ends) until
// the test ends, and returns its client port.
func connectTo(t *testing.T, ln net.Listener) int {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return c.LocalAddr().(*net.TCPAddr).Port
}
