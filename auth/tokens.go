// Package auth keeps the platform API's credentials: tokens with a clientId
// (the token id, "Token:<uuidv7>"), a secret shown once, and permissions.
//
// Secrets are 256-bit random values, so a slow password hash adds nothing but
// latency on every request; we store HMAC-SHA256(secret) keyed with a
// per-installation key kept in the database's secrets table, and compare in
// constant time. A stolen copy of api_tokens alone therefore cannot be used
// to test guesses offline without the key, and cannot be replayed as a secret.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
)

// hmacKeyName is the secrets-table entry holding the token HMAC key.
const hmacKeyName = "api-token-hmac-key"

// ErrInvalidCredentials is returned by Authenticate for any failure, so a
// caller cannot learn whether the clientId exists.
var ErrInvalidCredentials = errors.New("auth: invalid credentials")

// Token is an API token as listed (never with its secret).
type Token struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Permissions []vaspd.Permission `json:"permissions"`
	CreatedAt   time.Time          `json:"createdAt"`
	UpdatedAt   time.Time          `json:"updatedAt"`
}

// CreatedToken is a token with its one-time secret.
type CreatedToken struct {
	Token
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

// Tokens stores and checks API tokens. Create it with NewTokens.
type Tokens struct {
	db    *store.DB
	clock vaspd.Clock
	key   []byte
}

// NewTokens loads (or creates, on first start) the HMAC key.
func NewTokens(ctx context.Context, db *store.DB, clock vaspd.Clock) (*Tokens, error) {
	if clock == nil {
		clock = vaspd.SystemClock{}
	}
	key, err := store.GetOrCreateSecret(ctx, db, hmacKeyName, func() ([]byte, error) { return randomBytes(32) })
	if err != nil {
		return nil, err
	}
	return &Tokens{db: db, clock: clock, key: key}, nil
}

// Create makes a new token and returns its secret, which is not stored.
func (t *Tokens) Create(ctx context.Context, name string, perms []vaspd.Permission) (CreatedToken, error) {
	return t.create(ctx, t.db, name, perms)
}

// ErrCallerDeleted is the error of CreateBy and DeleteKeepingManager when
// the token on whose behalf they act is no longer live.
var ErrCallerDeleted = errors.New("auth: the calling token was deleted")

// CreateBy is Create on behalf of the live token creator (the platform
// API's POST /tokens): in one transaction with a share lock on the
// creator's row, so that a delete of the creator committed before the new
// token would be, or pending then (another process, PostgreSQL), is waited
// for and refuses the creation with ErrCallerDeleted. The creator was
// authenticated when its request began; without this, a token revoked
// while its request was served would leave a successor behind it.
func (t *Tokens) CreateBy(ctx context.Context, creator, name string, perms []vaspd.Permission) (CreatedToken, error) {
	var tok CreatedToken
	err := t.db.InTx(ctx, func(tx *store.Tx) error {
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM api_tokens WHERE id = $1 AND deleted_at IS NULL `+
			tx.Driver().ForShare(), creator).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrCallerDeleted
		}
		if err != nil {
			return fmt.Errorf("look up the creating token: %w", err)
		}
		tok, err = t.create(ctx, tx, name, perms)
		return err
	})
	return tok, err
}

// CreateTx is Create inside the caller's transaction.
func (t *Tokens) CreateTx(ctx context.Context, tx *store.Tx, name string, perms []vaspd.Permission) (CreatedToken, error) {
	return t.create(ctx, tx, name, perms)
}

// CheckTokenName is Create's rule for a token's name, for callers that
// check their input before opening the database (vaspd token create):
// 1 to 200 characters once trimmed, printable text: no control character
// (C0, DEL, C1) and no bidi control, which would rewrite or reorder what
// `vaspd token list` shows an operator. Its error is an INVALID_INPUT
// *vaspd.Error.
func CheckTokenName(name string) *vaspd.Error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return vaspd.InvalidInput("name is required (1 to 200 characters)")
	}
	if !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) {
		return vaspd.InvalidInput("name must be printable text (no control or bidi control characters)")
	}
	return nil
}

func (t *Tokens) create(ctx context.Context, q store.Querier, name string, perms []vaspd.Permission) (CreatedToken, error) {
	if err := CheckTokenName(name); err != nil {
		return CreatedToken{}, err
	}
	name = strings.TrimSpace(name)
	if len(perms) == 0 {
		return CreatedToken{}, vaspd.InvalidInput("permissions must list at least one of VIEW, TRANSACT, MANAGE")
	}
	raw, err := randomBytes(32)
	if err != nil {
		return CreatedToken{}, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := t.clock.Now().UTC().Truncate(time.Microsecond) // as stored: the answer matches a later read
	tok := Token{ID: vaspd.NewID(vaspd.IDToken), Name: name, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	_, err = q.ExecContext(ctx, `INSERT INTO api_tokens (id, name, permissions, secret_hash, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, tok.ID, tok.Name, joinPerms(perms), t.hash(secret), store.Micros(now))
	if err != nil {
		return CreatedToken{}, fmt.Errorf("insert token: %w", err)
	}
	return CreatedToken{Token: tok, ClientID: tok.ID, ClientSecret: secret}, nil
}

// Authenticate checks a clientId/secret pair and returns the token.
func (t *Tokens) Authenticate(ctx context.Context, clientID, secret string) (Token, error) {
	if len(clientID) > 100 || len(secret) > 200 {
		return Token{}, ErrInvalidCredentials
	}
	// Only a well-formed token id can exist; anything else (NUL, invalid
	// UTF-8, which PostgreSQL refuses as text) never reaches the database.
	// Its UUID in either case (RFC 9562), as every id vaspd reads: looked
	// up as stored, in lower case.
	clientID, err := vaspd.CanonicalID(vaspd.IDToken, clientID)
	if err != nil {
		hmac.Equal(t.hash(secret), make([]byte, sha256.Size))
		return Token{}, ErrInvalidCredentials
	}
	var (
		tok   Token
		perms string
		hash  []byte
		c, u  int64
	)
	err = t.db.QueryRowContext(ctx, `SELECT id, name, permissions, secret_hash, created_at, updated_at
		FROM api_tokens WHERE id = $1 AND deleted_at IS NULL`, clientID).Scan(&tok.ID, &tok.Name, &perms, &hash, &c, &u)
	if errors.Is(err, sql.ErrNoRows) {
		// Spend the same HMAC work as a hit, so timing does not reveal which ids exist.
		hmac.Equal(t.hash(secret), make([]byte, sha256.Size))
		return Token{}, ErrInvalidCredentials
	}
	if err != nil {
		return Token{}, fmt.Errorf("look up token: %w", err)
	}
	if !hmac.Equal(t.hash(secret), hash) {
		return Token{}, ErrInvalidCredentials
	}
	tok.Permissions = splitPerms(perms)
	tok.CreatedAt, tok.UpdatedAt = store.Time(c), store.Time(u)
	return tok, nil
}

// Get returns a live token by id.
func (t *Tokens) Get(ctx context.Context, id string) (Token, error) {
	toks, err := t.scan(ctx, `SELECT id, name, permissions, created_at, updated_at FROM api_tokens
		WHERE id = $1 AND deleted_at IS NULL`, id)
	if err != nil {
		return Token{}, err
	}
	if len(toks) == 0 {
		return Token{}, vaspd.NotFound(vaspd.CodeTokenNotFound, "token %s not found", id)
	}
	return toks[0], nil
}

// ListFilter narrows List. Tokens come newest first; After is the id of the
// last token of the previous page.
type ListFilter struct {
	Name string
	// Created and updated between these times, each bound inclusive and
	// the zero time unbounded (UMAaaS's createdAfter/Before and
	// updatedAfter/Before, read as GET /users reads them).
	CreatedAfter, CreatedBefore time.Time
	UpdatedAfter, UpdatedBefore time.Time
	After                       string
	Limit                       int
}

// List returns up to f.Limit+1 live tokens (the extra one tells the caller
// there is another page).
func (t *Tokens) List(ctx context.Context, f ListFilter) ([]Token, error) {
	var w store.Where
	w.Raw("deleted_at IS NULL")
	if f.Name != "" {
		w.Add("name = ?", f.Name)
	}
	w.Within("created_at", f.CreatedAfter, f.CreatedBefore)
	w.Within("updated_at", f.UpdatedAfter, f.UpdatedBefore)
	if f.After != "" {
		w.Add("id < ?", f.After)
	}
	q := fmt.Sprintf(`SELECT id, name, permissions, created_at, updated_at FROM api_tokens WHERE %s ORDER BY id DESC LIMIT $%d`,
		w.String(), w.Next())
	return t.scan(ctx, q, append(w.Args(), f.Limit+1)...)
}

// Delete revokes a token; it stops authenticating at once.
func (t *Tokens) Delete(ctx context.Context, id string) error { return t.delete(ctx, t.db, id) }

func (t *Tokens) delete(ctx context.Context, q store.Querier, id string) error {
	res, err := q.ExecContext(ctx, `UPDATE api_tokens SET deleted_at = $2, updated_at = $2
		WHERE id = $1 AND deleted_at IS NULL`, id, store.Micros(t.clock.Now()))
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return vaspd.NotFound(vaspd.CodeTokenNotFound, "token %s not found", id)
	}
	return nil
}

// DeleteKeepingManager is Delete for the platform API: it refuses (409
// CONFLICT) to delete the last live token holding MANAGE, the permission
// that creates tokens, since the API would then have no way to issue
// another and only `vaspd token create` on the server could. A token may
// delete itself while another MANAGE token lives; the request doing so
// completes, and the next one with it is refused. caller is the token
// asking, a MANAGE one: if it is deleted by then (or meanwhile, in another
// process), nothing is and the error is ErrCallerDeleted, as CreateBy's.
// caller "" is no token: `vaspd token delete`, which refuses the last
// manager alike unless --force (it reaches the database, so it could mint
// a token again, but a platform locked out of its API until someone with
// the server's database does is an outage).
func (t *Tokens) DeleteKeepingManager(ctx context.Context, caller, id string) error {
	return t.db.InTx(ctx, func(tx *store.Tx) error {
		// Lock the live managers (in id order: concurrent deletes do not
		// deadlock), so that two concurrent deletes of the last two cannot
		// both see the other one left: on PostgreSQL the second waits and
		// then no longer sees the row the first deleted. SQLite's write
		// transactions are exclusive already.
		q := `SELECT id FROM api_tokens WHERE deleted_at IS NULL AND (',' || permissions || ',') LIKE '%,MANAGE,%' ORDER BY id ` +
			tx.Driver().ForUpdate()
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("find manager tokens: %w", err)
		}
		var others, self, live bool
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			if m == id {
				self = true
			} else {
				others = true
			}
			live = live || m == caller
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !live && caller != "" {
			// The caller holds MANAGE, so it is among the rows locked
			// unless it was deleted since its request was authenticated.
			return ErrCallerDeleted
		}
		if self && !others {
			return vaspd.Conflict(vaspd.CodeConflict, "token %s is the last one with the MANAGE permission: deleting it "+
				"would leave no token able to manage the API (or create a token); create another MANAGE token first", id)
		}
		return t.delete(ctx, tx, id)
	})
}

// Count returns the number of live tokens.
func (t *Tokens) Count(ctx context.Context) (int, error) {
	var n int
	err := t.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_tokens WHERE deleted_at IS NULL`).Scan(&n)
	return n, err
}

func (t *Tokens) scan(ctx context.Context, q string, args ...any) ([]Token, error) {
	rows, err := t.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var (
			tok   Token
			perms string
			c, u  int64
		)
		if err := rows.Scan(&tok.ID, &tok.Name, &perms, &c, &u); err != nil {
			return nil, err
		}
		tok.Permissions = splitPerms(perms)
		tok.CreatedAt, tok.UpdatedAt = store.Time(c), store.Time(u)
		out = append(out, tok)
	}
	return out, rows.Err()
}

func (t *Tokens) hash(secret string) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

func joinPerms(p []vaspd.Permission) string {
	s := make([]string, len(p))
	for i, x := range p {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func splitPerms(s string) []vaspd.Permission {
	var out []vaspd.Permission
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, vaspd.Permission(p))
		}
	}
	return out
}

func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
