package vasp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/uma"
)

// Paying a plain Lightning Address (LUD-16: "bob@wallet.example", without
// UMA's "$") over LNURL-pay (LUD-06), when Options.PayLightningAddresses
// is on. The lookup is an unsigned GET of the address's lnurlp URL; the
// quote a GET of its callback with the amount in msats (or, in a LUD-21
// currency, N.CODE and convert), whose answer is a BOLT11 invoice checked
// against what we asked (amount or conversion, network, description hash,
// expiry). Such a receiver has no VASP we can verify:
// nothing is signed, no travel-rule data is sent and no post-transaction
// callback is made. From the quote on, execution, refresh, expiry and the
// ledger are the UMA ones: a plain quote is a quote like any other, its
// receiver the address without "$".

// satCode is the currency every plain Lightning Address is offered in:
// the invoice's own unit, converted by no one. The LUD-21 currencies a
// service offers are offered too, before it: their conversion is the
// service's word, unsigned, checked as an UMA receiver's is.
const satCode = "SAT"

// maxMetadata bounds a plain receiver's metadata, in bytes: it is kept
// with the lookup and hashed into the invoice. LUD-06 allows an image in
// it; 256 KiB is room for a small one.
const maxMetadata = 256 << 10

// isLightningAddress reports whether a lookup's receiver is a plain
// Lightning Address rather than an UMA address.
func isLightningAddress(receiver string) bool { return !strings.HasPrefix(receiver, "$") }

// satCurrency is what a plain receiver is offered in: whole satoshis
// within its minSendable/maxSendable.
func satCurrency(r *uma.LnurlpResponse) uma.Currency {
	return uma.Currency{Code: satCode, Name: "Satoshi", Symbol: "sat", Multiplier: 1000,
		Convertible: uma.Convertible{Min: (r.MinSendable + 999) / 1000, Max: r.MaxSendable / 1000}}
}

// lookupLightningAddress is LookupReceiver for a plain Lightning Address.
func (s *Service) lookupLightningAddress(ctx context.Context, userID string, addr uma.Address) (Lookup, error) {
	if err := s.notSelf(ctx, userID, addr); err != nil {
		return Lookup{}, err
	}
	if err := s.opt.Compliance.CounterpartyAllowed(ctx, addr.Domain); err != nil {
		return Lookup{}, vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
	}
	status, body, err := s.fetch(s.call(ctx, "lnurlp"), http.MethodGet, addr.LnurlpURL(), nil)
	if err == nil && status == http.StatusNotFound {
		return Lookup{}, vaspd.NotFound(vaspd.CodeUserNotFound, "%s does not exist", addr.String()).
			WithDetails(map[string]any{"receiverUmaAddress": addr.String()})
	}
	if err != nil || status != http.StatusOK {
		return Lookup{}, s.counterpartyError(lookupStep, status, body, err)
	}
	resp, err := uma.ParseLnurlpResponse(body)
	if err != nil {
		return Lookup{}, s.unreadable(lookupStep, status, body, err)
	}
	if err := checkPlainLnurlp(resp); err != nil {
		return Lookup{}, lookupStep.failed("%s answered %v", addr.String(), err)
	}
	if err := s.callbackAllowed(ctx, resp.Callback); err != nil {
		return Lookup{}, callbackNotAllowed(addr, err)
	}
	// Only what LUD-06/12/16/18 define is kept: an answer that also
	// carries UMA fields was not asked as UMA and is not verified as UMA.
	plain := &uma.LnurlpResponse{Tag: resp.Tag, Callback: resp.Callback, MinSendable: resp.MinSendable,
		MaxSendable: min(resp.MaxSendable, lightning.MaxAmountMsat), Metadata: resp.Metadata,
		PayerData: resp.PayerData, CommentAllowed: resp.CommentAllowed}
	// LUD-21 currencies that follow UMA's rules (its SAT, if any, is ours).
	for _, c := range usableCurrencies(resp.Currencies) {
		if c.Code != satCode {
			plain.Currencies = append(plain.Currencies, c)
		}
	}
	l := Lookup{ID: vaspd.NewID(vaspd.IDLookup), UserID: userID, Receiver: addr.String(), Response: plain, CreatedAt: s.clock.Now()}
	if err := s.recordLookup(ctx, l); err != nil {
		return Lookup{}, err
	}
	plain.Currencies = append(plain.Currencies, satCurrency(plain))
	return l, nil
}

