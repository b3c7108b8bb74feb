// Package silentpeer is a test server for the one hostile answer no HTTP
// client timeout bounds: "101 Switching Protocols", then silence. net/http
// hands over the raw connection as the body of a 101, and neither
// http.Client.Timeout nor the request's context applies to reading it, so
// every client of vaspd that reads an answer from another party
// (counterparty VASPs, devnet peers, webhook receivers) must refuse a 101
// it never asked for instead of reading it.
package silentpeer

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// SwitchingProtocols starts a server on loopback that answers every
// request "101 Switching Protocols" and then holds the connection open,
// saying nothing, until the test ends. It returns the server's base URL,
// "http://127.0.0.1:PORT".
func SwitchingProtocols(t testing.TB) string {
	t.Helper()
	return "http://" + serve(t, func(c net.Conn) {
		_, _ = c.Read(make([]byte, 64<<10))
		_, _ = c.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"))
	})
}

// Await runs call, a call to a SwitchingProtocols server through a client
// with a timeout of a few seconds, and returns its error. If call has not
// returned after 20 s (a watchdog, not synchronization), the 101 held it:
// the test fails, naming what was held.
func Await(t testing.TB, what string, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("a 101 answer held %s past its client's timeout", what)
		return nil
	}
}

// Hang starts a server on loopback that accepts every connection, reads
// the request and never answers, until the test ends: a counterparty that
// is up (the connection succeeds) but does not answer, which only a
// client's timeout ends. It returns the server's "127.0.0.1:PORT".
func Hang(t testing.TB) string {
	t.Helper()
	return serve(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// serve listens on loopback until the test ends, running handle on each
// connection it accepts (in a goroutine of its own), and closes the
// listener and every connection at the end. It returns "127.0.0.1:PORT".
func serve(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go handle(c)
		}
	}()
	return ln.Addr().String()
}
