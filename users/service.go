package users

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
)

// Service stores users. Create it with New; it is safe for concurrent use.
type Service struct {
	db    *store.DB
	clock vaspd.Clock
	rates rates.Provider
	cache localCache // GetByUMALocal outside transactions
	// deleteChecks run inside Delete's transaction (OnDelete).
	deleteMu     sync.Mutex
	deleteChecks []DeleteCheck
}

// Option configures a Service.
type Option func(*Service)

// WithRates makes the Service accept only preferred currencies that p
// prices (checked on Create and when an Update changes them), and give users created without preferred currencies p's first
// currency. Without it any well-formed currency code is accepted.
func WithRates(p rates.Provider) Option { return func(s *Service) { s.rates = p } }

// New returns a Service over db (whose migrations created the users table).
// A nil clock means the system clock.
func New(db *store.DB, clock vaspd.Clock, opts ...Option) *Service {
	if clock == nil {
		clock = vaspd.SystemClock{}
	}
	s := &Service{db: db, clock: clock, cache: localCache{ttl: DefaultLocalCacheTTL}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// DB returns the Service's database, for callers that combine user checks
// with other writes (ledger movements) in one transaction.
func (s *Service) DB() *store.DB { return s.db }

// profile is the JSON document holding a user's personal data.
type profile struct {
	FullName     string           `json:"fullName,omitempty"`
	BirthDate    string           `json:"birthDate,omitempty"`
	Nationality  string           `json:"nationality,omitempty"`
	Email        string           `json:"email,omitempty"`
	Address      *Address         `json:"address,omitempty"`
	BankAccount  *BankAccountInfo `json:"bankAccountInfo,omitempty"`
	BusinessInfo *BusinessInfo    `json:"businessInfo,omitempty"`
}

const columns = `id, platform_user_id, user_type, uma_local, kyc_status, preferred_currencies, profile,
	created_at, updated_at, deleted_at`

func notFound(id string) error {
	return vaspd.NotFound(vaspd.CodeUserNotFound, "user %s not found", truncate(id))
}

// deletedErr is USER_NOT_FOUND for a user deleted: still 404 (nothing is
// done for them), but saying why, since GET /users/{id} answers them
// (isDeleted) and "not found" would send the platform hunting a bad id.
func deletedErr(id string) error {
	return vaspd.NotFound(vaspd.CodeUserNotFound, "user %s was deleted", truncate(id))
}

func addressExists(local string) error {
	return vaspd.Conflict(vaspd.CodeUMAAddressExists, "the UMA address $%s is already taken", local)
}

// validate normalises u and checks its currencies against the rates
// provider.
func (s *Service) validate(ctx context.Context, u *User, checkCurrencies bool) error {
	if err := u.normalize(); err != nil {
		return err
	}
	if !checkCurrencies {
		return nil
	}
	return s.checkCurrencies(ctx, u)
}

// checkCurrencies checks u's (normalised) preferred currencies against the
// rates provider, and gives u its first currency if u has none.
func (s *Service) checkCurrencies(ctx context.Context, u *User) error {
	if s.rates == nil {
		return nil
	}
	cs, err := s.rates.Currencies(ctx)
	if err != nil {
		return fmt.Errorf("users: list currencies: %w", err)
	}
	known := map[string]bool{}
	for _, c := range cs {
		known[c.Code] = true
	}
	for _, c := range u.PreferredCurrencies {
		if !known[c] {
			return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency,
				"currency %s is not supported by this VASP", c)
		}
	}
	if len(u.PreferredCurrencies) == 0 && len(cs) > 0 {
		u.PreferredCurrencies = []string{cs[0].Code}
	}
	return nil
}

// checkBirthDate refuses a birth date ("": none) that is not a date
// YYYY-MM-DD, is before 1900, or is after today by s's clock wherever that
// is latest (UTC+14), so a user born today anywhere is accepted. Create
// checks it, Update only when it changes, so that a date stored before a
// check does not block other edits (as e-mail addresses and countries).
func (s *Service) checkBirthDate(date string) error {
	if date == "" {
		return nil
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return invalid("birthDate must be a date YYYY-MM-DD")
	}
	if d.Year() < 1900 {
		return invalid("birthDate must be 1900-01-01 or later")
	}
	today := s.clock.Now().UTC().Add(14 * time.Hour).Format(time.DateOnly)
	if date > today { // YYYY-MM-DD compares as dates
		return invalid("birthDate must not be in the future")
	}
	return nil
}

// Create validates u and stores it as a new live user with a fresh ID and
// timestamps (ID, CreatedAt, UpdatedAt and DeletedAt of u are ignored). A
// UMA address held by a live user is a 409 UMA_ADDRESS_EXISTS.
func (s *Service) Create(ctx context.Context, q store.Querier, u User) (User, error) {
	if err := u.normalize(); err != nil {
		return User{}, err
	}
	return s.create(ctx, q, u, "", "")
}

// create checks u, normalised, against the rates and the clock and inserts
// it as a new user, under key and sum if key is not "". A unique violation
// is a 409 UMA_ADDRESS_EXISTS without a key, errInsertConflict with one.
func (s *Service) create(ctx context.Context, q store.Querier, u User, key, sum string) (User, error) {
	if err := u.checkControls(nil); err != nil {
		return User{}, err
	}
	if err := s.checkCurrencies(ctx, &u); err != nil {
		return User{}, err
	}
	if err := s.checkBirthDate(u.BirthDate); err != nil {
		return User{}, err
	}
	if err := u.checkCountries(true, true); err != nil {
		return User{}, err
	}
	if err := checkEmail(u.Email); err != nil {
		return User{}, err
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond) // stored in microseconds
	u.ID = vaspd.NewID(vaspd.IDUser)
	u.CreatedAt, u.UpdatedAt, u.DeletedAt = now, now, time.Time{}
	cur, prof, err := encode(u)
	if err != nil {
		return User{}, err
	}
	var idem, hash any
	if key != "" {
		idem, hash = key, sum
	}
	_, err = q.ExecContext(ctx, `INSERT INTO users (`+columns+`, idempotency_key, request_sha256)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, NULL, $9, $10)`,
		u.ID, u.PlatformUserID, u.UserType, u.UMALocal, u.KYCStatus, cur, prof, store.Micros(now), idem, hash)
	if err != nil {
		if q.Driver().IsUniqueViolation(err) {
			if key != "" {
				return User{}, fmt.Errorf("%w: %w", errInsertConflict, err)
			}
			return User{}, addressExists(u.UMALocal)
		}
		return User{}, fmt.Errorf("users: insert: %w", err)
	}
	return u, nil
}

func encode(u User) (currencies, prof string, err error) {
	pc := u.PreferredCurrencies
	if pc == nil {
		pc = []string{}
	}
	cb, err := json.Marshal(pc)
	if err != nil {
		return "", "", err
	}
	p := profile{Address: u.Address, BankAccount: u.BankAccount, BusinessInfo: u.BusinessInfo}
	if u.UserType == Individual {
		p.FullName, p.BirthDate, p.Nationality, p.Email = u.FullName, u.BirthDate, u.Nationality, u.Email
	}
	pb, err := json.Marshal(p)
	if err != nil {
		return "", "", err
	}
	return string(cb), string(pb), nil
}

// Get returns the live user with the given id; a missing or deleted user is
// a 404 USER_NOT_FOUND, whose message says which.
func (s *Service) Get(ctx context.Context, q store.Querier, id string) (User, error) {
	u, err := s.GetIncludingDeleted(ctx, q, id)
	if err != nil {
		return User{}, err
	}
	if u.IsDeleted() {
		return User{}, deletedErr(id)
	}
	return u, nil
}

// CheckLive reports, with one indexed read of nothing but the row's
// existence, whether the user with the given id exists, is not deleted
// and, when local is not empty, still holds the UMA address with that
// normalised local part (User.UMALocal): a 404 USER_NOT_FOUND otherwise.
// Payment flows call it inside their transaction, where Get's full read
// and decoding would be wasted, with the local part they found the user
// by: GetByUMALocal's cache may answer for a user another process has
// since renamed or deleted, its address perhaps taken by someone else.
// Such a miss also empties this Service's cache, so that the next lookup
// (the counterparty's retry) reads the address's current holder. With a
// *store.Tx for q the user's row stays share-locked until tx ends, so that
// a concurrent Delete either sees what tx records or makes tx refuse.
func (s *Service) CheckLive(ctx context.Context, q store.Querier, id, local string) error {
	query, args := `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL`, []any{id}
	if local != "" {
		query, args = query+` AND uma_local = $2`, append(args, local)
	}
	// In a transaction the row is share-locked until it ends (PostgreSQL;
	// SQLite's write transactions exclude each other already): a Delete
	// or rename of the user waits for the payment recorded here to
	// commit, and sees it; one that went first makes this read wait and
	// find the row no longer matching. Without the lock, READ COMMITTED
	// lets both commit, each blind to the other: an invoice issued to a
	// user deleted as it was recorded. Concurrent payments to one user
	// share the lock and do not wait for each other.
	if tx, ok := q.(*store.Tx); ok {
		query += ` ` + tx.Driver().ForShare()
	}
	var one int
	err := q.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		s.cache.invalidate()
		return notFound(id)
	}
	return err
}

