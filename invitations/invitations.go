// Package invitations implements UMA invitations (UMAaaS /invitations): a
// user of this VASP invites someone to open an UMA account, the invitee's
// platform claims the invitation with the new address, and the inviter's
// platform is told by an INVITATION_CLAIMED webhook, committed with the
// claim. An invitation may carry an amount the inviter's platform means to
// send once it is claimed ("pay by link"); as in UMAaaS nothing is
// escrowed: the platform pays with a sender-locked quote when told.
package invitations

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/webhook"
)

// Statuses (UMAaaS UmaInvitation.status). Expired is never stored: a
// pending invitation past its expiry reads as expired.
const (
	Pending   = "PENDING"
	Claimed   = "CLAIMED"
	Expired   = "EXPIRED"
	Cancelled = "CANCELLED"
)

// MaxFirstName bounds the inviter's first name (UMAaaS firstName), in characters.
const MaxFirstName = 100

// Invitation is one invitation as stored.
type Invitation struct {
	Code          string
	InviterUserID string
	// InviterLocal is the inviter's address's local part: as it is now
	// when read (a PATCH may have changed it since the invitation was
	// made), as the inviter's platform must be told whom to pay from.
	InviterLocal string
	// InviterDeleted: the inviter was deleted. A pending invitation of
	// a deleted inviter reads as Cancelled (see StatusAt).
	InviterDeleted bool
	FirstName      string
	Amount         int64  // to send once claimed, in Currency's smallest unit; 0 = none
	Currency       string // the inviter's currency when invited; "" without an amount
	Status         string // as stored: Pending, Claimed or Cancelled (see StatusAt)
	InviteeUMA     string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ClaimedAt      time.Time
	ExpiresAt      time.Time // zero: never
	// Replayed is set by Create when an earlier Create with the same
	// IdempotencyKey made the invitation.
	Replayed bool

	invitedAs string // the inviter's local part when invited, as stored
}

// StatusAt is i's status at now: a pending invitation whose inviter was
// deleted is Cancelled (nobody is left to pay from, and the address it
// was made from may be another user's now); one past its expiry is
// Expired.
func (i Invitation) StatusAt(now time.Time) string {
	if i.Status == Pending && i.InviterDeleted {
		return Cancelled
	}
	if i.Status == Pending && !i.ExpiresAt.IsZero() && !now.Before(i.ExpiresAt) {
		return Expired
	}
	return i.Status
}

// Announcer tells the inviter's platform that an invitation was claimed,
// inside the claiming transaction. The daemon passes the webhook engine.
type Announcer interface {
	AnnounceClaim(ctx context.Context, tx *store.Tx, inv webhook.UmaInvitation) error
}

// Options configure a Service.
type Options struct {
	Clock     vaspd.Clock
	Rates     rates.Provider // names the amount's currency; nil: code only
	Announcer Announcer      // nil: nobody is told
	// Domain is this VASP's UMA domain; BaseURL its public base URL, under
	// which an invitation's url is BaseURL/i/CODE: an absolute http or
	// https URL with a host and at most a path (uma.CheckBaseURL), as the
	// daemon's base-url setting is. Empty means uma.BaseURL(Domain).
	Domain  string
	BaseURL string
}

// Service creates, reads, claims and cancels invitations.
type Service struct {
	db    *store.DB
	users *users.Service
	opt   Options
}

// New returns a Service storing invitations in db; inviters are users of u.
// A BaseURL an invitation's link cannot be built on (see Options) is an
// error, not a broken link in every invitation.
func New(db *store.DB, u *users.Service, opt Options) (*Service, error) {
	if opt.Clock == nil {
		opt.Clock = vaspd.SystemClock{}
	}
	opt.Domain = strings.ToLower(opt.Domain)
	if opt.BaseURL == "" {
		opt.BaseURL = uma.BaseURL(opt.Domain)
	}
	if err := uma.CheckBaseURL(opt.BaseURL); err != nil {
		return nil, fmt.Errorf("invitations: BaseURL %w", err)
	}
	opt.BaseURL = strings.TrimRight(opt.BaseURL, "/")
	return &Service{db: db, users: u, opt: opt}, nil
}

