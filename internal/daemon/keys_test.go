package daemon

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

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

// Every process of a deployment on PostgreSQL (one database, any number of
// processes) serves the same UMA keys or refuses to start, naming the setting: a process with a key file and
// one without it, or two with different files, would otherwise serve
// different keys (counterparties would find signatures that do not verify
// and travel-rule data that another process cannot decrypt).
func TestProcessesOfOneDeploymentServeOneKey(t *testing.T) {
	db := storetest.Postgres(t)
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
}

// A deployment on PostgreSQL whose first process had no key files serves
// the keys kept in its database: a process with a key file holding another
// key refuses to start; one with the database's key is fine.
func TestKeyFileMustMatchTheDatabasesKey(t *testing.T) {
	db := storetest.Postgres(t)
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
}

// On SQLite (one process: the data directory's lock) a changed key is a
// deliberate change, taken and recorded: a key file given after the
// database's own key, a new file, the file removed again.
func TestSQLiteKeyChangesAreDeliberate(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	own, err := loadKeys(ctx, db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sign := range [][]byte{newKey(t), newKey(t), nil} {
		k, err := loadKeys(ctx, db, Config{signingKey: sign})
		if err != nil {
			t.Fatalf("signing key file %x: %v", sign, err)
		}
		want := own.Signing
		if sign != nil {
			want = secp256k1.PrivKeyFromBytes(sign)
		}
		if !k.Signing.Key.Equals(&want.Key) {
			t.Fatalf("served signing key is not the configured one (file %v)", sign != nil)
		}
		var rec string
		if err := db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'uma-signing-key.public'`).Scan(&rec); err != nil ||
			rec != hex.EncodeToString(want.PubKey().SerializeCompressed()) {
			t.Fatalf("recorded public key %s, %v", rec, err)
		}
	}
}
