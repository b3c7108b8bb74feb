package vasp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/uma"
)

// The receiving side of a payment: a counterparty VASP (or a plain
// Lightning Address wallet) asks about one of our users (lnurlp), then asks
// for an invoice (payreq). Errors returned here are *uma.Error, ready to be
// written as the UMA error JSON with their status.

// metadata is the LNURL metadata for one user. It is deterministic, so the
// description hash of the invoice matches what the lnurlp response showed.
func (s *Service) metadata(local string) string {
	return uma.BuildMetadata("Pay to "+s.opt.Domain+" user $"+local, s.address(local))
}

// recipient finds a user by UMA local part as the protocol needs it.
func (s *Service) recipient(ctx context.Context, local string) (Recipient, error) {
	addr, err := uma.ParseAddress("$" + local + "@" + s.opt.Domain)
	if err != nil {
		return Recipient{}, uma.Errorf(uma.CodeUserNotFound, "no such user")
	}
	r, err := s.opt.Users.ByUMALocal(ctx, addr.User)
	if err != nil {
		var ve *vaspd.Error
		if errors.As(err, &ve) && ve.Status == 404 {
			return Recipient{}, uma.Errorf(uma.CodeUserNotFound, "no user $%s at %s", addr.User, s.opt.Domain)
		}
		return Recipient{}, fmt.Errorf("find user: %w", err)
	}
	return r, nil
}

// paymentBounds is the range of one payment in rate's currency, smallest
// units: the rates file's min (at least 1) and max (0 there, no bound,
// is 2^53, what a JSON number holds exactly).
func paymentBounds(rate rates.Rate) (lo, hi int64) {
	if hi = rate.Max; hi <= 0 {
		hi = 1 << 53
	}
	return max(rate.Min, 1), hi
}

// currencies are the currencies r can receive, priced now, with the
// range each accepts; the first is r's default. With stale rates
// (rates-max-age) it is an UMA USER_NOT_READY: the user cannot receive
// "at this time".
func (s *Service) currencies(ctx context.Context, r Recipient) ([]uma.Currency, []rates.Rate, error) {
	codes := r.Currencies
	if len(codes) == 0 {
		all, err := s.opt.Rates.Currencies(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list currencies: %w", err)
		}
		for _, c := range all {
			codes = append(codes, c.Code)
		}
	}
	var out []uma.Currency
	var rs []rates.Rate
	for _, code := range codes {
		// Refused whole while our rates are stale: a lookup's
		// multipliers are prices the sender shows its user, a payreq's
		// the price of the payment.
		rate, err := rates.FreshRate(ctx, s.opt.Rates, code)
		if errors.Is(err, rates.ErrStale) {
			return nil, nil, uma.Errorf(uma.CodeUserNotReady, "this VASP cannot price payments now: its exchange rates are out of date; try again later")
		}
		if err != nil {
			// A currency gone from the rates file while users still
			// name it: each lookup and payreq meets it, so a warning
			// when first met, then hourly.
			level := slog.LevelDebug
			if s.ratesNoted.due(code, s.clock.Now(), lookupLogEvery) {
				level = slog.LevelWarn
			}
			s.log.Log(ctx, level, "currency without a rate skipped: users naming it cannot receive it", "currency", code, "err", err)
			continue
		}
		min, max, ok := s.receivable(rate)
		if !ok {
			continue // no amount of it is within the msats we accept
		}
		out = append(out, uma.Currency{
			Code: rate.Currency.Code, Name: rate.Currency.Name, Symbol: rate.Currency.Symbol,
			Multiplier: rate.UMAMultiplier(), Decimals: rate.Currency.Decimals,
			Convertible: uma.Convertible{Min: min, Max: max},
		})
		rs = append(rs, rate)
	}
	if len(out) == 0 {
		return nil, nil, uma.Errorf(uma.CodeUserNotReady, "the user cannot receive any currency now")
	}
	return out, rs, nil
}

