// Command benchcmd measures the embedded Lightning node and prints one JSON
// line: create-invoice and pay (to itself, and to a second node over the
// devnet on loopback HTTP) in ns/op and ops/s.
//
//	go run ./lightning/embedded/internal/benchcmd                  # SQLite in a temp dir
//	go run ./lightning/embedded/internal/benchcmd -postgres URL    # in a scratch schema, dropped after
//	go run ./lightning/embedded/internal/benchcmd -benchtime 5s
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
)

type result struct {
	Benchmark string  `json:"benchmark"`
	DB        string  `json:"db"`
	GOMAXPROC int     `json:"gomaxprocs"`
	Create    measure `json:"create_invoice"`
	PaySelf   measure `json:"pay_self"`
	PayDevnet measure `json:"pay_devnet"`
}

type measure struct {
	N       int     `json:"n"`
	NsPerOp int64   `json:"ns_per_op"`
	OpsPerS float64 `json:"ops_per_s"`
}

func main() {
	pg := flag.String("postgres", "", "PostgreSQL URL (default: SQLite in a temporary directory)")
	benchtime := flag.Duration("benchtime", 2*time.Second, "time per benchmark")
	flag.Parse()
	testing.Init()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		fail(err)
	}
	if err := run(*pg); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchcmd:", err)
	os.Exit(1)
}

func run(pgURL string) error {
	ctx := context.Background()
	var (
		db   *store.DB
		err  error
		kind = "sqlite"
	)
	if pgURL != "" {
		kind = "postgres"
		u, drop, serr := postgres.NewSchema(ctx, pgURL, "lnbench_")
		if serr != nil {
			return serr
		}
		defer func() { _ = drop() }()
		db, err = postgres.Open(ctx, u, nil)
	} else {
		dir, derr := os.MkdirTemp("", "vaspd-lnbench")
		if derr != nil {
			return derr
		}
		defer os.RemoveAll(dir)
		db, err = sqlite.Open(ctx, filepath.Join(dir, "bench.db"), nil)
	}
	if err != nil {
		return err
	}
	defer db.Close()

	// Fresh key names: runs against a shared database do not collide.
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	secret := hex.EncodeToString(tag[:]) + "-bench-secret"

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bob, err := embedded.Open(ctx, db, embedded.Options{KeyName: "bench.bob." + hex.EncodeToString(tag[:]), DevnetSecret: secret})
	if err != nil {
		return err
	}
	defer bob.Close()
	srv := &http.Server{Handler: bob.DevnetHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	alice, err := embedded.Open(ctx, db, embedded.Options{
		KeyName: "bench.alice." + hex.EncodeToString(tag[:]), DevnetSecret: secret,
		DevnetPeers: []string{"http://" + ln.Addr().String()}, FeeBaseMsat: 1,
	})
	if err != nil {
		return err
	}
	defer alice.Close()

	req := lightning.InvoiceRequest{AmountMsat: 1000, DescriptionHash: sha256.Sum256([]byte("bench")), Expiry: time.Hour}
	var benchErr error
	create := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			if _, err := alice.CreateInvoice(ctx, req); err != nil {
				benchErr = err
				b.FailNow()
			}
		}
	})
	pay := func(payer, payee *embedded.Node) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				inv, err := payee.CreateInvoice(ctx, req)
				if err != nil {
					benchErr = err
					b.FailNow()
				}
				p, err := payer.Pay(ctx, lightning.PayRequest{Invoice: inv.PaymentRequest, MaxFeeMsat: 1000, Timeout: 10 * time.Second})
				if err == nil && p.Status != lightning.StatusSucceeded {
					err = fmt.Errorf("payment %s (%s)", p.Status, p.FailureReason)
				}
				if err != nil {
					benchErr = err
					b.FailNow()
				}
			}
		})
	}
	self := pay(alice, alice)
	devnet := pay(alice, bob)
	if benchErr != nil {
		return benchErr
	}
	out := result{
		Benchmark: "lightning/embedded", DB: kind, GOMAXPROC: runtime.GOMAXPROCS(0),
		Create: toMeasure(create), PaySelf: toMeasure(self), PayDevnet: toMeasure(devnet),
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func toMeasure(r testing.BenchmarkResult) measure {
	m := measure{N: r.N, NsPerOp: r.NsPerOp()}
	if m.NsPerOp > 0 {
		m.OpsPerS = float64(int64(1e10/float64(m.NsPerOp))) / 10
	}
	return m
}
