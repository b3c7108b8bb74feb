package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/internal/daemon"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/vasp"
)

// The receiver replaces its encryption key (A, a key file, to B) as README
// says: every process stopped, `vaspd keys forget`, started with B. Two
// payments carry travel-rule data encrypted to A: one quoted before the
// change (pending at it), and one quoted after it by the sender, whose
// cached copy of the receiver's keys has not expired. Given A in
// uma-previous-encryption-key-files, the receiver decrypts both at
// settlement and stores them decrypted; without it both stay as received,
// and both settle all the same.
func TestEncryptionKeyRotationKeepsTravelRuleData(t *testing.T) {
	for _, withPrevious := range []bool{true, false} {
		name := "previous key given"
		if !withPrevious {
			name = "previous key not given"
		}
		t.Run(name, func(t *testing.T) {
			each(t, func(t *testing.T, db dbKind) {
				dir := t.TempDir()
				fileA, fileB := writeKey(t, dir, "a.key"), writeKey(t, dir, "b.key")
				a, b := twoVASPsTuned(t, db, nil, func(c *daemon.Config) { c.EncryptionKeyFile = fileA; resolve(t, c) })
				alice := a.user("alice", "USD", "Alice Sender")
				bob := b.user("bob", "EUR", "Bob Receiver")
				a.deposit(alice.ID, "USD", 100_00)
				pending := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 7_00)

				b.stop()
				b.stop = nil
				b.cfg.EncryptionKeyFile = fileB
				if withPrevious {
					b.cfg.PreviousEncryptionKeyFiles = fileA
				}
				resolve(t, &b.cfg)
				b.restart2(func(db *store.DB) {
					if _, err := daemon.ForgetKeys(context.Background(), b.cfg, db); err != nil {
						t.Fatal(err)
					}
				})
				cached := quote(t, a, alice.ID, "$bob@"+b.domain, "RECEIVING", 3_00)

				for _, q := range []quoteResp{pending, cached} {
					var tx txResp
					a.mustCall("POST", "/quotes/"+q.QuoteID+"/execute", nil, &tx)
					if tx.Status != "COMPLETED" {
						t.Fatalf("execute: %+v", tx)
					}
				}
				eventually(t, "bob credited both payments", func() bool { return b.balance(bob.ID, "EUR") == 10_00 })
				rows, err := b.daemon.DB().QueryContext(context.Background(),
					`SELECT status, details FROM uma_transactions WHERE direction = $1`, vasp.Incoming)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				n := 0
				for rows.Next() {
					var status, raw string
					if err := rows.Scan(&status, &raw); err != nil {
						t.Fatal(err)
					}
					var d vasp.Details
					if err := json.Unmarshal([]byte(raw), &d); err != nil {
						t.Fatal(err)
					}
					n++
					decrypted := d.TravelRuleInfo != "" && d.EncryptedTravelRuleInfo == ""
					kept := d.TravelRuleInfo == "" && d.EncryptedTravelRuleInfo != ""
					if status != vasp.StatusCompleted || (withPrevious && !decrypted) || (!withPrevious && !kept) {
						t.Errorf("incoming payment %s: travel-rule info %q, encrypted %.20q…", status, d.TravelRuleInfo, d.EncryptedTravelRuleInfo)
					}
				}
				if err := rows.Err(); err != nil || n != 2 {
					t.Fatalf("%d incoming payments, %v", n, err)
				}
				a.checkBooks()
				b.checkBooks()
			})
		})
	}
}

// writeKey writes a new hex secp256k1 key file named name in dir.
func writeKey(t *testing.T, dir, name string) string {
	t.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k.Serialize())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// resolve resolves c again after a change to its settings.
func resolve(t *testing.T, c *daemon.Config) {
	t.Helper()
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
}
