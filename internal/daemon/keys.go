package daemon

import (
	"context"
	"fmt"

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
func loadKeys(ctx context.Context, db *store.DB, cfg Config) (Keys, error) {
	sign, err := loadKey(ctx, db, "uma-signing-key", cfg.signingKey)
	if err != nil {
		return Keys{}, err
	}
	enc, err := loadKey(ctx, db, "uma-encryption-key", cfg.encryptionKey)
	if err != nil {
		return Keys{}, err
	}
	return Keys{Signing: sign, Encryption: enc}, nil
}

func loadKey(ctx context.Context, db *store.DB, name string, fromFile []byte) (*secp256k1.PrivateKey, error) {
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
	return secp256k1.PrivKeyFromBytes(raw), nil
}
