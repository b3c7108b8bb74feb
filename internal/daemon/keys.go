package daemon

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// keyNames name the UMA keys: name is the secret the database's own key is
// kept under (store.GetOrCreateSecret) and, with ".public", the row of the
// settings table its recorded public key is in (recordPublicKey); setting
// is the configuration setting of its key file.
var keyNames = [2]struct{ what, name, setting string }{
	{"signing", "uma-signing-key", "uma-signing-key-file"},
	{"encryption", "uma-encryption-key", "uma-encryption-key-file"},
}

// Keys are the process's UMA keys.
type Keys struct {
	Signing    *secp256k1.PrivateKey
	Encryption *secp256k1.PrivateKey
}

// loadKeys returns the configured key files' keys, or the keys kept in the
// database, generating them on first start. Stored keys are never replaced:
// counterparties cache our public keys.
//
// Every process of a deployment (one database) must serve the same keys:
// a counterparty verifies one process's signature with the key another
// published, and one process decrypts travel-rule data encrypted to the key
// another served. The first process to start records the public keys it
// serves in the database (from its key files, or the database's own); on
// PostgreSQL, a later process whose keys are not the recorded ones refuses
// to start, naming the key-file setting it must be given. SQLite serves one
// process (the data directory's lock), so a key that differs there is a
// deliberate change — a new key file, or one removed — and is recorded.
func loadKeys(ctx context.Context, db *store.DB, cfg Config) (Keys, error) {
	sign, err := loadKey(ctx, db, keyNames[0].name, keyNames[0].setting, cfg.signingKey)
	if err != nil {
		return Keys{}, err
	}
	enc, err := loadKey(ctx, db, keyNames[1].name, keyNames[1].setting, cfg.encryptionKey)
	if err != nil {
		return Keys{}, err
	}
	return Keys{Signing: sign, Encryption: enc}, nil
}

func loadKey(ctx context.Context, db *store.DB, name, setting string, fromFile []byte) (*secp256k1.PrivateKey, error) {
	raw := fromFile
	if raw == nil {
		var err error
		raw, err = store.GetOrCreateSecret(ctx, db, name, func() ([]byte, error) {
			k, err := secp256k1.GeneratePrivateKey()
			if err != nil {
				return nil, err
			}
			return k.Serialize(), nil
		})
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
	}
	var s secp256k1.ModNScalar
	if len(raw) != 32 || s.SetByteSlice(raw) || s.IsZero() {
		return nil, fmt.Errorf("%s is not a valid secp256k1 private key", name)
	}
	key := secp256k1.PrivKeyFromBytes(raw)
	pub := hex.EncodeToString(key.PubKey().SerializeCompressed())
	recorded, err := recordPublicKey(ctx, db, name+".public", pub)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", name, err)
	}
	if recorded == pub {
		return key, nil
	}
	if db.Driver().Name() == "sqlite" {
		if _, err := db.ExecContext(ctx, `UPDATE settings SET value = $2, updated_at = $3 WHERE name = $1`,
			name+".public", pub, store.Micros(time.Now())); err != nil {
			return nil, fmt.Errorf("record %s: %w", name, err)
		}
		return key, nil
	}
	if fromFile == nil {
		return nil, fmt.Errorf("setting %s: this deployment serves the UMA key with public key %s (recorded in its database), "+
			"which is not the key kept in the database: give every process the key file the others use "+
			"(to replace the key on purpose: stop every process, then vaspd keys forget)", setting, recorded)
	}
	return nil, fmt.Errorf("setting %s: the file's key (public key %s) is not the one this deployment serves (public key %s, "+
		"recorded in its database): every process of a deployment must serve the same key (see README, Configuration; "+
		"to replace the key on purpose: stop every process, then vaspd keys forget)", setting, pub, recorded)
}

// recordPublicKey records pub under name unless a key is recorded there
// already, and returns the recorded one. Processes racing on first start
// all get the one that won.
func recordPublicKey(ctx context.Context, db *store.DB, name, pub string) (string, error) {
	if _, err := db.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, pub, store.Micros(time.Now())); err != nil {
		return "", err
	}
	var v string
	err := db.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	return v, err
}

// RecordedKey is a UMA public key as the database records it: the key
// every process of the deployment serves (loadKeys).
type RecordedKey struct {
	Key     string // "signing" or "encryption"
	Setting string // its key-file setting: uma-signing-key-file or uma-encryption-key-file
	// Public is the hex compressed secp256k1 public key, as recorded; ""
	// when none is recorded (before the first start, or after ForgetKeys).
	Public string
	// Served is the same key as /.well-known/lnurlpubkey serves it: hex
	// uncompressed (04 ‖ X ‖ Y). "" if Public is not a valid key.
	Served   string
	Recorded time.Time // when it was recorded
	Source   KeySource

	record string // the settings row it is recorded in
}

