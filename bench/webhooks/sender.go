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
	return connOwners(candidates, []int{clientPort}, serverPort)[clientPort]
}

// connOwners is connOwner for several connections to serverPort at once,
// by client port (a port whose owner it cannot tell is left out). It reads
// /proc/net/tcp and each candidate's descriptors once for them all: with
// many endpoints on one receiver the engine opens connections by the
// thousand, and a read of /proc/net/tcp costs milliseconds.
func connOwners(candidates []int, clientPorts []int, serverPort int) map[int]string {
	owners := make(map[int]string, len(clientPorts))
	byInode := clientSocketInodes(clientPorts, serverPort)
	if len(byInode) == 0 {
		return owners
	}
	for _, pid := range candidates {
		dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, e := range ents {
			l, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			if port, ok := byInode[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")]; ok {
				owners[port] = strconv.Itoa(pid)
				if len(owners) == len(byInode) {
					return owners
				}
			}
		}
	}
	return owners
}

// clientSocketInodes finds, in /proc/net/tcp, the sockets whose local port
// is one of clientPorts and remote port serverPort: the client ends of
// loopback connections (the server ends have them the other way round).
// It returns their client ports by inode.
func clientSocketInodes(clientPorts []int, serverPort int) map[string]int {
	want := make(map[string]int, len(clientPorts))
	for _, p := range clientPorts {
		want[fmt.Sprintf("%04X", p)] = p
	}
	found := map[string]int{}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return found
	}
	defer f.Close()
	remote := fmt.Sprintf(":%04X", serverPort)
	sc := bufio.NewScanner(f)
	sc.Scan() // header line
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
		fld := strings.Fields(sc.Text())
		if len(fld) < 10 || !strings.HasSuffix(fld[2], remote) || fld[9] == "0" {
			continue
		}
		i := strings.LastIndexByte(fld[1], ':')
		if port, ok := want[fld[1][i+1:]]; ok {
			found[fld[9]] = port
		}
	}
	return found
}
