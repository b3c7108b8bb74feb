// Package jssdk drives the official UMA JS SDK (@uma-sdk/core) through a
// long-lived node process running ../../js/driver.mjs: one JSON request per
// line on its stdin, one JSON reply per line on its stdout.
//
// Start it once per test binary (it loads the SDK in ~100 ms; a call then
// takes well under a millisecond) and Close it when done.
package jssdk

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// SDK is a running driver process. Its methods are safe for concurrent use;
// calls are serialised.
type SDK struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *bytes.Buffer
	nextID int
}

// Error is a failure reported by the JS side: an exception thrown by the SDK
// (Code is the UMA error code when the SDK set one).
type Error struct {
	Op      string
	Message string
	Code    string
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("js sdk %s: %s (%s)", e.Op, e.Message, e.Code)
	}
	return fmt.Sprintf("js sdk %s: %s", e.Op, e.Message)
}

// ErrUnavailable means node or the installed SDK is missing; tests skip on it.
var ErrUnavailable = errors.New("js sdk unavailable")

// Start launches node on driver.mjs in jsDir (the directory holding
// package.json and node_modules). It returns an error wrapping ErrUnavailable
// when node is not on PATH or `npm ci` has not been run in jsDir.
func Start(jsDir string) (*SDK, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: node not on PATH", ErrUnavailable)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@uma-sdk", "core", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: @uma-sdk/core not installed (run `npm ci` in %s)", ErrUnavailable, jsDir)
	}
	cmd := exec.Command(node, "driver.mjs")
	cmd.Dir = jsDir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	s := &SDK{cmd: cmd, stdin: stdin, out: bufio.NewReaderSize(stdout, 1<<16), stderr: &stderr}
	if err := s.Call("ping", nil, nil); err != nil {
		s.Close()
		return nil, fmt.Errorf("node driver did not answer: %w (stderr: %s)", err, stderr.String())
	}
	return s, nil
}

// Call runs op with args (marshalled to JSON) and unmarshals the result into
// out (when out is not nil). A JS exception comes back as *Error.
func (s *SDK) Call(op string, args, out any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("js sdk: closed")
	}
	s.nextID++
	id := s.nextID
	req, err := json.Marshal(struct {
		ID   int    `json:"id"`
		Op   string `json:"op"`
		Args any    `json:"args,omitempty"`
	}{id, op, args})
	if err != nil {
		return fmt.Errorf("js sdk %s: marshal args: %w", op, err)
	}
	if _, err := s.stdin.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("js sdk %s: write: %w (stderr: %s)", op, err, s.stderr.String())
	}
	// Replies come back in request order because calls are serialised.
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("js sdk %s: read: %w (stderr: %s)", op, err, s.stderr.String())
	}
	var resp struct {
		ID     int             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *string         `json:"error"`
		Code   string          `json:"code"`
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("js sdk %s: bad reply %q: %w", op, line, err)
	}
	if resp.ID != id {
		return fmt.Errorf("js sdk %s: reply id %d, want %d", op, resp.ID, id)
	}
	if resp.Error != nil {
		return &Error{Op: op, Message: *resp.Error, Code: resp.Code}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, out); err != nil {
		return fmt.Errorf("js sdk %s: decode result %s: %w", op, resp.Result, err)
	}
	return nil
}

// Close ends the node process (closing stdin makes the driver exit) and waits
// for it, killing it if it has not exited after a few seconds.
func (s *SDK) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		err = <-done
	}
	s.cmd = nil
	return err
}
