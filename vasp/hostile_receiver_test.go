package vasp_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// More hostile senders, as a receiver sees them (see hostile_test.go).

// clientError fails t unless err is an *uma.Error the counterparty caused
// (HTTP 4xx), never a 5xx of ours or a success.
func clientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted, want a client error")
	}
	if st := uma.AsError(err).HTTPStatus(); st < 400 || st >= 500 {
		t.Fatalf("got %v (HTTP %d), want a 4xx", err, st)
	}
}

// Payer data that is not UTF-8 is stored as received (the LUD-18
// description hash is over its bytes): it must be refused as a parse
// error, not fail the database write (PostgreSQL refuses such text).
func TestPayRequestInvalidUTF8PayerData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		t.Run("POST body", func(t *testing.T) {
			pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
			pr.PayerData.Name = "Al"
			body, err := json.Marshal(pr)
			if err != nil {
				t.Fatal(err)
			}
			body = bytes.Replace(body, []byte(`"Al"`), []byte("\"Al\xff\xfe\""), 1)
			parsed, err := uma.ParsePayRequest(body)
			if err == nil {
				_, err = s.PayRequest(t.Context(), "bob", parsed)
			}
			clientError(t, err)
		})
		t.Run("GET query", func(t *testing.T) {
			q := url.Values{"amount": {"100000"}, "payerdata": {"{\"identifier\":\"x\xff@wallet.example\"}"}}
			parsed, err := uma.ParsePayRequestQuery(q)
			if err == nil {
				_, err = s.PayRequest(t.Context(), "bob", parsed)
			}
			clientError(t, err)
		})
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
	})
}

// A plain LNURL payer's identifier is kept, cut to a bounded length: the
// cut must not split a character (PostgreSQL refuses invalid UTF-8).
func TestPayRequestLongUnicodeIdentifier(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, nil)
		id := "x" + strings.Repeat("é", 400) + "@wallet.example"
		pr := &uma.PayRequest{Amount: 100_000, PayerData: &uma.PayerData{Identifier: id}}
		if _, err := s.PayRequest(t.Context(), "bob", pr); err != nil {
			t.Fatalf("plain LNURL payreq: %v", err)
		}
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 || !strings.HasPrefix(id, strings.TrimSuffix(ts[0].Counterparty, "…")) {
			t.Fatalf("transactions %+v, %v", ts, err)
		}
	})
}

