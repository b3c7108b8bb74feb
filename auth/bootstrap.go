package auth

import (
	"context"
	"errors"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// bootstrapSetting marks that the first admin credential was issued. It is
// inserted in the same transaction as the token, so with several processes
// starting at once exactly one of them creates (and prints) the credential.
const bootstrapSetting = "bootstrap.admin-token"

// Bootstrap creates the first admin token (all permissions) if this
// installation never had one, and returns it; ok is false on later starts.
// record, if not nil, is called in the transaction that creates it, with
// its id: the token's audit event commits with it, or neither does.
func (t *Tokens) Bootstrap(ctx context.Context, record func(tx *store.Tx, id string) error) (tok CreatedToken, ok bool, err error) {
	err = t.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ($1, 'done', $2)`,
			bootstrapSetting, store.Micros(t.clock.Now()))
		if err != nil {
			if tx.Driver().IsUniqueViolation(err) {
				return errAlreadyBootstrapped
			}
			return err
		}
		if tok, err = t.CreateTx(ctx, tx, "admin", vaspd.AllPermissions); err != nil || record == nil {
			return err
		}
		return record(tx, tok.ClientID)
	})
	if errors.Is(err, errAlreadyBootstrapped) {
		return CreatedToken{}, false, nil
	}
	if err != nil {
		return CreatedToken{}, false, err
	}
	return tok, true, nil
}

var errAlreadyBootstrapped = errors.New("already bootstrapped")
