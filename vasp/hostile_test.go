package vasp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/embedded"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
	"github.com/vaspd/vaspd/vasp/vasptest"
)

const ourDomain = "vasp2.example"

func newKeys(t testing.TB, domain string) *uma.Keys {
	t.Helper()
	k, err := uma.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := uma.NewSelfSignedCertificate(k, domain, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &uma.Keys{Signing: k, Encryption: k, SigningCertChain: [][]byte{cert}, EncryptionCertChain: [][]byte{cert}}
}

// world is one VASP's dependencies on db: Services built on it are
// processes of the same VASP. Counterparty keys come from keys.
type world struct {
	db    *store.DB
	node  *embedded.Node
	ours  *uma.Keys
	keys  uma.StaticKeys
	users vasptest.Directory
	bob   vasp.Recipient
	alice vasp.Recipient
	clock *vaspd.FakeClock
}

func newWorld(t testing.TB, db *store.DB) *world {
	t.Helper()
	node, err := embedded.Open(t.Context(), db, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	w := &world{db: db, node: node, ours: newKeys(t, ourDomain), keys: uma.StaticKeys{}, clock: vaspd.NewFakeClock(time.Now())}
	w.bob = vasp.Recipient{UserID: vaspd.NewID(vaspd.IDUser), PlatformUserID: "p-bob", Local: "bob", Name: "Bob", Currencies: []string{"EUR"}}
	w.alice = vasp.Recipient{UserID: vaspd.NewID(vaspd.IDUser), PlatformUserID: "p-alice", Local: "alice", Name: "Alice", Currencies: []string{"USD"}}
	w.users = vasptest.Directory{w.bob.UserID: w.bob, w.alice.UserID: w.alice}
	return w
}

// counterparty registers a VASP at domain and returns its keys.
func (w *world) counterparty(t testing.TB, domain string) *uma.Keys {
	k := newKeys(t, domain)
	w.keys[domain] = &uma.PublicKeys{Signing: k.Signing.PublicKey(), Encryption: k.Encryption.PublicKey()}
	return k
}

func (w *world) service(t testing.TB, tune func(*vasp.Options)) *vasp.Service {
	t.Helper()
	s, err := vasp.New(w.options(t, tune))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// options are the Options of w's Service, changed by tune if not nil.
func (w *world) options(t testing.TB, tune func(*vasp.Options)) vasp.Options {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := delivery.New(w.db, delivery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opt := vasp.Options{DB: w.db, Domain: ourDomain, Keys: w.ours, Node: w.node, Ledger: ledger.New(w.db, nil),
		Rates: p, Users: w.users, Webhooks: hooks, KeySource: w.keys, Clock: w.clock}
	if tune != nil {
		tune(&opt)
	}
	return opt
}

// lnurlpURL is the URL a sender at senderDomain GETs for $local, signed at.
func lnurlpURL(t *testing.T, key *uma.PrivateKey, local, senderDomain string, at time.Time) *url.URL {
	t.Helper()
	addr, err := uma.ParseAddress("$" + local + "@" + ourDomain)
	if err != nil {
		t.Fatal(err)
	}
	req, err := uma.NewLnurlpRequest(key, addr, senderDomain, true, uma.Version1, at)
	if err != nil {
		t.Fatal(err)
	}
	u, err := req.URL()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func payRequest(t *testing.T, key *uma.PrivateKey, identifier string, at time.Time) *uma.PayRequest {
	t.Helper()
	pr := &uma.PayRequest{Amount: 500, SendingCurrency: "EUR", ReceivingCurrency: "EUR",
		PayerData: &uma.PayerData{Identifier: identifier, Compliance: &uma.CompliancePayerData{KycStatus: uma.KycVerified, NodePubKey: "02ab"}}}
	if err := pr.Sign(key, at); err != nil {
		t.Fatal(err)
	}
	return pr
}

// payRequestAsking is payRequest from vasp1.example's alice, signed now,
// asking the receiver for the payee data payee (which the payer's signature
// does not cover).
func payRequestAsking(t *testing.T, key *uma.PrivateKey, payee uma.CounterpartyDataOptions) *uma.PayRequest {
	t.Helper()
	pr := payRequest(t, key, "$alice@vasp1.example", time.Now())
	pr.PayeeData = payee
	return pr
}

func wantCode(t *testing.T, err error, code uma.ErrorCode) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	var e *uma.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// A signed message accepted by one vaspd process is refused by every other
// process on the same database.
func TestReplayAcrossProcesses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		p1, p2 := w.service(t, nil), w.service(t, nil)
		u := lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now())
		_, err := p1.Lnurlp(t.Context(), u, "bob")
		wantCode(t, err, "")
		_, err = p2.Lnurlp(t.Context(), u, "bob")
		wantCode(t, err, uma.CodeInvalidNonce)
		_, err = p1.Lnurlp(t.Context(), u, "bob")
		wantCode(t, err, uma.CodeInvalidNonce)

		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		_, err = p2.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, "")
		_, err = p1.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, uma.CodeInvalidNonce)
		// A restarted process remembers too.
		_, err = w.service(t, nil).PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, uma.CodeInvalidNonce)
	})
}