// CreateInput is POST /invitations.
type CreateInput struct {
	InviterUMA   string     // one of our users, with or without "$" and domain
	FirstName    string     // the inviter's (UMAaaS), shown to whoever opens the invitation link
	AmountToSend *int64     // in the inviter's currency's smallest unit
	ExpiresAt    *time.Time // must be in the future
	// IdempotencyKey, if not "", names this request: a retry with the same
	// key and the same request answers the invitation the first created
	// (Replayed set, as it is now: it may since have been claimed), and the
	// key with another request is a 422 IDEMPOTENCY_KEY_REUSED. One key
	// names one invitation whoever the inviter; it is stored on the
	// invitation by the INSERT that creates it.
	IdempotencyKey string
}

func invalid(format string, args ...any) error {
	return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidInput, format, args...)
}

// Create stores a new pending invitation from in.InviterUMA, a live user
// of this VASP. An amount is in the inviter's first preferred currency.
func (s *Service) Create(ctx context.Context, in CreateInput) (Invitation, error) {
	if strings.TrimSpace(in.InviterUMA) == "" {
		return Invitation{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress, "inviterUma is required")
	}
	local, err := users.ParseAddress(in.InviterUMA, s.opt.Domain)
	if err != nil {
		return Invitation{}, err
	}
	// want is the request as it is stored, which is what a retry under an
	// Idempotency-Key is compared with. The checks here depend on the
	// request alone; those that depend on the database or the time are
	// made in create, after a retry has been answered: a retry must not
	// fail because the inviter was deleted or the expiry passed meanwhile.
	want := Invitation{InviterLocal: local, FirstName: strings.TrimSpace(in.FirstName), Status: Pending}
	// Stored as text and shown to the invitee: PostgreSQL refuses a NUL
	// and invalid UTF-8, and no control character belongs in a name, nor
	// a bidirectional override that shows it as another (as in users).
	if !utf8.ValidString(want.FirstName) || utf8.RuneCountInString(want.FirstName) > MaxFirstName ||
		strings.ContainsFunc(want.FirstName, unicode.IsControl) || vaspd.HasBidiControl(want.FirstName) {
		return Invitation{}, invalid("firstName must be at most %d characters of printable text on one line", MaxFirstName)
	}
	// Nor an invisible character that makes it a look-alike of another
	// (users' rule for a name: vaspd.InvisibleInName).
	if r, bad := vaspd.InvisibleInName(want.FirstName); bad {
		return Invitation{}, invalid("firstName must not contain the invisible character %U here (a name keeps only "+
			"a joiner between two visible characters, a direction mark, or an emoji flag's tags)", r)
	}
	if in.AmountToSend != nil {
		if a := *in.AmountToSend; a <= 0 || a > ledger.MaxBalance {
			return Invitation{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidAmount,
				"amountToSend must be from 1 to %d (the currency's smallest unit)", int64(ledger.MaxBalance))
		}
		want.Amount = *in.AmountToSend
	}
	if in.ExpiresAt != nil {
		want.ExpiresAt = in.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	for try := 0; ; try++ {
		inv, err := s.create(ctx, in.IdempotencyKey, want)
		if errors.Is(err, errInsertConflict) && try < 3 {
			// A code collision (2^-48 per pair, but cheap to survive), or
			// a concurrent request with the same key committed first: the
			// next try answers its invitation.
			continue
		}
		return inv, err
	}
}

// errInsertConflict: the INSERT of a new invitation met a unique index (its
// code or its idempotency key). On PostgreSQL the transaction is then
// aborted, so Create tries again in a new one.
var errInsertConflict = errors.New("invitations: code or idempotency key taken")

// create answers the invitation key names if there is one, else stores
// want as a new invitation, in one transaction.
func (s *Service) create(ctx context.Context, key string, want Invitation) (Invitation, error) {
	var out Invitation
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if key != "" {
			prev, err := scan(tx.QueryRowContext(ctx, `SELECT `+columns+` FROM `+tables+` WHERE i.idempotency_key = $1`, key))
			if err == nil {
				if !sameRequest(prev, want) {
					// 422 like every reuse of a key for another request
					// (the ledger's, an execute's).
					return vaspd.Errorf(http.StatusUnprocessableEntity, vaspd.CodeIdempotencyKeyReused,
						"this Idempotency-Key was already used for another invitation request")
				}
				out, out.Replayed = prev, true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("invitations: read by idempotency key: %w", err)
			}
		}
		inviter, err := s.users.GetByUMALocal(ctx, tx, want.InviterLocal)
		if err != nil {
			return err
		}
		now := s.opt.Clock.Now().UTC().Truncate(time.Microsecond)
		inv := want
		inv.InviterUserID, inv.InviterLocal, inv.invitedAs, inv.CreatedAt, inv.UpdatedAt = inviter.ID, inviter.UMALocal,
			inviter.UMALocal, now, now
		if inv.Amount > 0 {
			if len(inviter.PreferredCurrencies) == 0 {
				return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency,
					"the inviter has no preferred currency to send amountToSend in")
			}
			inv.Currency = inviter.PreferredCurrencies[0]
		}
		var expires, idem any
		if !inv.ExpiresAt.IsZero() {
			if !inv.ExpiresAt.After(now) {
				return invalid("expiresAt must be in the future")
			}
			expires = store.Micros(inv.ExpiresAt)
		}
		if key != "" {
			idem = key
		}
		inv.Code = newCode()
		_, err = tx.ExecContext(ctx, `INSERT INTO invitations (code, inviter_user_id, inviter_local, first_name,
			amount, currency, status, created_at, updated_at, expires_at, idempotency_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)`,
			inv.Code, inv.InviterUserID, inv.InviterLocal, inv.FirstName, inv.Amount, inv.Currency, inv.Status,
			store.Micros(now), expires, idem)
		if err != nil && tx.Driver().IsUniqueViolation(err) {
			return fmt.Errorf("%w: %w", errInsertConflict, err)
		}
		if err != nil {
			return fmt.Errorf("invitations: insert: %w", err)
		}
		out = inv
		return nil
	})
	return out, err
}

