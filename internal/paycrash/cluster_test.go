package paycrash

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestFront: the cluster mode's front spreads requests over the processes
// that are up, sends one a process refused on to the other (a POST too:
// it never arrived), cuts the client's connection when the process took a
// request and died, and closes it unanswered when no process is up. It
// never answers for a process.
func TestFront(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	backend := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hosts = append(hosts, r.Host)
			mu.Unlock()
			if r.URL.Path == "/die" {
				cutConn(w) // took the request, died with it
				return
			}
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, name+":"+r.Method+":"+string(b))
		}))
	}
	a, b := backend("a"), backend("b")
	defer a.Close()
	pa := &vaspd{name: "a", addr: strings.TrimPrefix(a.URL, "http://")}
	pb := &vaspd{name: "b", addr: strings.TrimPrefix(b.URL, "http://")}
	addr, err := freeAddr(map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFront(addr, []*vaspd{pa, pb})
	if err := f.serve(); err != nil {
		t.Fatal(err)
	}
	defer f.close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	call := func(method, path string) (string, error) {
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader("x"))
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return string(body), err
	}

	// Nothing up yet (no /readyz answered): closed unanswered.
	if got, err := call("GET", "/"); err == nil {
		t.Fatalf("no process up, yet the front answered %q", got)
	}
	if f.unserved.Load() != 1 {
		t.Fatalf("unserved %d, want 1", f.unserved.Load())
	}

	f.setUp(pa, true)
	f.setUp(pb, true)
	seen := map[string]int{}
	for range 4 {
		got, err := call("POST", "/p")
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if seen["a:POST:x"] != 2 || seen["b:POST:x"] != 2 {
		t.Fatalf("four POSTs over two processes went %v, want two each", seen)
	}
	mu.Lock()
	seenHosts := append([]string(nil), hosts...)
	mu.Unlock()
	for _, h := range seenHosts {
		if h != addr {
			t.Fatalf("a process saw Host %q, want the VASP's %q", h, addr)
		}
	}

	// b killed, not yet seen down: what is sent to it goes to a.
	b.Close()
	for range 4 {
		got, err := call("POST", "/p")
		if err != nil || got != "a:POST:x" {
			t.Fatalf("with b refusing, a POST got %q, %v; want a's answer", got, err)
		}
	}
	if f.retried.Load() != 2 {
		t.Fatalf("retried %d, want 2 (every other request chose b)", f.retried.Load())
	}

	// a took the request and died: the client's connection is cut.
	f.setUp(pb, false)
	if got, err := call("POST", "/die"); err == nil {
		t.Fatalf("the process died with the request, yet the front answered %q", got)
	}
	if f.cut.Load() != 1 {
		t.Fatalf("cut %d, want 1", f.cut.Load())
	}
}