// The signature window: 24 h back, 10 min ahead.
func TestSignatureTimestamps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		now := w.clock.Now()
		for _, tc := range []struct {
			name string
			age  time.Duration
			code uma.ErrorCode
		}{
			{"now", 0, ""},
			{"23h old", 23 * time.Hour, ""},
			{"25h old", 25 * time.Hour, uma.CodeInvalidNonce},
			{"years old", 5 * 365 * 24 * time.Hour, uma.CodeInvalidNonce},
			{"5 min ahead", -5 * time.Minute, ""},
			{"11 min ahead", -11 * time.Minute, uma.CodeInvalidTimestamp},
			{"years ahead", -5 * 365 * 24 * time.Hour, uma.CodeInvalidTimestamp},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, "bob", "vasp1.example", now.Add(-tc.age)), "bob")
				wantCode(t, err, tc.code)
				_, err = s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, "$alice@vasp1.example", now.Add(-tc.age)))
				wantCode(t, err, tc.code)
			})
		}
	})
}

func TestReceiverRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		good := w.counterparty(t, "vasp1.example")
		denied := w.counterparty(t, "denied.example")
		s := w.service(t, func(o *vasp.Options) { o.Compliance = vasp.DomainPolicy{Deny: []string{"denied.example"}} })
		now := w.clock.Now()
		// Signed for $bob@other.example, and sent with that Host: the
		// signature is checked against our domain, whatever the Host.
		otherBob, err := uma.ParseAddress("$bob@other.example")
		if err != nil {
			t.Fatal(err)
		}
		otherReq, err := uma.NewLnurlpRequest(good.Signing, otherBob, "vasp1.example", true, uma.Version1, now)
		if err != nil {
			t.Fatal(err)
		}
		wrongHost, err := otherReq.URL()
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			local string
			u     *url.URL
			code  uma.ErrorCode
		}{
			{"denied domain", "bob", lnurlpURL(t, denied.Signing, "bob", "denied.example", now), uma.CodeCounterpartyNotAllowed},
			{"unknown domain", "bob", lnurlpURL(t, good.Signing, "bob", "unknown.example", now), uma.CodeCounterpartyPubkeyFetchError},
			{"signed for another domain's user", "bob", wrongHost, uma.CodeInvalidSignature},
			{"unknown user", "carol", lnurlpURL(t, good.Signing, "carol", "vasp1.example", now), uma.CodeUserNotFound},
			{"injection in user", "bob' OR 1=1", &url.URL{Path: "/.well-known/lnurlp/bob' OR 1=1", Host: ourDomain}, uma.CodeUserNotFound},
		} {
			t.Run("lnurlp "+tc.name, func(t *testing.T) {
				_, err := s.Lnurlp(t.Context(), tc.u, tc.local)
				wantCode(t, err, tc.code)
			})
		}
		for _, tc := range []struct {
			name string
			pr   *uma.PayRequest
			code uma.ErrorCode
		}{
			{"denied domain", payRequest(t, denied.Signing, "$eve@denied.example", now), uma.CodeCounterpartyNotAllowed},
			{"identifier at another domain than the signer's", payRequest(t, denied.Signing, "$alice@vasp1.example", now), uma.CodeInvalidSignature},
			{"identifier without domain", payRequest(t, good.Signing, "$alice", now), ""},
			{"unknown currency", func() *uma.PayRequest {
				pr := payRequest(t, good.Signing, "$alice@vasp1.example", now)
				pr.SendingCurrency, pr.ReceivingCurrency = "ZZZ", "ZZZ"
				return pr
			}(), uma.CodeInvalidCurrency},
			{"non-Lightning settlement", func() *uma.PayRequest {
				pr := payRequest(t, good.Signing, "$alice@vasp1.example", now)
				pr.Settlement = &uma.SettlementInfo{Layer: "spark", AssetIdentifier: "x"}
				return pr
			}(), uma.CodeInvalidCurrency},
		} {
			t.Run("payreq "+tc.name, func(t *testing.T) {
				_, err := s.PayRequest(t.Context(), "bob", tc.pr)
				if tc.code == "" {
					if err == nil || uma.AsError(err).Code == uma.CodeInternalError {
						t.Fatalf("got %v, want a client error", err)
					}
					return
				}
				wantCode(t, err, tc.code)
			})
		}
		// Refusals before approval leave no payment behind.
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d transactions recorded (%v)", n, err)
		}
	})
}

func TestNonceCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clock := vaspd.NewFakeClock(time.Now())
		c := &vasp.NonceCache{DB: db, Now: clock.Now}
		now := clock.Now()
		for _, tc := range []struct {
			name, domain, nonce string
			at                  time.Time
			code                uma.ErrorCode
		}{
			{"fresh", "a.example", "1", now, ""},
			{"replayed", "a.example", "1", now, uma.CodeInvalidNonce},
			{"replayed with another timestamp", "a.example", "1", now.Add(-time.Minute), uma.CodeInvalidNonce},
			{"same nonce, other domain", "b.example", "1", now, ""},
			{"too old", "a.example", "2", now.Add(-25 * time.Hour), uma.CodeInvalidNonce},
			{"overlong nonce", "a.example", strings.Repeat("9", 300), now, uma.CodeInvalidNonce},
			{"overlong domain", strings.Repeat("d", 300), "3", now, uma.CodeInvalidNonce},
			{"23h old", "a.example", "4", now.Add(-23 * time.Hour), ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, c.CheckAndSave(t.Context(), tc.domain, tc.nonce, tc.at), tc.code)
			})
		}
		clock.Advance(2 * time.Hour) // the 23h-old nonce is now past the window
		n, err := c.Purge(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("purged %d (%v), want 1", n, err)
		}
		wantCode(t, c.CheckAndSave(t.Context(), "a.example", "1", now), uma.CodeInvalidNonce)
	})
}