// GetIncludingDeleted returns the user with the given id, live or deleted
// (IsDeleted tells); a missing user is a 404 USER_NOT_FOUND.
func (s *Service) GetIncludingDeleted(ctx context.Context, q store.Querier, id string) (User, error) {
	us, err := s.query(ctx, q, `SELECT `+columns+` FROM users WHERE id = $1`, id)
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, notFound(id)
	}
	return us[0], nil
}

// GetByUMALocal returns the live user whose UMA address has the local part
// local ("alice" for $alice@our.domain; case and a leading "$" do not
// matter). A missing or deleted user, or a malformed local part, is a 404
// USER_NOT_FOUND.
//
// Read with the Service's own database (not a transaction), a user found
// may come from a short-lived cache: see DefaultLocalCacheTTL.
func (s *Service) GetByUMALocal(ctx context.Context, q store.Querier, local string) (User, error) {
	norm, err := NormalizeLocal(local)
	if err != nil {
		return User{}, vaspd.NotFound(vaspd.CodeUserNotFound, "no user $%s", truncate(strings.TrimPrefix(local, "$")))
	}
	cached := s.cache.ttl > 0 && q == store.Querier(s.db)
	var gen uint64
	if cached {
		var u User
		var hit bool
		if u, hit, gen = s.cache.get(norm); hit {
			return u, nil
		}
	}
	us, err := s.query(ctx, q, `SELECT `+columns+` FROM users WHERE uma_local = $1 AND deleted_at IS NULL`, norm)
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, vaspd.NotFound(vaspd.CodeUserNotFound, "no user $%s", norm)
	}
	if cached {
		s.cache.put(norm, us[0], gen)
	}
	return us[0], nil
}

