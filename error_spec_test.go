package vaspd

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/internal/specschema"
)

// specErrorStatus is the status whose Error<status> schema of the UMAaaS
// OpenAPI document lists each code we share with it.
var specErrorStatus = map[string]int{
	CodeInvalidInput: 400, CodeInvalidRequestFormat: 400, CodeMissingMandatoryUserInfo: 400,
	CodeInvalidUMAAddress: 400, CodeQuoteRequestFailed: 400, CodeInvalidPayreqResponse: 400,
	CodeInvalidReceiver: 400, CodeSenderNotAccepted: 400, CodeAmountOutOfRange: 400, CodeInvalidCurrency: 400,
	CodeInvalidAmount: 400, CodeSelfPayment: 400, CodeLookupRequestFailed: 400, CodeWebhookEndpointNotSet: 400,
	CodeWebhookDeliveryError: 400, CodeInvitationAlreadyClaimed: 400, CodeInvitationCancelled: 400,
	CodeParseLnurlpResponseError: 400, CodeParsePayreqResponseError: 400, CodeMissingRequiredUMAParams: 400,
	CodeInvalidTimestamp: 400, CodeInvalidNonce: 400, CodeCertChainInvalid: 400, CodeInvalidPubkeyFormat: 400,
	CodeUnauthorized: 401, CodeInvalidSignature: 401,
	CodeForbidden: 403, CodeUserNotReady: 403, CodeCounterpartyNotAllowed: 403,
	CodeUserNotFound: 404, CodeTransactionNotFound: 404, CodeQuoteNotFound: 404, CodeLookupRequestNotFound: 404,
	CodeTokenNotFound: 404, CodeInvitationNotFound: 404, CodeBulkUploadJobNotFound: 404, CodeReferenceNotFound: 404,
	CodeTransactionNotPending: 409, CodeUMAAddressExists: 409,
	CodePayreqRequestFailed: 424, CodeCounterpartyPubkeyFetch: 424, CodeNoCompatibleUMAVersion: 424,
	CodeLnurlpRequestFailed: 424,
	CodeInternal:            500,
	CodeNotImplemented:      501, CodeUnrecognizedMandatoryData: 501,
}

// ownErrorCodes are vaspd's codes that no Error<status> schema lists, and
// why each exists.
var ownErrorCodes = map[string]string{
	CodeUnsupportedUMAVersion:    "412 for a receiver refusing our UMA version: the schema's enum says UNSUPPORTED_UMA_VERSIONED, its own table UNSUPPORTED_UMA_VERSION (a typo in the document; README)",
	CodeQuoteExpired:             "409 from execute, an endpoint UMAaaS lacks (a bank transfer funds its quotes)",
	CodeInsufficientBalance:      "400 from execute, withdrawals and ledger transfers, endpoints UMAaaS lacks",
	CodeInvitationExpired:        "400 from claim/cancel; the enum lacks it, though UMAaaS's own example answers invitation_expired",
	CodeUnsupportedMediaType:     "415, a status the document never declares (README: bodies are JSON)",
	CodeRequestTooLarge:          "413, likewise (README: at most 1 MiB)",
	CodeMethodNotAllowed:         "405, likewise",
	CodeNotFound:                 "404 for a route that does not exist",
	CodeWebhookEndpointNotFound:  "404 from /webhooks/endpoints, vaspd's own endpoints",
	CodeWebhookDeliveryNotFound:  "404 from /webhooks/deliveries, vaspd's own endpoints",
	CodeConflict:                 "409 for conflicts the document has no code for: the last MANAGE token (README), a user holding money (docs/users.md), a disabled endpoint or one endpoint too many (docs/webhook-delivery.md), a retry of a quote never executed, a reconciliation already running (README)",
	CodeIdempotencyKeyReused:     "422 for a reused Idempotency-Key (README)",
	CodeInvoiceAlreadyPaid:       "409 from execute, an endpoint UMAaaS lacks: the receiver gave the invoice to two quotes",
	CodeQuoteNotPending:          "409 from execute, likewise: the quote is being executed",
	CodeQuoteAlreadyExecuted:     "409 from refresh and execute, endpoints UMAaaS lacks, from retry, whose answers list no 409, and from POST /quotes only with vaspd's own umaRequestId: a payment not FAILED, paid by another retry, or an UMA request paid by another quote (README)",
	CodeUmaRequestNotFound:       "404 from /uma-requests, vaspd's own endpoints",
	CodePaymentRequestNotFound:   "404 from /payment-requests, vaspd's own endpoints",
	CodePaymentRequestNotPending: "409 from /payment-requests/{id}/cancel and /deliver: the request is paid, cancelled or expired",
	CodeGone:                     "410 from DELETE /users/{id}, whose 410 is the generic Error (any code)",
	CodeUnavailable:              "503 while the database is not ready, when a request times out, or from POST /quotes and quote refreshes while the exchange rates are stale (README: rates-max-age)",
	CodeTooManyAuthFailures:      "429 while a client address's failed authentications are throttled (README: api-auth-failure-limit), a status the document never declares",
	CodeCrossOriginForbidden:     "403 for a browser's cross-origin state-changing request (README: CSRF); FORBIDDEN would read as the token lacking a permission",
}