// checkPlainLnurlp applies LUD-06 to a plain receiver's answer: a
// payRequest with a callback we may call, a positive msat range and
// metadata that is a JSON array holding a text/plain entry.
func checkPlainLnurlp(r *uma.LnurlpResponse) error {
	if r.Tag != "payRequest" {
		return fmt.Errorf("tag %q, not payRequest", vaspd.Truncate(r.Tag, 40))
	}
	if len(r.Callback) > maxCallbackURL {
		return fmt.Errorf("a callback URL of %d bytes (at most %d)", len(r.Callback), maxCallbackURL)
	}
	if err := checkCounterpartyURL(r.Callback); err != nil {
		return fmt.Errorf("the callback %q: %v", vaspd.Truncate(r.Callback, 100), err)
	}
	if r.MinSendable <= 0 || r.MaxSendable < r.MinSendable || r.MinSendable > lightning.MaxAmountMsat {
		return fmt.Errorf("minSendable %d and maxSendable %d msats: want 0 < min <= max", r.MinSendable, r.MaxSendable)
	}
	if c := satCurrency(r); c.Convertible.Min > c.Convertible.Max {
		// It is offered, and paid, in whole sats.
		return fmt.Errorf("minSendable %d and maxSendable %d msats: no whole sat between them", r.MinSendable, r.MaxSendable)
	}
	if len(r.Metadata) > maxMetadata {
		return fmt.Errorf("metadata of %d bytes (at most %d)", len(r.Metadata), maxMetadata)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(r.Metadata), &entries); err != nil {
		return errors.New("metadata that is not a JSON array")
	}
	text := false
	for _, e := range entries {
		var pair []json.RawMessage
		var mime string
		if json.Unmarshal(e, &pair) != nil || len(pair) < 2 || json.Unmarshal(pair[0], &mime) != nil {
			return errors.New("metadata with an entry that is not a [type, value] array")
		}
		var value string
		if mime == "text/plain" && json.Unmarshal(pair[1], &value) == nil {
			text = true
		}
	}
	if !text {
		return errors.New("metadata without a text/plain entry")
	}
	return nil
}