// changed empties the lookup cache now and again when tx commits: a
// lookup between the two may read the row as it was and cache it, and
// the second emptying removes it (a lookup straddling it is not cached).
func (s *Service) changed(tx *store.Tx) {
	s.cache.invalidate()
	tx.AfterCommit(s.cache.invalidate)
}

// Lock returns the live user id inside tx and, on PostgreSQL, locks the row
// until tx ends, so that a concurrent Delete waits (SQLite transactions are
// already exclusive). Use it before crediting a user.
func (s *Service) Lock(ctx context.Context, tx *store.Tx, id string) (User, error) {
	q := `SELECT ` + columns + ` FROM users WHERE id = $1 ` + tx.Driver().ForUpdate()
	us, err := s.query(ctx, tx, q, id)
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, notFound(id)
	}
	if us[0].IsDeleted() {
		return User{}, deletedErr(id)
	}
	return us[0], nil
}

// Patch is a partial update: nil fields are left unchanged. A personal
// string field is cleared by "" (a PATCH's null); the objects by their
// Clear field, which leaves the object itself nil. KYCStatus "" and an
// empty PreferredCurrencies are refused: every user has them.
type Patch struct {
	PlatformUserID      *string
	UMALocal            *string
	KYCStatus           *string
	PreferredCurrencies *[]string
	FullName            *string // individual only
	BirthDate           *string // individual only
	Nationality         *string // individual only
	Email               *string // individual only
	Address             *Address
	BankAccount         *BankAccountInfo
	BusinessInfo        *BusinessInfo // business only

	// ClearAddress, ClearBankAccount and ClearBusinessInfo remove the
	// user's postal address, bank account and business information (all
	// optional: a user may be created without them).
	ClearAddress, ClearBankAccount, ClearBusinessInfo bool
}