// receivable is the range of one incoming payment in rate's currency,
// smallest units: paymentBounds narrowed to the amounts whose msats at
// rate are within MinSendableMsats..MaxSendableMsats, which priceIncoming
// also enforces. Without it, at the default bounds (10 BTC), a $1M max
// advertised a dollar range a payreq was refused the top of. ok is false
// when no amount is within both.
func (s *Service) receivable(rate rates.Rate) (lo, hi int64, ok bool) {
	lo, hi = paymentBounds(rate)
	// The most units MaxSendableMsats pays for (floor); ErrOverflow
	// (more units than an int64 holds) leaves hi as it is.
	c, err := rate.ReceiveForMsats(s.opt.MaxSendableMsats)
	switch {
	case errors.Is(err, rates.ErrAmountTooSmall):
		return 0, 0, false
	case err == nil:
		hi = min(hi, c.Amount)
	}
	// The fewest units whose msats reach MinSendableMsats: the most it
	// pays for, or one more when those cost less. ErrAmountTooSmall:
	// one unit costs more than it already.
	if c, err := rate.ReceiveForMsats(s.opt.MinSendableMsats); err == nil {
		u := c.Amount
		if at, err := rate.ReceiveForAmount(u); err == nil && at.Msats < s.opt.MinSendableMsats {
			u++
		}
		lo = max(lo, u)
	}
	return lo, hi, lo <= hi
}

// Lnurlp answers GET /.well-known/lnurlp/{local}. u is the request's URL;
// its Host is not used.
// Requests without UMA parameters get a plain LNURL-pay answer, so that
// Lightning Address wallets can pay our users too.
func (s *Service) Lnurlp(ctx context.Context, u *url.URL, local string) (*uma.LnurlpResponse, error) {
	// r may come from a lookup cache that has not heard of a deletion or
	// rename made by another process (LiveChecker): answering for the
	// address's previous holder for that second is harmless, as nothing
	// is paid without a payreq, and PayRequest checks its recipient where
	// the payment is recorded (checkRecipient).
	r, err := s.recipient(ctx, local)
	if err != nil {
		return nil, err
	}
	resp := &uma.LnurlpResponse{
		Callback:    s.payreqURL(r.Local),
		MinSendable: s.opt.MinSendableMsats,
		MaxSendable: s.opt.MaxSendableMsats,
		Metadata:    s.metadata(r.Local),
		// LUD-12: longer comments are refused (checkComment).
		CommentAllowed: MaxDescriptionLen,
	}
	// Parsing first: some but not all UMA parameters is a broken UMA
	// request (400), not a plain LNURL one. The signature covers the
	// receiver's address, $user@domain, which the sender took from the
	// address its user typed: so it is verified with our configured
	// domain, not the Host the request came with, which a proxy in front
	// of vaspd may have rewritten and which a request signed for another
	// domain's user could carry.
	ours := *u
	ours.Host = s.opt.Domain
	req, err := uma.ParseLnurlpRequest(&ours)
	if err != nil {
		return nil, err
	}
	if !req.IsUMA() {
		// LUD-21: the currencies r receives in, as for UMA, so that a
		// wallet may send an amount in one (amount=N.CODE, convert)
		// rather than msats credited in r's default currency. With
		// stale rates a payment cannot be priced: refused now, as the
		// payreq would be.
		var rs []rates.Rate
		if resp.Currencies, rs, err = s.currencies(ctx, r); err != nil {
			return nil, err
		}
		// A plain payment is credited in r's default currency.
		resp.MinSendable, resp.MaxSendable = s.sendable(resp.Currencies[:1], rs[:1])
		return resp, nil
	}
	if err := s.opt.Compliance.CounterpartyAllowed(ctx, req.VaspDomain); err != nil {
		return nil, err
	}
	if _, err := s.verifier.VerifyLnurlpRequest(ctx, req); err != nil {
		return nil, err
	}
	version, err := uma.NegotiateVersion(req.UmaVersion)
	if err != nil {
		return nil, err
	}
	var rs []rates.Rate
	if resp.Currencies, rs, err = s.currencies(ctx, r); err != nil {
		return nil, err
	}
	resp.MinSendable, resp.MaxSendable = s.sendable(resp.Currencies, rs)
	kyc := r.kycStatus()
	resp.PayerData = s.payerData
	resp.Compliance = &uma.LnurlComplianceResponse{KycStatus: kyc, IsSubjectToTravelRule: true, ReceiverIdentifier: s.address(r.Local)}
	resp.UmaVersion = version.String()
	if err := resp.Sign(s.opt.Keys.Signing, s.clock.Now()); err != nil {
		return nil, err
	}
	// UMA signs this answer over "receiverIdentifier|nonce|timestamp",
	// as it signs a payreq over "payerIdentifier|nonce|timestamp": the
	// asker holds our signature of a payreq from r, which we would verify
	// with our own keys. Its nonce is recorded (ourAnswers), and a payreq
	// from our domain naming it refused (checkNotOurAnswer).
	c := resp.Compliance
	if err := s.nonces.save(ctx, s.db, s.ourAnswers(), c.SignatureNonce, time.Unix(c.SignatureTimestamp, 0)); err != nil {
		return nil, fmt.Errorf("record our lnurlp answer's nonce: %w", err)
	}
	return resp, nil
}

