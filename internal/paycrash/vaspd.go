package paycrash

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vaspd/vaspd/internal/apiclient"
)

// vaspd is one VASP's `vaspd serve` process, started, SIGKILLed and started
// again on the same database, data directory and listen address, as an
// operator's supervisor would after a crash: the address is its UMA domain,
// which the other VASP's devnet peers and lookups name.
type vaspd struct {
	name    string // "sender" or "receiver"
	bin     string
	args    []string // after "serve"
	env     []string // added to the driver's environment
	addr    string   // 127.0.0.1:port
	logPath string   // its stderr, every start appended
	outPath string   // its stdout: the banner, and the admin credential of the first start

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan error // the running process's exit, sent once
	starts int
	logs   *os.File
}

// errNotRunning is a kill or stop of a process that is not running.
var errNotRunning = errors.New("not running")

// start starts the process and waits until /readyz answers 200: vaspd
// handles SIGTERM from then on, and its platform API and devnet serve.
// One that cannot bind its address (a connection of another program took
// the port while it was down) is started again, a few times, a moment
// later.
func (v *vaspd) start(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := v.startOnce(ctx)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 10 || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// errPortTaken is a vaspd that exited because its address was in use.
var errPortTaken = errors.New("listen address in use")

func (v *vaspd) startOnce(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	cmd, done, exited, before, err := v.launch()
	if err != nil {
		return err
	}
	if err := apiclient.WaitReady(ctx, "http://"+v.addr, exited, 30*time.Second); err != nil {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		werr := <-done
		if bytes.Contains(v.logsSince(before), []byte("address already in use")) {
			return fmt.Errorf("%s: %w (%v)", v.name, errPortTaken, werr)
		}
		return fmt.Errorf("%s (start %d): %w (exit: %v); its log: %s", v.name, v.starts, err, werr, v.logPath)
	}
	v.cmd, v.done = cmd, done
	return nil
}

// crashStart starts the process and SIGKILLs it after d, ready or not: a
// crash while it starts (opening its database, checking its migrations and
// keys, the first rounds of its loops: resolving payments left in flight,
// crediting settlements, delivering webhooks). It reports whether the
// process was still running at the kill; one that exited by itself first
// is an error (its log tells why).
func (v *vaspd) crashStart(d time.Duration) (bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	cmd, done, exited, _, err := v.launch()
	if err != nil {
		return false, err
	}
	select {
	case <-exited:
		werr := <-done
		return false, fmt.Errorf("%s (start %d) exited by itself while starting: %v; its log: %s", v.name, v.starts, werr, v.logPath)
	case <-time.After(d):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return true, nil
}

// launch starts the process without waiting for it; done receives its
// exit, after which exited is closed; before is where this start's lines
// begin in its log. The caller holds v.mu.
func (v *vaspd) launch() (cmd *exec.Cmd, done chan error, exited chan struct{}, before int64, err error) {
	if v.cmd != nil {
		return nil, nil, nil, 0, fmt.Errorf("%s: already running", v.name)
	}
	if v.logs == nil {
		f, err := os.OpenFile(v.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, nil, nil, 0, err
		}
		v.logs = f
	}
	out, err := os.OpenFile(v.outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	defer out.Close() // the child has its own descriptor
	v.starts++
	fmt.Fprintf(v.logs, "--- paycrash: start %d of %s at %s\n", v.starts, v.name, time.Now().Format(time.RFC3339Nano))
	before, _ = v.logs.Seek(0, io.SeekCurrent)
	cmd = exec.Command(v.bin, append([]string{"serve"}, v.args...)...)
	cmd.Stdout, cmd.Stderr = out, v.logs
	cmd.Env = append(os.Environ(), v.env...)
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("%s: start %s: %w", v.name, v.bin, err)
	}
	done = make(chan error, 1)
	exited = make(chan struct{})
	go func() {
		done <- cmd.Wait()
		close(exited)
	}()
	return cmd, done, exited, before, nil
}

// logsSince returns what the process logged from offset on.
func (v *vaspd) logsSince(offset int64) []byte {
	b, err := os.ReadFile(v.logPath)
	if err != nil || offset > int64(len(b)) {
		return nil
	}
	return b[offset:]
}

// kill SIGKILLs the running process and waits until it is gone: nothing
// of it runs on, as after a power cut (its database connections are
// closed by the kernel).
func (v *vaspd) kill() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd == nil {
		return fmt.Errorf("%s: kill: %w", v.name, errNotRunning)
	}
	select {
	case err := <-v.done:
		v.cmd = nil
		return fmt.Errorf("%s had exited by itself before the kill: %v; its log: %s", v.name, err, v.logPath)
	default:
	}
	_ = v.cmd.Process.Signal(syscall.SIGKILL)
	<-v.done
	v.cmd = nil
	return nil
}

// stop asks the process to finish (SIGTERM) and waits for it: a vaspd that
// does not exit within grace, or exits with an error, is reported.
func (v *vaspd) stop(grace time.Duration) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.logs != nil {
		defer func() { v.logs.Close(); v.logs = nil }()
	}
	if v.cmd == nil {
		return nil
	}
	cmd := v.cmd
	v.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-v.done:
		if err != nil {
			return fmt.Errorf("%s stopped with %v; its log: %s", v.name, err, v.logPath)
		}
		return nil
	case <-time.After(grace):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-v.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM; its log: %s", v.name, grace, v.logPath)
	}
}

// credential reads the admin credential the first start printed.
func (v *vaspd) credential() (id, secret string, err error) {
	f, err := os.Open(v.outPath)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "clientId:"); ok && id == "" {
			id = strings.TrimSpace(rest)
		}
		if rest, ok := strings.CutPrefix(line, "clientSecret:"); ok && secret == "" {
			secret = strings.TrimSpace(rest)
		}
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%s printed no admin credential on its first start (%s)", v.name, v.outPath)
	}
	return id, secret, sc.Err()
}

// tail returns the last n lines of the process's log, for a report.
func (v *vaspd) tail(n int) string {
	b, err := os.ReadFile(v.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freeAddr returns a loopback address whose port nothing listens on now,
// below the kernel's ephemeral range (32768 and up on Linux by default):
// a process keeps its address across restarts, and while it is down an
// outgoing connection of another process could otherwise be given its
// port and keep it from listening again.
func freeAddr(taken map[string]bool) (string, error) {
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if taken[addr] {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		taken[addr] = true
		return addr, nil
	}
	return "", errors.New("no free loopback port between 20000 and 32000")
}
