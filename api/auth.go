package api

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/auth"
)

const tokenKey ctxKey = 100

// Caller returns the token that authenticated the request.
func Caller(ctx context.Context) (auth.Token, bool) {
	t, ok := ctx.Value(tokenKey).(auth.Token)
	return t, ok
}

// authenticate checks HTTP Basic credentials (clientId:clientSecret) and the
// permission perm before calling h: 401 without valid credentials, 403 when
// the token lacks the permission, 429 without a look at the credentials
// while the client's failures are throttled (authlimit.go).
func (s *Server) authenticate(perm vaspd.Permission, h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.opts.Tokens == nil {
			return vaspd.Errorf(http.StatusServiceUnavailable, vaspd.CodeUnavailable, "the database is not ready yet")
		}
		key := s.clientOf(r).key()
		if d := s.authLimit.wait(key); d > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(seconds(d), 10))
			return vaspd.Errorf(http.StatusTooManyRequests, vaspd.CodeTooManyAuthFailures,
				"too many failed authentications from your address: requests are refused unchecked for %d s", seconds(d))
		}
		id, secret, problem := basicAuth(r)
		if problem != "" {
			// Not counted: a client that sends its credentials only
			// when challenged (a 401) starts with such a request, and
			// no secret was tried.
			return vaspd.Errorf(http.StatusUnauthorized, vaspd.CodeUnauthorized, "%s", problem)
		}
		tok, err := s.opts.Tokens.Authenticate(r.Context(), id, secret)
		if errors.Is(err, auth.ErrInvalidCredentials) {
			s.authLimit.failed(key)
			return vaspd.Errorf(http.StatusUnauthorized, vaspd.CodeUnauthorized, "invalid credentials")
		}
		if err != nil {
			return err
		}
		if n := noteOf(r.Context()); n != nil {
			n.tokenID = tok.ID // for the request's log line, a 403's too
		}
		if !vaspd.Allows(tok.Permissions, perm) {
			return vaspd.Errorf(http.StatusForbidden, vaspd.CodeForbidden, "this token lacks the %s permission", perm)
		}
		r = r.WithContext(context.WithValue(r.Context(), tokenKey, tok))
		if s.opts.Tracer != nil {
			r = beginSpan(r, true) // the operator's own platform: its trace continues (tracing.go)
		}
		return h(w, r)
	}
}

// basicAuth reads HTTP Basic credentials. Our clientIds are token ids
// ("Token:<uuid>"), which contain a colon, and RFC 7617 splits user from
// password at the first colon; secrets never contain one, so we split at the
// last colon instead. A bare "<uuid>" clientId is accepted too. problem is
// "" or why the credentials cannot be read, for the 401's message: it
// never quotes the header. More than one Authorization header is refused
// whatever they hold: the field is a singleton (RFC 9110), and a proxy in
// front that reads another one than the first would take another
// credential for the request than we do.
func basicAuth(r *http.Request) (id, secret, problem string) {
	if len(r.Header.Values("Authorization")) > 1 {
		return "", "", "send one Authorization header: this request has several"
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", "missing credentials: use HTTP Basic with clientId:clientSecret"
	}
	scheme, encoded, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", "the Authorization header must use the Basic scheme: Basic base64(clientId:clientSecret)"
	}
	const malformed = "malformed Basic credentials: want Basic base64(clientId:clientSecret), " +
		"base64 with padding, at most 1024 characters"
	if len(h) > 1024 {
		return "", "", malformed
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return "", "", malformed
	}
	cred := string(raw)
	i := strings.LastIndexByte(cred, ':')
	if i <= 0 {
		return "", "", malformed
	}
	id, secret = cred[:i], cred[i+1:]
	if !strings.HasPrefix(id, vaspd.IDToken+":") {
		id = vaspd.IDToken + ":" + id
	}
	return id, secret, ""
}
