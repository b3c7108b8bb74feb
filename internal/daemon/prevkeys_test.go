package daemon

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// keyFileOf writes key (hex, as the key-file settings take it) to a new
// file in dir and returns its path.
func keyFileOf(t *testing.T, dir string, key []byte) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "key")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// uma-previous-encryption-key-files takes comma-separated key files (flag,
// environment or a YAML list), each read as uma-encryption-key-file is; a
// missing, unreadable, oversized or bad one, or an empty entry, stops
// vaspd naming the setting and the file, never its contents.
func TestPreviousEncryptionKeyFilesAreChecked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := newKey(t), newKey(t)
	fa, fb := keyFileOf(t, dir, a), keyFileOf(t, dir, b)
	for _, c := range []Config{
		parseConfig(t, []string{"--uma-previous-encryption-key-files", fa + ", " + fb}, nil),
		parseConfig(t, nil, map[string]string{"VASPD_UMA_PREVIOUS_ENCRYPTION_KEY_FILES": fa + "," + fb}),
	} {
		c.DataDir, c.ShutdownTimeout = "d", 0
		if err := c.Resolve(); err != nil {
			t.Fatal(err)
		}
		if len(c.previousEncryptionKeys) != 2 || !bytes.Equal(c.previousEncryptionKeys[0].key, a) || c.previousEncryptionKeys[0].path != fa ||
			!bytes.Equal(c.previousEncryptionKeys[1].key, b) || c.previousEncryptionKeys[1].path != fb {
			t.Fatalf("keys read: %+v", c.previousEncryptionKeys)
		}
	}
	yaml := filepath.Join(dir, "vaspd.yaml")
	os.WriteFile(yaml, []byte("uma-previous-encryption-key-files:\n  - "+fa+"\n  - "+fb+"\n"), 0o600)
	c := parseConfig(t, []string{"--config", yaml}, nil)
	if c.PreviousEncryptionKeyFiles != fa+","+fb {
		t.Fatalf("YAML list: %q", c.PreviousEncryptionKeyFiles)
	}

	secret := "5ec4e75ec4e75ec4e75ec4e75ec4e75ec4e7"
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte(secret+"\n"), 0o600)
	zero := filepath.Join(dir, "zero")
	os.WriteFile(zero, []byte(strings.Repeat("00", 32)), 0o600)
	unreadable := filepath.Join(dir, "unreadable")
	os.WriteFile(unreadable, []byte(hex.EncodeToString(a)), 0o000)
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct{ value, want string }{
		{fa + "," + bad, bad},
		{zero, zero},
		{fa + "," + missing, missing},
		{fa + ",," + fb, "empty entry"},
		{fa + ",", "empty entry"},
		{"/dev/zero", "/dev/zero"},
	} {
		c := baseConfig()
		c.PreviousEncryptionKeyFiles = tc.value
		resolveErr(t, c, "setting uma-previous-encryption-key-files", secret)
		resolveErr(t, c, tc.want, secret)
	}
	if os.Getuid() != 0 { // root reads any file
		c := baseConfig()
		c.PreviousEncryptionKeyFiles = unreadable
		resolveErr(t, c, "setting uma-previous-encryption-key-files: cannot read "+unreadable, "")
	}
	c = baseConfig()
	c.PreviousEncryptionKeyFiles = "  "
	if err := c.Resolve(); err != nil || len(c.previousEncryptionKeys) != 0 {
		t.Fatalf("blank value: %v, %d keys", err, len(c.previousEncryptionKeys))
	}
}

// A previous key file others can read is warned about, as the key files
// are.
func TestReadablePreviousKeyFilesAreWarnedAbout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open, private := keyFileOf(t, dir, newKey(t)), keyFileOf(t, dir, newKey(t))
	os.Chmod(open, 0o644)
	c := baseConfig()
	c.PreviousEncryptionKeyFiles = private + "," + open
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	warnReadableSecrets(c, slog.New(slog.NewJSONHandler(&buf, nil)))
	logs := buf.String()
	if !strings.Contains(logs, `"setting":"uma-previous-encryption-key-files"`) || !strings.Contains(logs, open) || strings.Contains(logs, private) {
		t.Errorf("logs:\n%s", logs)
	}
}

