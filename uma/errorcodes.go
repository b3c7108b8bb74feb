package uma

// The UMA error table, transcribed from the protocol repository's
// schemas/errors/errors.json (uma-universal-money-address/protocol @ afed3a3f).
// It is Go code, not an embedded file, so a fresh clone needs nothing else;
// TestErrorTableMatchesProtocol checks it against the shared copy.

// ErrorCode is one of the standard UMA error codes. It is itself an error, so
// it works as a sentinel: errors.Is(err, uma.CodeInvalidNonce) reports whether
// err is (or wraps) an *Error with that code.
type ErrorCode string

// Standard UMA error codes (39), in the order of errors.json.
const (
	CodeCounterpartyPubkeyFetchError      ErrorCode = "COUNTERPARTY_PUBKEY_FETCH_ERROR"
	CodeInvalidPubkeyFormat               ErrorCode = "INVALID_PUBKEY_FORMAT"
	CodeCertChainInvalid                  ErrorCode = "CERT_CHAIN_INVALID"
	CodeCertChainExpired                  ErrorCode = "CERT_CHAIN_EXPIRED"
	CodeInvalidSignature                  ErrorCode = "INVALID_SIGNATURE"
	CodeInvalidTimestamp                  ErrorCode = "INVALID_TIMESTAMP"
	CodeInvalidNonce                      ErrorCode = "INVALID_NONCE"
	CodeInternalError                     ErrorCode = "INTERNAL_ERROR"
	CodeNonUMALnurlNotSupported           ErrorCode = "NON_UMA_LNURL_NOT_SUPPORTED"
	CodeMissingRequiredUMAParameters      ErrorCode = "MISSING_REQUIRED_UMA_PARAMETERS"
	CodeUnsupportedUMAVersion             ErrorCode = "UNSUPPORTED_UMA_VERSION"
	CodeParseLnurlpRequestError           ErrorCode = "PARSE_LNURLP_REQUEST_ERROR"
	CodeVelocityLimitExceeded             ErrorCode = "VELOCITY_LIMIT_EXCEEDED"
	CodeUserNotFound                      ErrorCode = "USER_NOT_FOUND"
	CodeUserNotReady                      ErrorCode = "USER_NOT_READY"
	CodeRequestNotFound                   ErrorCode = "REQUEST_NOT_FOUND"
	CodeParsePayreqRequestError           ErrorCode = "PARSE_PAYREQ_REQUEST_ERROR"
	CodeAmountOutOfRange                  ErrorCode = "AMOUNT_OUT_OF_RANGE"
	CodeInvalidCurrency                   ErrorCode = "INVALID_CURRENCY"
	CodeSenderNotAccepted                 ErrorCode = "SENDER_NOT_ACCEPTED"
	CodeMissingMandatoryPayerData         ErrorCode = "MISSING_MANDATORY_PAYER_DATA"
	CodeMissingMandatoryPayeeData         ErrorCode = "MISSING_MANDATORY_PAYEE_DATA"
	CodeUnrecognizedMandatoryPayeeDataKey ErrorCode = "UNRECOGNIZED_MANDATORY_PAYEE_DATA_KEY"
	CodeParseUTXOCallbackError            ErrorCode = "PARSE_UTXO_CALLBACK_ERROR"
	CodeCounterpartyNotAllowed            ErrorCode = "COUNTERPARTY_NOT_ALLOWED"
	CodeParseLnurlpResponseError          ErrorCode = "PARSE_LNURLP_RESPONSE_ERROR"
	CodeParsePayreqResponseError          ErrorCode = "PARSE_PAYREQ_RESPONSE_ERROR"
	CodeLnurlpRequestFailed               ErrorCode = "LNURLP_REQUEST_FAILED"
	CodePayreqRequestFailed               ErrorCode = "PAYREQ_REQUEST_FAILED"
	CodeNoCompatibleUMAVersion            ErrorCode = "NO_COMPATIBLE_UMA_VERSION"
	CodeInvalidInvoice                    ErrorCode = "INVALID_INVOICE"
	CodeInvoiceExpired                    ErrorCode = "INVOICE_EXPIRED"
	CodeQuoteExpired                      ErrorCode = "QUOTE_EXPIRED"
	CodeInvalidInput                      ErrorCode = "INVALID_INPUT"
	CodeInvalidRequestFormat              ErrorCode = "INVALID_REQUEST_FORMAT"
	CodeForbidden                         ErrorCode = "FORBIDDEN"
	CodeNotImplemented                    ErrorCode = "NOT_IMPLEMENTED"
	CodeQuoteNotFound                     ErrorCode = "QUOTE_NOT_FOUND"
	CodeUMAConfigurationFetchError        ErrorCode = "UMA_CONFIGURATION_FETCH_ERROR"
)

