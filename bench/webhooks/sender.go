package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// pidSet is the crash test's processes that are alive (started and not
// yet reaped), the candidates for owning a connection to the receiver.
type pidSet struct {
	mu sync.Mutex
	m  map[int]bool
}

func (p *pidSet) add(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[int]bool{}
	}
	p.m[pid] = true
}

func (p *pidSet) remove(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, pid)
}

func (p *pidSet) list() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, len(p.m))
	for pid := range p.m {
		out = append(out, pid)
	}
	return out
}

// connOwner names the process (its pid) among candidates that holds the
// client end of the loopback TCP connection from clientPort to serverPort,
// or "" when it cannot tell (not Linux, the process already died, …).
//
// vaspd's requests carry no sender id, yet the checker wants to know which
// process sent each attempt: on Linux the kernel knows. /proc/net/tcp maps
// the connection's client end to a socket inode, and exactly one process
// has that socket among its /proc/PID/fd links (vaspd's descriptors are
// close-on-exec, so no other process inherits it).
func connOwner(candidates []int, clientPort, serverPort int) string {
	inode, ok := clientSocketInode(clientPort, serverPort)
	if !ok {
		return ""
	}
	want := "socket:[" + inode + "]"
	for _, pid := range candidates {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, e := range ents {
			if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == want {
				return strconv.Itoa(pid)
			}
		}
	}
	return ""
}

// clientSocketInode finds, in /proc/net/tcp, the socket whose local port is
// clientPort and remote port serverPort: the client end of a loopback
// connection (the server end has them the other way round).
func clientSocketInode(clientPort, serverPort int) (string, bool) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", false
	}
	defer f.Close()
	local := fmt.Sprintf(":%04X", clientPort)
	remote := fmt.Sprintf(":%04X", serverPort)
	sc := bufio.NewScanner(f)
	sc.Scan() // header line
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
		fld := strings.Fields(sc.Text())
		if len(fld) < 10 {
			continue
		}
		if strings.HasSuffix(fld[1], local) && strings.HasSuffix(fld[2], remote) && fld[9] != "0" {
			return fld[9], true
		}
	}
	return "", false
}