// Update applies p to the live user id inside tx and returns the result. A
// deleted user is a 410 GONE; taking a live user's UMA address is a 409
// UMA_ADDRESS_EXISTS. A patch that changes nothing (empty, or the values
// the user has once normalised) writes nothing: UpdatedAt stays, so a
// platform syncing on it sees no change where there is none.
func (s *Service) Update(ctx context.Context, tx *store.Tx, id string, p Patch) (User, error) {
	q := `SELECT ` + columns + ` FROM users WHERE id = $1 ` + tx.Driver().ForUpdate()
	us, err := s.query(ctx, tx, q, id)
	if err != nil {
		return User{}, err
	}
	if len(us) == 0 {
		return User{}, notFound(id)
	}
	u := us[0]
	if u.IsDeleted() {
		return User{}, vaspd.Errorf(http.StatusGone, vaspd.CodeGone, "user %s was deleted", id)
	}
	if p == (Patch{}) {
		return u, nil // nothing to change, nor to check
	}
	// As stored, to compare with: normalize below changes u's objects in
	// place, which u shares with us[0].
	oldCur, oldProf, err := encode(u)
	if err != nil {
		return User{}, err
	}
	old, oldText := u, u.textValues()
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	// "" is no status: normalize would read it as a new user's default,
	// silently turning a VERIFIED user UNKNOWN.
	if p.KYCStatus != nil && *p.KYCStatus == "" {
		return User{}, invalid("kycStatus must be UNKNOWN, NOT_VERIFIED, PENDING or VERIFIED (leave it out to keep it)").
			WithDetails(map[string]any{"field": "kycStatus"})
	}
	// Nor is [] a currency list: it would silently give the user the
	// rates' first currency, as a new user without any gets, so a EUR
	// user would be priced in USD from then on.
	if p.PreferredCurrencies != nil && len(*p.PreferredCurrencies) == 0 {
		return User{}, invalid("preferredCurrencies must list at least one currency (leave it out to keep it)").
			WithDetails(map[string]any{"field": "preferredCurrencies"})
	}
	set(&u.PlatformUserID, p.PlatformUserID)
	set(&u.UMALocal, p.UMALocal)
	set(&u.KYCStatus, p.KYCStatus)
	set(&u.FullName, p.FullName)
	set(&u.BirthDate, p.BirthDate)
	set(&u.Nationality, p.Nationality)
	set(&u.Email, p.Email)
	if p.PreferredCurrencies != nil {
		u.PreferredCurrencies = append([]string{}, *p.PreferredCurrencies...)
	}
	switch {
	case p.ClearAddress && p.Address != nil:
		return User{}, invalid("address is both removed and set")
	case p.ClearBankAccount && p.BankAccount != nil:
		return User{}, invalid("bankAccountInfo is both removed and set")
	case p.ClearBusinessInfo && p.BusinessInfo != nil:
		return User{}, invalid("businessInfo is both removed and set")
	}
	if p.Address != nil || p.ClearAddress {
		u.Address = p.Address
	}
	if p.BankAccount != nil || p.ClearBankAccount {
		u.BankAccount = p.BankAccount
	}
	if p.BusinessInfo != nil || p.ClearBusinessInfo {
		u.BusinessInfo = p.BusinessInfo
	}
	if u.UserType == Business {
		// "" (a PATCH's null) removes a name it does not have.
		if p.FullName != nil && *p.FullName != "" {
			return User{}, invalid("a BUSINESS user's name goes in businessInfo.legalName")
		}
		u.FullName = "" // derived from businessInfo again by normalize
	}
	// Currencies are checked against the rates only when they change, so a
	// currency dropped from the rates file does not block other edits.
	if err := s.validate(ctx, &u, p.PreferredCurrencies != nil); err != nil {
		return User{}, err
	}
	// Control characters text lets through, in the values this PATCH
	// changes only (as birth dates below).
	if err := u.checkControls(oldText); err != nil {
		return User{}, err
	}
	// Checked only when it changes, as currencies are: a date stored
	// before a check does not block other edits.
	if p.BirthDate != nil {
		if err := s.checkBirthDate(u.BirthDate); err != nil {
			return User{}, err
		}
	}
	if err := u.checkCountries(p.Nationality != nil, p.Address != nil); err != nil {
		return User{}, err
	}
	if p.Email != nil {
		if err := checkEmail(u.Email); err != nil {
			return User{}, err
		}
	}
	cur, prof, err := encode(u)
	if err != nil {
		return User{}, err
	}
	if cur == oldCur && prof == oldProf && u.PlatformUserID == old.PlatformUserID &&
		u.UMALocal == old.UMALocal && u.KYCStatus == old.KYCStatus {
		return u, nil
	}
	u.UpdatedAt = s.clock.Now().UTC().Truncate(time.Microsecond)
	s.changed(tx)
	_, err = tx.ExecContext(ctx, `UPDATE users SET platform_user_id = $2, uma_local = $3, kyc_status = $4,
		preferred_currencies = $5, profile = $6, updated_at = $7 WHERE id = $1`,
		u.ID, u.PlatformUserID, u.UMALocal, u.KYCStatus, cur, prof, store.Micros(u.UpdatedAt))
	if err != nil {
		if tx.Driver().IsUniqueViolation(err) {
			return User{}, addressExists(u.UMALocal)
		}
		return User{}, fmt.Errorf("users: update: %w", err)
	}
	return u, nil
}

