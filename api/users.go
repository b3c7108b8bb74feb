package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/jsonkeys"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/users"
)

// MountUsers adds the users API (UMAaaS shapes) and the users' ledger API:
//
//	POST   /users                       MANAGE    create (201); idempotent (Idempotency-Key): a retry → 201,
//	                                              Idempotent-Replayed, the user as it is now (even deleted)
//	GET    /users                       VIEW      list, UMAaaS filters, cursor pages
//	GET    /users/{userId}              VIEW      deleted users too (isDeleted)
//	PATCH  /users/{userId}              MANAGE    partial update
//	DELETE /users/{userId}              MANAGE    soft delete; 410 if deleted already; 409 with money or payments in flight
//	GET    /users/{userId}/balances     VIEW
//	POST   /users/{userId}/deposits     TRANSACT  idempotent (Idempotency-Key)
//	POST   /users/{userId}/withdrawals  TRANSACT  idempotent (Idempotency-Key)
//
// domain is this VASP's UMA domain: addresses are "$local@domain".
func (s *Server) MountUsers(u *users.Service, l *ledger.Ledger, r rates.Provider, domain string) {
	h := &userHandlers{users: u, ledger: l, rates: r, domain: strings.ToLower(domain)}
	s.Handle("POST /users", vaspd.PermManage, h.create, Audited)
	s.Handle("GET /users", vaspd.PermView, h.list)
	s.Handle("GET /users/{userId}", vaspd.PermView, h.get)
	s.Handle("PATCH /users/{userId}", vaspd.PermManage, h.update, Audited)
	s.Handle("DELETE /users/{userId}", vaspd.PermManage, h.delete, Audited)
	s.Handle("GET /users/{userId}/balances", vaspd.PermView, h.balances)
	s.Handle("POST /users/{userId}/deposits", vaspd.PermTransact, h.deposit, Audited)
	s.Handle("POST /users/{userId}/withdrawals", vaspd.PermTransact, h.withdrawal, Audited)
}

type userHandlers struct {
	users  *users.Service
	ledger *ledger.Ledger
	rates  rates.Provider
	domain string
}

// userJSON is the UMAaaS IndividualUser / BusinessUser, plus kycStatus and
// preferredCurrencies.
type userJSON struct {
	ID                  string                 `json:"id"`
	UMAAddress          string                 `json:"umaAddress"`
	PlatformUserID      string                 `json:"platformUserId"`
	UserType            string                 `json:"userType"`
	KYCStatus           string                 `json:"kycStatus"`
	PreferredCurrencies []string               `json:"preferredCurrencies"`
	FullName            string                 `json:"fullName,omitempty"`
	BirthDate           string                 `json:"birthDate,omitempty"`
	Nationality         string                 `json:"nationality,omitempty"`
	Email               string                 `json:"email,omitempty"`
	Address             *users.Address         `json:"address,omitempty"`
	BankAccountInfo     *users.BankAccountInfo `json:"bankAccountInfo,omitempty"`
	BusinessInfo        *users.BusinessInfo    `json:"businessInfo,omitempty"`
	CreatedAt           time.Time              `json:"createdAt"`
	UpdatedAt           time.Time              `json:"updatedAt"`
	IsDeleted           bool                   `json:"isDeleted"`
}

func (h *userHandlers) render(u users.User) userJSON {
	j := userJSON{ID: u.ID, UMAAddress: u.UMAAddress(h.domain), PlatformUserID: u.PlatformUserID,
		UserType: u.UserType, KYCStatus: u.KYCStatus, PreferredCurrencies: u.PreferredCurrencies,
		Address: u.Address, BankAccountInfo: u.BankAccount, BusinessInfo: u.BusinessInfo,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, IsDeleted: u.IsDeleted()}
	if j.PreferredCurrencies == nil {
		j.PreferredCurrencies = []string{}
	}
	if u.UserType == users.Individual {
		j.FullName, j.BirthDate, j.Nationality, j.Email = u.FullName, u.BirthDate, u.Nationality, u.Email
	}
	return j
}

// userCreateRequest is the POST /users body.
type userCreateRequest struct {
	UMAAddress          string                 `json:"umaAddress"`
	PlatformUserID      string                 `json:"platformUserId"`
	UserType            string                 `json:"userType"`
	KYCStatus           string                 `json:"kycStatus"`
	PreferredCurrencies []string               `json:"preferredCurrencies"`
	FullName            string                 `json:"fullName"`
	BirthDate           string                 `json:"birthDate"`
	Nationality         string                 `json:"nationality"`
	Email               string                 `json:"email"`
	Address             *users.Address         `json:"address"`
	BankAccountInfo     *users.BankAccountInfo `json:"bankAccountInfo"`
	BusinessInfo        *users.BusinessInfo    `json:"businessInfo"`
}

