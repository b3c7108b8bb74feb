package api

import (
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/invitations"
)

// MountInvitations adds UMA invitations (UMAaaS):
//
//	POST /invitations                TRANSACT  {inviterUma, firstName?, amountToSend?, expiresAt?} → 201 UmaInvitation;
//	                                           idempotent (Idempotency-Key): a retry → 201, Idempotent-Replayed
//	GET  /invitations/{code}         VIEW      UmaInvitation (status EXPIRED once past expiresAt, CANCELLED once
//	                                           the inviter is deleted; inviterUma is the inviter's address now)
//	POST /invitations/{code}/claim   TRANSACT  {inviteeUma} → 200; INVITATION_CLAIMED webhook to the platform;
//	                                           an inviteeUma on this VASP's domain (however spelt) must be a live user's
//	POST /invitations/{code}/cancel  TRANSACT  → 200; only pending ones
func (s *Server) MountInvitations(inv *invitations.Service) {
	h := &invitationHandlers{inv: inv}
	s.Handle("POST /invitations", vaspd.PermTransact, h.create, NotAudited(notAuditedInvite))
	s.Handle("GET /invitations/{code}", vaspd.PermView, h.get)
	s.Handle("POST /invitations/{code}/claim", vaspd.PermTransact, h.claim, NotAudited(notAuditedInvite))
	s.Handle("POST /invitations/{code}/cancel", vaspd.PermTransact, h.cancel, NotAudited(notAuditedInvite))
}

type invitationHandlers struct{ inv *invitations.Service }

func (h *invitationHandlers) create(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		InviterUma   string     `json:"inviterUma"`
		FirstName    string     `json:"firstName"`
		AmountToSend *int64     `json:"amountToSend"`
		ExpiresAt    *time.Time `json:"expiresAt"`
	}
	key := r.Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(key, idempotencyMaxKey); err != nil {
		return err
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	i, err := h.inv.Create(r.Context(), invitations.CreateInput{InviterUMA: req.InviterUma, FirstName: req.FirstName,
		AmountToSend: req.AmountToSend, ExpiresAt: req.ExpiresAt, IdempotencyKey: key})
	if err != nil {
		return err
	}
	if i.Replayed {
		// The first answer's status, unlike a deposit's 200: the UMAaaS
		// operation declares 201 only, and clients generated from it
		// may take anything else for a failure.
		w.Header().Set("Idempotent-Replayed", "true")
	}
	WriteJSON(w, http.StatusCreated, h.inv.Render(r.Context(), i))
	return nil
}

func (h *invitationHandlers) get(w http.ResponseWriter, r *http.Request) error {
	i, err := h.inv.Get(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.inv.Render(r.Context(), i))
	return nil
}

func (h *invitationHandlers) claim(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		InviteeUma string `json:"inviteeUma"`
	}
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	i, err := h.inv.Claim(r.Context(), r.PathValue("code"), req.InviteeUma)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.inv.Render(r.Context(), i))
	return nil
}

func (h *invitationHandlers) cancel(w http.ResponseWriter, r *http.Request) error {
	i, err := h.inv.Cancel(r.Context(), r.PathValue("code"))
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, h.inv.Render(r.Context(), i))
	return nil
}
