package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Serialize()
}

// Every process of a deployment (one database) serves the same UMA keys
// or refuses to start, naming the setting: a process with a key file and
// one without it, or two with different files, would otherwise serve
// different keys (counterparties would find signatures that do not verify
// and travel-rule data that another process cannot decrypt).
func TestProcessesOfOneDeploymentServeOneKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		sign, enc := newKey(t), newKey(t)
		withFiles := Config{signingKey: sign, encryptionKey: enc}
		k, err := loadKeys(ctx, db, withFiles)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Signing.Key.Equals(&secp256k1.PrivKeyFromBytes(sign).Key) {
			t.Fatal("a process with a key file does not serve the file's key")
		}
		if _, err := loadKeys(ctx, db, withFiles); err != nil {
			t.Fatalf("a second process with the same files: %v", err)
		}
		for _, c := range []struct {
			name string
			cfg  Config
			want string
		}{
			{"no signing key file", Config{encryptionKey: enc}, "setting uma-signing-key-file"},
			{"no encryption key file", Config{signingKey: sign}, "setting uma-encryption-key-file"},
			{"another signing key file", Config{signingKey: newKey(t), encryptionKey: enc}, "setting uma-signing-key-file"},
			{"another encryption key file", Config{signingKey: sign, encryptionKey: newKey(t)}, "setting uma-encryption-key-file"},
		} {
			if _, err := loadKeys(ctx, db, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err = %v, want one naming %q", c.name, err, c.want)
			}
		}

		// Replacing the keys on purpose, as README says: every process
		// stopped, the record deleted, all started with the new files.
		if _, err := db.ExecContext(ctx, `DELETE FROM settings WHERE name IN ('uma-signing-key.public', 'uma-encryption-key.public')`); err != nil {
			t.Fatal(err)
		}
		replaced := Config{signingKey: newKey(t), encryptionKey: newKey(t)}
		if _, err := loadKeys(ctx, db, replaced); err != nil {
			t.Fatalf("new key files after the record was deleted: %v", err)
		}
		if _, err := loadKeys(ctx, db, withFiles); err == nil {
			t.Fatal("a process with the replaced key files started")
		}
	})
}

// A deployment whose first process had no key files serves the keys kept
// in its database: a process with a key file holding another key refuses
// to start; one with the database's key is fine.
func TestKeyFileMustMatchTheDatabasesKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		first, err := loadKeys(ctx, db, Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loadKeys(ctx, db, Config{signingKey: newKey(t)}); err == nil || !strings.Contains(err.Error(), "setting uma-signing-key-file") {
			t.Fatalf("a key file with another key than the deployment's: err = %v", err)
		}
		same := Config{signingKey: first.Signing.Serialize(), encryptionKey: first.Encryption.Serialize()}
		if _, err := loadKeys(ctx, db, same); err != nil {
			t.Fatalf("key files holding the deployment's keys: %v", err)
		}
		again, err := loadKeys(ctx, db, Config{})
		if err != nil || !again.Signing.Key.Equals(&first.Signing.Key) || !again.Encryption.Key.Equals(&first.Encryption.Key) {
			t.Fatalf("a process without key files after them: %v", err)
		}
	})
}
