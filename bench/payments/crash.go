package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/vaspd/vaspd/internal/paycrash"
)

// crashMain is `payments crash`: the payment crash test
// (internal/paycrash) with a built vaspd binary, one JSON line on stdout,
// each broken promise on stderr; it returns the exit code.
func crashMain(args []string) int {
	fs := flag.NewFlagSet("payments crash", flag.ContinueOnError)
	o := paycrash.Options{Log: os.Stderr}
	fs.StringVar(&o.Vaspd, "vaspd", "", "path to a built vaspd binary (required)")
	fs.StringVar(&o.DB, "db", "sqlite", "database of both daemons: sqlite or postgres")
	pg := os.Getenv("VASPD_TEST_POSTGRES_URL")
	if pg == "" {
		pg = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	fs.StringVar(&o.PostgresURL, "pg", pg, "PostgreSQL URL for -db postgres (a schema per daemon is created and dropped)")
	fs.IntVar(&o.Payments, "payments", 120, "payments to execute at least (more while kills remain, 4× at most)")
	fs.IntVar(&o.Workers, "workers", 4, "payments at once")
	fs.Float64Var(&o.Rate, "rate", 6, "payments started per second")
	fs.IntVar(&o.Kills, "kills", 12, "SIGKILLs of the sender, the receiver or both")
	fs.BoolVar(&o.Cluster, "cluster", false, "run each VASP as two processes sharing its PostgreSQL schema behind a round-robin front (-db postgres)")
	fs.DurationVar(&o.Timeout, "timeout", 85*time.Second, "give up after this long")
	fs.StringVar(&o.Dir, "dir", "", "keep the databases and logs in this new or empty directory (default: a temporary one, removed)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.Vaspd == "" {
		fmt.Fprintln(os.Stderr, "payments crash: -vaspd is required (go build -o /tmp/vaspd ./cmd/vaspd)")
		return 2
	}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			fmt.Fprintf(os.Stderr, "payments crash: %v\n", err)
			return 1
		}
		if entries, _ := os.ReadDir(o.Dir); len(entries) > 0 {
			fmt.Fprintf(os.Stderr, "payments crash: -dir %s is not empty\n", o.Dir)
			return 2
		}
	}
	sum, bad, err := paycrash.Run(context.Background(), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "payments crash: %v\n", err)
		return 1
	}
	line, _ := json.Marshal(sum)
	fmt.Println(string(line))
	for i, b := range bad {
		if i == 40 {
			fmt.Fprintf(os.Stderr, "… and %d more\n", len(bad)-i)
			break
		}
		fmt.Fprintln(os.Stderr, "FAIL:", b)
	}
	if len(bad) > 0 {
		fmt.Fprintf(os.Stderr, "payments crash: %d broken promises\n", len(bad))
		return 1
	}
	return 0
}