// sendable is the range of msats a payreq may carry (minSendable and
// maxSendable, LUD-06) to be credited in one of the currencies cs, priced
// by rs: from the least that credits a currency's convertible min to the
// most that credits at most its max, at today's rates and within the
// configured bounds, which priceIncoming all enforces. Advertising the
// configured bounds alone would offer a wallet's user amounts (1 sat,
// which credits no euro cent) the payreq then refuses. Several currencies
// give the range that covers them all. The rates move, so an amount at
// an edge may be refused a little later: the sender is told
// AMOUNT_OUT_OF_RANGE, as for any amount outside.
func (s *Service) sendable(cs []uma.Currency, rs []rates.Rate) (lo, hi int64) {
	// cs's ranges were narrowed by receivable: its min costs from
	// MinSendableMsats to MaxSendableMsats, so only the top is clamped.
	lo, hi = math.MaxInt64, 0
	for i, c := range cs {
		least, err := rs[i].ReceiveForAmount(c.Convertible.Min)
		if err != nil {
			continue // not narrowed by receivable: advertise none of it
		}
		most := s.opt.MaxSendableMsats
		if c.Convertible.Max < math.MaxInt64 {
			if past, err := rs[i].ReceiveForAmount(c.Convertible.Max + 1); err == nil {
				most = min(most, past.Msats-1)
			}
		}
		lo, hi = min(lo, least.Msats), max(hi, most)
	}
	if lo > hi {
		// No currency (currencies offers at least one): the bounds.
		return s.opt.MinSendableMsats, s.opt.MaxSendableMsats
	}
	return lo, hi
}

// ourAnswers is the scope in uma_nonces of the nonces of our lnurlp
// answers: not our domain's, in which our own lookups verify those
// answers (a sender paying another of our users), but a name no signer
// has ("#" is in no domain).
func (s *Service) ourAnswers() string {
	return uma.NormalizeDomain(s.opt.Domain) + "#lnurlp-answers"
}