// A hostile or broken receiver VASP never makes a lookup fail with a 5xx
// of ours or a panic: every answer becomes a clear platform API error.
func TestLookupHostileReceiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var answer func(w http.ResponseWriter, r *http.Request)
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { answer(rw, r) }))
		t.Cleanup(srv.Close)
		domain := "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		theirs := w.counterparty(t, domain)
		impostor := newKeys(t, domain)
		s := w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{} })
		signed := func(key *uma.PrivateKey) func(http.ResponseWriter, *http.Request) {
			return func(rw http.ResponseWriter, r *http.Request) {
				resp := &uma.LnurlpResponse{Callback: srv.URL + "/cb", MinSendable: 1000, MaxSendable: 1e9,
					Metadata:   uma.BuildMetadata("pay", "$bob@"+domain),
					Currencies: []uma.Currency{{Code: "EUR", Decimals: 2, Multiplier: 1000, Convertible: uma.Convertible{Min: 1, Max: 1e6}}},
					PayerData:  uma.UMADataOptions(), UmaVersion: "1.0",
					Compliance: &uma.LnurlComplianceResponse{KycStatus: uma.KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: "$bob@" + domain}}
				if err := resp.Sign(key, time.Now()); err != nil {
					t.Error(err)
				}
				b, _ := resp.MarshalJSON()
				_, _ = rw.Write(b)
			}
		}
		text := func(status int, body string) func(http.ResponseWriter, *http.Request) {
			return func(rw http.ResponseWriter, r *http.Request) {
				rw.WriteHeader(status)
				_, _ = rw.Write([]byte(body))
			}
		}
		for _, tc := range []struct {
			name   string
			answer func(http.ResponseWriter, *http.Request)
			status int
			code   string
		}{
			{"valid", signed(theirs.Signing), 0, ""},
			{"signed by an impostor", signed(impostor.Signing), 424, vaspd.CodeLnurlpRequestFailed},
			{"500 with HTML", text(500, "<html>oops</html>"), 424, vaspd.CodeLnurlpRequestFailed},
			{"UMA error JSON", text(403, `{"status":"ERROR","reason":"no","code":"COUNTERPARTY_NOT_ALLOWED"}`), 403, vaspd.CodeCounterpartyNotAllowed},
			{"404", text(404, `{"status":"ERROR","reason":"no","code":"USER_NOT_FOUND"}`), 404, vaspd.CodeUserNotFound},
			{"200 garbage", text(200, `{"callback":`), 424, vaspd.CodeLnurlpRequestFailed},
			{"200 wrong types", text(200, `{"callback":7,"minSendable":"x","currencies":{}}`), 424, vaspd.CodeLnurlpRequestFailed},
			{"200 status ERROR", text(200, `{"status":"ERROR","reason":"boom"}`), 424, vaspd.CodeLnurlpRequestFailed},
			{"plain LNURL", text(200, `{"tag":"payRequest","callback":"http://x/cb","minSendable":1000,"maxSendable":2000,"metadata":"[]"}`), 400, vaspd.CodeInvalidReceiver},
			{"over 1 MiB", text(200, `{"callback":"`+strings.Repeat("x", 2<<20)+`"}`), 424, vaspd.CodeLnurlpRequestFailed},
			{"412 forever", text(412, `{"status":"ERROR","reason":"v","code":"UNSUPPORTED_UMA_VERSION","supportedMajorVersions":[0,1]}`), 412, vaspd.CodeUnsupportedUMAVersion},
			{"412 no common major", text(412, `{"status":"ERROR","reason":"v","code":"UNSUPPORTED_UMA_VERSION","supportedMajorVersions":[7]}`), 424, vaspd.CodeNoCompatibleUMAVersion},
			{"redirect", func(rw http.ResponseWriter, r *http.Request) {
				http.Redirect(rw, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
			}, 424, vaspd.CodeLnurlpRequestFailed},
		} {
			t.Run(tc.name, func(t *testing.T) {
				answer = tc.answer
				l, err := s.LookupReceiver(t.Context(), w.alice.UserID, "$bob@"+domain)
				if tc.status == 0 {
					if err != nil || l.ID == "" || !l.Response.IsUMA() {
						t.Fatalf("lookup: %v", err)
					}
					return
				}
				e := vaspd.AsError(err)
				if err == nil || e.Status != tc.status || e.Code != tc.code {
					t.Fatalf("got %v (%d %s), want %d %s", err, e.Status, e.Code, tc.status, tc.code)
				}
			})
		}
		// Keys we cannot get: the more specific 424 code.
		delete(w.keys, domain)
		answer = signed(theirs.Signing)
		_, err := s.LookupReceiver(t.Context(), w.alice.UserID, "$bob@"+domain)
		if e := vaspd.AsError(err); err == nil || e.Status != 424 || e.Code != vaspd.CodeCounterpartyPubkeyFetch {
			t.Errorf("receiver without keys: got %v, want 424 COUNTERPARTY_PUBKEY_FETCH_ERROR", err)
		}
		w.keys[domain] = &uma.PublicKeys{Signing: theirs.Signing.PublicKey(), Encryption: theirs.Encryption.PublicKey()}
		// Bad input from the platform.
		for _, receiver := range []string{"", "bob", "$bob", "$bob@", "$BOB@" + domain + "/x", "$" + strings.Repeat("b", 100) + "@" + domain} {
			_, err := s.LookupReceiver(t.Context(), w.alice.UserID, receiver)
			if e := vaspd.AsError(err); e.Status != 400 {
				t.Errorf("%q: got %v, want 400", receiver, err)
			}
		}
		_, err = s.LookupReceiver(t.Context(), vaspd.NewID(vaspd.IDUser), "$bob@"+domain)
		if e := vaspd.AsError(err); e.Status != 404 {
			t.Errorf("unknown sender: got %v, want 404", err)
		}
	})
}