// plainQuoteTerms is quoteTerms for a lookup of a plain Lightning Address:
// it asks the receiver's callback for an invoice of the amount in msats
// and checks it. Nothing is stored.
func (s *Service) plainQuoteTerms(ctx context.Context, in QuoteRequest, l Lookup, id string, createdAt, termsAt time.Time) (Quote, string, error) {
	if !s.opt.PayLightningAddresses {
		return Quote{}, "", vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidReceiver,
			"%s is a plain Lightning Address, and paying those is off (pay-lightning-addresses)", l.Receiver)
	}
	if in.UmaRequestID != "" {
		return Quote{}, "", quoteInput("umaRequestId names an UMA request, which %s (a plain Lightning Address) cannot have sent", l.Receiver)
	}
	sender, err := s.opt.Users.ByID(ctx, in.UserID)
	if err != nil {
		return Quote{}, "", err
	}
	payer, err := s.plainPayerData(l.Response.PayerData, sender, in.SenderUserInfo)
	if err != nil {
		return Quote{}, "", err
	}
	comment, err := commentFor(in.Description, l.Response.CommentAllowed)
	if err != nil {
		return Quote{}, "", err
	}
	rate, theirs, receiver, err := s.quoteParties(ctx, in, l, uma.ParseAddress)
	if err != nil {
		return Quote{}, "", err
	}
	q := Quote{
		ID: id, LookupID: l.ID, UserID: in.UserID, Receiver: l.Receiver, Status: QuotePending,
		LockedSide: in.LockedSide, SendingCurrency: rate.Currency.Code, ReceivingCurrency: theirs.Code,
		Request: in, CreatedAt: createdAt, SendingCurrencyInfo: rate.Currency, OriginalQuoteID: in.OriginalQuoteID,
		ReceivingCurrencyInfo: rates.Currency{Code: theirs.Code, Name: theirs.Name, Symbol: theirs.Symbol, Decimals: theirs.Decimals},
	}
	ask, err := plainAmount(in, rate, theirs, l.Response)
	if err != nil {
		return Quote{}, "", err
	}
	u, _ := url.Parse(l.Response.Callback) // checked at the lookup
	query := u.Query()
	query.Set("amount", ask.amount)
	if theirs.Code != satCode {
		query.Set("convert", theirs.Code) // LUD-21
	}
	if comment != "" {
		query.Set("comment", comment)
	}
	if payer != nil {
		query.Set("payerdata", string(payer))
	}
	u.RawQuery = query.Encode()
	status, body, err := s.fetch(s.call(ctx, "payreq"), http.MethodGet, u.String(), nil)
	if err != nil || status != http.StatusOK {
		return Quote{}, "", s.counterpartyError(quoteStep, status, body, err)
	}
	resp, err := uma.ParsePayReqResponse(body)
	if err != nil {
		return Quote{}, "", s.unreadable(quoteStep, status, body, err)
	}
	inv, err := s.checkPlainInvoice(ctx, resp.PR, ask.msats, l, payer)
	if err != nil {
		return Quote{}, "", err
	}
	// The node paid is screened as an UMA receiver's is; such a receiver
	// states no UTXOs.
	if err := s.opt.Compliance.ScreenPayment(ctx, Outgoing, receiver.Domain, inv.Destination, nil); err != nil {
		return Quote{}, "", vaspd.Errorf(http.StatusForbidden, vaspd.CodeCounterpartyNotAllowed, "%s", uma.AsError(err).Reason)
	}
	q.SendingAmount, q.Fee, q.ReceivingAmount, q.Msats = ask.sending, ask.fee, inv.AmountMsat/1000, inv.AmountMsat
	if theirs.Code != satCode {
		// The receiver's conversion, checked as an UMA receiver's is; it
		// is its word, unsigned, as the whole answer is.
		if q.SendingAmount, q.Fee, err = priceConversion(in, rate, ask.conv, theirs, resp.Converted, inv.AmountMsat, l.Response); err != nil {
			return Quote{}, "", err
		}
		q.ReceivingAmount, q.ReceiverFeeMsats = resp.Converted.Amount, resp.Converted.Fee
	}
	q.Invoice, q.PaymentHash, q.ExpiresAt = resp.PR, inv.PaymentHash.String(), s.quoteExpiry(s.clock.Now(), inv.ExpiresAt())
	if limit := termsAt.Add(maxQuoteLife); q.ExpiresAt.After(limit) {
		q.ExpiresAt = limit
	}
	d := quoteDetails{Receiver: l.Receiver, ReceiverFeeMsats: q.ReceiverFeeMsats, Request: in, MsatsPerUnit: rate.SendMultiplier().FloatString(12),
		Sending: &q.SendingCurrencyInfo, Receiving: &q.ReceivingCurrencyInfo}
	raw, _ := json.Marshal(d)
	return q, string(raw), nil
}

// plainAsk is what a plain receiver's callback is asked for.
type plainAsk struct {
	amount string           // the callback's amount: msats, or N.CODE (LUD-21)
	msats  int64            // the invoice's amount; 0 when the receiver converts it
	conv   rates.Conversion // our conversion of a sender-locked amount
	// sending and fee are what our user spends and our fee, known unless
	// the receiver's conversion decides them (receiver-locked, not SAT)
	sending, fee int64
}

