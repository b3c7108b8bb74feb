package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
)

// crashMain runs the crash test: -procs processes share one database and
// deliver -events events to a recording receiver while they are SIGKILLed
// -kills times at random moments and restarted; then it checks every promise
// (see check) and prints one JSON line. The processes are this binary's
// "worker" command (delivery worker plus enqueue loop), or with -vaspd the
// real `vaspd serve`, the driver then enqueueing the events itself.
//
// With -endpoints N every event is for N endpoints on the one receiver,
// each with its own URL and secret, and must reach every one. More than a
// fan-out chunk (8 on SQLite, 500 on PostgreSQL) makes each event wide: its
// deliveries are then written by the running worker's deferred fan-out, a
// chunk per transaction, which the kills cut mid-way.
func crashMain(args []string) error {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	dbKind := fs.String("db", "sqlite", "sqlite or postgres")
	pgURL := fs.String("pg", os.Getenv("VASPD_TEST_POSTGRES_URL"), "PostgreSQL server URL (with -db postgres); a schema is created and dropped")
	vaspdBin := fs.String("vaspd", "", "path to a built vaspd binary: kill `vaspd serve` processes instead of workers; this process enqueues")
	procs := fs.Int("procs", 1, "processes sharing the database (more than 1 needs PostgreSQL)")
	events := fs.Int("events", 3000, "events to enqueue")
	kills := fs.Int("kills", 6, "SIGKILLs")
	rate := fs.Int("rate", 300, "enqueue rate (per worker process; in all with -vaspd), events/s")
	nEndpoints := fs.Int("endpoints", 1, "endpoints every event is for, all on the one receiver (more than 8 on SQLite, 500 on PostgreSQL: wide events, deferred fan-out)")
	limit := fs.Duration("timeout", 100*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *procs > 1 && *dbKind != "postgres" {
		return errors.New("-procs > 1 needs -db postgres")
	}
	if *procs < 1 || *events < 1 || *kills < 0 || *rate < 1 || *nEndpoints < 1 {
		return errors.New("-procs, -events, -rate and -endpoints must be positive, -kills not negative")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()

	tmp, err := os.MkdirTemp("", "webhook-crash")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var dsn string
	switch *dbKind {
	case "sqlite":
		dsn = filepath.Join(tmp, "vaspd.db")
	case "postgres":
		if *pgURL == "" {
			return errors.New("-pg or VASPD_TEST_POSTGRES_URL is required with -db postgres")
		}
		u, drop, err := postgres.NewSchema(ctx, *pgURL, "whcrash_")
		if err != nil {
			return err
		}
		defer func() { _ = drop() }()
		dsn = u
	default:
		return fmt.Errorf("unknown -db %q", *dbKind)
	}

	rc, err := newReceiver(20 * time.Millisecond)
	if err != nil {
		return err
	}
	defer rc.Close()
	db, err := openStore(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	opts := crashOptions(nil)
	if *vaspdBin != "" {
		// The driver only creates the endpoint and enqueues; vaspd signs
		// and sends with its own settings.
		opts = delivery.Options{AllowNets: []string{"127.0.0.1/32"}}
	}
	svc, err := delivery.New(db, opts)
	if err != nil {
		return err
	}
	// Created before any process starts, so every event enqueued (by the
	// driver or the workers) matches all of them.
	epKeys, eps, err := createEndpoints(ctx, svc, rc, *nEndpoints)
	if err != nil {
		return err
	}
	live := &pidSet{}
	if *vaspdBin != "" {
		// vaspd names no sender: the receiver asks the kernel which of
		// the live processes holds each connection.
		rc.owners = func(clientPorts []int, serverPort int) map[int]string {
			return connOwners(live.list(), clientPorts, serverPort)
		}
	}
	rc.serveEndpoints(eps)

	var f *fleet
	enqueued := make(chan error, 1)
	if *vaspdBin != "" {
		f, err = vaspdFleet(*vaspdBin, dsn, tmp)
		if err != nil {
			return err
		}
		// vaspd has no enqueue loop of its own: the driver's transactions
		// commit into the shared database while vaspd delivers, as the
		// payment code's would.
		ectx, stopEnqueue := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait() // before the database closes
		defer stopEnqueue()
		wg.Add(1)
		go func() {
			defer wg.Done()
			enqueued <- enqueueLoop(ectx, db, svc, *events, 20, 0.1, *rate)
		}()
	} else {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		f = workerFleet(exe, dsn, *events, *rate)
		enqueued <- nil // the workers enqueue
	}
	f.live = live
	defer f.stopAll(10 * time.Second)
	for i := 0; i < *procs; i++ {
		if err := f.start(ctx, i); err != nil {
			return err
		}
	}
	killed := map[string]bool{}
	var killTimes []kill
	var cut fanOutsCut
	for k := 0; k < *kills; k++ {
		if err := sleep(ctx, 500*time.Millisecond+rand.N(2*time.Second)); err != nil {
			return err
		}
		if *nEndpoints > 1 && k%2 == 1 {
			// At random moments most kills land between two fan-outs,
			// and a run may cut none mid-way: every other kill waits (a
			// second at most) until one is, and strikes at once.
			awaitFanOutMidway(ctx, db, time.Second)
		}
		i := rand.IntN(*procs)
		from := time.Now()
		pid, err := f.kill(i)
		if err != nil {
			return err
		}
		killTimes = append(killTimes, kill{from: from, to: time.Now()})
		killed[strconv.Itoa(pid)] = true
		pause := time.Now().Add(rand.N(500 * time.Millisecond))
		cut.look(ctx, db) // within the pause: the restart is not delayed
		if err := sleep(ctx, time.Until(pause)); err != nil {
			return err
		}
		if err := f.start(ctx, i); err != nil {
			return err
		}
	}
	select {
	case err := <-enqueued:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return fmt.Errorf("enqueueing not finished in time: %w", ctx.Err())
	}
	// Not drained in time is a failure, but what did arrive still tells
	// more (missing events, unexplained repeats), so the check runs anyway.
	drainErr := drained(ctx, db, *events)
	if err := f.stopAll(30 * time.Second); err != nil {
		return errors.Join(drainErr, err)
	}

	lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer lcancel()
	o, err := load(lctx, db)
	if err != nil {
		return errors.Join(drainErr, err)
	}
	o.got = rc.receipts()
	rc.mu.Lock()
	o.rcvProblems = rc.problems
	rc.mu.Unlock()
	o.killed, o.kills, o.senderless = killed, killTimes, *vaspdBin != ""
	o.endpoints = epKeys
	s, bad := check(o)
	mode := "worker"
	if *vaspdBin != "" {
		mode = "vaspd"
	}
	line, _ := json.Marshal(map[string]any{"check": "webhook-crash", "mode": mode, "db": *dbKind, "procs": *procs,
		"events": s.Events, "received": s.Received, "duplicates": s.Duplicates, "kills": s.Kills, "unattributed": s.Unattributed,
		"endpoints": s.Endpoints, "pairs": s.Pairs, "pairs_delivered": s.PairsDelivered, "pairs_repeated": s.PairsRepeated,
		"fanouts_at_kills": cut.pending, "fanouts_midway_at_kills": cut.midway,
		"seconds": int(time.Since(began).Seconds() + 0.5), "ok": len(bad) == 0 && drainErr == nil})
	fmt.Println(string(line))
	if drainErr != nil {
		bad = append([]string{drainErr.Error()}, bad...)
	}
	if s.Events < *events {
		bad = append(bad, fmt.Sprintf("only %d of %d events were enqueued", s.Events, *events))
	}
	if len(bad) > 0 {
		for i, b := range bad {
			if i == 30 {
				fmt.Fprintf(os.Stderr, "… and %d more\n", len(bad)-i)
				break
			}
			fmt.Fprintln(os.Stderr, "FAIL:", b)
		}
		return fmt.Errorf("%d broken promises", len(bad))
	}
	return nil
}

// drained waits until the database holds want events, nothing is pending,
// and no deferred fan-out is left to write deliveries.
func drained(ctx context.Context, db *store.DB, want int) error {
	have, pending, fanOuts := -1, -1, -1 // as last read; -1 = never read
	for {
		var h, p, f int
		err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM webhook_events),
			(SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered'),
			(SELECT COUNT(*) FROM webhook_fanouts)`).Scan(&h, &p, &f)
		if err == nil {
			have, pending, fanOuts = h, p, f
			if have >= want && pending == 0 && fanOuts == 0 {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not drained in time: %d of %d events enqueued, %d deliveries not delivered, %d fan-outs not finished (-1: never read)",
				have, want, pending, fanOuts)
		}
		_ = sleep(ctx, 200*time.Millisecond)
	}
}

// fanOutsCut counts, right after each kill, the deferred fan-outs the
// database holds: pending, all of them; midway, those with some but not all
// deliveries written — with one process, fan-outs the kill cut mid-way,
// which its restart must resume. It shows that the kills hit the fan-out.
type fanOutsCut struct{ pending, midway int }

// awaitFanOutMidway returns once a deferred fan-out has some but not all of
// its deliveries written, or after limit.
func awaitFanOutMidway(ctx context.Context, db *store.DB, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var one int
		if db.QueryRowContext(ctx, `SELECT 1 FROM webhook_fanouts WHERE written > 0 LIMIT 1`).Scan(&one) == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// look adds the fan-outs the database holds now. It only informs: a look
// that fails counts nothing and does not stop the run.
func (c *fanOutsCut) look(ctx context.Context, db *store.DB) {
	var p, m int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(CASE WHEN written > 0 THEN 1 END) FROM webhook_fanouts`).Scan(&p, &m); err == nil {
		c.pending += p
		c.midway += m
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// fleet is the processes the crash test starts and kills.
type fleet struct {
	// launch returns the command of process i (not started) and a function
	// that returns once the started process handles SIGTERM, or an error
	// if it exits first (exited closes) or is not ready in time.
	launch func(i int) (cmd *exec.Cmd, ready func(exited <-chan struct{}) error, err error)
	live   *pidSet // the processes started and not yet reaped

	mu   sync.Mutex
	cmds map[int]*exec.Cmd
	done map[int]chan error
}

// start starts process i and waits until it is ready: until then a SIGTERM
// would kill it like a SIGKILL, and the final graceful stop would fail.
// A process that lost its listen port to another one between the driver
// choosing it and the process binding it is started again, twice at most.
func (f *fleet) start(ctx context.Context, i int) error {
	for attempt := 1; ; attempt++ {
		err := f.startOnce(i)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 || ctx.Err() != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "webhooks crash: process %d: %v; starting it again\n", i, err)
	}
}

func (f *fleet) startOnce(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cmds == nil {
		f.cmds, f.done = map[int]*exec.Cmd{}, map[int]chan error{}
	}
	cmd, ready, err := f.launch(i)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start process %d: %w", i, err)
	}
	pid := cmd.Process.Pid
	f.live.add(pid)
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		f.live.remove(pid)
		done <- err
		close(exited)
	}()
	if err := ready(exited); err != nil {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		werr := <-done
		return fmt.Errorf("process %d (%s): %w (exit: %v)", i, filepath.Base(cmd.Path), err, werr)
	}
	f.cmds[i], f.done[i] = cmd, done
	return nil
}

// workerFleet runs this binary's worker command (delivery worker plus
// enqueue loop) on dsn.
func workerFleet(exe, dsn string, events, rate int) *fleet {
	args := []string{"worker", "-db", dsn, "-events", strconv.Itoa(events), "-rate", strconv.Itoa(rate)}
	return &fleet{launch: func(int) (*exec.Cmd, func(<-chan struct{}) error, error) {
		cmd := exec.Command(exe, args...)
		rw := &readyWriter{ready: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = rw, os.Stderr
		return cmd, func(exited <-chan struct{}) error {
			select {
			case <-rw.ready:
				return nil
			case <-exited:
				return errors.New("exited before it was ready")
			case <-time.After(30 * time.Second):
				return errors.New("not ready after 30 s")
			}
		}, nil
	}}
}

// errPortTaken is a vaspd that could not bind the port it was given.
var errPortTaken = errors.New("listen port taken")

// vaspdFleet runs `bin serve` on the database dsn (a postgres:// URL or a
// SQLite file). Process i keeps its own data directory under tmp across
// restarts, as a restarted daemon would, and listens on a loopback port
// chosen afresh at each start. Settings: webhooks may go to 127.0.0.1 (the
// receiver), an attempt times out after 2 s, so a killed process's leases
// (attempt timeout + the engine's 5 s margin) end within 7 s.
func vaspdFleet(bin, dsn, tmp string) (*fleet, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return nil, fmt.Errorf("-vaspd %s: not a binary (%v)", bin, err)
	}
	dbURL := dsn
	if !isPostgres(dsn) {
		dbURL = "sqlite:" + dsn
	}
	return &fleet{launch: func(i int) (*exec.Cmd, func(<-chan struct{}) error, error) {
		dataDir := filepath.Join(tmp, fmt.Sprintf("vaspd-%d", i))
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, nil, err
		}
		addr, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		cmd := exec.Command(bin, "serve",
			"--database-url", dbURL,
			"--data-dir", dataDir,
			"--listen", addr,
			"--webhook-allow-nets", "127.0.0.1/32",
			"--webhook-timeout", "2s",
			"--log-level", "warn")
		// vaspd's stdout is its banner and first-start admin credential:
		// of no use here, and not for a CI log.
		cmd.Stdout = nil
		tail := &tailWriter{w: os.Stderr}
		cmd.Stderr = tail
		return cmd, func(exited <-chan struct{}) error {
			err := apiclient.WaitReady(context.Background(), "http://"+addr, exited, 30*time.Second)
			if err != nil && bytes.Contains(tail.bytes(), []byte("address already in use")) {
				return fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return err
		}, nil
	}}, nil
}

// freePort returns a loopback address with a port nothing listens on now.
// Another process may take it before vaspd binds it; fleet.start retries.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("choose a port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// tailWriter passes a process's stderr on and keeps its last 4 KiB, to tell
// why the process exited.
type tailWriter struct {
	w    io.Writer
	mu   sync.Mutex
	tail []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.tail = append(t.tail, p...)
	if n := len(t.tail); n > 4096 {
		t.tail = append(t.tail[:0], t.tail[n-4096:]...)
	}
	t.mu.Unlock()
	return t.w.Write(p)
}

func (t *tailWriter) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.tail...)
}