// The utxoCallback endpoint: only a callback signed by the counterparty of
// the payment it names is kept, once; anything else is a clear 4xx.
func TestUtxoCallbackRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		other := w.counterparty(t, "other.example")
		s := w.service(t, nil)
		tr := completed(t, w, s, "", w.clock.Now())
		signed := func(key *uma.PrivateKey, domain string, edit func([]byte) []byte) []byte {
			cb := &uma.PostTransactionCallback{VaspDomain: domain, Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}}}
			cb.Sign(key, w.clock.Now())
			b, err := json.Marshal(cb)
			if err != nil {
				t.Fatal(err)
			}
			if edit != nil {
				b = edit(b)
			}
			return b
		}
		good := signed(alices.Signing, "vasp1.example", nil)
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, good), "")
		for _, tc := range []struct {
			name string
			txid string
			body []byte
			code uma.ErrorCode
		}{
			{"replayed", tr.ID, good, uma.CodeInvalidNonce},
			{"unknown transaction", "Transaction:0197a0d4-6a5e-7000-8000-000000000000", signed(alices.Signing, "vasp1.example", nil), uma.CodeRequestNotFound},
			{"no txid", "", signed(alices.Signing, "vasp1.example", nil), uma.CodeRequestNotFound},
			{"another VASP", tr.ID, signed(other.Signing, "other.example", nil), uma.CodeInvalidSignature},
			{"signed by another VASP", tr.ID, signed(other.Signing, "vasp1.example", nil), uma.CodeInvalidSignature},
			{"garbage", tr.ID, []byte(`{"utxos":`), uma.CodeParseUTXOCallbackError},
			{"not UTF-8", tr.ID, signed(alices.Signing, "vasp1.example", func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"ab:0"`), []byte("\"ab\xff:0\""), 1)
			}), uma.CodeParseUTXOCallbackError},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantCode(t, s.ReceiveUtxoCallback(t.Context(), tc.txid, tc.body), tc.code)
			})
		}
		// The database failing to find the transaction (here: the request
		// gone before the query) is our error, a 500 the sender retries,
		// not its "no such transaction".
		gone, cancel := context.WithCancel(t.Context())
		cancel()
		var e *uma.Error
		if err := s.ReceiveUtxoCallback(gone, tr.ID, signed(alices.Signing, "vasp1.example", nil)); err == nil || errors.As(err, &e) {
			t.Fatalf("lookup failing in the database: %v, want an internal error, not an UMA refusal", err)
		}
		if n := countRows(t, db, "uma_utxo_callbacks"); n != 1 {
			t.Fatalf("%d callbacks kept, want 1", n)
		}
	})
}

// A v0.3 sender (we answered its lnurlp with umaVersion 0.3) sends a v0
// payreq and reads a v0 answer: top-level compliance and paymentInfo.
func TestPayRequestV0IsAnsweredV0(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.V0 = true
		body, err := json.Marshal(pr)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := uma.ParsePayRequest(body)
		if err != nil || !parsed.V0 {
			t.Fatalf("v0 payreq parsed V0=%v: %v", parsed != nil && parsed.V0, err)
		}
		resp, err := s.PayRequest(t.Context(), "bob", parsed)
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		var wire map[string]json.RawMessage
		if err := json.Unmarshal(out, &wire); err != nil {
			t.Fatal(err)
		}
		if wire["paymentInfo"] == nil || wire["compliance"] == nil || wire["payeeData"] != nil {
			t.Fatalf("v0 payreq answered %s, want the v0 shape", out)
		}
	})
}

// The range a currency accepts (convertible.min/max in the lnurlp answer,
// the rate's min/max) holds for what the payee is credited however the
// payer locked the amount: in the currency or in msats.
func TestPayRequestSenderLockedOutsideCurrencyRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		cfg := rates.Config{Currencies: []rates.CurrencyConfig{{Code: "EUR", Decimals: 2, BTCPrice: "92000", Min: 100, Max: 10_000}}}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Rates = p })
		for _, tc := range []struct {
			name  string
			msats int64
			code  uma.ErrorCode
		}{
			{"within", 1_000_000_00, ""},                           // 0.001 BTC = €92
			{"above max", 1_000_000_000, uma.CodeAmountOutOfRange}, // 0.01 BTC = €920 > €100
			{"below min", 100_000, uma.CodeAmountOutOfRange},       // 100 sats = €0.09 < €1
		} {
			t.Run(tc.name, func(t *testing.T) {
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				pr.Amount, pr.SendingCurrency = tc.msats, ""
				if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
					t.Fatal(err)
				}
				_, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, tc.code)
			})
		}
	})
}

// Copies of one UMA request arriving at once (a sender retrying after a
// timeout) are all answered as the repeat they are: one request kept,
// announced once, no 500 for the copies that lost the race.
func TestUmaRequestConcurrentCopies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		const rounds, copies = 4, 16
		for round := range rounds {
			inv := &uma.Invoice{
				ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: fmt.Sprintf("c7c07fec-cf00-431c-916f-6c13fc4b69f%d", round), Amount: 1250,
				ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
				Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
				UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain,
				Callback: "https://vasp1.example/api/uma/payreq/carol",
			}
			body := umaRequestBody(t, carols.Signing, inv)
			var wg sync.WaitGroup
			ids := make([]string, copies)
			errs := make([]error, copies)
			for i := range copies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := s.ReceiveUmaRequest(context.Background(), body)
					ids[i], errs[i] = r.ID, err
				}()
			}
			wg.Wait()
			for i := range copies {
				if errs[i] != nil || ids[i] != ids[0] {
					t.Fatalf("round %d, copy %d: %q %v, want %q", round, i, ids[i], errs[i], ids[0])
				}
			}
		}
		if n := countRows(t, db, "uma_requests"); n != rounds {
			t.Fatalf("%d UMA requests kept, want %d", n, rounds)
		}
		var announced int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM webhook_events WHERE type = 'UMA_REQUEST'`).Scan(&announced); err != nil || announced != rounds {
			t.Fatalf("UMA_REQUEST webhooks: %d %v, want %d", announced, err, rounds)
		}
	})
}