// sameRequest reports whether want, a Create request as it would be
// stored, asks for invitation prev: the same inviter (by the address it
// was made from, whatever the inviter's is now), name, amount and expiry.
// The currency is not asked for (it follows the inviter's preference when
// created), nor the status (prev may have been claimed).
func sameRequest(prev, want Invitation) bool {
	return prev.invitedAs == want.InviterLocal && prev.FirstName == want.FirstName &&
		prev.Amount == want.Amount && prev.ExpiresAt.Equal(want.ExpiresAt)
}

// newCode is 12 random hex digits: short enough for a link, 48 bits so
// codes cannot be guessed in practice.
func newCode() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func notFound(code string) error {
	return vaspd.NotFound(vaspd.CodeInvitationNotFound, "invitation %q not found", truncate(code))
}

func truncate(s string) string { return vaspd.Truncate(s, 40) }

// validCode reports whether code could be one of ours, so garbage never
// reaches the database.
func validCode(code string) bool {
	if len(code) != 12 {
		return false
	}
	_, err := hex.DecodeString(code)
	return err == nil && strings.ToLower(code) == code
}

// columns and tables read an invitation with its inviter as they are
// now (users are never removed, only marked deleted). Locked (get's
// lock, on PostgreSQL), the inviter's row is share-locked too, so the
// inviter cannot be deleted or renamed while an invitation is claimed.
const (
	columns = `i.code, i.inviter_user_id, i.inviter_local, u.uma_local, u.deleted_at, i.first_name, i.amount, i.currency,
	i.status, i.invitee_uma, i.created_at, i.updated_at, i.claimed_at, i.expires_at`
	tables = `invitations i JOIN users u ON u.id = i.inviter_user_id`
)

