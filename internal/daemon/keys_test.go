package daemon

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Every process of a deployment on PostgreSQL (one database, any number of
// processes) serves the same UMA keys or refuses to start, naming the setting: a process with a key file and
// one without it, or two with different files, would otherwise serve
// different keys (counterparties would find signatures that do not verify
// and travel-rule data that another process cannot decrypt).
func TestProcessesOfOneDeploymentServeOneKey(t *testing.T) {
	u := storetest.PostgresURL(t)
	db := storetest.PostgresAt(t, u)
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
	// stopped, the record forgotten (vaspd keys forget), all started with
	// the new files.
	forgot, err := ForgetKeys(ctx, Config{DatabaseURL: u}, db)
	if err != nil || len(forgot) != 2 || forgot[0].Public != pubHex(sign) || forgot[1].Public != pubHex(enc) {
		t.Fatalf("ForgetKeys: %+v, %v", forgot, err)
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

// pubHex is the hex compressed public key of a private key, as recorded
// and as served at /.well-known/lnurlpubkey.
func pubHex(priv []byte) string {
	return hex.EncodeToString(secp256k1.PrivKeyFromBytes(priv).PubKey().SerializeCompressed())
}

// eachDeployment runs fn on a fresh migrated SQLite and PostgreSQL
// database with a Config naming it (ForgetKeys takes SQLite's lock).
func eachDeployment(t *testing.T, fn func(t *testing.T, db *store.DB, cfg Config)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		fn(t, storetest.SQLiteAt(t, filepath.Join(dir, "vaspd.db")), Config{DataDir: dir})
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		fn(t, storetest.PostgresAt(t, u), Config{DataDir: t.TempDir(), DatabaseURL: u})
	})
}

// RecordedKeys shows what the first start recorded and where it came
// from; ForgetKeys deletes exactly that, in one go, leaving the database's
// own keys; the next start records the keys it is given.
func TestRecordedKeysAndForgetKeys(t *testing.T) {
	eachDeployment(t, func(t *testing.T, db *store.DB, cfg Config) {
		ctx := context.Background()
		recorded := func() []RecordedKey {
			t.Helper()
			keys, err := RecordedKeys(ctx, db)
			if err != nil || len(keys) != 2 || keys[0].Key != "signing" || keys[1].Key != "encryption" ||
				keys[0].Setting != "uma-signing-key-file" || keys[1].Setting != "uma-encryption-key-file" {
				t.Fatalf("RecordedKeys: %+v, %v", keys, err)
			}
			return keys
		}
		if keys := recorded(); keys[0].Public != "" || keys[1].Public != "" {
			t.Fatalf("keys recorded before the first start: %+v", keys)
		}

		before := time.Now().Add(-time.Second)
		own, err := loadKeys(ctx, db, Config{})
		if err != nil {
			t.Fatal(err)
		}
		ownSign, ownEnc := pubHex(own.Signing.Serialize()), pubHex(own.Encryption.Serialize())
		keys := recorded()
		for i, want := range []string{ownSign, ownEnc} {
			if k := keys[i]; k.Public != want || k.Source != KeyFromDatabase || k.Recorded.Before(before) || k.Recorded.After(time.Now()) ||
				k.Served != hex.EncodeToString([]*secp256k1.PrivateKey{own.Signing, own.Encryption}[i].PubKey().SerializeUncompressed()) {
				t.Errorf("after a start without key files: %+v, want public key %s from the database", k, want)
			}
		}

		forgot, err := ForgetKeys(ctx, cfg, db)
		if err != nil || len(forgot) != 2 || forgot[0] != keys[0] || forgot[1] != keys[1] {
			t.Fatalf("ForgetKeys: %+v, %v; want %+v", forgot, err, keys)
		}
		if keys := recorded(); keys[0].Public != "" || keys[1].Public != "" {
			t.Fatalf("recorded after ForgetKeys: %+v", keys)
		}
		for _, name := range []string{"uma-signing-key", "uma-encryption-key"} {
			if _, err := store.GetSecret(ctx, db, name); err != nil {
				t.Errorf("the database's own %s after ForgetKeys: %v", name, err)
			}
		}
		if forgot, err := ForgetKeys(ctx, cfg, db); err != nil || len(forgot) != 0 {
			t.Fatalf("ForgetKeys with nothing recorded: %+v, %v", forgot, err)
		}

		// The next start records its key files' keys (on PostgreSQL the
		// record of the database's own keys would have refused them).
		sign, enc := newKey(t), newKey(t)
		if _, err := loadKeys(ctx, db, Config{signingKey: sign, encryptionKey: enc}); err != nil {
			t.Fatalf("a start with new key files after ForgetKeys: %v", err)
		}
		keys = recorded()
		for i, want := range []string{pubHex(sign), pubHex(enc)} {
			if k := keys[i]; k.Public != want || k.Source != KeyFromFile {
				t.Errorf("after a start with key files: %+v, want public key %s from a file", k, want)
			}
		}
	})
}

// On SQLite ForgetKeys takes the server's lock: while a `vaspd serve`
// holds it, it refuses, says why, and changes nothing.
func TestForgetKeysRefusedWhileSQLiteServes(t *testing.T) {
	if !haveFlock {
		t.Skip("no flock on this platform: a running server is not noticed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "vaspd.db")
	db := storetest.SQLiteAt(t, path)
	if _, err := loadKeys(ctx, db, Config{}); err != nil {
		t.Fatal(err)
	}
	want, err := RecordedKeys(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	release, err := lockSQLite("data-dir", path) // the server's
	if err != nil {
		t.Fatal(err)
	}
	_, err = ForgetKeys(ctx, Config{DataDir: dir}, db)
	if err == nil {
		t.Fatal("ForgetKeys while the server's lock is held did not refuse")
	}
	for _, w := range []string{"setting data-dir", "vaspd serve runs", dir, "nothing was changed"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if got, err := RecordedKeys(ctx, db); err != nil || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("recorded keys after the refusal: %+v, %v; want %+v", got, err, want)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if forgot, err := ForgetKeys(ctx, Config{DataDir: dir}, db); err != nil || len(forgot) != 2 {
		t.Fatalf("ForgetKeys once the server stopped: %+v, %v", forgot, err)
	}
}
