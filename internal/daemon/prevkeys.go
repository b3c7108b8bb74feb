package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/store"
)

// previousKeysSetting names the files of the encryption keys served before
// the current one (README, "UMA keys across processes").
const previousKeysSetting = "uma-previous-encryption-key-files"

// keyFile is a key read from a file a setting names.
type keyFile struct {
	path string
	key  []byte
}

// readKeyFiles reads the comma-separated key files of setting, each as
// readKeyFile does. An empty entry (a stray comma) is refused, as in the
// other lists; a value of only spaces is no list.
func readKeyFiles(setting, v string) ([]keyFile, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []keyFile
	for _, e := range strings.Split(v, ",") {
		path := strings.TrimSpace(e)
		if path == "" {
			return nil, fmt.Errorf("setting %s: \"\" is an empty entry (a stray comma?): want comma-separated key files", setting)
		}
		k, err := readKeyFile(setting, path)
		if err != nil {
			return nil, err
		}
		out = append(out, keyFile{path: path, key: k})
	}
	return out, nil
}

// PreviousKey is an encryption key served before the current one: used only
// to decrypt the travel-rule data senders encrypted to it (the payments
// pending at a rotation, and senders whose cached copy of our keys has not
// expired yet), never served, never used to encrypt.
type PreviousKey struct {
	Key *secp256k1.PrivateKey
	// File is the uma-previous-encryption-key-files entry it was read from;
	// "" for the database's own key.
	File string
}

// Source says where k comes from, for logs and `vaspd keys show`.
func (k PreviousKey) Source() string {
	if k.File == "" {
		return "the database's own key (served until uma-encryption-key-file's replaced it)"
	}
	return previousKeysSetting + ": " + k.File
}

// IgnoredKey is an entry of uma-previous-encryption-key-files left out:
// its key is the one served, or an earlier entry's.
type IgnoredKey struct {
	File, Why string
}

// previousEncryptionKeys returns the decrypt-only keys of a deployment
// whose served encryption key has public key current (nil: none recorded
// yet): the keys of uma-previous-encryption-key-files in their order, then
// the database's own encryption key if it is not current — a deployment
// that went from its own key to a key file has no other copy of it (no
// command prints a private key), and that key is never served again.
//
// A file whose key is current, or an earlier entry's, is left out and
// returned in ignored rather than refused: giving the old key back as the
// current one (a rotation undone) while it is still listed must not stop
// the processes, and decrypting with it once is enough.
func previousEncryptionKeys(ctx context.Context, q store.Querier, files []keyFile, current *secp256k1.PublicKey) (keys []PreviousKey, ignored []IgnoredKey, err error) {
	seen := func(k *secp256k1.PrivateKey) string {
		if current != nil && k.PubKey().IsEqual(current) {
			return "it is the encryption key served (uma-encryption-key-file, or the database's own)"
		}
		for _, p := range keys {
			if p.Key.PubKey().IsEqual(k.PubKey()) {
				return "an earlier entry holds the same key"
			}
		}
		return ""
	}
	for _, f := range files {
		k := secp256k1.PrivKeyFromBytes(f.key)
		if why := seen(k); why != "" {
			ignored = append(ignored, IgnoredKey{File: f.path, Why: why})
			continue
		}
		keys = append(keys, PreviousKey{Key: k, File: f.path})
	}
	own, err := store.GetSecret(ctx, q, keyNames[1].name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return keys, ignored, nil
	case err != nil:
		return nil, nil, fmt.Errorf("read the database's own encryption key: %w", err)
	case len(own) != 32:
		return keys, ignored, nil // loadKey refuses it where it is used
	}
	if k := secp256k1.PrivKeyFromBytes(own); seen(k) == "" {
		keys = append(keys, PreviousKey{Key: k})
	}
	return keys, ignored, nil
}

// PreviousEncryptionKeys returns the decrypt-only keys a process of cfg's
// database db (OpenDB) would use beside the encryption key the database
// records as served (`vaspd keys show`), and the entries of
// uma-previous-encryption-key-files it would leave out.
func PreviousEncryptionKeys(ctx context.Context, cfg Config, db *store.DB) ([]PreviousKey, []IgnoredKey, error) {
	keys, err := recordedKeys(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	var current *secp256k1.PublicKey
	for _, k := range keys {
		if k.Key == keyNames[1].what && k.Public != "" {
			current, _ = parseHexPubKey(k.Public)
		}
	}
	if current == nil {
		// None recorded (a new database, or after `vaspd keys forget`): the
		// next process records the key these settings serve, so that is the
		// current one — the key file's, else the database's own, which is
		// then no decrypt-only key.
		if len(cfg.encryptionKey) == 32 {
			current = secp256k1.PrivKeyFromBytes(cfg.encryptionKey).PubKey()
		} else if own, err := store.GetSecret(ctx, db, keyNames[1].name); err == nil && len(own) == 32 {
			current = secp256k1.PrivKeyFromBytes(own).PubKey()
		}
	}
	return previousEncryptionKeys(ctx, db, cfg.previousEncryptionKeys, current)
}

// warnIgnoredKeys logs each entry of uma-previous-encryption-key-files
// left out.
func warnIgnoredKeys(log *slog.Logger, ignored []IgnoredKey) {
	for _, i := range ignored {
		log.Warn("a previous encryption key file is ignored: "+i.Why, "setting", previousKeysSetting, "path", i.File)
	}
}

// parseHexPubKey parses a hex public key, compressed or not.
func parseHexPubKey(s string) (*secp256k1.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return secp256k1.ParsePubKey(b)
}