type errorInfo struct {
	code        ErrorCode
	status      int
	description string
}

var errorTable = [...]errorInfo{
	{CodeCounterpartyPubkeyFetchError, 424, "Error fetching counterparty public key for validating signatures or encrypting messages"},
	{CodeInvalidPubkeyFormat, 400, "Error parsing the counterparty public key response"},
	{CodeCertChainInvalid, 400, "The provided certificate chain is invalid"},
	{CodeCertChainExpired, 400, "The provided certificate chain has expired"},
	{CodeInvalidSignature, 401, "The provided signature is not valid"},
	{CodeInvalidTimestamp, 400, "The provided timestamp is not valid"},
	{CodeInvalidNonce, 400, "The provided nonce is not valid"},
	{CodeInternalError, 500, "An unexpected error occurred on the server"},
	{CodeNonUMALnurlNotSupported, 403, "This party does not support non-UMA LNURLs"},
	{CodeMissingRequiredUMAParameters, 400, "Missing required UMA parameters"},
	{CodeUnsupportedUMAVersion, 412, "The counterparty UMA version is not supported"},
	{CodeParseLnurlpRequestError, 400, "Error parsing the LNURLP request"},
	{CodeVelocityLimitExceeded, 403, "This user has exceeded the velocity limit and is unable to receive payments at this time"},
	{CodeUserNotFound, 404, "The user for this UMA was not found"},
	{CodeUserNotReady, 403, "The user for this UMA is not ready to receive payments at this time"},
	{CodeRequestNotFound, 404, "The request corresponding to this callback URL was not found"},
	{CodeParsePayreqRequestError, 400, "Error parsing the payreq request"},
	{CodeAmountOutOfRange, 400, "The amount provided is not within the min/max range"},
	{CodeInvalidCurrency, 400, "The currency provided is not valid or supported"},
	{CodeSenderNotAccepted, 400, "Payments from this sender are not accepted"},
	{CodeMissingMandatoryPayerData, 400, "Payer data is missing fields that are required by the receiver"},
	{CodeMissingMandatoryPayeeData, 400, "Payee data is missing fields that are required by the sender"},
	{CodeUnrecognizedMandatoryPayeeDataKey, 501, "Receiver does not recognize the mandatory payee data key"},
	{CodeParseUTXOCallbackError, 400, "Error parsing the utxo callback"},
	{CodeCounterpartyNotAllowed, 403, "This party does not accept payments with the counterparty"},
	{CodeParseLnurlpResponseError, 400, "Error parsing the LNURLP response"},
	{CodeParsePayreqResponseError, 400, "Error parsing the payreq response"},
	{CodeLnurlpRequestFailed, 424, "The LNURLP request failed"},
	{CodePayreqRequestFailed, 424, "The payreq request failed"},
	{CodeNoCompatibleUMAVersion, 424, "No compatible UMA protocol version found between sender and receiver"},
	{CodeInvalidInvoice, 400, "The provided invoice is invalid"},
	{CodeInvoiceExpired, 400, "The invoice has expired"},
	{CodeQuoteExpired, 400, "The quote has expired"},
	{CodeInvalidInput, 400, "The provided input is invalid"},
	{CodeInvalidRequestFormat, 400, "The request format is invalid"},
	{CodeForbidden, 403, "This action is not permitted for this user"},
	{CodeNotImplemented, 501, "This functionality is not implemented"},
	{CodeQuoteNotFound, 404, "The requested quote was not found"},
	{CodeUMAConfigurationFetchError, 424, "Error fetching counterparty UMA configuration"},
}

var errorIndex = func() map[ErrorCode]errorInfo {
	m := make(map[ErrorCode]errorInfo, len(errorTable))
	for _, e := range errorTable {
		m[e.code] = e
	}
	return m
}()

// ErrorCodes returns every standard code, in the order of the protocol table.
func ErrorCodes() []ErrorCode {
	out := make([]ErrorCode, len(errorTable))
	for i, e := range errorTable {
		out[i] = e.code
	}
	return out
}

// Known reports whether c is one of the standard codes.
func (c ErrorCode) Known() bool { _, ok := errorIndex[c]; return ok }

// HTTPStatus is the HTTP status the protocol assigns to c; 500 for unknown codes.
func (c ErrorCode) HTTPStatus() int {
	if e, ok := errorIndex[c]; ok {
		return e.status
	}
	return 500
}

// Description is the protocol's one-line description of c.
func (c ErrorCode) Description() string {
	if e, ok := errorIndex[c]; ok {
		return e.description
	}
	return "unknown UMA error code"
}

// Error makes ErrorCode usable as a sentinel error.
func (c ErrorCode) Error() string { return string(c) }