func scan(row interface{ Scan(...any) error }) (Invitation, error) {
	var (
		i                  Invitation
		invitee            sql.NullString
		created, updated   int64
		claimed, expiresAt sql.NullInt64
		deleted            sql.NullInt64
	)
	err := row.Scan(&i.Code, &i.InviterUserID, &i.invitedAs, &i.InviterLocal, &deleted, &i.FirstName, &i.Amount,
		&i.Currency, &i.Status, &invitee, &created, &updated, &claimed, &expiresAt)
	if err != nil {
		return Invitation{}, err
	}
	i.InviterDeleted = deleted.Valid
	i.InviteeUMA = invitee.String
	i.CreatedAt, i.UpdatedAt = store.Time(created), store.Time(updated)
	if claimed.Valid {
		i.ClaimedAt = store.Time(claimed.Int64)
	}
	if expiresAt.Valid {
		i.ExpiresAt = store.Time(expiresAt.Int64)
	}
	return i, nil
}

func (s *Service) get(ctx context.Context, q store.Querier, code string, lock bool) (Invitation, error) {
	if !validCode(code) {
		return Invitation{}, notFound(code)
	}
	query := `SELECT ` + columns + ` FROM ` + tables + ` WHERE i.code = $1`
	// The invitation's row is locked for update (two claims, or a claim
	// and a cancel, are ordered), its inviter's only shared, as a claim
	// locks its invitee's (CheckLive): a claim of Alice's invitation for
	// $bob and one of Bob's for $alice would otherwise each wait for the
	// other's share lock, a deadlock. SQLite's clauses are "": its write
	// transactions are exclusive already.
	if d := q.Driver(); lock && d.ForUpdate() != "" {
		query += ` ` + d.ForUpdate() + ` OF i ` + d.ForShare() + ` OF u`
	}
	i, err := scan(q.QueryRowContext(ctx, query, code))
	if errors.Is(err, sql.ErrNoRows) {
		return Invitation{}, notFound(code)
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("invitations: read %s: %w", code, err)
	}
	return i, nil
}

// Get returns the invitation with code.
func (s *Service) Get(ctx context.Context, code string) (Invitation, error) {
	return s.get(ctx, s.db, code, false)
}

// Claim records that inviteeUMA (any UMA address, usually on another VASP;
// on this VASP's domain, however spelt, a live user's) accepted invitation code, and
// announces it in the same transaction.
// Claiming again with the same address (its domain however spelt)
// answers the claimed invitation, so a retried claim is harmless; any
// other claim of a claimed, cancelled or expired invitation is a 400
// saying which.
func (s *Service) Claim(ctx context.Context, code, inviteeUMA string) (Invitation, error) {
	if strings.TrimSpace(inviteeUMA) == "" {
		return Invitation{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress, "inviteeUma is required")
	}
	addr, err := uma.ParseAddress(inviteeUMA)
	if err != nil || !addr.UMA {
		return Invitation{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress,
			"inviteeUma %q is not an UMA address ($user@domain)", truncate(inviteeUMA))
	}
	// Recorded, answered and announced in normal form
	// (uma.Address.Normal: "x.example.:443" is "x.example"), the
	// address the platform will pay, not as the caller spelt it.
	// Ours however spelt ("vasp.example.", "vasp.example:443" name it
	// too), and then recorded as we write it.
	norm := addr.Normal()
	ours := uma.SameDomain(addr.Domain, s.opt.Domain)
	if ours {
		norm.Domain = s.opt.Domain
	}
	invitee := norm.String()
	var out Invitation
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.get(ctx, tx, code, true)
		if err != nil {
			return err
		}
		now := s.opt.Clock.Now().UTC().Truncate(time.Microsecond)
		if st := i.StatusAt(now); st == Claimed && sameAddress(i.InviteeUMA, invitee) {
			out = i // a retried claim, however its domain is spelt
			return nil
		} else if st != Pending {
			return notPending(i, st)
		}
		if ours && addr.User == i.InviterLocal {
			return invalid("an invitation cannot be claimed by its inviter")
		}
		if ours {
			// One of ours: the platform will pay this user, so it
			// must be one (not a deleted user's address, which
			// someone else may take before the payment). The holder's
			// row is share-locked (CheckLive) until the claim commits:
			// on PostgreSQL a delete or rename of theirs not committed
			// yet is otherwise invisible here, and the claim would name
			// an address nobody holds once it is.
			holder, err := s.users.GetByUMALocal(ctx, tx, addr.User)
			if err == nil {
				err = s.users.CheckLive(ctx, tx, holder.ID, addr.User)
			}
			if err != nil {
				if vaspd.AsError(err).Code == vaspd.CodeUserNotFound {
					return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress,
						"inviteeUma %s is on this VASP's domain but no user of it holds that address", invitee)
				}
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET status = $1, invitee_uma = $2, claimed_at = $3, updated_at = $3
			WHERE code = $4 AND status = $5`, Claimed, invitee, store.Micros(now), code, Pending)
		if err != nil {
			return fmt.Errorf("invitations: claim %s: %w", code, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("invitations: claim %s: the invitation changed underneath", code)
		}
		i.Status, i.InviteeUMA, i.ClaimedAt, i.UpdatedAt = Claimed, invitee, now, now
		out = i
		if s.opt.Announcer != nil {
			return s.opt.Announcer.AnnounceClaim(ctx, tx, s.Render(ctx, i))
		}
		return nil
	})
	return out, err
}

// sameAddress reports whether UMA addresses a and b name the same user on
// the same server: one normal form (uma.Address.Normal: "x.example.",
// "x.example:443" are "x.example").
func sameAddress(a, b string) bool {
	x, errA := uma.ParseAddress(a)
	y, errB := uma.ParseAddress(b)
	return errA == nil && errB == nil && x.Normal() == y.Normal()
}

// Cancel withdraws a pending invitation; anything else is a 400 saying why,
// a cancelled one too (INVITATION_CANCELLED), as in UMAaaS: "only pending
// invitations can be cancelled".
func (s *Service) Cancel(ctx context.Context, code string) (Invitation, error) {
	var out Invitation
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		i, err := s.get(ctx, tx, code, true)
		if err != nil {
			return err
		}
		now := s.opt.Clock.Now().UTC().Truncate(time.Microsecond)
		if st := i.StatusAt(now); st != Pending {
			return notPending(i, st)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET status = $1, updated_at = $2 WHERE code = $3 AND status = $4`,
			Cancelled, store.Micros(now), code, Pending); err != nil {
			return fmt.Errorf("invitations: cancel %s: %w", code, err)
		}
		i.Status, i.UpdatedAt = Cancelled, now
		out = i
		return nil
	})
	return out, err
}