func (h *userHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req userCreateRequest
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.UMAAddress) == "" {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidUMAAddress, "umaAddress is required")
	}
	local, err := users.ParseAddress(req.UMAAddress, h.domain)
	if err != nil {
		return err
	}
	// The request a retry is compared with is the body, normalised: see
	// users.Service.CreateOnce.
	u, replayed, err := h.users.CreateOnce(r.Context(), users.User{
		PlatformUserID: req.PlatformUserID, UserType: req.UserType, UMALocal: local, KYCStatus: req.KYCStatus,
		PreferredCurrencies: req.PreferredCurrencies, FullName: req.FullName, BirthDate: req.BirthDate,
		Nationality: req.Nationality, Email: req.Email, Address: req.Address, BankAccount: req.BankAccountInfo,
		BusinessInfo: req.BusinessInfo,
	}, key)
	if err != nil {
		return err
	}
	if replayed {
		// The first answer's status, as for invitations: the UMAaaS
		// operation declares 201 only. The user is today's, deleted
		// (isDeleted) if it was since: the first request did create it.
		w.Header().Set("Idempotent-Replayed", "true")
	}
	noteCreated(r, u.ID)
	WriteJSON(w, http.StatusCreated, h.render(u))
	return nil
}

func userPathID(r *http.Request) (string, error) {
	return PathID(r, "userId", vaspd.IDUser, vaspd.CodeUserNotFound)
}

