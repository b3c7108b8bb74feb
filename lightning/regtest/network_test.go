//go:build unix

package regtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaspd/vaspd/lightning/regtest"
)

// TestNetwork starts the real network and pays across its channel in both
// directions with lncli, proving the push left bob able to pay.
func TestNetwork(t *testing.T) {
	n := regtest.StartT(t, regtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, dir := range []struct{ payer, payee *regtest.LND }{{n.Alice, n.Bob}, {n.Bob, n.Alice}} {
		var inv struct {
			PaymentRequest string `json:"payment_request"`
		}
		if err := dir.payee.CLIJSON(ctx, &inv, "addinvoice", "--amt=12345"); err != nil {
			t.Fatal(err)
		}
		dec, err := dir.payer.DecodePayReq(ctx, inv.PaymentRequest)
		if err != nil {
			t.Fatal(err)
		}
		if dec["destination"] != dir.payee.PubKey {
			t.Fatalf("decodepayreq destination = %v, want %s", dec["destination"], dir.payee.PubKey)
		}
		var pay struct {
			Status string `json:"status"`
		}
		if err := dir.payer.CLIJSON(ctx, &pay, "payinvoice", "--force", "--json", inv.PaymentRequest); err != nil {
			t.Fatal(err)
		}
		if pay.Status != "SUCCEEDED" {
			t.Fatalf("%s → %s: status %s", dir.payer.Name, dir.payee.Name, pay.Status)
		}
	}

	// Close is idempotent and removes everything it created.
	dir := n.Dir
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("network dir %s still exists after Close (err %v)", dir, err)
	}
}

func TestSkipWithoutBinaries(t *testing.T) {
	t.Setenv(regtest.EnvBinDir, "")
	if _, err := regtest.BinDir(); err == nil {
		t.Fatal("BinDir succeeded with VASPD_LN_BIN unset")
	}
	t.Setenv(regtest.EnvBinDir, t.TempDir())
	if _, err := regtest.BinDir(); err == nil {
		t.Fatal("BinDir succeeded on an empty directory")
	}
}

// TestStartAgainAfterStall makes the first lnd started stall as one did in
// CI (never answering, deaf to SIGTERM): Start must kill that attempt and
// bring a working network up on fresh ports within its deadline.
func TestStartAgainAfterStall(t *testing.T) {
	real := regtest.Skip(t)
	bin := t.TempDir()
	for _, b := range []string{"btcd", "btcctl", "lncli"} {
		if err := os.Symlink(filepath.Join(real, b), filepath.Join(bin, b)); err != nil {
			t.Fatal(err)
		}
	}
	mark := filepath.Join(t.TempDir(), "stalled")
	script := fmt.Sprintf(`#!/bin/sh
if mkdir %q 2>/dev/null; then
	trap '' TERM
	while :; do sleep 1; done
fi
exec %q "$@"
`, mark, filepath.Join(real, "lnd"))
	if err := os.WriteFile(filepath.Join(bin, "lnd"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	// RPCTimeout is Start's default: on a loaded machine (CI beside other
	// work: load 10 on 2 cores) a healthy lnd took over 40 s to answer,
	// so every attempt after the stalled one was killed as stalled too.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	n, err := regtest.Start(ctx, regtest.Options{BinDir: bin, RPCTimeout: 60 * time.Second})
	if n != nil {
		defer func() {
			if err := n.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}()
	}
	if err != nil {
		t.Fatalf("start after a stalled attempt: %v (after %s)", err, time.Since(start))
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("no lnd stalled, so the test proved nothing: %v", err)
	}
	var info struct {
		Active int `json:"num_active_channels"`
	}
	if err := n.Alice.CLIJSON(ctx, &info, "getinfo"); err != nil || info.Active != 1 {
		t.Fatalf("alice after the restart: %d active channels, err %v", info.Active, err)
	}
}
