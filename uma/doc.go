// Package uma implements the UMA (Universal Money Address) wire protocol:
// the messages two VASPs exchange to pay "$bob@vasp2.com" across currencies
// over Lightning, their signatures, travel-rule encryption, replay
// protection, amount conversion, UMA invoices and the standard errors.
//
// It is pure protocol. It has no database, no Lightning node and no HTTP
// server: the caller stores nonces (NonceCache), creates invoices and
// answers requests. Its only network access is KeyFetcher, which GETs a
// counterparty's /.well-known/lnurlpubkey through an injectable
// *http.Client. It imports nothing else from vaspd.
//
// The reference is ../shared/docs/uma-protocol.md. Where the written spec
// and the SDKs disagree, this package follows what the SDKs put on the wire
// (signed payloads joined with "|", for instance), emits the strictest
// form, and accepts every variant seen in the wild (high-S signatures,
// numeric amounts, "protocol.PayRequest" tags, ASCII invoice integers,
// string supportedMajorVersions, null optional fields, unknown keys).
//
// # A payment, step by step
//
// The sending VASP (vasp1.com, user $alice) pays $bob at vasp2.com:
//
//  1. Sender: NewLnurlpRequest signs a request for $bob; LnurlpRequest.URL
//     is what it GETs. A 412 answer is parsed with ParseErrorBody, and
//     SelectHighestSupportedVersion picks the version to retry with.
//  2. Receiver: ParseLnurlpRequest (with the request's Host; it is signed),
//     then Verifier.VerifyLnurlpRequest (fetches vasp1's keys, checks the
//     signature, time window and nonce). NegotiateVersion picks the answer's
//     version. It answers an LnurlpResponse with currencies, the payer data
//     it needs (UMADataOptions) and LnurlpResponse.Sign.
//  3. Sender: ParseLnurlpResponse, Verifier.VerifyLnurlpResponse (returns
//     vasp2's keys). It builds a PayRequest with PayerData (identifier,
//     compliance with EncryptTravelRuleInfo to vasp2's encryption key), signs
//     it with PayRequest.Sign and POSTs its JSON to the callback.
//  4. Receiver: ParsePayRequest, Verifier.VerifyPayRequest,
//     PayRequest.CheckMandatoryPayerData, QuotePayRequest (currency, range,
//     invoice msats and Converted), DescriptionHash for the BOLT11, then a
//     PayReqResponse with PayeeData and PayReqResponse.Sign.
//  5. Sender: ParsePayReqResponse, Verifier.VerifyPayReqResponse, checks the
//     BOLT11 amount, pays it, and POSTs a signed PostTransactionCallback to
//     the receiver's utxoCallback (Verifier.VerifyPostTransactionCallback on
//     the other side).
//
// Example_payment runs this whole exchange in memory.
//
// UMA invoices (Invoice, DecodeInvoice, Verifier.VerifyInvoice) let the
// receiver start instead: the sender decodes "uma1..." / "uma://uma1...",
// verifies it and continues at step 3 with the invoice's callback and
// InvoiceUUID.
//
// # Keys
//
// Our keys are Keys: secp256k1 signing and encryption keys (ParsePrivateKeyHex)
// with DER certificate chains (ParseCertChainPEM, or NewSelfSignedCertificate
// since crypto/x509 cannot make secp256k1 certificates). Keys.PubKeyResponse
// is the /.well-known/lnurlpubkey body. Counterparty keys come from a
// PublicKeySource, normally a *KeyFetcher with a cache shared by the server
// (MemoryKeyCache or the server's own KeyCache), honouring the published
// expirationTimestamp.
//
// # Errors
//
// Every rejection is an *Error with one of the 39 standard ErrorCodes; the
// code fixes the HTTP status (Error.HTTPStatus) and Error.Body is the JSON
// {"status":"ERROR","reason":...,"code":...} (plus supportedMajorVersions
// for 412). ErrorCodes are sentinels: errors.Is(err, uma.CodeInvalidNonce).
// Reasons never contain secrets and are safe to send to the counterparty.
//
// # Money
//
// Amounts are int64 in the smallest unit: msats for bitcoin, cents for USD.
// The wire's float multiplier is converted to its exact decimal value and
// all arithmetic is exact, rounded once (see amount.go for the rules).
package uma
