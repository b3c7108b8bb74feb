package vasp

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// The sending side, step 1: a lookup of the receiver (signed lnurlp). Its
// verified answer is stored so that a quote is built on exactly what the
// receiver offered.

// Lookup is a verified lnurlp answer about a receiver.
type Lookup struct {
	ID        string
	UserID    string // our sending user
	Receiver  string // "$bob@vasp2.com", or "bob@wallet.example" for a plain Lightning Address (lnaddr.go)
	Response  *uma.LnurlpResponse
	CreatedAt time.Time
}

// maxBody bounds every counterparty response we read.
const maxBody = 1 << 20

// fetch does one HTTP call to a counterparty and returns status and body.
func (s *Service) fetch(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	resp, err := s.roundTrip(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if len(b) > maxBody {
		return resp.StatusCode, nil, errors.New("response body over 1 MiB")
	}
	return resp.StatusCode, b, nil
}

// roundTrip sends one request to a counterparty; the caller reads and
// closes the answer's body.
func (s *Service) roundTrip(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Never asked for. Its body is the raw connection, which neither
		// the client's timeout nor ctx bounds: a counterparty that then
		// says nothing would hold this call for ever. Close() drops it.
		resp.Body.Close()
		return nil, errors.New("counterparty answered 101 Switching Protocols, which no UMA call asks for")
	}
	return resp, nil
}

// checkCounterpartyURL accepts a URL a counterparty gives us to call: absolute,
// without credentials, https (plain http only to a local host, UMA's scheme
// rule: what we send there, and the unsigned parts of its answer, must not
// cross the internet in the clear).
func checkCounterpartyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" || u.User != nil {
		return errors.New("not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if uma.IsLocalDomain(u.Host) {
			return nil
		}
		return errors.New("plain http to a non-local host")
	}
	return errors.New("not an http(s) URL")
}

// callbackAllowed asks our policy about the host of raw, a URL a
// counterparty gave us to call (an lnurlp callback, a utxoCallback, an
// uma_request_endpoint), already checked by checkCounterpartyURL. The
// payreq's payer data, the travel-rule data and our node's UTXOs go to
// that host, whatever domain the address named: an allowed VASP's answer
// must not send them to a host the lists deny, nor, with an allow list,
// to one they do not name. Its error is the policy's (an *uma.Error,
// COUNTERPARTY_NOT_ALLOWED), its reason naming the host.
func (s *Service) callbackAllowed(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return uma.Errorf(uma.CodeCounterpartyNotAllowed, "not an absolute URL")
	}
	return s.opt.Compliance.CounterpartyAllowed(ctx, u.Host)
}

// callbackNotAllowed is the platform's 403 for a receiver whose callback
// is at a host our policy refuses (callbackAllowed).
func callbackNotAllowed(receiver uma.Address, err error) *vaspd.Error {
	return vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed,
		"%s takes payments at another host, which we do not call: %s", receiver.String(), uma.AsError(err).Reason)
}

// maxCurrencyLabel bounds a receiver's currency name and symbol, in bytes
// ("US Dollar", "$"; ISO 4217's longest name is under 50).
const maxCurrencyLabel = 100

// usableCurrencies keeps the currencies that follow UMA's rules
// (uma.Currency.Validate: multiplier > 0, decimals 0..8, 0 <= min <= max)
// and whose code is a currency code as ours are (rates.ValidCode: 2–8
// upper-case letters or digits), the first of each code: the platform is
// offered, and quotes are priced in, nothing else. The code is what a
// quote and its payment are recorded and listed under, and the platform's
// quote names it in upper case: any other text (a NUL, which PostgreSQL
// refuses, invalid UTF-8, lower case, kilobytes) could not be quoted, or
// not recorded. Name and symbol are cut to maxCurrencyLabel.
func usableCurrencies(cs []uma.Currency) []uma.Currency {
	out := make([]uma.Currency, 0, len(cs))
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if c.Validate() != nil || !rates.ValidCode(c.Code) || seen[c.Code] {
			continue
		}
		seen[c.Code] = true
		// Name and symbol are display text, shown with every quote and
		// carried by every payment in the currency (listing, webhook):
		// cut, as the payee's name is, never refused.
		c.Name, c.Symbol = storableText(c.Name, maxCurrencyLabel), storableText(c.Symbol, maxCurrencyLabel)
		out = append(out, c)
	}
	return out
}

