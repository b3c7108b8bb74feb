package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/webhook"
)

// crashMain runs the crash test: -procs worker processes (this binary's
// "worker" command) enqueue and deliver -events events to a recording
// receiver while they are SIGKILLed -kills times at random moments and
// restarted; then it checks every promise (see check) and prints one JSON line.
func crashMain(args []string) error {
	fs := flag.NewFlagSet("crash", flag.ContinueOnError)
	dbKind := fs.String("db", "sqlite", "sqlite or postgres")
	pgURL := fs.String("pg", os.Getenv("VASPD_TEST_POSTGRES_URL"), "PostgreSQL server URL (with -db postgres); a schema is created and dropped")
	procs := fs.Int("procs", 1, "worker processes sharing the database (more than 1 needs PostgreSQL)")
	events := fs.Int("events", 3000, "events to enqueue")
	kills := fs.Int("kills", 6, "SIGKILLs")
	rate := fs.Int("rate", 300, "enqueue rate per process, events/s")
	limit := fs.Duration("timeout", 100*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *procs > 1 && *dbKind != "postgres" {
		return errors.New("-procs > 1 needs -db postgres")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *limit)
	defer cancel()

	var dsn string
	switch *dbKind {
	case "sqlite":
		dir, err := os.MkdirTemp("", "webhook-crash")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		dsn = filepath.Join(dir, "vaspd.db")
	case "postgres":
		if *pgURL == "" {
			return errors.New("-pg or VASPD_TEST_POSTGRES_URL is required with -db postgres")
		}
		u, drop, err := newSchema(ctx, *pgURL)
		if err != nil {
			return err
		}
		defer drop()
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
	svc, err := delivery.New(db, crashOptions(nil))
	if err != nil {
		return err
	}
	_, secret, err := svc.CreateEndpoint(ctx, delivery.EndpointInput{URL: &rc.url})
	if err != nil {
		return err
	}
	verify, err := webhook.NewUMAaaSVerifier(secret)
	if err != nil {
		return err
	}
	std, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}})
	if err != nil {
		return err
	}
	rc.serve(verify, std)

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	f := &fleet{exe: exe, args: []string{"worker", "-db", dsn, "-events", strconv.Itoa(*events), "-rate", strconv.Itoa(*rate)}}
	defer f.stopAll(10 * time.Second)
	for i := 0; i < *procs; i++ {
		if err := f.start(i); err != nil {
			return err
		}
	}
	killed := map[string]bool{}
	for k := 0; k < *kills; k++ {
		if err := sleep(ctx, 500*time.Millisecond+rand.N(2*time.Second)); err != nil {
			return err
		}
		i := rand.IntN(*procs)
		pid, err := f.kill(i)
		if err != nil {
			return err
		}
		killed[strconv.Itoa(pid)] = true
		if err := sleep(ctx, rand.N(500*time.Millisecond)); err != nil {
			return err
		}
		if err := f.start(i); err != nil {
			return err
		}
	}
	if err := drained(ctx, db, *events); err != nil {
		return err
	}
	if err := f.stopAll(30 * time.Second); err != nil {
		return err
	}

	o, err := load(ctx, db)
	if err != nil {
		return err
	}
	rc.mu.Lock()
	o.got, o.rcvProblems = rc.got, rc.problems
	rc.mu.Unlock()
	o.killed = killed
	s, bad := check(o)
	line, _ := json.Marshal(map[string]any{"check": "webhook-crash", "db": *dbKind, "procs": *procs,
		"events": s.Events, "received": s.Received, "duplicates": s.Duplicates, "kills": s.Kills, "ok": len(bad) == 0})
	fmt.Println(string(line))
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

// drained waits until the database holds want events and nothing is pending.
func drained(ctx context.Context, db *store.DB, want int) error {
	for {
		var have, pending int
		err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM webhook_events),
			(SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'delivered')`).Scan(&have, &pending)
		if err == nil && have >= want && pending == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("not drained in time: %d of %d events enqueued, %d deliveries not delivered", have, want, pending)
		}
		_ = sleep(ctx, 200*time.Millisecond)
	}
}

// load reads every committed event and every delivery not delivered.
func load(ctx context.Context, db *store.DB) (outcome, error) {
	o := outcome{events: map[string]string{}}
	rows, err := db.QueryContext(ctx, `SELECT id, payload FROM webhook_events`)
	if err != nil {
		return o, err
	}
	for rows.Next() {
		var id string
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			rows.Close()
			return o, err
		}
		o.events[id] = string(body)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return o, err
	}
	rows, err = db.QueryContext(ctx, `SELECT id, status FROM webhook_deliveries WHERE status <> 'delivered'`)
	if err != nil {
		return o, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			return o, err
		}
		o.notDone = append(o.notDone, id+" "+st)
	}
	return o, rows.Err()
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// fleet is the worker processes.
type fleet struct {
	exe  string
	args []string
	mu   sync.Mutex
	cmds map[int]*exec.Cmd
	done map[int]chan error
}

func (f *fleet) start(i int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cmds == nil {
		f.cmds, f.done = map[int]*exec.Cmd{}, map[int]chan error{}
	}
	cmd := exec.Command(f.exe, f.args...)
	rw := &readyWriter{ready: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = rw, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	ready := rw.ready
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	f.cmds[i], f.done[i] = cmd, done
	// Until the worker says it handles SIGTERM, stopAll could kill it
	// before it can stop gracefully. A SIGKILL before then is fine, but
	// the driver's kills come after a pause anyway.
	select {
	case <-ready:
		return nil
	case err := <-done:
		done <- err
		return fmt.Errorf("worker %d exited before it was ready: %v", i, err)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("worker %d not ready after 30 s", i)
	}
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

// kill SIGKILLs worker i, waits until it is gone and returns its pid.
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
		return 0, fmt.Errorf("worker %d had already exited: %v", i, err)
	default:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return cmd.Process.Pid, nil
}

// stopAll asks every worker to finish (SIGTERM) and waits; one that does not
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
				errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
			}
		case <-time.After(grace):
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-f.done[i]
			errs = append(errs, fmt.Errorf("worker %d did not stop within %s", i, grace))
		}
		delete(f.cmds, i)
	}
	return errors.Join(errs...)
}
