package uma

import (
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LnurlpRequest is the first message of a payment (UMAD-03): the sender's
// GET https://<receiver domain>/.well-known/lnurlp/<user>?<signed query>.
// A plain LNURL-pay / Lightning Address request (no UMA query) parses into
// a LnurlpRequest with IsUMA() false and only ReceiverAddress set.
type LnurlpRequest struct {
	// ReceiverAddress is path segment + "@" + request host[:port], e.g.
	// "$bob@vasp2.com" — exactly the string the sender signed.
	ReceiverAddress string

	VaspDomain            string // sender VASP domain (its keys are fetched from here)
	Nonce                 string
	Timestamp             int64  // unix seconds
	Signature             string // hex DER over ReceiverAddress|Nonce|Timestamp
	UmaVersion            string // "1.0"
	IsSubjectToTravelRule bool
	BackingSignatures     []BackingSignature
}

// IsUMA reports whether r carries the UMA query parameters.
func (r *LnurlpRequest) IsUMA() bool { return r.UmaVersion != "" && r.Signature != "" }

// SignablePayload is "receiverAddress|nonce|timestamp".
func (r *LnurlpRequest) SignablePayload() string {
	return signablePayload(r.ReceiverAddress, r.Nonce, formatTimestamp(r.Timestamp))
}

// NewLnurlpRequest builds and signs the sender's request to receiver.
// version is usually Version1; after a 412 use SelectHighestSupportedVersion.
func NewLnurlpRequest(key *PrivateKey, receiver Address, senderDomain string, isSubjectToTravelRule bool, version Version, now time.Time) (*LnurlpRequest, error) {
	if !receiver.UMA {
		return nil, Errorf(CodeInvalidInput, "receiver %q is not an UMA address", receiver.String())
	}
	if err := ValidateDomain(senderDomain); err != nil {
		return nil, err
	}
	r := &LnurlpRequest{
		ReceiverAddress:       receiver.String(),
		VaspDomain:            senderDomain,
		UmaVersion:            version.String(),
		IsSubjectToTravelRule: isSubjectToTravelRule,
	}
	r.Sign(key, now)
	return r, nil
}

// Sign sets a fresh nonce, the timestamp and the signature.
func (r *LnurlpRequest) Sign(key *PrivateKey, now time.Time) {
	r.Nonce = NewNonce()
	r.Timestamp = now.Unix()
	r.Signature = signHex(key, r.SignablePayload())
}

// Verify checks the signature with the sender's signing key (the keys of
// VaspDomain). It does not check nonce or time; Verifier does all three.
func (r *LnurlpRequest) Verify(pub *PublicKey) error {
	return verifyHex(pub, r.SignablePayload(), r.Signature)
}

// URL is the full signed request URL.
func (r *LnurlpRequest) URL() (*url.URL, error) {
	user, domain, ok := strings.Cut(r.ReceiverAddress, "@")
	if !ok || user == "" {
		return nil, Errorf(CodeInvalidInput, "invalid receiver address %q", truncate(r.ReceiverAddress))
	}
	if err := ValidateDomain(domain); err != nil {
		return nil, err
	}
	u := &url.URL{Scheme: Scheme(domain), Host: domain, Path: "/.well-known/lnurlp/" + user}
	if r.IsUMA() {
		q := url.Values{}
		q.Set("signature", r.Signature)
		q.Set("vaspDomain", r.VaspDomain)
		q.Set("nonce", r.Nonce)
		q.Set("isSubjectToTravelRule", strconv.FormatBool(r.IsSubjectToTravelRule))
		q.Set("timestamp", formatTimestamp(r.Timestamp))
		q.Set("umaVersion", r.UmaVersion)
		if len(r.BackingSignatures) > 0 {
			parts := make([]string, len(r.BackingSignatures))
			for i, b := range r.BackingSignatures {
				parts[i] = b.Domain + ":" + b.Signature
			}
			q.Set("backingSignatures", strings.Join(parts, ","))
		}
		u.RawQuery = q.Encode()
	}
	return u, nil
}

// umaQueryParams are the five parameters whose joint presence makes a query UMA.
var umaQueryParams = [...]string{"signature", "vaspDomain", "nonce", "timestamp", "umaVersion"}

// IsUMALnurlpQuery reports whether u is an UMA LNURLP request: the path is
// /.well-known/lnurlp/<user> and all five UMA parameters are present, or
// umaVersion names a major we do not support (so that the caller answers
// 412 instead of falling back to plain LNURL).
func IsUMALnurlpQuery(u *url.URL) bool {
	if u == nil {
		return false
	}
	if _, err := lnurlpUser(u.Path); err != nil {
		return false
	}
	q := u.Query()
	if v := q.Get("umaVersion"); v != "" {
		if _, err := NegotiateVersion(v); err != nil {
			return true
		}
	}
	for _, p := range umaQueryParams {
		if q.Get(p) == "" {
			return false
		}
	}
	return true
}

// lnurlpUser checks the path and returns its user segment.
func lnurlpUser(path string) (string, error) {
	parts := strings.Split(path, "/")
	if len(parts) != 4 || parts[0] != "" || parts[1] != ".well-known" || parts[2] != "lnurlp" {
		return "", Errorf(CodeParseLnurlpRequestError, "path must be /.well-known/lnurlp/<user>")
	}
	user := parts[3]
	if user == "" || len(user) > maxUserLen+1 {
		return "", Errorf(CodeParseLnurlpRequestError, "invalid user in path")
	}
	for i := 0; i < len(user); i++ {
		c := user[i]
		if !(isUserChar(c) || c >= 'A' && c <= 'Z' || c == '$') {
			return "", Errorf(CodeParseLnurlpRequestError, "invalid user in path")
		}
	}
	return user, nil
}

// ParseLnurlpRequest parses the receiver's view of an LNURLP request. u must
// be the full request URL as the sender addressed it, including Host (with
// a non-default port): on a server, u = r.URL with u.Host = r.Host (or the
// public host when behind a proxy), because the host is part of the signed
// receiver address.
//
// Order of checks (as in the SDKs): an unsupported umaVersion yields the
// UNSUPPORTED_UMA_VERSION error (412) before anything else; an UMA parameter
// given twice, a bad path or user is PARSE_LNURLP_REQUEST_ERROR; some but not all UMA parameters is
// MISSING_REQUIRED_UMA_PARAMETERS; none is a plain LNURL request (IsUMA false).
func ParseLnurlpRequest(u *url.URL) (*LnurlpRequest, error) {
	if u == nil {
		return nil, Errorf(CodeParseLnurlpRequestError, "no URL")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, Errorf(CodeParseLnurlpRequestError, "invalid query string")
	}
	version := q.Get("umaVersion")
	if version != "" {
		if _, err := NegotiateVersion(version); err != nil {
			return nil, err
		}
	}
	if err := onceEach(q, CodeParseLnurlpRequestError, umaQueryParams[:]...); err != nil {
		return nil, err
	}
	user, err := lnurlpUser(u.Path)
	if err != nil {
		return nil, err
	}
	host := u.Host // as sent: it is part of the signed string
	if host == "" {
		return nil, Errorf(CodeParseLnurlpRequestError, "request host is unknown")
	}
	r := &LnurlpRequest{ReceiverAddress: user + "@" + host}
	present := 0
	for _, p := range umaQueryParams {
		if q.Get(p) != "" {
			present++
		}
	}
	if present == 0 {
		return r, nil
	}
	if present < len(umaQueryParams) {
		var missing []string
		for _, p := range umaQueryParams {
			if q.Get(p) == "" {
				missing = append(missing, p)
			}
		}
		return nil, Errorf(CodeMissingRequiredUMAParameters, "missing UMA query parameters: %s", strings.Join(missing, ", "))
	}
	ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		return nil, Errorf(CodeInvalidTimestamp, "timestamp must be unix seconds")
	}
	// ASCII is checked before ToLower, which maps some other characters
	// to ASCII letters (KELVIN SIGN to "k").
	r.VaspDomain = strings.ToLower(q.Get("vaspDomain"))
	if !isASCII(q.Get("vaspDomain")) || ValidateDomain(r.VaspDomain) != nil {
		return nil, Errorf(CodeParseLnurlpRequestError, "invalid vaspDomain")
	}
	r.Nonce = q.Get("nonce")
	r.Timestamp = ts
	r.Signature = q.Get("signature")
	r.UmaVersion = version
	// Absent means false (Go/Python); JS treats absence as UMA too, which we do.
	r.IsSubjectToTravelRule = strings.EqualFold(q.Get("isSubjectToTravelRule"), "true")
	if bs := q.Get("backingSignatures"); bs != "" {
		r.BackingSignatures, err = parseBackingSignaturesQuery(bs)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// parseBackingSignaturesQuery reads "domain1:sig1,domain2:sig2" (split on
// ",", URL-decode each item, split on the last ":" since domains may carry ports).
func parseBackingSignaturesQuery(s string) ([]BackingSignature, error) {
	items := strings.Split(s, ",")
	if len(items) > maxBackingSignatures {
		return nil, Errorf(CodeParseLnurlpRequestError, "too many backing signatures")
	}
	out := make([]BackingSignature, 0, len(items))
	for _, item := range items {
		if dec, err := url.QueryUnescape(item); err == nil {
			item = dec
		}
		i := strings.LastIndexByte(item, ':')
		if i <= 0 || i == len(item)-1 {
			return nil, Errorf(CodeParseLnurlpRequestError, "invalid backing signature")
		}
		out = append(out, BackingSignature{Domain: item[:i], Signature: item[i+1:]})
	}
	return out, nil
}