// TestErrorCodesMatchSpec: every Code constant of error.go is either one of
// the document's codes, at the status its schema gives, or one of ours
// with its reason; checked against ../shared when present.
func TestErrorCodesMatchSpec(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok {
			for i, name := range v.Names {
				if strings.HasPrefix(name.Name, "Code") && i < len(v.Values) {
					if lit, ok := v.Values[i].(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(lit.Value)
						consts = append(consts, s)
					}
				}
			}
		}
		return true
	})
	if len(consts) < 50 {
		t.Fatalf("found %d Code constants in error.go", len(consts))
	}
	for _, c := range consts {
		_, shared := specErrorStatus[c]
		_, own := ownErrorCodes[c]
		if shared == own {
			t.Errorf("%s must be in exactly one of specErrorStatus and ownErrorCodes", c)
		}
	}
	spec := specschema.Shared(t)
	listed := map[string]bool{}
	for _, st := range []int{400, 401, 403, 404, 409, 412, 424, 500, 501} {
		for _, c := range spec.Enum("Error"+strconv.Itoa(st), "code") {
			listed[c] = true
			if want, ok := specErrorStatus[c]; ok && want != st {
				t.Errorf("%s: ours at %d, the document's Error%d lists it", c, want, st)
			}
		}
	}
	for c, st := range specErrorStatus {
		if !slices.Contains(spec.Enum("Error"+strconv.Itoa(st), "code"), c) {
			t.Errorf("%s: not in the document's Error%d", c, st)
		}
	}
	for c := range ownErrorCodes {
		if listed[c] {
			t.Errorf("%s is now one of the document's codes: move it to specErrorStatus", c)
		}
	}
	// The 412 vaspd answers (a receiver refusing our UMA version) carries
	// the code Error412's own table and UMA name; its enum's is a typo.
	props, _ := spec.Schema("Error412")["properties"].(map[string]any)
	code, _ := props["code"].(map[string]any)
	desc, _ := code["description"].(string)
	if !strings.Contains(desc, "| "+CodeUnsupportedUMAVersion+" |") {
		t.Errorf("Error412's table no longer names %s: %q", CodeUnsupportedUMAVersion, desc)
	}
}

// TestErrorCodeLiteralsAreInTheTable: a code written as a string where a
// *vaspd.Error is built (vaspd.Errorf, NotFound, Conflict, FailedDependency,
// vaspd.Error{Code: …}) is one of error.go's, so TestErrorCodesMatchSpec
// sees it: no code of our own (such as the former 502 COUNTERPARTY_ERROR)
// reaches platforms unchecked.
func TestErrorCodeLiteralsAreInTheTable(t *testing.T) {
	known := map[string]bool{}
	for c := range specErrorStatus {
		known[c] = true
	}
	for c := range ownErrorCodes {
		known[c] = true
	}
	codeArg := map[string]int{"Errorf": 1, "NotFound": 0, "Conflict": 0, "FailedDependency": 0}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "interop" || path == "uma" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		use := func(e ast.Expr) {
			if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				checked++
				if c, _ := strconv.Unquote(lit.Value); !known[c] {
					t.Errorf("%s: code %q is not in error.go's table", fset.Position(lit.Pos()), c)
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "vaspd" {
						if i, ok := codeArg[sel.Sel.Name]; ok && i < len(n.Args) {
							use(n.Args[i])
						}
					}
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Error" {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "vaspd" {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Code" {
									use(kv.Value)
								}
							}
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no code literal found: the scan is broken")
	}
}