func (s *Service) query(ctx context.Context, q store.Querier, query string, args ...any) ([]User, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("users: query: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		var (
			u                User
			cur, prof        string
			created, updated int64
			deleted          sql.NullInt64
		)
		if err := rows.Scan(&u.ID, &u.PlatformUserID, &u.UserType, &u.UMALocal, &u.KYCStatus, &cur, &prof,
			&created, &updated, &deleted); err != nil {
			return nil, fmt.Errorf("users: scan: %w", err)
		}
		if err := json.Unmarshal([]byte(cur), &u.PreferredCurrencies); err != nil {
			return nil, fmt.Errorf("users: %s: preferred currencies: %w", u.ID, err)
		}
		var p profile
		if err := json.Unmarshal([]byte(prof), &p); err != nil {
			return nil, fmt.Errorf("users: %s: profile: %w", u.ID, err)
		}
		u.FullName, u.BirthDate, u.Nationality, u.Email = p.FullName, p.BirthDate, p.Nationality, p.Email
		u.Address, u.BankAccount, u.BusinessInfo = p.Address, p.BankAccount, p.BusinessInfo
		if u.BusinessInfo != nil && u.UserType == Business {
			u.FullName = u.BusinessInfo.LegalName
		}
		u.CreatedAt, u.UpdatedAt = store.Time(created), store.Time(updated)
		if deleted.Valid {
			u.DeletedAt = store.Time(deleted.Int64)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("users: query: %w", err)
	}
	return out, nil
}
