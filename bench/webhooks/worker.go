package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
)

// senderHeader names the process that sent a crash-test request.
const senderHeader = "X-Bench-Sender"

// errRollback makes an enqueue transaction roll back on purpose.
var errRollback = errors.New("rolled back on purpose")

// crashOptions are the delivery options of the crash test's workers: short
// attempt timeouts and lease margins, so deliveries claimed by a killed
// process are retried within seconds rather than the default 15 s.
// Each request also carries X-Bench-Sender, this process's id, so the
// checker knows which process sent what.
func crashOptions(log *slog.Logger) delivery.Options {
	sender := strconv.Itoa(os.Getpid())
	sign := delivery.DefaultSigner()
	return delivery.Options{
		Log: log,
		// The engine's own signing, plus the sender.
		Signer: delivery.SignerFunc(func(h http.Header, m delivery.SignInput) error {
			if err := sign.Sign(h, m); err != nil {
				return err
			}
			h.Set(senderHeader, sender)
			return nil
		}),
		AllowNets:      []string{"127.0.0.1/32"},
		AttemptTimeout: 2 * time.Second,
		LeaseMargin:    time.Second,
		PollInterval:   100 * time.Millisecond,
		Retry:          delivery.RetryPolicy{Initial: 500 * time.Millisecond, Max: 2 * time.Second},
	}
}

// workerMain is the process the crash test kills: it runs the delivery
// worker and, until the database holds -events events, an enqueue loop of
// transactions of 1 to -batch events, a fraction of them rolled back. SIGTERM
// stops it gracefully; SIGKILL is the point.
func workerMain(args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	dsn := fs.String("db", "", "SQLite file or postgres:// URL")
	events := fs.Int("events", 3000, "enqueue until the database holds this many events")
	batch := fs.Int("batch", 20, "most events per enqueue transaction")
	rollback := fs.Float64("rollback", 0.1, "fraction of enqueue transactions rolled back")
	rate := fs.Int("rate", 1500, "enqueue rate limit, events/s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := openStore(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := delivery.New(db, crashOptions(log))
	if err != nil {
		return err
	}
	// Tell the crash driver SIGTERM is handled from here on: a SIGTERM
	// that came before would kill the process like a SIGKILL and be
	// reported as a failed graceful stop.
	fmt.Println(readyLine)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := svc.Run(ctx); err != nil {
			log.Error("delivery worker", "err", err)
		}
	}()
	err = enqueueLoop(ctx, db, svc, *events, *batch, *rollback, *rate)
	<-ctx.Done()
	wg.Wait()
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

func enqueueLoop(ctx context.Context, db *store.DB, svc *delivery.Service, target, batch int, rollback float64, rate int) error {
	note := strings.Repeat("x", 300)
	tick := time.Duration(float64(time.Second) * float64(batch) / 2 / float64(rate))
	for ctx.Err() == nil {
		var have int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_events`).Scan(&have); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("count events: %w", err)
		}
		if have >= target {
			return nil
		}
		k := min(1+rand.IntN(batch), target-have)
		undo := rand.Float64() < rollback
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for i := 0; i < k; i++ {
				if _, err := svc.Enqueue(ctx, tx, delivery.Event{
					Type: delivery.TypeOutgoingPayment,
					Data: map[string]any{"seq": have + i, "note": note},
				}); err != nil {
					return err
				}
			}
			if undo {
				return errRollback
			}
			return nil
		})
		if err != nil && !errors.Is(err, errRollback) {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("enqueue: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(tick):
		}
	}
	return nil
}