// KeySource is where a recorded key comes from, as far as the database
// tells: it records public keys only, so this compares the recorded one
// with the database's own key.
type KeySource string

const (
	// KeyFromDatabase: the database's own key, generated on a start
	// without a key file and kept in the database. (Key files holding that
	// same key cannot be told apart.)
	KeyFromDatabase KeySource = "database"
	// KeyFromFile: not the database's own key (it has another, or none),
	// so a key file's.
	KeyFromFile KeySource = "file"
)

// RecordedKeys returns the recorded UMA public keys, signing then
// encryption, with Public "" for one not recorded. It reads the database's
// own private keys only to compare their public keys; it returns none.
func RecordedKeys(ctx context.Context, db *store.DB) ([]RecordedKey, error) {
	return recordedKeys(ctx, db)
}

func recordedKeys(ctx context.Context, q store.Querier) ([]RecordedKey, error) {
	keys := make([]RecordedKey, 0, len(keyNames))
	for _, k := range keyNames {
		rk := RecordedKey{Key: k.what, Setting: k.setting, record: k.name + ".public"}
		var at int64
		err := q.QueryRowContext(ctx, `SELECT value, updated_at FROM settings WHERE name = $1`, rk.record).Scan(&rk.Public, &at)
		if errors.Is(err, sql.ErrNoRows) {
			keys = append(keys, rk)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the recorded %s key: %w", k.what, err)
		}
		rk.Recorded = store.Time(at)
		if b, err := hex.DecodeString(rk.Public); err == nil {
			if pub, err := secp256k1.ParsePubKey(b); err == nil {
				rk.Served = hex.EncodeToString(pub.SerializeUncompressed())
			}
		}
		rk.Source = KeyFromFile
		own, err := store.GetSecret(ctx, q, k.name)
		switch {
		case err == nil:
			if len(own) == 32 && hex.EncodeToString(secp256k1.PrivKeyFromBytes(own).PubKey().SerializeCompressed()) == rk.Public {
				rk.Source = KeyFromDatabase
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		keys = append(keys, rk)
	}
	return keys, nil
}

// ForgetKeys deletes the recorded UMA public keys of cfg's database db
// (OpenDB) in one transaction and returns those it deleted. The next
// process to start records the keys it serves: its key files', or the
// database's own, which this leaves as they are. That is how a deployment
// replaces a key on purpose, with every process stopped (README, "UMA keys
// across processes"): a process still running would go on serving the old
// key beside processes serving the new one.
//
// On SQLite it holds the server's lock (lock.go) while it works, so it is
// refused while a `vaspd serve` runs on the database, and a server starting
// meanwhile is refused. On PostgreSQL nothing tells whether processes run:
// the caller must have made sure none does.
func ForgetKeys(ctx context.Context, cfg Config, db *store.DB) ([]RecordedKey, error) {
	if kind, where := cfg.databaseKind(); kind == "sqlite" {
		release, err := lockSQLite(cfg.databaseSetting(), where)
		if held := (*lockHeldError)(nil); errors.As(err, &held) {
			// A refusal, not a failure: the audit trail records it as a
			// 409 CONFLICT, not the 500 INTERNAL_ERROR of a plain error.
			return nil, vaspd.Errorf(http.StatusConflict, vaspd.CodeConflict, "setting %s: %s holds %s: a vaspd serve runs on the SQLite database in %s; "+
				"stop it, then forget the keys (nothing was changed)", held.setting, held.holder(), held.path, held.dir)
		}
		if err != nil {
			return nil, err
		}
		defer release()
	}
	var forgot []RecordedKey
	err := db.InTx(ctx, func(tx *store.Tx) error {
		forgot = forgot[:0]
		keys, err := recordedKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.Public == "" {
				continue
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE name = $1 AND value = $2`, k.record, k.Public)
			if err != nil {
				return fmt.Errorf("forget the %s key: %w", k.Key, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("forget the %s key: %w", k.Key, err)
			} else if n != 1 {
				return fmt.Errorf("the recorded %s key changed while it was being forgotten: is a vaspd process running? (nothing was changed)", k.Key)
			}
			forgot = append(forgot, k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return forgot, nil
}
