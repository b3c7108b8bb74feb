//go:build unix

package regtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is one daemon (btcd or lnd) started by the network.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // exit status, valid after done
}

// startProcess runs bin with args, stdout and stderr appended to logPath.
// The process is not tied to ctx: it lives until stop.
func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has already stopped.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// errSurvivedKill says a process was still running 5 s after SIGKILL.
var errSurvivedKill = errors.New("survived SIGKILL")

// stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs
// the group. It never returns before the process is reaped (or 5 s after
// SIGKILL, which would mean the kernel is wedged).
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	pid := p.cmd.Process.Pid
	_ = signalGroup(pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = signalGroup(pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return fmt.Errorf("%s did not stop within %s; killed", p.name, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d): %w", p.name, pid, errSurvivedKill)
	}
}

// poll calls fn every interval until it returns nil, ctx ends or the process
// dies. The last error from fn is reported so a timeout says what was awaited.
func (p *process) poll(ctx context.Context, what string, interval time.Duration, fn func(context.Context) error) error {
	var last error
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if last = fn(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: waiting for %s: %w (last error: %v; log %s)", p.name, what, ctx.Err(), last, p.logPath)
		case <-p.done:
			return fmt.Errorf("%s exited while waiting for %s: %v (log %s)", p.name, what, errors.Join(p.err, last), p.logPath)
		case <-t.C:
		}
	}
}
