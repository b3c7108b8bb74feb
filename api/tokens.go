package api

import (
	"errors"
	"net/http"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
)

func (s *Server) tokenRoutes() {
	s.Handle("POST /tokens", vaspd.PermManage, s.createToken, Audited)
	s.Handle("GET /tokens", vaspd.PermManage, s.listTokens)
	s.Handle("GET /tokens/{tokenId}", vaspd.PermManage, s.getToken)
	s.Handle("DELETE /tokens/{tokenId}", vaspd.PermManage, s.deleteToken, Audited)
}

type createTokenRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var req createTokenRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	perms, err := vaspd.ParsePermissions(req.Permissions...)
	if err != nil {
		return vaspd.InvalidInput("%v", err)
	}
	// A token grants only what its creator holds: MANAGE does not imply
	// TRANSACT, and must not be a way to obtain it.
	caller, ok := Caller(r.Context())
	if !ok {
		return vaspd.Internal(errors.New("createToken: no authenticated caller"))
	}
	for _, p := range perms {
		if !vaspd.Allows(caller.Permissions, p) {
			return vaspd.Errorf(http.StatusForbidden, vaspd.CodeForbidden,
				"this token lacks the %s permission, so it cannot grant it", p)
		}
	}
	tok, err := s.opts.Tokens.CreateBy(r.Context(), caller.ID, req.Name, perms)
	if err != nil {
		return callerDeleted(err)
	}
	noteCreated(r, tok.ClientID)
	WriteJSON(w, http.StatusCreated, tok)
	return nil
}

// tokenJSON is the UMAaaS ApiToken as listed and read: clientId (the token
// id) is required there; the secret is only ever in the create response.
type tokenJSON struct {
	auth.Token
	ClientID string `json:"clientId"`
}

func renderToken(t auth.Token) tokenJSON { return tokenJSON{Token: t, ClientID: t.ID} }

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDToken)
	if err != nil {
		return err
	}
	name, err := QueryStoredText(r, "name", 200) // stored trimmed (auth.Tokens.Create)
	if err != nil {
		return err
	}
	f := auth.ListFilter{Name: name, After: p.After, Limit: p.Limit}
	if f.CreatedAfter, f.CreatedBefore, err = QueryTimeRange(r, "createdAfter", "createdBefore"); err != nil {
		return err
	}
	if f.UpdatedAfter, f.UpdatedBefore, err = QueryTimeRange(r, "updatedAfter", "updatedBefore"); err != nil {
		return err
	}
	toks, err := s.opts.Tokens.List(r.Context(), f)
	if err != nil {
		return err
	}
	page := NewPage(toks, p.Limit, func(t auth.Token) string { return t.ID })
	out := Page[tokenJSON]{Data: make([]tokenJSON, len(page.Data)), HasMore: page.HasMore, NextCursor: page.NextCursor}
	for i, t := range page.Data {
		out.Data[i] = renderToken(t)
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "tokenId", vaspd.IDToken, vaspd.CodeTokenNotFound)
	if err != nil {
		return err
	}
	tok, err := s.opts.Tokens.Get(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, renderToken(tok))
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "tokenId", vaspd.IDToken, vaspd.CodeTokenNotFound)
	if err != nil {
		return err
	}
	caller, ok := Caller(r.Context())
	if !ok {
		return vaspd.Internal(errors.New("deleteToken: no authenticated caller"))
	}
	if err := s.opts.Tokens.DeleteKeepingManager(r.Context(), caller.ID, id); err != nil {
		return callerDeleted(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// callerDeleted is err, or for auth.ErrCallerDeleted (the token was deleted
// while its request was served, which then changed nothing) the 401 its
// next request will get; not counted as a failed authentication.
func callerDeleted(err error) error {
	if errors.Is(err, auth.ErrCallerDeleted) {
		return vaspd.Errorf(http.StatusUnauthorized, vaspd.CodeUnauthorized,
			"invalid credentials: this token was deleted while its request was served")
	}
	return err
}
