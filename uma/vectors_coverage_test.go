package uma

import (
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// vectorFileTests maps every file of ../shared/uma-vectors to the tests that
// use it. TestVectorFilesAllCovered fails when a file appears that no test
// reads, or when a listed test does not exist, so "every vector is tested"
// stays true as the vectors grow.
var vectorFileTests = map[string][]string{
	"README.md":                                     {"-"}, // describes the others
	"generated/gen_vectors.py":                      {"-"}, // the generator (Python); its output is tested
	"public/errors.json":                            {"TestErrorTableMatchesProtocol", "TestErrorsJSONMatchesSchema"},
	"public/errors.schema.json":                     {"TestErrorsJSONMatchesSchema"},
	"public/sdk-fixtures.json":                      {"TestVectorFixturesAllCovered"},
	"generated/keys.json":                           {"TestVectorKeysAndPubKeyResponses"},
	"generated/pubkey_response_vasp1.json":          {"TestVectorKeysAndPubKeyResponses"},
	"generated/pubkey_response_vasp2.json":          {"TestVectorKeysAndPubKeyResponses"},
	"generated/01_lnurlp_request.json":              {"TestVectorLnurlpRequest", "TestVectorTamperedLnurlpRequest"},
	"generated/02_lnurlp_response.json":             {"TestVectorLnurlpResponse", "TestVectorTamperedBodies"},
	"generated/03_payreq_receiving_currency.json":   {"TestVectorPayRequests", "TestVectorTamperedBodies"},
	"generated/03b_payreq_msats.json":               {"TestVectorPayRequests", "TestVectorTamperedBodies"},
	"generated/04_payreq_response.json":             {"TestVectorPayReqResponse", "TestVectorTamperedBodies"},
	"generated/04b_payreq_response_msats_math.json": {"TestVectorPayReqResponse", "TestVectorAmountMath"},
	"generated/05_post_tx_callback.json":            {"TestVectorPostTransactionCallback", "TestVectorTamperedBodies"},
	"generated/06_uma_invoice_binary.json":          {"TestVectorInvoices"},
	"generated/06_uma_invoice_go_ascii.json":        {"TestVectorInvoices"},
	"generated/07_error_bodies.json":                {"TestVectorErrorBodies"},
	"generated/08_negative.json":                    {"TestVectorNegative"},
	"generated/ecies_vector.json":                   {"TestVectorECIES"},
}

// fixtureTests maps every entry of public/sdk-fixtures.json to its tests.
var fixtureTests = map[string][]string{
	"_about":                             {"-"},
	"test_key_and_cert":                  {"TestFixtureSecondKeyECIES"},
	"test_key_and_cert_2":                {"TestFixtureSecondKeyECIES"},
	"invoice_reference_binary":           {"TestFixtureReferenceInvoices"},
	"invoice_reference_go_ascii":         {"TestFixtureReferenceInvoices"},
	"invoice_malformed_missing_required": {"TestFixtureReferenceInvoices"},
	"counterparty_options_tlv_bytes":     {"TestFixtureCounterpartyOptions"},
	"high_s_signature_lnurlp_request":    {"TestFixtureHighSSignature"},
	"lnurlp_request_parse_cases":         {"TestFixtureLnurlpRequestParseCases"},
	"uma_address_validation":             {"TestFixtureAddressValidation"},
	"lnurlp_response_v1_realworld":       {"TestFixtureLnurlpResponses"},
	"lnurlp_response_v0_currencies":      {"TestFixtureLnurlpResponses"},
	"v0_compat_js":                       {"TestFixtureV0Compat"},
	"v0_payreq_response_go":              {"TestFixtureV0Compat"},
	"realworld_payreq_numeric_amount":    {"TestFixturePayRequests"},
	"compliance_missing_utxos":           {"TestFixturePayRequests"},
	"non_uma_payreq":                     {"TestFixturePayRequests"},
	"unsupported_version_error_go":       {"TestFixturePayRequests"},
}

// testFuncs returns the names of the Test functions of this package.
func testFuncs(t *testing.T) map[string]bool {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)
	out := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(b, -1) {
			out[string(m[1])] = true
		}
	}
	return out
}

func checkCoverage(t *testing.T, what string, have []string, table map[string][]string) {
	t.Helper()
	funcs := testFuncs(t)
	seen := map[string]bool{}
	for _, name := range have {
		seen[name] = true
		tests, ok := table[name]
		if !ok {
			t.Errorf("%s %s is not used by any test: add a test and list it", what, name)
			continue
		}
		for _, tn := range tests {
			if tn != "-" && !funcs[tn] {
				t.Errorf("%s %s: listed test %s does not exist", what, name, tn)
			}
		}
	}
	for name := range table {
		if !seen[name] {
			t.Errorf("%s %s is listed but absent from ../shared/uma-vectors", what, name)
		}
	}
}