// LookupReceiver asks the receiver's VASP about receiver on behalf of our
// user userID, verifies the signed answer and stores it. With
// Options.PayLightningAddresses, a receiver written without "$" is a plain
// Lightning Address, asked unsigned (lookupLightningAddress).
func (s *Service) LookupReceiver(ctx context.Context, userID, receiver string) (Lookup, error) {
	if addr, err := uma.ParseAddress(receiver); err == nil && !addr.UMA {
		if s.opt.PayLightningAddresses {
			return s.lookupLightningAddress(ctx, userID, addr)
		}
		// Say what was written and what to do, not only what it is not:
		// a platform passing a user's Lightning Address on would otherwise
		// not know whether the "$" or the address is wrong.
		return Lookup{}, vaspd.InvalidInput("%s is a Lightning Address, not an UMA address ($user@domain): write an UMA address with its $; paying plain Lightning Addresses is off (setting pay-lightning-addresses)",
			vaspd.Truncate(receiver, 100))
	}
	addr, err := uma.ParseUMAAddress(receiver)
	if err != nil {
		return Lookup{}, vaspd.InvalidInput("%s is not a valid UMA address", vaspd.Truncate(receiver, 100))
	}
	if err := s.notSelf(ctx, userID, addr); err != nil {
		return Lookup{}, err
	}
	if err := s.opt.Compliance.CounterpartyAllowed(ctx, addr.Domain); err != nil {
		return Lookup{}, vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
	}
	version := uma.Version1
	var resp *uma.LnurlpResponse
	for attempt := 0; ; attempt++ {
		req, err := uma.NewLnurlpRequest(s.opt.Keys.Signing, addr, s.opt.Domain, true, version, s.clock.Now())
		if err != nil {
			return Lookup{}, err
		}
		u, err := req.URL()
		if err != nil {
			return Lookup{}, err
		}
		status, body, err := s.fetch(s.call(ctx, "lnurlp"), http.MethodGet, u.String(), nil)
		if err == nil && status == http.StatusPreconditionFailed && attempt == 0 {
			if e, ok := uma.ParseErrorBody(body); ok {
				v, verr := uma.SelectHighestSupportedVersion(e.SupportedMajorVersions)
				if verr == nil && v.Major < sendMajor {
					// Not asked again at 0.x, only to refuse its answer.
					return Lookup{}, noSendVersion(addr, v.String(), e.SupportedMajorVersions)
				}
				if verr == nil && v != version {
					version = v
					continue
				}
			}
		}
		if err != nil || status != http.StatusOK {
			if status == http.StatusNotFound {
				// The UMAaaS lookup's 404 is "UMA address not found", with
				// the codes of Error404 only; details tell it from an
				// unknown sending user (also USER_NOT_FOUND).
				return Lookup{}, vaspd.NotFound(vaspd.CodeUserNotFound, "%s does not exist", addr.String()).
					WithDetails(map[string]any{"receiverUmaAddress": addr.String()})
			}
			return Lookup{}, s.counterpartyError(lookupStep, status, body, err)
		}
		if resp, err = uma.ParseLnurlpResponse(body); err != nil {
			return Lookup{}, s.unreadable(lookupStep, status, body, err)
		}
		break
	}
	if !resp.IsUMA() && s.opt.PayLightningAddresses {
		return Lookup{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidReceiver, "%s answered as a plain Lightning Address, not as UMA: write it without $ to pay it as a Lightning Address", addr.String())
	}
	if !resp.IsUMA() {
		return Lookup{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidReceiver, "%s answered as a plain Lightning Address; only UMA receivers can be paid", addr.String())
	}
	if v, err := uma.ParseVersion(resp.UmaVersion); err != nil || v.Major != sendMajor {
		return Lookup{}, noSendVersion(addr, resp.UmaVersion, nil)
	}
	if len(resp.Callback) > maxCallbackURL {
		return Lookup{}, lookupStep.failed("a callback URL of %d bytes (at most %d)", len(resp.Callback), maxCallbackURL)
	}
	if err := checkCounterpartyURL(resp.Callback); err != nil {
		return Lookup{}, lookupStep.failed("the receiver's callback %q: %v", vaspd.Truncate(resp.Callback, 100), err)
	}
	if err := s.callbackAllowed(ctx, resp.Callback); err != nil {
		return Lookup{}, callbackNotAllowed(addr, err)
	}
	if _, err := s.verifier.VerifyLnurlpResponse(ctx, resp, addr); err != nil {
		s.log.Warn("lookup answer does not verify", "counterparty", vaspd.Truncate(addr.Domain, 100), "err", err)
		return Lookup{}, lookupStep.unverified(err, s.opt.CounterpartyTimeout)
	}
	offered := len(resp.Currencies)
	if resp.Currencies = usableCurrencies(resp.Currencies); len(resp.Currencies) == 0 {
		return Lookup{}, lookupStep.failed("the receiver offers no valid currency")
	} else if len(resp.Currencies) < offered {
		s.log.Warn("lookup answer has invalid or repeated currencies; not offered", "counterparty", vaspd.Truncate(addr.Domain, 100), "dropped", offered-len(resp.Currencies))
	}
	l := Lookup{ID: vaspd.NewID(vaspd.IDLookup), UserID: userID, Receiver: addr.String(), Response: resp, CreatedAt: s.clock.Now()}
	if err := s.recordLookup(ctx, l); err != nil {
		return Lookup{}, err
	}
	return l, nil
}

