package vasp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/uma"
)

// How a counterparty's failure reaches the platform (README, "Counterparty
// failures"): the UMAaaS document's 424 with the code of the step that
// failed, never a 5xx (nothing of ours is broken) nor a 400 (the
// platform's request was fine). A receiver that answers but lies (a bad
// signature, an invoice for another amount) failed its step as much as
// one that does not answer; the message says which, details carry the
// counterparty's own UMA code and HTTP status when it gave them.

// step is one request of the sending side to the receiver's VASP.
type step struct {
	name string // prefix of our messages
	code string // the UMAaaS 424 code of its failure
}

var (
	lookupStep = step{"lookup", vaspd.CodeLnurlpRequestFailed}
	quoteStep  = step{"quote", vaspd.CodePayreqRequestFailed}
)

// failed is the step's 424 with a formatted message.
func (st step) failed(format string, args ...any) *vaspd.Error {
	return vaspd.FailedDependency(st.code, "%s: %s", st.name, fmt.Sprintf(format, args...))
}

// unverified is the step's answer failing verification; keys we could not
// fetch, or could not read (a public-keys answer that is no JSON, too
// large, or holds a key or certificate that does not parse: only the
// keys' document gives keys and certificates), are
// COUNTERPARTY_PUBKEY_FETCH_ERROR, the more specific code, and keys not
// served within limit say so.
func (st step) unverified(err error, limit time.Duration) *vaspd.Error {
	e := uma.AsError(err)
	code := st.code
	switch e.Code {
	case uma.CodeCounterpartyPubkeyFetchError, uma.CodeInvalidPubkeyFormat, uma.CodeCertChainInvalid:
		code = vaspd.CodeCounterpartyPubkeyFetch
		if timedOut(err) {
			return vaspd.FailedDependency(code, "%s: the receiver's VASP did not serve its public keys within %s (counterparty-timeout)", st.name, limit).
				WithDetails(map[string]any{"umaCode": string(e.Code), "unreachable": true, "timedOut": true})
		}
	}
	return vaspd.FailedDependency(code, "%s: the receiver's answer does not verify: %s: %s", st.name, e.Code, vaspd.Truncate(e.Reason, 300)).
		WithDetails(map[string]any{"umaCode": string(e.Code)})
}

// timedOut reports whether err is a call to a counterparty cut by its
// timeout (the HTTP client's, Options.CounterpartyTimeout), as opposed to
// one refused or broken: the platform is told how long we waited, which
// counterparty-timeout changes.
func timedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// noAnswer is the step's 424 for a counterparty that did not answer (or
// finish its answer) within limit. Details keep unreachable: true, what a
// counterparty that cannot be reached gives, so a platform that tells
// failures apart by it treats both alike; timedOut tells them apart.
func (st step) noAnswer(limit time.Duration, what string) *vaspd.Error {
	return st.failed("the receiver's VASP did not %s within %s (counterparty-timeout)", what, limit).
		WithDetails(map[string]any{"unreachable": true, "timedOut": true})
}

// unreadable is st's 424 for an answer (status, body) that does not parse
// as the message st expects; perr is the parser's error. An UMA or LNURL
// error body is the counterparty's error, read by counterpartyError;
// anything else says why it does not parse: that the receiver answered
// HTTP 200 says nothing of what was wrong.
func (s *Service) unreadable(st step, status int, body []byte, perr error) error {
	if _, ok := uma.ParseErrorBody(body); ok || perr == nil {
		return s.counterpartyError(st, status, body, nil)
	}
	return st.failed("the receiver's VASP answered HTTP %d with an answer that does not parse: %s",
		status, vaspd.Truncate(uma.AsError(perr).Reason, 300)).WithDetails(map[string]any{"httpStatus": status})
}

// counterpartyError turns a counterparty's failed answer to st (err: the
// request or reading its body failed; else a non-200 status or a body that
// does not parse) into ours.
func (s *Service) counterpartyError(st step, status int, body []byte, err error) error {
	if err != nil && status != 0 {
		if timedOut(err) {
			e := st.noAnswer(s.opt.CounterpartyTimeout, "send its whole answer")
			e.Details["httpStatus"] = status
			return e
		}
		return st.failed("the receiver's VASP answered HTTP %d with an unreadable or oversized body", status).
			WithDetails(map[string]any{"httpStatus": status})
	}
	if errors.Is(err, ssrf.ErrRefused) {
		// Not tried: "could not be reached" would send the operator
		// looking for a server that may well be up.
		return st.failed("the receiver's VASP is at a non-public address (loopback, private network…), which vaspd does not call unless counterparty-allow-nets opens it").
			WithDetails(map[string]any{"unreachable": true})
	}
	if err != nil && timedOut(err) {
		return st.noAnswer(s.opt.CounterpartyTimeout, "answer")
	}
	if err != nil {
		return st.failed("the receiver's VASP could not be reached").WithDetails(map[string]any{"unreachable": true})
	}
	if e, ok := uma.ParseErrorBody(body); ok {
		if e.Code == "" { // LNURL's {"status":"ERROR","reason"}: no code
			return st.failed("the receiver's VASP answered an error: %s", vaspd.Truncate(e.Reason, 300)).
				WithDetails(map[string]any{"httpStatus": status})
		}
		if e.Code == uma.CodeUnsupportedUMAVersion {
			return versionError(st, status, e)
		}
		if e.Code == uma.CodeCounterpartyNotAllowed {
			// It refuses to deal with us: the same 403 as our own
			// deny list (compliance.go), which no retry changes.
			return vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s: the receiver's VASP does not transact with us: %s",
				st.name, vaspd.Truncate(e.Reason, 300)).WithDetails(map[string]any{"umaCode": string(e.Code), "httpStatus": status})
		}
		code := vaspd.Truncate(string(e.Code), 64) // theirs: any length
		return st.failed("the receiver's VASP answered %s: %s", code, vaspd.Truncate(e.Reason, 300)).
			WithDetails(map[string]any{"umaCode": code, "httpStatus": status})
	}
	return st.failed("the receiver's VASP answered HTTP %d", status).WithDetails(map[string]any{"httpStatus": status})
}

// versionError is a receiver refusing our UMA version (the lookup retried
// with the best common one already): 412 UNSUPPORTED_UMA_VERSION, the
// document's 412 (its enum's UNSUPPORTED_UMA_VERSIONED is a typo of the
// code its own table and UMA name), or 424 NO_COMPATIBLE_UMA_VERSION when
// it speaks no major version we do.
func versionError(st step, status int, e *uma.Error) error {
	theirs := e.SupportedMajorVersions
	if len(theirs) > 16 { // theirs: any length
		theirs = theirs[:16]
	}
	details := map[string]any{"umaCode": string(e.Code), "httpStatus": status,
		"supportedMajorVersions": theirs, "ourMajorVersions": uma.SupportedMajorVersions()}
	if _, err := uma.SelectHighestSupportedVersion(e.SupportedMajorVersions); err != nil {
		return vaspd.FailedDependency(vaspd.CodeNoCompatibleUMAVersion, "%s: the receiver's VASP speaks UMA major versions %v, we speak %v",
			st.name, theirs, uma.SupportedMajorVersions()).WithDetails(details)
	}
	return vaspd.Errorf(http.StatusPreconditionFailed, vaspd.CodeUnsupportedUMAVersion, "%s: the receiver's VASP does not support our UMA version: %s",
		st.name, vaspd.Truncate(e.Reason, 300)).WithDetails(details)
}
