package api

import (
	"net/http"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
)

func (s *Server) tokenRoutes() {
	s.Handle("POST /tokens", vaspd.PermManage, s.createToken)
	s.Handle("GET /tokens", vaspd.PermManage, s.listTokens)
	s.Handle("GET /tokens/{tokenId}", vaspd.PermManage, s.getToken)
	s.Handle("DELETE /tokens/{tokenId}", vaspd.PermManage, s.deleteToken)
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
	tok, err := s.opts.Tokens.Create(r.Context(), req.Name, perms)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusCreated, tok)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r)
	if err != nil {
		return err
	}
	name, err := QueryText(r, "name", 200)
	if err != nil {
		return err
	}
	toks, err := s.opts.Tokens.List(r.Context(), auth.ListFilter{Name: name, After: p.After, Limit: p.Limit})
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewPage(toks, p.Limit, func(t auth.Token) string { return t.ID }))
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
	WriteJSON(w, http.StatusOK, tok)
	return nil
}

func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "tokenId", vaspd.IDToken, vaspd.CodeTokenNotFound)
	if err != nil {
		return err
	}
	if err := s.opts.Tokens.Delete(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