// readyLine is what a worker prints on stdout once it handles SIGTERM.
const readyLine = "vaspd-webhooks-worker: ready"

// readyWriter passes a worker's stdout on to ours and closes ready when
// the worker's ready line has gone by.
type readyWriter struct {
	seen  []byte
	done  bool
	ready chan struct{}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.seen = append(w.seen, p...)
		if i := bytes.Index(w.seen, []byte(readyLine+"\n")); i >= 0 {
			w.done = true
			close(w.ready)
			rest := append(w.seen[:i:i], w.seen[i+len(readyLine)+1:]...)
			w.seen = nil
			_, _ = os.Stderr.Write(rest)
			return len(p), nil
		}
		return len(p), nil
	}
	return os.Stderr.Write(p)
}

// kill SIGKILLs process i, waits until it is gone and returns its pid.
func (f *fleet) kill(i int) (int, error) {
	f.mu.Lock()
	cmd, done := f.cmds[i], f.done[i]
	delete(f.cmds, i)
	f.mu.Unlock()
	if cmd == nil {
		return 0, nil
	}
	select {
	case err := <-done:
		return 0, fmt.Errorf("process %d had already exited: %v", i, err)
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return cmd.Process.Pid, nil
}

// stopAll asks every process to finish (SIGTERM) and waits; one that does not
// exit in time, or exits with an error, is reported.
func (f *fleet) stopAll(grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for i, cmd := range f.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-f.done[i]:
			if err != nil {
				errs = append(errs, fmt.Errorf("process %d: %w", i, err))
			}
		case <-time.After(grace):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-f.done[i]
			errs = append(errs, fmt.Errorf("process %d did not stop within %s", i, grace))
		}
		delete(f.cmds, i)
	}
	return errors.Join(errs...)
}
