package users

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// CreateOnce is Create under an idempotency key (none if ""), in
// transactions of its own: a retry with the same key and the same request
// answers the user the first created, as it is now (replayed set: it may
// since have been changed or deleted); the key with another request is a
// 422 IDEMPOTENCY_KEY_REUSED. The key is stored on the user by the INSERT
// that creates it; one key names one user.
//
// The same request is u as Create would store it before anything is
// looked up: the same platformUserId, userType, UMA address, kycStatus,
// preferredCurrencies (in order) and personal data, once normalised, so
// that spellings Create does not tell apart ("$Alice" and "alice",
// surrounding spaces, a country's or IBAN's case and spaces, no kycStatus
// and UNKNOWN) are the same request; preferredCurrencies left out is not
// the same as the default they would get. It is compared by its SHA-256
// (requestSum), stored with the key: not with the row, which PATCH changes.
//
// A retry is answered before the checks that depend on the database, the
// rates or the clock (the address taken, a currency no longer priced, a
// birth date in the future, the default currency): it must not fail, nor
// change, because the state did since the first request.
func (s *Service) CreateOnce(ctx context.Context, u User, key string) (_ User, replayed bool, _ error) {
	if err := u.normalize(); err != nil {
		return User{}, false, err
	}
	if key == "" {
		u, err := s.create(ctx, s.db, u, "", "")
		return u, false, err
	}
	sum, err := requestSum(u)
	if err != nil {
		return User{}, false, err
	}
	for try := 0; ; try++ {
		out, replayed, err := s.createOnce(ctx, u, key, sum)
		if errors.Is(err, errInsertConflict) {
			if try < 3 {
				// A concurrent request with the key committed first
				// (the next try answers its user), or the address is
				// taken (the next try fails again).
				continue
			}
			return User{}, false, addressExists(u.UMALocal)
		}
		return out, replayed, err
	}
}

// requestSum is the SHA-256 (hex) of a create request u, normalised but
// not yet given a default currency: every field a user is created with, as
// Create stores it (encode's profile holds only the fields of u's type).
func requestSum(u User) (string, error) {
	cur, prof, err := encode(u)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal([]string{u.PlatformUserID, u.UserType, u.UMALocal, u.KYCStatus, cur, prof})
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// errInsertConflict: the INSERT of a new user under an idempotency key met
// a unique index, the key's or the address's: which, PostgreSQL does not
// say without parsing, and it aborts the transaction, so CreateOnce tries
// again in a new one, where a key a concurrent request took is found.
var errInsertConflict = errors.New("users: idempotency key or UMA address taken")

// findKey answers the id of the row stored under an idempotency key, ""
// if there is none; query selects by the key a row's id and its request's
// SHA-256. A row stored for another request (its SHA-256 is not sum) is a
// 422 IDEMPOTENCY_KEY_REUSED: the key "was already used " usedFor.
func findKey(ctx context.Context, tx *store.Tx, query, key, sum, usedFor string) (string, error) {
	var id string
	var prev sql.NullString
	err := tx.QueryRowContext(ctx, query, key).Scan(&id, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("users: read by idempotency key: %w", err)
	}
	if prev.String != sum {
		// 422 like every reuse of a key for another request (the
		// ledger's, an execute's, an invitation's).
		return "", vaspd.Errorf(http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused,
			"this Idempotency-Key was already used %s", usedFor)
	}
	return id, nil
}

// createOnce answers the user key names if there is one (sum is the
// request's SHA-256, which must be that user's), else stores u (normalised)
// as a new user, in one transaction.
func (s *Service) createOnce(ctx context.Context, u User, key, sum string) (out User, replayed bool, _ error) {
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id, err := findKey(ctx, tx, `SELECT id, request_sha256 FROM users WHERE idempotency_key = $1`, key, sum,
			"for another user request")
		if err != nil {
			return err
		}
		if id != "" {
			replayed = true
			out, err = s.GetIncludingDeleted(ctx, tx, id)
			return err
		}
		out, err = s.create(ctx, tx, u, key, sum)
		return err
	})
	if err != nil {
		return User{}, false, err
	}
	return out, replayed, nil
}
