package users

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
)

// ListFilter narrows List (the UMAaaS listUsers filters). Zero fields do
// not filter. Time bounds are inclusive.
type ListFilter struct {
	PlatformUserID string
	UMALocal       string // normalised local part
	UserType       string
	KYCStatus      string
	CreatedAfter   time.Time
	CreatedBefore  time.Time
	UpdatedAfter   time.Time
	UpdatedBefore  time.Time
	IncludeDeleted bool

	// After is the ID of the last user of the previous page; users come
	// newest first (IDs are time-ordered UUIDv7s).
	After string
	// Limit is the page size; List returns up to Limit+1 users so the
	// caller can tell whether there is another page. Default 20, at most 1000.
	Limit int
}

// List returns up to f.Limit+1 users matching f, newest first.
func (s *Service) List(ctx context.Context, q store.Querier, f ListFilter) ([]User, error) {
	if f.Limit <= 0 {
		f.Limit = 20
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	var w store.Where
	if !f.IncludeDeleted {
		w.Raw("deleted_at IS NULL")
	}
	if f.PlatformUserID != "" {
		w.Add("platform_user_id = ?", f.PlatformUserID)
	}
	if f.UMALocal != "" {
		w.Add("uma_local = ?", f.UMALocal)
	}
	if f.UserType != "" {
		w.Add("user_type = ?", f.UserType)
	}
	if f.KYCStatus != "" {
		w.Add("kyc_status = ?", f.KYCStatus)
	}
	w.Within("created_at", f.CreatedAfter, f.CreatedBefore)
	w.Within("updated_at", f.UpdatedAfter, f.UpdatedBefore)
	if f.After != "" {
		w.Add("id < ?", f.After)
	}
	// The limit is a parameter, not text, so every page size shares one
	// prepared statement.
	query := fmt.Sprintf("SELECT %s FROM users WHERE %s ORDER BY id DESC LIMIT $%d", columns, w.String(), w.Next())
	args := append(w.Args(), f.Limit+1)
	return s.query(ctx, q, query, args...)
}