// A nonce is the signer's choice of bytes and is stored: one that is not
// UTF-8 (possible in an lnurlp query, "%FF") is refused, not a 500 from a
// database that only stores text.
func TestLnurlpNonceNotUTF8(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		u := lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now())
		q := u.Query()
		nonce := "\xff42"
		payload := "$bob@" + ourDomain + "|" + nonce + "|" + q.Get("timestamp")
		q.Set("nonce", nonce)
		q.Set("signature", hex.EncodeToString(uma.SignPayload(sender.Signing, []byte(payload))))
		u.RawQuery = q.Encode()
		_, err := s.Lnurlp(t.Context(), u, "bob")
		clientError(t, err)
	})
}

// The text fields of an UMA invoice are bytes the signer chose; those the
// UMA request keeps (invoiceUUID, currency) must be UTF-8 text without NUL
// (valid UTF-8, but no text PostgreSQL stores), or the request is refused
// as an invalid invoice on every database, never kept on SQLite and
// answered 500 on PostgreSQL, where the insert failed.
func TestUmaRequestInvoiceNotText(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		for _, tc := range []struct {
			name string
			edit func(*uma.Invoice)
		}{
			{"invoiceUUID", func(inv *uma.Invoice) { inv.InvoiceUUID = "c7c07fec\xff" }},
			{"currency", func(inv *uma.Invoice) { inv.ReceivingCurrency.Code = "US\xff" }},
			{"invoiceUUID NUL", func(inv *uma.Invoice) { inv.InvoiceUUID = "c7c07fec\x00" }},
			{"currency NUL", func(inv *uma.Invoice) { inv.ReceivingCurrency.Code = "US\x00" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				inv := &uma.Invoice{
					ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69f9", Amount: 1250,
					ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
					Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
					UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain,
					Callback: "https://vasp1.example/api/uma/payreq/carol",
				}
				tc.edit(inv)
				body := umaRequestBody(t, carols.Signing, inv)
				_, err := s.ReceiveUmaRequest(t.Context(), body)
				wantCode(t, err, uma.CodeInvalidInvoice)
			})
		}
		if n := countRows(t, db, "uma_requests"); n != 0 {
			t.Fatalf("%d UMA requests kept", n)
		}
	})
}

// A post-transaction callback we fail to keep (the database refused the
// row) is answered 500 and must stay acceptable: the sender's retry of the
// same signed callback is kept, not refused as a replay.
func TestUtxoCallbackKeptOrNonceUnused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		alices := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		tr := completed(t, w, s, "", w.clock.Now())
		cb := &uma.PostTransactionCallback{VaspDomain: "vasp1.example", Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}}}
		cb.Sign(alices.Signing, w.clock.Now())
		body, err := json.Marshal(cb)
		if err != nil {
			t.Fatal(err)
		}
		failing := []string{`CREATE TRIGGER utxo_boom BEFORE INSERT ON uma_utxo_callbacks BEGIN SELECT RAISE(ABORT, 'boom'); END`}
		healed := `DROP TRIGGER utxo_boom`
		if db.Driver().Name() == "postgres" {
			failing = []string{`CREATE FUNCTION utxo_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$`,
				`CREATE TRIGGER utxo_boom BEFORE INSERT ON uma_utxo_callbacks FOR EACH ROW EXECUTE FUNCTION utxo_boom()`}
			healed = `DROP TRIGGER utxo_boom ON uma_utxo_callbacks`
		}
		for _, q := range failing {
			if _, err := db.ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.ReceiveUtxoCallback(t.Context(), tr.ID, body); err == nil {
			t.Fatal("kept a callback the database refused")
		}
		if _, err := db.ExecContext(t.Context(), healed); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, body), "")
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), tr.ID, body), uma.CodeInvalidNonce)
		if n := countRows(t, db, "uma_utxo_callbacks"); n != 1 {
			t.Fatalf("%d callbacks kept, want 1", n)
		}
	})
}