func (h *userHandlers) get(w http.ResponseWriter, r *http.Request) error {
	id, err := userPathID(r)
	if err != nil {
		return err
	}
	u, err := h.users.GetIncludingDeleted(r.Context(), h.users.DB(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.render(u))
	return nil
}

func (h *userHandlers) list(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDUser)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := users.ListFilter{After: p.After, Limit: p.Limit, UserType: q.Get("userType"), KYCStatus: q.Get("kycStatus")}
	if f.PlatformUserID, err = QueryStoredText(r, "platformUserId", 256); err != nil {
		return err
	}
	switch f.UserType {
	case "", users.Individual, users.Business:
	default:
		return vaspd.InvalidInput("userType must be INDIVIDUAL or BUSINESS")
	}
	switch f.KYCStatus {
	case "", users.KYCUnknown, users.KYCNotVerified, users.KYCPending, users.KYCVerified:
	default:
		return vaspd.InvalidInput("kycStatus must be UNKNOWN, NOT_VERIFIED, PENDING or VERIFIED")
	}
	if a := q.Get("umaAddress"); a != "" {
		if f.UMALocal, err = users.ParseAddress(a, h.domain); err != nil {
			return err
		}
	}
	if s := q.Get("isIncludingDeleted"); s != "" {
		if f.IncludeDeleted, err = strconv.ParseBool(s); err != nil {
			return vaspd.InvalidInput("isIncludingDeleted must be true or false")
		}
	}
	if f.CreatedAfter, f.CreatedBefore, err = QueryTimeRange(r, "createdAfter", "createdBefore"); err != nil {
		return err
	}
	if f.UpdatedAfter, f.UpdatedBefore, err = QueryTimeRange(r, "updatedAfter", "updatedBefore"); err != nil {
		return err
	}
	us, err := h.users.List(r.Context(), h.users.DB(), f)
	if err != nil {
		return err
	}
	page := NewPage(us, p.Limit, func(u users.User) string { return u.ID })
	out := Page[userJSON]{Data: make([]userJSON, len(page.Data)), HasMore: page.HasMore, NextCursor: page.NextCursor}
	for i, u := range page.Data {
		out.Data[i] = h.render(u)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

// userPatchRequest is the PATCH /users/{userId} body: absent fields stay,
// null ones are removed (update).
type userPatchRequest struct {
	UMAAddress          *string                `json:"umaAddress"`
	PlatformUserID      *string                `json:"platformUserId"`
	UserType            *string                `json:"userType"` // may be sent; must not change
	KYCStatus           *string                `json:"kycStatus"`
	PreferredCurrencies *[]string              `json:"preferredCurrencies"`
	FullName            *string                `json:"fullName"`
	BirthDate           *string                `json:"birthDate"`
	Nationality         *string                `json:"nationality"`
	Email               *string                `json:"email"`
	Address             *users.Address         `json:"address"`
	BankAccountInfo     *users.BankAccountInfo `json:"bankAccountInfo"`
	BusinessInfo        *users.BusinessInfo    `json:"businessInfo"`
}

func (h *userHandlers) update(w http.ResponseWriter, r *http.Request) error {
	id, err := userPathID(r)
	if err != nil {
		return err
	}
	var req userPatchRequest
	nulls, err := decodeJSONPatch(r, &req)
	if err != nil {
		return err
	}
	// null removes an optional field (JSON merge patch); a field every
	// user has cannot be removed, and reading its null as "unchanged", as
	// the pointer fields would, would hide the platform's mistake.
	for _, f := range []string{"umaAddress", "platformUserId", "userType", "kycStatus", "preferredCurrencies"} {
		if nulls[jsonkeys.Fold(f)] {
			return vaspd.InvalidInput("%s cannot be null: every user has one (leave it out to keep it)", f).
				WithDetails(map[string]any{"field": f})
		}
	}
	cleared := func(name string, v *string) *string {
		if nulls[jsonkeys.Fold(name)] {
			return new(string) // "": no value, as a user created without it
		}
		return v
	}
	p := users.Patch{PlatformUserID: req.PlatformUserID, KYCStatus: req.KYCStatus,
		PreferredCurrencies: req.PreferredCurrencies, FullName: cleared("fullName", req.FullName),
		BirthDate: cleared("birthDate", req.BirthDate), Nationality: cleared("nationality", req.Nationality),
		Email: cleared("email", req.Email), Address: req.Address, BankAccount: req.BankAccountInfo,
		BusinessInfo: req.BusinessInfo, ClearAddress: nulls[jsonkeys.Fold("address")],
		ClearBankAccount: nulls[jsonkeys.Fold("bankAccountInfo")], ClearBusinessInfo: nulls[jsonkeys.Fold("businessInfo")]}
	if req.UMAAddress != nil {
		local, err := users.ParseAddress(*req.UMAAddress, h.domain)
		if err != nil {
			return err
		}
		p.UMALocal = &local
	}
	if req.UserType != nil {
		// UMAaaS's enum, upper case as POST /users takes it: another
		// value is a mistake of spelling, not a change asked for.
		switch *req.UserType {
		case users.Individual, users.Business:
		default:
			return vaspd.InvalidInput("userType must be INDIVIDUAL or BUSINESS").
				WithDetails(map[string]any{"field": "userType"})
		}
	}
	var u users.User
	err = h.users.DB().InTx(r.Context(), func(tx *store.Tx) error {
		if req.UserType != nil {
			cur, err := h.users.GetIncludingDeleted(r.Context(), tx, id)
			if err != nil {
				return err
			}
			// A deleted user's is Update's 410: nothing can change.
			if *req.UserType != cur.UserType && !cur.IsDeleted() {
				return vaspd.InvalidInput("userType cannot change (the user is %s)", cur.UserType).
					WithDetails(map[string]any{"field": "userType"})
			}
		}
		var err error
		u, err = h.users.Update(r.Context(), tx, id, p)
		return err
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.render(u))
	return nil
}

// delete soft-deletes a user whose balances are all zero: money left on a
// deleted account would be stranded, so the platform withdraws it first.
// Payments in flight refuse it too, and the user's payment requests are
// cancelled with it: the checks users.Service.OnDelete added (the
// daemon's payments, vasp.Service.BeforeUserDelete) run inside Delete.
func (h *userHandlers) delete(w http.ResponseWriter, r *http.Request) error {
	id, err := userPathID(r)
	if err != nil {
		return err
	}
	var u users.User
	err = h.users.DB().InTx(r.Context(), func(tx *store.Tx) error {
		var err error
		// Delete's UPDATE locks the row, so no deposit (which locks it
		// too) can slip in between it and the balance check.
		if u, err = h.users.Delete(r.Context(), tx, id); err != nil {
			return err
		}
		bs, err := h.ledger.UserBalances(r.Context(), tx, id)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if b.Available != 0 || b.Held != 0 {
				return vaspd.Conflict(vaspd.CodeConflict,
					"user %s still holds %d %s (%d held for payments in flight): withdraw it before deleting the user",
					id, b.Available, b.Currency, b.Held).
					WithDetails(map[string]any{"currency": b.Currency, "available": b.Available, "held": b.Held})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.render(u))
	return nil
}