// A receiver VASP answering the payreq badly never yields a quote: every
// inconsistency is a 424 PAYREQ_REQUEST_FAILED, never a 5xx of ours.
func TestQuoteHostileReceiver(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		var answer func(rw http.ResponseWriter, pr *uma.PayRequest)
		var srvURL, domain string
		var theirs *uma.Keys
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/.well-known/lnurlp/") {
				resp := &uma.LnurlpResponse{Callback: srvURL + "/cb", MinSendable: 1000, MaxSendable: 1e12,
					Metadata:   uma.BuildMetadata("pay", "$bob@"+domain),
					Currencies: []uma.Currency{{Code: "EUR", Decimals: 2, Multiplier: 1000, Convertible: uma.Convertible{Min: 1, Max: 1e9}}},
					PayerData:  uma.UMADataOptions(), UmaVersion: "1.0",
					Compliance: &uma.LnurlComplianceResponse{KycStatus: uma.KycVerified, IsSubjectToTravelRule: true, ReceiverIdentifier: "$bob@" + domain}}
				_ = resp.Sign(theirs.Signing, time.Now())
				b, _ := resp.MarshalJSON()
				_, _ = rw.Write(b)
				return
			}
			b := make([]byte, 1<<16)
			n, _ := r.Body.Read(b)
			for n < len(b) {
				m, err := r.Body.Read(b[n:])
				n += m
				if err != nil {
					break
				}
			}
			pr, err := uma.ParsePayRequest(b[:n])
			if err != nil {
				t.Errorf("our payreq does not parse: %v", err)
				rw.WriteHeader(400)
				return
			}
			answer(rw, pr)
		}))
		t.Cleanup(srv.Close)
		srvURL = srv.URL
		domain = "localhost:" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		theirs = w.counterparty(t, domain)
		impostor := newKeys(t, domain)
		s := w.service(t, func(o *vasp.Options) { o.Clock = vaspd.SystemClock{} })
		l, err := s.LookupReceiver(t.Context(), w.alice.UserID, "$bob@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		invoice := func(msats int64) string {
			inv, err := w.node.CreateInvoice(context.Background(), lightning.InvoiceRequest{AmountMsat: msats, Expiry: time.Minute,
				DescriptionHash: lightning.Hash(uma.DescriptionHash(l.Response.Metadata, nil))})
			if err != nil {
				t.Error(err)
			}
			return inv.PaymentRequest
		}
		info, err := w.node.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		nodeKey := info.PubKey // the invoices' node
		// reply answers a signed payreq response built by edit.
		reply := func(key *uma.PrivateKey, edit func(pr *uma.PayRequest, resp *uma.PayReqResponse)) func(http.ResponseWriter, *uma.PayRequest) {
			return func(rw http.ResponseWriter, pr *uma.PayRequest) {
				resp := &uma.PayReqResponse{PR: invoice(pr.Amount),
					Converted: &uma.Converted{Amount: pr.Amount / 1000, CurrencyCode: "EUR", Decimals: 2, Multiplier: 1000},
					PayeeData: &uma.PayeeData{Identifier: "$bob@" + domain, Compliance: &uma.CompliancePayeeData{NodePubKey: nodeKey}}}
				if edit != nil {
					edit(pr, resp)
				}
				if err := resp.Sign(key, pr.PayerData.Identifier, time.Now()); err != nil {
					t.Error(err)
				}
				b, _ := resp.MarshalJSON()
				_, _ = rw.Write(b)
			}
		}
		text := func(status int, body string) func(http.ResponseWriter, *uma.PayRequest) {
			return func(rw http.ResponseWriter, _ *uma.PayRequest) {
				rw.WriteHeader(status)
				_, _ = rw.Write([]byte(body))
			}
		}
		for _, tc := range []struct {
			name   string
			answer func(http.ResponseWriter, *uma.PayRequest)
			ok     bool
		}{
			{"valid", reply(theirs.Signing, nil), true},
			{"signed by an impostor", reply(impostor.Signing, nil), false},
			{"500", text(500, "boom"), false},
			{"UMA error", text(400, `{"status":"ERROR","reason":"no","code":"AMOUNT_OUT_OF_RANGE"}`), false},
			{"garbage", text(200, `{"pr":`), false},
			{"wrong types", text(200, `{"pr":1,"converted":"x"}`), false},
			{"not a BOLT11", reply(theirs.Signing, func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.PR = "lnbcrt1garbage" }), false},
			{"invoice for more", reply(theirs.Signing, func(pr *uma.PayRequest, r *uma.PayReqResponse) { r.PR = invoice(pr.Amount + 1) }), false},
			{"no conversion", reply(theirs.Signing, func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.Converted = nil }), false},
			{"other currency", reply(theirs.Signing, func(_ *uma.PayRequest, r *uma.PayReqResponse) { r.Converted.CurrencyCode = "GBP" }), false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				answer = tc.answer
				q, err := s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
					LockedSide: vasp.LockedSending, Amount: 1000})
				if tc.ok {
					if err != nil || q.Msats <= 0 || q.Invoice == "" {
						t.Fatalf("quote %+v: %v", q, err)
					}
					return
				}
				if e := vaspd.AsError(err); err == nil || e.Status != 424 || e.Code != vaspd.CodePayreqRequestFailed {
					t.Fatalf("got %v, want 424 PAYREQ_REQUEST_FAILED", err)
				}
			})
		}
		// A payreq refused for its UMA version: the document's 412.
		answer = text(412, `{"status":"ERROR","reason":"v2 only","code":"UNSUPPORTED_UMA_VERSION","supportedMajorVersions":[1]}`)
		_, err = s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
			LockedSide: vasp.LockedSending, Amount: 1000})
		if e := vaspd.AsError(err); err == nil || e.Status != 412 || e.Code != vaspd.CodeUnsupportedUMAVersion {
			t.Fatalf("payreq answered 412: got %v, want 412 UNSUPPORTED_UMA_VERSION", err)
		}
		// The receiver's keys, needed to encrypt our travel-rule data,
		// cannot be had: the more specific 424 code, before any payreq.
		delete(w.keys, domain)
		answer = reply(theirs.Signing, nil)
		_, err = s.CreateQuote(t.Context(), vasp.QuoteRequest{LookupID: l.ID, SendingCurrency: "USD", ReceivingCurrency: "EUR",
			LockedSide: vasp.LockedSending, Amount: 1000})
		if e := vaspd.AsError(err); err == nil || e.Status != 424 || e.Code != vaspd.CodeCounterpartyPubkeyFetch {
			t.Fatalf("receiver without keys: got %v, want 424 COUNTERPARTY_PUBKEY_FETCH_ERROR", err)
		}
	})
}

// TestNewRefusesABaseURLCounterpartiesMustNotGet: the base URL is given to
// every counterparty (callbacks, the UMA-request endpoint), so New refuses
// one with user info, a query, a fragment or no host, as the daemon's
// configuration does, without echoing it.
func TestNewRefusesABaseURLCounterpartiesMustNotGet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		for _, base := range []string{"https://ops:s3cret@" + ourDomain, "https://" + ourDomain + "/?key=s3cret",
			"https://" + ourDomain + "/#s3cret", "https://:443", "ftp://" + ourDomain} {
			_, err := vasp.New(w.options(t, func(o *vasp.Options) { o.BaseURL = base }))
			if err == nil || !strings.Contains(err.Error(), "BaseURL") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("%s: err = %v, want one naming BaseURL without the secret", base, err)
			}
		}
		if _, err := vasp.New(w.options(t, func(o *vasp.Options) { o.BaseURL = "https://" + ourDomain + "/vasp/" })); err != nil {
			t.Errorf("a base URL with a path: %v", err)
		}
	})
}