// The longest addresses parse: a payment from one is stored with its
// sender whole, so that sender's post-transaction callback is heard (it
// was cut at 300 bytes and refused as about an unknown payment).
func TestLongSenderAddressCallback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		domain := strings.Repeat("v", 230) + ".example"
		sender := w.counterparty(t, domain)
		s := w.service(t, nil)
		identifier := "$" + strings.Repeat("A", 64) + "@" + domain
		_, err := s.PayRequest(t.Context(), "bob", payRequest(t, sender.Signing, identifier, w.clock.Now()))
		wantCode(t, err, "")
		ts, err := s.ListTransactions(t.Context(), vasp.TransactionFilter{}, "", 1)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %d, %v", len(ts), err)
		}
		if want := strings.ToLower(identifier); ts[0].Counterparty != want {
			t.Fatalf("counterparty stored as %q, want %q", ts[0].Counterparty, want)
		}
		cb := &uma.PostTransactionCallback{VaspDomain: domain, Utxos: []uma.UtxoWithAmount{{Utxo: "ab:0", AmountMsats: 1000}}}
		cb.Sign(sender.Signing, w.clock.Now())
		b, err := json.Marshal(cb)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.ReceiveUtxoCallback(t.Context(), ts[0].ID, b), "")
	})
}

// A payment that would credit the payee past ledger.MaxBalance is refused
// when it is priced: once paid, its credit would fail and be retried
// forever.
func TestPayRequestPastBalanceCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		if _, err := ledger.New(db, nil).Post(t.Context(), ledger.Deposit("deposit/cap", w.bob.UserID, "EUR", ledger.MaxBalance-400, "test")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			amount int64
			code   uma.ErrorCode
		}{
			{"past the cap", 401, uma.CodeAmountOutOfRange},
			{"up to the cap", 400, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				pr.Amount = tc.amount
				if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
					t.Fatal(err)
				}
				_, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, tc.code)
			})
		}
	})
}

// The cap counts what the payee has held for payments in flight: a
// payment priced against the available balance alone would be paid and
// then left PENDING, its credit refused, until the payee spent.
func TestPayRequestPastBalanceCapWithHeldMoney(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		l := ledger.New(db, nil)
		if _, err := l.Post(t.Context(), ledger.Deposit("deposit/cap", w.bob.UserID, "EUR", ledger.MaxBalance-400, "test")); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Post(t.Context(), ledger.Reserve("reserve/cap", w.bob.UserID, "EUR", 1000, "test")); err != nil {
			t.Fatal(err)
		}
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		pr.Amount = 401
		if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := s.PayRequest(t.Context(), "bob", pr)
		wantCode(t, err, uma.CodeAmountOutOfRange)
	})
}