// notPending is the 400 for acting on invitation i, whose status is st
// (not pending).
func notPending(i Invitation, st string) error {
	switch st {
	case Claimed:
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvitationAlreadyClaimed,
			"invitation %s was already claimed", i.Code).WithDetails(map[string]any{"status": Claimed, "inviteeUma": i.InviteeUMA})
	case Expired:
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvitationExpired, "invitation %s has expired", i.Code).
			WithDetails(map[string]any{"expirationTime": i.ExpiresAt.Format(time.RFC3339)})
	default:
		if i.Status == Pending && i.InviterDeleted {
			return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvitationCancelled,
				"invitation %s was cancelled: its inviter was deleted", i.Code)
		}
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvitationCancelled, "invitation %s was cancelled", i.Code)
	}
}

// Render is i in the UMAaaS shape (UmaInvitation), with its status now.
func (s *Service) Render(ctx context.Context, i Invitation) webhook.UmaInvitation {
	w := webhook.UmaInvitation{Code: i.Code, CreatedAt: i.CreatedAt, ClaimedAt: i.ClaimedAt, ExpiresAt: i.ExpiresAt,
		URL: s.opt.BaseURL + "/i/" + i.Code, InviterUma: "$" + i.InviterLocal + "@" + s.opt.Domain,
		InviteeUma: i.InviteeUMA, Status: i.StatusAt(s.opt.Clock.Now()), FirstName: i.FirstName}
	if i.Amount > 0 {
		c := webhook.Currency{Code: i.Currency}
		if s.opt.Rates != nil {
			if r, err := s.opt.Rates.Rate(ctx, i.Currency); err == nil {
				c.Name, c.Symbol, c.Decimals = r.Currency.Name, r.Currency.Symbol, r.Currency.Decimals
			}
		}
		w.AmountToSend = &webhook.CurrencyAmount{Amount: i.Amount, Currency: c}
	}
	return w
}