// sendMajor is the UMA major version vaspd pays receivers with. It
// receives from 0.x senders too (uma.NegotiateVersion), but its payreq is
// the 1.x shape (an amount in msats or in the sending currency, "convert")
// and it verifies the receiver's signed payreq answer, which 0.x does not
// sign: a 0.x receiver could not be quoted.
var sendMajor = uma.Version1.Major

// noSendVersion is the lookup's refusal of a receiver speaking UMA
// version (or, with theirs, only those major versions) when we pay with
// sendMajor only: 424 NO_COMPATIBLE_UMA_VERSION, before any quote fails on
// it.
func noSendVersion(addr uma.Address, version string, theirs []int) *vaspd.Error {
	if len(theirs) > 16 { // theirs: any length
		theirs = theirs[:16]
	}
	details := map[string]any{"receiverUmaVersion": vaspd.Truncate(version, 16), "ourMajorVersions": []int{sendMajor}}
	if theirs != nil {
		details["supportedMajorVersions"] = theirs
	}
	return vaspd.FailedDependency(vaspd.CodeNoCompatibleUMAVersion,
		"lookup: %s speaks UMA %s; vaspd pays only UMA %d.x receivers", addr.String(), vaspd.Truncate(version, 16), sendMajor).
		WithDetails(details)
}

// recordLookup stores l, its answer as given.
func (s *Service) recordLookup(ctx context.Context, l Lookup) error {
	raw, err := json.Marshal(l.Response)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO uma_lookups (id, user_id, receiver, response, created_at) VALUES ($1, $2, $3, $4, $5)`,
		l.ID, l.UserID, l.Receiver, string(raw), store.Micros(l.CreatedAt)); err != nil {
		return fmt.Errorf("record lookup: %w", err)
	}
	return nil
}

// UserIDByAddress finds our user by their UMA address ("$alice@our.domain"),
// as UMAaaS's senderUmaAddress names the sender of a lookup.
func (s *Service) UserIDByAddress(ctx context.Context, address string) (string, error) {
	addr, err := uma.ParseAddress(address)
	// Our domain however spelt ("x.example.", "x.example:443"):
	// uma.NormalizeDomain.
	if err != nil || !uma.SameDomain(addr.Domain, s.opt.Domain) {
		return "", vaspd.InvalidInput("senderUmaAddress must be one of our users' addresses ($name@%s)", s.opt.Domain)
	}
	r, err := s.opt.Users.ByUMALocal(ctx, addr.User)
	if err != nil {
		return "", err
	}
	return r.UserID, nil
}

// getLookup loads a lookup made for userID.
func (s *Service) getLookup(ctx context.Context, id, userID string) (Lookup, error) {
	var l Lookup
	var raw string
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, user_id, receiver, response, created_at FROM uma_lookups WHERE id = $1`, id).
		Scan(&l.ID, &l.UserID, &l.Receiver, &raw, &created)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && userID != "" && l.UserID != userID) {
		return l, vaspd.NotFound(vaspd.CodeLookupRequestNotFound, "lookup %s not found", id)
	}
	if err != nil {
		return l, err
	}
	if l.Response, err = uma.ParseLnurlpResponse([]byte(raw)); err != nil {
		return l, fmt.Errorf("lookup %s: %w", id, err)
	}
	if isLightningAddress(l.Receiver) {
		l.Response.Currencies = append(l.Response.Currencies, satCurrency(l.Response))
	}
	l.CreatedAt = store.Time(created)
	return l, nil
}

// notSelf checks that userID is a live user (404 otherwise) who is not
// addr: paying one's own address would cost the user our spread and fees
// for nothing moving, so it is refused 400 SELF_PAYMENT, UMAaaS's code for
// it, before anything is asked over the network.
func (s *Service) notSelf(ctx context.Context, userID string, addr uma.Address) error {
	user, err := s.opt.Users.ByID(ctx, userID)
	if err != nil {
		return err
	}
	if uma.SameDomain(addr.Domain, s.opt.Domain) && strings.EqualFold(addr.User, user.Local) {
		return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeSelfPayment, "%s is the sending user's own address: a user cannot pay themselves", addr.String())
	}
	return nil
}