// Amounts at the edges of int64, as a hostile sender may ask them, with a
// receiver that sets no limits of its own (a rate without max, maxSendable
// at math.MaxInt64, which no invoice can reach: 21M BTC is the most one
// asks): each is refused with the UMA error for it, never an overflow into
// a small invoice, an internal error, a panic or a recorded payment.
func TestPayRequestExtremeAmounts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		cfg := rates.Config{Currencies: []rates.CurrencyConfig{{Code: "EUR", Decimals: 2, BTCPrice: "92000", SpreadBps: 50, FixedFee: 3}}}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := w.service(t, func(o *vasp.Options) { o.Rates = p; o.MaxSendableMsats = math.MaxInt64 })
		for _, tc := range []struct {
			name     string
			amount   int64
			currency string // "" = msats (sender-locked)
			code     uma.ErrorCode
		}{
			{"receiver-locked MaxInt64", math.MaxInt64, "EUR", uma.CodeAmountOutOfRange},
			{"receiver-locked past MaxInt64/1000", math.MaxInt64/1000 + 1, "EUR", uma.CodeAmountOutOfRange},
			{"receiver-locked 0", 0, "EUR", uma.CodeAmountOutOfRange},
			{"receiver-locked at the fee", 3, "EUR", ""},
			{"sender-locked MaxInt64 msats", math.MaxInt64, "", uma.CodeAmountOutOfRange},
			{"sender-locked past 21M BTC", lightning.MaxAmountMsat + 1, "", uma.CodeAmountOutOfRange},
			{"sender-locked 0 msats", 0, "", uma.CodeAmountOutOfRange},
			{"sender-locked below the fee", 1_000, "", uma.CodeAmountOutOfRange},
			{"suffix in lower case", 500, "eur", uma.CodeInvalidCurrency},
		} {
			t.Run(tc.name, func(t *testing.T) {
				pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
				pr.Amount, pr.SendingCurrency = tc.amount, tc.currency
				if err := pr.Sign(sender.Signing, w.clock.Now()); err != nil {
					t.Fatal(err)
				}
				resp, err := s.PayRequest(t.Context(), "bob", pr)
				wantCode(t, err, tc.code)
				if err == nil && (resp.Converted.Amount != tc.amount || resp.Converted.Fee <= 0) {
					t.Fatalf("converted %+v", *resp.Converted)
				}
			})
		}
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM uma_transactions`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d transactions recorded (%v), want the one accepted", n, err)
		}
	})
}

// An UMA request body naming its invoice twice (in any case: encoding/json
// matches names so) is refused: which invoice was sent cannot be told,
// however well each is signed. The body with one of them is taken.
func TestUmaRequestInvoiceNamedTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		carols := w.counterparty(t, "vasp1.example")
		s := w.service(t, nil)
		body := func(uuid string) []byte {
			return umaRequestBody(t, carols.Signing, &uma.Invoice{
				ReceiverUMA: "$carol@vasp1.example", InvoiceUUID: uuid, Amount: 1250,
				ReceivingCurrency: uma.InvoiceCurrency{Code: "USD", Name: "US Dollar", Symbol: "$", Decimals: 2},
				Expiration:        w.clock.Now().Add(time.Hour).Unix(), IsSubjectToTravelRule: true,
				UmaVersions: uma.Version1.String(), SenderUMA: "$alice@" + ourDomain,
				Callback: "https://vasp1.example/api/uma/payreq/carol",
			})
		}
		one, two := body("c7c07fec-cf00-431c-916f-6c13fc4b69f9"), body("d7c07fec-cf00-431c-916f-6c13fc4b69f9")
		twice := append(bytes.TrimSuffix(one, []byte("}")), append([]byte(`,"Invoice":`), bytes.TrimPrefix(two, []byte(`{"invoice":`))...)...)
		_, err := s.ReceiveUmaRequest(t.Context(), twice)
		wantCode(t, err, uma.CodeInvalidRequestFormat)
		if n := countRows(t, db, "uma_requests"); n != 0 {
			t.Fatalf("%d UMA requests kept of a body naming its invoice twice", n)
		}
		if _, err := s.ReceiveUmaRequest(t.Context(), one); err != nil {
			t.Fatalf("the body naming it once: %v", err)
		}
	})
}
