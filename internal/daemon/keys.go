package daemon

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/store"
)

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
	sign, err := loadKey(ctx, db, "uma-signing-key", "uma-signing-key-file", cfg.signingKey)
	if err != nil {
		return Keys{}, err
	}
	enc, err := loadKey(ctx, db, "uma-encryption-key", "uma-encryption-key-file", cfg.encryptionKey)
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
			"which is not the key kept in the database: give every process the key file the others use", setting, recorded)
	}
	return nil, fmt.Errorf("setting %s: the file's key (public key %s) is not the one this deployment serves (public key %s, "+
		"recorded in its database): every process of a deployment must serve the same key (see README, Configuration)", setting, pub, recorded)
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
