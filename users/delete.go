package users

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// DeleteCheck is run by Delete inside its transaction, after the user's
// row is marked deleted (and so locked until the transaction ends), with
// the user's id. An error refuses the delete: the transaction is rolled
// back. A check may also write in tx (end what the user left open).
type DeleteCheck func(ctx context.Context, tx *store.Tx, userID string) error

// OnDelete adds a check every Delete runs (DeleteCheck): what the users
// package cannot see, such as payments in flight to or from the user,
// which a deletion would strand. Add checks before the Service is used.
func (s *Service) OnDelete(c DeleteCheck) {
	s.deleteMu.Lock()
	defer s.deleteMu.Unlock()
	s.deleteChecks = append(s.deleteChecks, c)
}

// Delete soft-deletes the live user id inside tx and returns it. Its UMA
// address becomes free for new users; its history stays. A user deleted
// already is a 410 GONE. The checks added with OnDelete run after the
// UPDATE, which holds the user's row until tx ends: whatever locks the
// row (Lock, or CheckLive in a transaction) before recording something
// for the user is either seen by them or sees the deletion. The caller
// may check more (e.g. a zero balance) in the same tx and roll back.
func (s *Service) Delete(ctx context.Context, tx *store.Tx, id string) (User, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	s.changed(tx)
	res, err := tx.ExecContext(ctx, `UPDATE users SET deleted_at = $2, updated_at = $2
		WHERE id = $1 AND deleted_at IS NULL`, id, store.Micros(now))
	if err != nil {
		return User{}, fmt.Errorf("users: delete: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return User{}, err
	}
	u, err := s.GetIncludingDeleted(ctx, tx, id)
	if err != nil {
		return User{}, err
	}
	if n == 0 {
		return User{}, vaspd.Errorf(http.StatusGone, vaspd.CodeGone, "user %s was deleted already", id)
	}
	s.deleteMu.Lock()
	checks := s.deleteChecks
	s.deleteMu.Unlock()
	for _, c := range checks {
		if err := c(ctx, tx, id); err != nil {
			return User{}, err
		}
	}
	return u, nil
}
