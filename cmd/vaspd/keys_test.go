package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/postgres"
	"github.com/vaspd/vaspd/store/sqlite"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestKeysCLI: `vaspd keys show` prints the public keys a started
// deployment recorded (those it serves at /.well-known/lnurlpubkey, and no
// private key); `keys forget` without --yes explains itself and changes
// nothing; on SQLite it refuses while `vaspd serve` runs; with --yes and
// the server stopped it forgets the record, and the next start with other
// key files records (on PostgreSQL: is allowed to serve) the new keys.
func TestKeysCLI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		testKeysCLI(t, func() (*store.DB, error) {
			return sqlite.Connect(context.Background(), filepath.Join(dir, "vaspd.db"), nil)
		}, "--data-dir", dir)
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		testKeysCLI(t, func() (*store.DB, error) {
			return postgres.Connect(context.Background(), u, nil)
		}, "--data-dir", t.TempDir(), "--database-url", u)
	})
}

func testKeysCLI(t *testing.T, open func() (*store.DB, error), flags ...string) {
	onSQLite := !strings.Contains(strings.Join(flags, " "), "postgres")
	keys := func(args ...string) (int, string, string) {
		return runCmd(append(append([]string{"keys"}, args...), flags...)...)
	}
	// show runs `keys show` and returns the signing and encryption keys
	// it prints as served (uncompressed), "" for "none recorded". It
	// checks that the recorded (compressed) key printed is the same.
	show := func() (sign, enc, out string) {
		t.Helper()
		code, out, errs := keys("show")
		if code != 0 {
			t.Fatalf("keys show: exit %d, stderr %q", code, errs)
		}
		var which *string
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 3 && f[0] == "signing" && f[1] == "key:":
				which = &sign
			case len(f) >= 3 && f[0] == "encryption" && f[1] == "key:":
				which = &enc
			case len(f) >= 3 && f[0] == "served" && f[1] == "as:" && which != nil:
				*which = f[2]
				continue
			default:
				continue
			}
			if f[2] == "none" {
				continue
			}
			b, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatalf("keys show: %q is not hex\n%s", f[2], out)
			}
			pub, err := secp256k1.ParsePubKey(b)
			if err != nil || len(b) != 33 {
				t.Fatalf("keys show: %q is not a compressed public key (%v)\n%s", f[2], err, out)
			}
			*which = hex.EncodeToString(pub.SerializeUncompressed()) // the served line must say the same
		}
		return sign, enc, out
	}
	served := func(url string) (sign, enc string) {
		t.Helper()
		resp, err := http.Get(url + "/.well-known/lnurlpubkey")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ SigningPubKey, EncryptionPubKey string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return body.SigningPubKey, body.EncryptionPubKey
	}

	url, stop := serveWith(t, flags...)
	wantSign, wantEnc := served(url)
	sign, enc, out := show()
	if sign != wantSign || enc != wantEnc || wantSign == "" || wantEnc == "" {
		t.Fatalf("keys show: signing %q, encryption %q; served %q, %q\n%s", sign, enc, wantSign, wantEnc, out)
	}
	if strings.Count(out, "the database's own key") != 2 || !strings.Contains(out, "previous encryption keys: none") {
		t.Errorf("keys show does not say both keys are the database's own, and no previous encryption key:\n%s", out)
	}
	db, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"uma-signing-key", "uma-encryption-key"} {
		priv, err := store.GetSecret(context.Background(), db, name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(out), hex.EncodeToString(priv)) {
			t.Fatalf("keys show printed the private %s", name)
		}
	}

	recSign, recEnc := compressed(t, wantSign), compressed(t, wantEnc) // as recorded
	code, o, errs := keys("forget")
	for _, want := range []string{recSign, recEnc, "Stop every vaspd process", "Keep the old encryption key", "--yes", "Nothing was changed"} {
		if !strings.Contains(errs, want) {
			t.Errorf("keys forget without --yes does not say %q:\n%s", want, errs)
		}
	}
	want := "cannot tell whether other processes are running"
	if onSQLite {
		want = "refuses while a vaspd serve runs"
	}
	if code != 2 || o != "" || !strings.Contains(errs, want) {
		t.Errorf("keys forget without --yes: exit %d, stdout %q, stderr %q; want exit 2 and %q", code, o, errs, want)
	}
	if s, e, _ := show(); s != wantSign || e != wantEnc {
		t.Fatalf("keys forget without --yes changed the record: %q, %q", s, e)
	}

	if onSQLite && flockHere() {
		code, o, errs := keys("forget", "--yes")
		if code != 1 || o != "" || !strings.Contains(errs, "vaspd serve runs") || !strings.Contains(errs, "nothing was changed") {
			t.Errorf("keys forget --yes beside serve: exit %d, stdout %q, stderr %q", code, o, errs)
		}
		if s, e, _ := show(); s != wantSign || e != wantEnc {
			t.Fatalf("keys forget --yes beside serve changed the record: %q, %q", s, e)
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	code, o, errs = keys("forget", "--yes")
	if code != 0 || !strings.Contains(o, "forgot the signing key "+recSign) || !strings.Contains(o, "forgot the encryption key "+recEnc) {
		t.Fatalf("keys forget --yes: exit %d, stdout %q, stderr %q", code, o, errs)
	}
	if s, e, out := show(); s != "" || e != "" || strings.Count(out, "none recorded") != 2 {
		t.Fatalf("keys show after forget:\n%s", out)
	}
	// Each forget --yes is in the audit trail, the one refused beside
	// serve with its failure, a 409 CONFLICT (a refusal, not an internal
	// error); a forget without --yes changes nothing and is not.
	events, err := audit.New(db, nil).List(context.Background(), audit.Filter{Route: "vaspd keys forget", Ascending: true, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := []int{200}
	if onSQLite && flockHere() {
		wantStatus = []int{409, 200}
	}
	if len(events) != len(wantStatus) {
		t.Fatalf("%d audit events of keys forget, want %d: %+v", len(events), len(wantStatus), events)
	}
	for i, e := range events {
		if e.Outcome != nil && e.Outcome.Status == 409 && e.Outcome.ErrorCode != vaspd.CodeConflict {
			t.Errorf("audit event %d of keys forget: error code %q, want %s", i, e.Outcome.ErrorCode, vaspd.CodeConflict)
		}
		if e.TokenID != audit.CLITokenID || e.Method != "CLI" || e.Outcome == nil || e.Outcome.Status != wantStatus[i] {
			t.Errorf("audit event %d of keys forget: %+v, outcome %+v, want status %d", i, e, e.Outcome, wantStatus[i])
		}
	}

	// New key files: the next start records (on PostgreSQL: may serve)
	// their keys.
	files := t.TempDir()
	var newPubs []string
	fileFlags := append([]string(nil), flags...)
	for _, setting := range []string{"uma-signing-key-file", "uma-encryption-key-file"} {
		k, err := secp256k1.GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(files, setting)
		if err := os.WriteFile(path, []byte(hex.EncodeToString(k.Serialize())+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		fileFlags = append(fileFlags, "--"+setting, path)
		newPubs = append(newPubs, hex.EncodeToString(k.PubKey().SerializeUncompressed()))
	}
	url, stop = serveWith(t, fileFlags...)
	if s, e := served(url); s != newPubs[0] || e != newPubs[1] {
		t.Fatalf("served after the restart with new key files: %q, %q; want %q", s, e, newPubs)
	}
	sign, enc, out = show()
	if sign != newPubs[0] || enc != newPubs[1] || strings.Count(out, "a key file") != 2 {
		t.Fatalf("keys show after the restart with new key files (want %q):\n%s", newPubs, out)
	}
	// The database's own encryption key, served until then, is now a
	// decrypt-only key (the deployment has no other copy of it); the
	// files of uma-previous-encryption-key-files are listed after it, one
	// holding the served key as ignored.
	if !strings.Contains(out, "decrypt-only key: "+recEnc+"\n    was served as:  "+wantEnc) ||
		!strings.Contains(out, "source:         the database's own key") || !strings.Contains(out, "DECRYPT ONLY") {
		t.Fatalf("keys show does not list the database's own encryption key as decrypt-only:\n%s", out)
	}
	prev, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	prevFile := filepath.Join(files, "previous")
	if err := os.WriteFile(prevFile, []byte(hex.EncodeToString(prev.Serialize())), 0o600); err != nil {
		t.Fatal(err)
	}
	servedFile := filepath.Join(files, "uma-encryption-key-file")
	code, out, errs = keys("show", "--uma-previous-encryption-key-files", prevFile+","+servedFile)
	prevPub := hex.EncodeToString(prev.PubKey().SerializeCompressed())
	if code != 0 || !strings.Contains(out, "decrypt-only key: "+prevPub) || !strings.Contains(out, "source:         uma-previous-encryption-key-files: "+prevFile) ||
		!strings.Contains(out, "ignored: "+servedFile+" (it is the encryption key served") ||
		strings.Index(out, prevPub) > strings.Index(out, recEnc) || strings.Contains(out, hex.EncodeToString(prev.Serialize())) {
		t.Fatalf("keys show with uma-previous-encryption-key-files: exit %d, stderr %q\n%s", code, errs, out)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve with new key files exited %d", code)
	}
}

// compressed is the hex compressed form of a hex public key.
func compressed(t *testing.T, pub string) string {
	t.Helper()
	b, err := hex.DecodeString(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := secp256k1.ParsePubKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(k.SerializeCompressed())
}

// flockHere: whether a running serve's SQLite lock is noticed here
// (internal/daemon/lock.go).
func flockHere() bool {
	switch runtime.GOOS {
	case "darwin", "dragonfly", "freebsd", "illumos", "linux", "netbsd", "openbsd":
		return true
	}
	return false
}

func TestKeysCLIUsage(t *testing.T) {
	if code, _, errs := runCmd("keys"); code != 2 || !strings.Contains(errs, "vaspd keys show | keys forget [--yes]") {
		t.Errorf("keys: exit %d, stderr %q", code, errs)
	}
	if code, out, _ := runCmd("keys", "-h"); code != 0 || !strings.Contains(out, "vaspd keys show | keys forget [--yes]") {
		t.Errorf("keys -h: exit %d, stdout %q", code, out)
	}
	if code, _, errs := runCmd("keys", "rotate"); code != 2 || !strings.Contains(errs, `unknown command "rotate"`) {
		t.Errorf("keys rotate: exit %d, stderr %q", code, errs)
	}
	if code, out, _ := runCmd("keys", "forget", "-h"); code != 0 || !strings.Contains(out, "-yes") {
		t.Errorf("keys forget -h: exit %d, stdout %q", code, out)
	}
	if code, out, _ := runCmd("help"); code != 0 || !strings.Contains(out, "keys ") {
		t.Errorf("help does not list keys: %q", out)
	}
}
