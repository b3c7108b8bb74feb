//go:build unix

package regtest_test

import (
	"context"
	"os"
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