func TestVectorFilesAllCovered(t *testing.T) {
	dir := vectorsDir(t)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, "file", files, vectorFileTests)
}

func TestVectorFixturesAllCovered(t *testing.T) {
	var names []string
	for k := range loadFixtures(t) {
		names = append(names, k)
	}
	checkCoverage(t, "fixture", names, fixtureTests)
}

// TestErrorsJSONMatchesSchema checks errors.json against the constraints of
// errors.schema.json (required keys, code pattern, status range) and that
// our Go table, which mirrors it, satisfies them too.
func TestErrorsJSONMatchesSchema(t *testing.T) {
	var schema struct {
		Properties struct {
			Errors struct {
				Items struct {
					Required   []string `json:"required"`
					Properties struct {
						Code struct {
							Pattern string `json:"pattern"`
						} `json:"code"`
						HTTPStatusCode struct {
							Minimum, Maximum int
						} `json:"httpStatusCode"`
					} `json:"properties"`
				} `json:"items"`
			} `json:"errors"`
		} `json:"properties"`
	}
	loadVector(t, "public/errors.schema.json", &schema)
	items := schema.Properties.Errors.Items
	pattern := regexp.MustCompile(items.Properties.Code.Pattern)
	min, max := items.Properties.HTTPStatusCode.Minimum, items.Properties.HTTPStatusCode.Maximum
	if len(items.Required) != 3 || min != 100 || max != 599 {
		t.Fatalf("schema changed: %+v", items)
	}
	var f struct {
		Errors []map[string]any `json:"errors"`
	}
	loadVector(t, "public/errors.json", &f)
	for _, e := range f.Errors {
		for _, k := range items.Required {
			if _, ok := e[k]; !ok {
				t.Errorf("errors.json entry %v lacks %s", e, k)
			}
		}
	}
	seen := map[ErrorCode]bool{}
	for _, c := range ErrorCodes() {
		if !pattern.MatchString(string(c)) || c.HTTPStatus() < min || c.HTTPStatus() > max || strings.TrimSpace(c.Description()) == "" {
			t.Errorf("%s violates the schema", c)
		}
		if seen[c] {
			t.Errorf("%s twice", c)
		}
		seen[c] = true
	}
}

// TestVectorAmountMath checks both rounding conventions of 04b and the
// multiplier/fee of 03b's quote: we round (Go/JS/Kotlin); Python floors, a
// difference of at most one smallest unit that peers tolerate.
func TestVectorAmountMath(t *testing.T) {
	var m struct {
		Invoice int64 `json:"invoiceAmountMsats"`
		Round   int64 `json:"convertedAmount_round"`
		Floor   int64 `json:"convertedAmount_floor_python"`
	}
	loadVector(t, "generated/04b_payreq_response_msats_math.json", &m)
	got, err := ConvertedAmountForMsats(m.Invoice, 34150, 2000)
	if err != nil || got != m.Round {
		t.Fatalf("round: %d %v", got, err)
	}
	if exact := float64(m.Invoice-2000) / 34150; int64(math.Floor(exact)) != m.Floor {
		t.Fatalf("floor vector %d, computed %v", m.Floor, exact)
	}
	if d := got - m.Floor; d < -1 || d > 1 {
		t.Fatalf("round %d and floor %d differ by more than one unit", got, m.Floor)
	}
	// The same conversion from the 03b request through QuotePayRequest.
	var v struct {
		Body json.RawMessage `json:"body"`
	}
	loadVector(t, "generated/03b_payreq_msats.json", &v)
	r, err := ParsePayRequest(v.Body)
	if err != nil {
		t.Fatal(err)
	}
	q, err := QuotePayRequest(r, []Currency{{Code: "USD", Multiplier: 34150, Decimals: 2, Convertible: Convertible{1, 10_000_000}}}, 1000, 10_000_000_000, 2000)
	if err != nil || q.InvoiceMsats != m.Invoice || q.Converted.Amount != m.Round {
		t.Fatalf("quote %+v %v", q, err)
	}
	// Overflow is an error, never a wrapped int64.
	if _, err := InvoiceMsatsForAmount(math.MaxInt64/2, 34150, 0); err == nil {
		t.Fatal("overflow accepted")
	} else {
		wantCode(t, err, CodeAmountOutOfRange)
	}
}
