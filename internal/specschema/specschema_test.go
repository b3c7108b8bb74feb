package specschema

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// exampleSlips are the places where the document's own examples break its
// schemas: the outgoing-payment examples write the bank account's numbers
// as YAML integers where UsAccountInfo says string.
var exampleSlips = map[string]bool{
	"$.transaction.paymentInstructions.bankAccountInfo.accountNumber: integer where the schema wants string": true,
	"$.transaction.paymentInstructions.bankAccountInfo.routingNumber: integer where the schema wants string": true,
}

// TestSpecExamplesConform: every webhook example of the document passes
// the checker (but for its known slips), so what the checker refuses
// elsewhere is not its own misreading of the file.
func TestSpecExamplesConform(t *testing.T) {
	s := Shared(t)
	hooks, _ := s.root["webhooks"].(map[string]any)
	n := 0
	for name, h := range hooks {
		exs, _ := dig(h, "post", "requestBody", "content", "application/json", "examples").(map[string]any)
		for ex, v := range exs {
			b, err := json.Marshal(dig(v, "value"))
			if err != nil {
				t.Fatal(err)
			}
			r := s.CheckWebhook(b)
			for _, e := range r.Errors {
				if !exampleSlips[e] {
					t.Errorf("%s/%s: %s", name, ex, e)
				}
			}
			if len(r.Extra) > 0 {
				t.Errorf("%s/%s: not in the schema: %v", name, ex, r.Extra)
			}
			n++
		}
	}
	if n < 8 {
		t.Fatalf("%d webhook examples, want the document's 8", n)
	}
}

// TestCheckerRefuses: the checker finds each kind of mismatch it claims to.
func TestCheckerRefuses(t *testing.T) {
	s := Shared(t)
	tx := func(mut string) string {
		return `{"type":"INCOMING_PAYMENT","timestamp":"2023-08-15T14:32:00Z","webhookId":"Webhook:1",
		"transaction":{"id":"Transaction:1","status":"FAILED","type":"INCOMING","senderUmaAddress":"$a@b",
		"receiverUmaAddress":"$c@d","userId":"User:1","platformUserId":"p",
		"receivedAmount":{"amount":5,"currency":{"code":"USD"}}` + mut + `}}`
	}
	if r := s.CheckWebhook([]byte(tx(`,"failureReason":"QUOTE_EXPIRED"`))); !r.OK() || len(r.Extra) > 0 {
		t.Fatalf("a conforming webhook: %s", r)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"enum", tx(`,"failureReason":"INVOICE_EXPIRED"`), "INVOICE_EXPIRED is not one of"},
		{"type", tx(`,"createdAt":5`), "integer where the schema wants string"},
		{"date-time", tx(`,"createdAt":"yesterday"`), "not an RFC 3339 date-time"},
		{"required", strings.Replace(tx(""), `"userId":"User:1",`, "", 1), `required property "userId" missing`},
		{"discriminator", strings.Replace(tx(""), `"INCOMING_PAYMENT"`, `"UMA_REQUEST"`, 1), `"UMA_REQUEST" is none of`},
		{"nested enum", strings.Replace(tx(""), `"type":"INCOMING"`, `"type":"SIDEWAYS"`, 1), `SIDEWAYS is not one of`},
		{"minimum", `{"currencyCode":"USD","minAmount":-1,"maxAmount":1,"requiredCounterpartyFields":[],"enabledTransactionTypes":[]}`, "below the minimum"},
	} {
		name := "BaseWebhook"
		if tc.name == "minimum" {
			name = "PlatformCurrencyConfig"
		}
		if r := s.CheckNamed(name, []byte(tc.body)); r.OK() || !strings.Contains(r.String(), tc.want) {
			t.Errorf("%s: %s, want an error with %q", tc.name, r, tc.want)
		}
	}
	if r := s.CheckWebhook([]byte(tx(`,"failurereason":"QUOTE_EXPIRED"`))); !r.OK() || len(r.Extra) != 1 || r.Extra[0] != "$.transaction.failurereason" {
		t.Errorf("a misspelt field: %+v", r)
	}
	if r := s.CheckResponse("GET", "/users/{userId}", 502, []byte(`{"status":502,"code":"X","message":"m"}`)); r.OK() {
		t.Error("an undeclared status passed")
	}
	if r := s.CheckResponse("GET", "/users/{userId}", 404, []byte(`{"status":404,"code":"NOT_FOUND","message":"m"}`)); r.OK() {
		t.Error("a code outside Error404's enum passed")
	}
}

// TestOperations: the document's operations are listed whole, each with
// its operationId, those vaspd routes only to refuse them included.
func TestOperations(t *testing.T) {
	ops := Shared(t).Operations()
	byID := map[string]Operation{}
	for _, op := range ops {
		if op.ID == "" || byID[op.ID] != (Operation{}) {
			t.Errorf("%s %s: operationId %q missing or repeated", op.Method, op.Path, op.ID)
		}
		byID[op.ID] = op
	}
	for id, want := range map[string]Operation{
		"fboConfirm":               {"POST", "/fbo/confirm/{quoteId}", "fboConfirm"},
		"getAvailableUmaProviders": {"GET", "/uma-providers", "getAvailableUmaProviders"},
		"updateUserById":           {"PATCH", "/users/{userId}", "updateUserById"},
		"deleteTokenById":          {"DELETE", "/tokens/{tokenId}", "deleteTokenById"},
	} {
		if byID[id] != want {
			t.Errorf("%s: %+v, want %+v", id, byID[id], want)
		}
	}
	if len(ops) < 30 {
		t.Fatalf("%d operations, want the document's 30 or more: %v", len(ops), ops)
	}
}

// TestQueryParams: an operation's query parameters are read from the
// document, references followed, path parameters left out.
func TestQueryParams(t *testing.T) {
	s := Shared(t)
	got := s.QueryParams("GET", "/transactions")
	for _, want := range []string{"userId", "platformUserId", "umaAddress", "senderUmaAddress", "receiverUmaAddress",
		"status", "type", "reference", "startDate", "endDate", "limit", "cursor", "sortOrder"} {
		if !slices.Contains(got, want) {
			t.Errorf("GET /transactions: %v lacks %s", got, want)
		}
	}
	if got := s.QueryParams("get", "/receiver/{receiverUmaAddress}"); slices.Contains(got, "receiverUmaAddress") || !slices.Contains(got, "userId") {
		t.Errorf("GET /receiver/{receiverUmaAddress}: %v", got)
	}
	if got := s.QueryParams("POST", "/users"); len(got) != 0 {
		t.Errorf("POST /users: %v", got)
	}
}