// The decrypt-only keys: the files' keys in their order, then the
// database's own encryption key when a key file's is served instead (a
// deployment that moved off its own key has no other copy of it). A file
// holding the served key (a rotation undone, the old key given back as
// uma-encryption-key-file and still listed) or an earlier entry's key is
// left out with a warning, not refused: nothing is lost by ignoring it,
// and a refusal would stop the processes at the moment of the undoing.
func TestPreviousEncryptionKeys(t *testing.T) {
	eachDeployment(t, func(t *testing.T, db *store.DB, _ Config) {
		ctx := context.Background()
		own, err := loadKeys(ctx, db, Config{}) // the database's own keys, served
		if err != nil {
			t.Fatal(err)
		}
		a, b := newKey(t), newKey(t)
		dir := t.TempDir()
		fa, fb, fa2 := keyFileOf(t, dir, a), keyFileOf(t, dir, b), keyFileOf(t, dir, a)
		files := []keyFile{{fa, a}, {fb, b}, {fa2, a}}

		// Serving the database's own key: it is no previous key.
		keys, ignored, err := previousEncryptionKeys(ctx, db, files, own.Encryption.PubKey())
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].File != fa || keys[1].File != fb || !bytes.Equal(keys[0].Key.Serialize(), a) ||
			len(ignored) != 1 || ignored[0].File != fa2 || !strings.Contains(ignored[0].Why, "earlier entry") {
			t.Fatalf("keys %+v, ignored %+v", keys, ignored)
		}

		// Serving b from a file: b's file is ignored, the database's own
		// key comes last.
		current := secp256k1.PrivKeyFromBytes(b).PubKey()
		keys, ignored, err = previousEncryptionKeys(ctx, db, files, current)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 || keys[0].File != fa || keys[1].File != "" || !keys[1].Key.Key.Equals(&own.Encryption.Key) ||
			!strings.Contains(keys[1].Source(), "database's own") ||
			len(ignored) != 2 || ignored[0].File != fb || !strings.Contains(ignored[0].Why, "served") || ignored[1].File != fa2 {
			t.Fatalf("keys %+v, ignored %+v", keys, ignored)
		}
		var buf bytes.Buffer
		warnIgnoredKeys(slog.New(slog.NewJSONHandler(&buf, nil)), ignored)
		if logs := buf.String(); !strings.Contains(logs, `"setting":"uma-previous-encryption-key-files"`) || !strings.Contains(logs, fb) ||
			!strings.Contains(logs, `"level":"WARN"`) || strings.Contains(logs, hex.EncodeToString(b)) {
			t.Fatalf("warnings:\n%s", logs)
		}
	})
}

// A database without its own encryption key (a deployment that always had
// key files) has only the files' keys.
func TestPreviousEncryptionKeysWithoutTheDatabasesOwn(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	enc, a := newKey(t), newKey(t)
	if _, err := loadKeys(ctx, db, Config{signingKey: newKey(t), encryptionKey: enc}); err != nil {
		t.Fatal(err)
	}
	keys, ignored, err := previousEncryptionKeys(ctx, db, []keyFile{{"a", a}}, secp256k1.PrivKeyFromBytes(enc).PubKey())
	if err != nil || len(keys) != 1 || keys[0].File != "a" || len(ignored) != 0 {
		t.Fatalf("keys %+v, ignored %+v, %v", keys, ignored, err)
	}
}

// vaspd serve loads the previous keys at start: it logs each (public key
// and source, never the private key) and warns of one it ignores.
func TestServeLoadsPreviousEncryptionKeys(t *testing.T) {
	dir := t.TempDir()
	enc, a := newKey(t), newKey(t)
	cfg := Config{DataDir: filepath.Join(dir, "data"), EncryptionKeyFile: keyFileOf(t, dir, enc)}
	fa, fenc := keyFileOf(t, dir, a), keyFileOf(t, dir, enc)
	cfg.PreviousEncryptionKeyFiles = fa + "," + fenc
	d, log, errc := startLogged(t, cfg)
	waitUp(t, d, errc)
	logs := log.String()
	for _, want := range []string{pubHex(a), fa, "decrypts travel-rule data only", fenc, "previous encryption key file is ignored"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not say %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, hex.EncodeToString(a)) || strings.Contains(logs, hex.EncodeToString(enc)) {
		t.Errorf("logs show a private key:\n%s", logs)
	}
}

// With no key recorded (a new database, or after `vaspd keys forget`),
// `vaspd keys show` asks about the key its settings would serve: without
// uma-encryption-key-file that is the database's own, no decrypt-only key;
// with one, the database's own is decrypt-only.
func TestPreviousEncryptionKeysWithNoneRecorded(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	if _, err := loadKeys(ctx, db, Config{}); err != nil { // the database's own keys
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM settings WHERE name LIKE '%.public'`); err != nil {
		t.Fatal(err)
	}
	if keys, err := RecordedKeys(ctx, db); err != nil || keys[0].Public != "" || keys[1].Public != "" {
		t.Fatalf("recorded %+v, %v; want none", keys, err)
	}
	keys, _, err := PreviousEncryptionKeys(ctx, Config{}, db)
	if err != nil || len(keys) != 0 {
		t.Fatalf("no key file: decrypt-only keys %+v, %v; want none (the database's own would be served)", keys, err)
	}
	keys, _, err = PreviousEncryptionKeys(ctx, Config{encryptionKey: newKey(t)}, db)
	if err != nil || len(keys) != 1 || keys[0].File != "" {
		t.Fatalf("a key file: decrypt-only keys %+v, %v; want the database's own", keys, err)
	}
}