// plainAmount prices a plain quote before its callback is asked: our
// rate and fee, our range for the sending currency, the receiver's range
// (minSendable/maxSendable, or the currency's convertible range).
func plainAmount(in QuoteRequest, rate rates.Rate, theirs uma.Currency, r *uma.LnurlpResponse) (plainAsk, error) {
	lo, hi := r.MinSendable, r.MaxSendable
	if in.LockedSide == LockedSending {
		conv, err := sendForAmount(rate, in.Amount)
		if err != nil {
			return plainAsk{}, err
		}
		if conv.Msats < lo || conv.Msats > hi {
			return plainAsk{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
				"%d %s is %d msats; the receiver accepts %d to %d msats", in.Amount, rate.Currency.Code, conv.Msats, lo, hi)
		}
		// In SAT the receiver is shown the invoice's whole sats (rounded
		// down): under 1000 msats, 0 SAT for a payment of some msats. An
		// LNURL receiver may take such an amount (its range is in msats),
		// but no quote can show it.
		if theirs.Code == satCode && conv.Msats < 1000 {
			return plainAsk{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
				"%d %s is %d msats, less than 1 SAT, the least a receiver in SAT can be shown", in.Amount, rate.Currency.Code, conv.Msats)
		}
		// In another currency, the receiver converts what arrives at its
		// rate: it must buy between the convertible.min and .max it
		// advertised, as for an UMA receiver (in SAT, min/maxSendable
		// are that range already).
		if theirs.Code != satCode {
			if err := creditsSomething(in, rate, theirs, conv.Msats); err != nil {
				return plainAsk{}, err
			}
			if err := buysAtMostMax(in, rate, theirs, conv.Msats); err != nil {
				return plainAsk{}, err
			}
		}
		return plainAsk{amount: fmt.Sprint(conv.Msats), msats: conv.Msats, conv: conv, sending: in.Amount, fee: conv.FeeAmount}, nil
	}
	if cmin, cmax := theirs.Convertible.Min, theirs.Convertible.Max; in.Amount < cmin || in.Amount > cmax {
		return plainAsk{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
			"the receiver accepts %d to %d %s (smallest unit), not %d", cmin, cmax, theirs.Code, in.Amount)
	}
	if theirs.Code != satCode {
		return plainAsk{amount: fmt.Sprintf("%d.%s", in.Amount, theirs.Code)}, nil
	}
	msats := in.Amount * 1000 // at most maxSendable (convertible.max is in whole sats)
	if msats < lo || msats > hi {
		return plainAsk{}, vaspd.Errorf(http.StatusBadRequest, vaspd.CodeAmountOutOfRange,
			"the receiver accepts %d to %d msats, not %d SAT", lo, hi, in.Amount)
	}
	conv, err := rate.SendForMsats(msats)
	if err != nil {
		return plainAsk{}, quoteInput("cannot send %d msats in %s: %v", msats, rate.Currency.Code, err)
	}
	if err := sendingInRange(rate, conv.Amount); err != nil {
		return plainAsk{}, err
	}
	return plainAsk{amount: fmt.Sprint(msats), msats: msats, sending: conv.Amount, fee: conv.FeeAmount}, nil
}

// checkPlainInvoice checks a plain receiver's invoice: payable by our node
// (our network), for exactly msats (for an amount, when msats is 0: the
// receiver converted it, checked by priceConversion), not expired, never quoted before, and
// committing to the lookup's metadata (LUD-06: its description hash is
// SHA-256 of the metadata; LUD-18: of the metadata and the payer data
// sent, as sent).
func (s *Service) checkPlainInvoice(ctx context.Context, pr string, msats int64, l Lookup, payer []byte) (bolt11.Invoice, error) {
	info, err := s.opt.Node.Info(ctx)
	if err != nil {
		return bolt11.Invoice{}, fmt.Errorf("node info: %w", err)
	}
	inv, err := bolt11.Decode(pr, info.Network)
	if err != nil {
		return inv, quoteStep.failed("the receiver's invoice is not payable by our node: %v", err)
	}
	if inv.Expired(s.clock.Now()) {
		return inv, quoteStep.failed("the receiver's invoice is expired")
	}
	if err := s.notOwnInvoice(ctx, info, inv); err != nil {
		return inv, err
	}
	if inv.AmountMsat <= 0 || (msats != 0 && inv.AmountMsat != msats) {
		return inv, quoteStep.failed("the receiver's invoice is for %d msats, not the %d asked", inv.AmountMsat, msats)
	}
	want := sha256.Sum256([]byte(l.Response.Metadata))
	withPayer := sha256.Sum256(append([]byte(l.Response.Metadata), payer...))
	if got := inv.DescriptionHash; !bytes.Equal(got[:], want[:]) && (payer == nil || !bytes.Equal(got[:], withPayer[:])) {
		return inv, quoteStep.failed("the receiver's invoice does not commit to its metadata (description hash)")
	}
	if reused, err := s.invoiceQuoted(ctx, inv.PaymentHash.String()); err != nil {
		return inv, err
	} else if reused {
		return inv, quoteStep.failed("the receiver's invoice was already given for another quote")
	}
	return inv, nil
}

// plainPayerData is the LUD-18 payer data sent to a plain receiver that
// asks for some: only the fields it names (senderPayerData's rules for
// mandatory ones), our user's address as the identifier; nil when it asks
// none. It is never compliance data.
func (s *Service) plainPayerData(opts uma.CounterpartyDataOptions, sender Recipient, info map[string]any) ([]byte, error) {
	pd, err := senderPayerData(opts, sender.Name, info)
	if err != nil || len(opts) == 0 {
		return nil, err
	}
	if _, asked := opts[uma.DataName]; !asked {
		pd.Name = ""
	}
	if _, asked := opts[uma.DataIdentifier]; asked {
		pd.Identifier = s.address(sender.Local)
	}
	b, err := json.Marshal(pd)
	if err != nil {
		return nil, err
	}
	if string(b) == "{}" {
		return nil, nil
	}
	return b, nil
}