// checkNotOurAnswer refuses a payreq from our own domain whose nonce is
// one of our lnurlp answers': its signature is then ours of an answer
// about the user it names as the payer, sent back.
func (s *Service) checkNotOurAnswer(ctx context.Context, domain, nonce string) error {
	if !uma.SameDomain(domain, s.opt.Domain) {
		return nil
	}
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM uma_nonces WHERE domain = $1 AND nonce = $2`, s.ourAnswers(), nonce).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check nonce: %w", err)
	}
	return uma.Errorf(uma.CodeInvalidNonce, "nonce already used: the signature is of our lnurlp answer, not a payreq")
}

// incomingQuote is the price of one incoming payment.
type incomingQuote struct {
	rate  rates.Rate
	conv  rates.Conversion
	msats int64 // the invoice amount
}

// priceIncoming applies our rates to a payreq: which currency r is
// credited in, how much, and for how many msats.
func (s *Service) priceIncoming(ctx context.Context, r Recipient, req *uma.PayRequest) (incomingQuote, error) {
	offered, rs, err := s.currencies(ctx, r)
	if err != nil {
		return incomingQuote{}, err
	}
	if !req.Settlement.IsLightning() {
		return incomingQuote{}, uma.Errorf(uma.CodeInvalidCurrency, "only Lightning settlement is supported")
	}
	code := req.ReceivingCurrency
	if code == "" {
		if req.SendingCurrency != "" {
			return incomingQuote{}, uma.Errorf(uma.CodeInvalidCurrency, "an amount in a currency needs convert")
		}
		code = offered[0].Code // plain LNURL: credit the default currency
	}
	i := slices.IndexFunc(offered, func(c uma.Currency) bool { return c.Code == code })
	if i < 0 {
		return incomingQuote{}, uma.Errorf(uma.CodeInvalidCurrency, "currency %q is not offered", vaspd.Truncate(code, 16))
	}
	rate := rs[i]
	var conv rates.Conversion
	if req.SendingCurrency != "" {
		if req.SendingCurrency != code {
			return incomingQuote{}, uma.Errorf(uma.CodeInvalidCurrency, "amount currency %q differs from convert %q", vaspd.Truncate(req.SendingCurrency, 16), code)
		}
		if req.Amount < offered[i].Convertible.Min || req.Amount > offered[i].Convertible.Max {
			return incomingQuote{}, uma.Errorf(uma.CodeAmountOutOfRange, "amount %d %s is outside [%d, %d]", req.Amount, code, offered[i].Convertible.Min, offered[i].Convertible.Max)
		}
		conv, err = rate.ReceiveForAmount(req.Amount)
	} else {
		conv, err = rate.ReceiveForMsats(req.Amount)
	}
	if err != nil {
		return incomingQuote{}, uma.Errorf(uma.CodeAmountOutOfRange, "amount %d cannot be received: %v", req.Amount, err)
	}
	// The currency's range bounds what r is credited, also when the
	// sender locked the msats: the range advertised (receivable), so
	// also without a max in the rates file.
	if conv.Amount < offered[i].Convertible.Min || conv.Amount > offered[i].Convertible.Max {
		return incomingQuote{}, uma.Errorf(uma.CodeAmountOutOfRange, "amount of %d msats converts to %d %s, outside [%d, %d]",
			req.Amount, conv.Amount, code, offered[i].Convertible.Min, offered[i].Convertible.Max)
	}
	if conv.Msats < s.opt.MinSendableMsats || conv.Msats > s.opt.MaxSendableMsats {
		return incomingQuote{}, uma.Errorf(uma.CodeAmountOutOfRange, "amount of %d msats is outside [%d, %d]", conv.Msats, s.opt.MinSendableMsats, s.opt.MaxSendableMsats)
	}
	if err := s.checkBalanceRoom(ctx, r, code, conv.Amount); err != nil {
		return incomingQuote{}, err
	}
	return incomingQuote{rate: rate, conv: conv, msats: conv.Msats}, nil
}

// checkBalanceRoom refuses a payment that would credit r past
// ledger.MaxBalance in currency, which caps what r has available and held
// together: the credit on settlement would fail, and the payment wait
// PENDING, the payer's money on our node, until r has room
// (creditLater). This reads the balances now; payments already invoiced
// but not yet settled (or settling concurrently) are not counted, so
// several of them can still together take r past the cap.
func (s *Service) checkBalanceRoom(ctx context.Context, r Recipient, currency string, amount int64) error {
	bs, err := s.opt.Ledger.UserBalances(ctx, s.db, r.UserID)
	if err != nil {
		return fmt.Errorf("read balance: %w", err)
	}
	var bal int64
	for _, b := range bs {
		if b.Currency == currency {
			bal = b.Available + b.Held // each at most MaxBalance: no overflow
		}
	}
	// The reason does not tell the sender how much room is left: that
	// would be the payee's balance.
	if amount > ledger.MaxBalance-bal {
		return uma.Errorf(uma.CodeAmountOutOfRange, "%d %s would take the payee's balance past the largest one allowed", amount, currency)
	}
	return nil
}

// PayRequest answers a payreq for local: it verifies the sender, prices the
// payment, asks the platform to approve it (INCOMING_PAYMENT, PENDING),
// issues the invoice and records the incoming transaction, which is
// credited when the invoice settles. The recipient local names is found
// perhaps from a cache, and checked to still hold the address where the
// payment is recorded and again where its invoice is made payable
// (checkRecipient): otherwise the payreq is refused USER_NOT_FOUND.
func (s *Service) PayRequest(ctx context.Context, local string, req *uma.PayRequest) (*uma.PayReqResponse, error) {
	return s.answerPayRequest(ctx, local, req, sandboxClaim{}, new(string))
}

// answerPayRequest is PayRequest; it sets *recorded to the incoming
// transaction's id once the payment is recorded, so that a caller of our
// own (the sandbox) can answer the transaction whatever came of it after,
// and records sandbox (its Idempotency-Key, if any) with the payment.
func (s *Service) answerPayRequest(ctx context.Context, local string, req *uma.PayRequest, sandbox sandboxClaim, recorded *string) (*uma.PayReqResponse, error) {
	r, err := s.recipient(ctx, local)
	if err != nil {
		return nil, err
	}
	isUMA := req.IsUMA()
	nonces := &nonceBatch{}
	if isUMA {
		domain, err := req.SenderDomain()
		if err != nil {
			return nil, err
		}
		if err := s.senderAllowed(ctx, domain); err != nil {
			return nil, err
		}
		// The nonce is stored in the transaction that records the payment
		// (one commit instead of two).
		vctx, batch := deferNonces(ctx)
		nonces = batch
		if _, err := s.verifier.VerifyPayRequest(vctx, req); err != nil {
			return nil, err
		}
		if err := s.checkNotOurAnswer(ctx, domain, req.PayerData.Compliance.SignatureNonce); err != nil {
			return nil, err
		}
		c := req.PayerData.Compliance
		if err := s.opt.Compliance.ScreenPayment(ctx, Incoming, domain, c.NodePubKey, c.Utxos); err != nil {
			return nil, err
		}
		if err := req.CheckMandatoryPayerData(s.payerData); err != nil {
			return nil, err
		}
		for key, opt := range req.PayeeData {
			if _, known := PayerFieldNames[key]; opt.Mandatory && !known && key != uma.DataCompliance {
				return nil, uma.Errorf(uma.CodeUnrecognizedMandatoryPayeeDataKey, "payee data %q cannot be provided", vaspd.Truncate(key, 64))
			}
		}
	} else if req.PayerData != nil && req.PayerData.Compliance != nil {
		return nil, uma.Errorf(uma.CodeMissingMandatoryPayerData, "payerData.identifier is required")
	}
	if err := checkComment(req.Comment); err != nil {
		return nil, err
	}
	// Paying an invoice we issued (payment_request.go): checked before
	// anything is priced, and again where the payment is recorded.
	var preq PaymentRequest
	if req.InvoiceUUID != "" {
		if preq, err = s.checkPaymentRequest(ctx, r, req); err != nil {
			return nil, err
		}
	}
	q, err := s.priceIncoming(ctx, r, req)
	if err != nil {
		return nil, err
	}
	// Everything the answer needs is fetched before anything is recorded:
	// past the invoice, a failure would leave a payment (and an invoice)
	// that the sender was never given.
	var info lightning.NodeInfo
	if isUMA {
		if info, err = s.opt.Node.Info(ctx); err != nil {
			return nil, fmt.Errorf("node info: %w", err)
		}
	}
	in := s.newIncoming(r, req, q)
	in.sandbox = sandbox
	invReq := lightning.InvoiceRequest{AmountMsat: q.msats, Expiry: s.opt.InvoiceExpiry}
	metadata := s.metadata(r.Local)
	if preq.ID != "" {
		in.PaymentRequestID = preq.ID
		// LUD-18 and UMAD-09: the description hash commits to the
		// invoice paid, so the preimage proves it was (what an SDK
		// sender hashes too; see uma.MetadataWithInvoiceUUID).
		if metadata, err = uma.MetadataWithInvoiceUUID(metadata, preq.InvoiceUUID); err != nil {
			return nil, err
		}
		// The Lightning invoice does not outlive the request it pays.
		if left := preq.ExpiresAt.Sub(s.clock.Now()); left < invReq.Expiry {
			invReq.Expiry = max(left.Round(time.Second), time.Second)
		}
	}
	invReq.DescriptionHash = lightning.Hash(uma.DescriptionHash(metadata, req.PayerDataJSON()))
	var (
		approval approvalResult
		inv      lightning.Invoice
	)
	// A platform with no webhook endpoint has nobody to ask: the payment
	// is approved and recorded with its invoice at once. Otherwise the
	// CREATED row must exist before the approval webhook, which names it
	// (a 202 is decided later by id).
	if _, perr := s.opt.Webhooks.PrimaryEndpoint(ctx); errors.Is(perr, delivery.ErrNoEndpoint) {
		// Nobody to ask is nobody to give the payee data asked as
		// mandatory that vaspd does not fill: refused, like a mandatory
		// key we do not know, rather than answered without it.
		if missing := in.Details.RequiredReceiverUserInfo; len(missing) > 0 {
			return nil, uma.Errorf(uma.CodeMissingMandatoryPayeeData, "the receiver cannot provide mandatory payee data: %s", payeeDataKeys(missing))
		}
		ictx, span := s.startSpan(ctx, "lightning create invoice", in.ID)
		inv, err = s.recordApproved(ictx, r, in, nonces, invReq)
		endSpan(span, err)
		if err != nil {
			return nil, err
		}
		*recorded = in.ID
		s.log.Info("incoming payment approved: no webhook endpoint is configured to ask", "transaction", in.ID)
	} else {
		// On an error finding the endpoint, approve sends and handles
		// the failure as it handles any failed approval webhook.
		if err := s.db.InTx(ctx, func(tx *store.Tx) error {
			// r may be a stale cache entry (checkRecipient): checked
			// before the platform is asked to approve a payment to
			// someone who no longer holds the address, and again once
			// it has approved (issueInvoice).
			if err := s.checkRecipient(ctx, tx, r); err != nil {
				return err
			}
			if err := s.nonces.saveDeferred(ctx, tx, nonces); err != nil {
				return err
			}
			return insertTransaction(ctx, tx, in, "", s.clock.Now())
		}); err != nil {
			return nil, err
		}
		*recorded = in.ID
		if approval, err = s.approve(ctx, in, req); err != nil {
			return nil, err
		}
		if preq.ID != "" {
			if invReq.Expiry, err = s.approvedForRequest(ctx, in.ID, preq.ID, invReq.Expiry); err != nil {
				return nil, err
			}
		}
		ictx, span := s.startSpan(ctx, "lightning create invoice", in.ID)
		inv, err = s.issueInvoice(ictx, in.ID, r, invReq)
		endSpan(span, err)
		if err != nil {
			return nil, err
		}
	}

	resp := &uma.PayReqResponse{
		PR: inv.PaymentRequest,
		Converted: &uma.Converted{
			Amount: q.conv.Amount, CurrencyCode: q.rate.Currency.Code, Decimals: q.rate.Currency.Decimals,
			Multiplier: q.rate.UMAMultiplier(), Fee: q.conv.FeeMsats,
		},
	}
	if !isUMA {
		return resp, nil
	}
	resp.PayeeData = &uma.PayeeData{
		Identifier: s.address(r.Local),
		Compliance: &uma.CompliancePayeeData{
			NodePubKey:   info.PubKey,
			UtxoCallback: s.opt.BaseURL + "/api/uma/utxoCallback?txid=" + url.QueryEscape(in.ID),
		},
	}
	if _, asked := req.PayeeData["name"]; asked || approval.name != "" {
		resp.PayeeData.Name = approval.name
		if resp.PayeeData.Name == "" {
			resp.PayeeData.Name = r.Name
		}
	}
	resp.PayeeData.Extra = approval.extra
	// A v0.3 payreq comes from a sender we answered with umaVersion 0.3:
	// it reads top-level compliance and paymentInfo.
	resp.V0 = req.V0
	// Sign fails only without the identifiers and compliance set above.
	// A crash from the recording on leaves a PENDING payment whose invoice
	// nobody was given: sweepPending expires it with its invoice.
	if err := resp.Sign(s.opt.Keys.Signing, req.PayerData.Identifier, s.clock.Now()); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkComment applies the commentAllowed our lnurlp answers advertise
// (LUD-12, in characters): a longer comment is refused, never cut.
func checkComment(c string) error {
	if !utf8.ValidString(c) {
		return uma.Errorf(uma.CodeInvalidInput, "comment is not UTF-8 text")
	}
	if n := utf8.RuneCountInString(c); n > MaxDescriptionLen {
		return uma.Errorf(uma.CodeInvalidInput, "comment is %d characters; commentAllowed is %d", n, MaxDescriptionLen)
	}
	return nil
}
