package webhook

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestParseSpecExamples decodes every webhook example of the UMAaaS OpenAPI
// document (testdata/umaaas-webhook-examples.json, converted from
// ../shared/umaaas-api/openapi.yaml) into its typed event, and checks that
// encoding the event again loses no field the example had.
func TestParseSpecExamples(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "umaaas-webhook-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Examples []struct {
			Webhook, Example string
			Body             json.RawMessage
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Examples) < 8 {
		t.Fatalf("%d examples, want the specification's 8", len(file.Examples))
	}
	wantType := map[string]reflect.Type{
		"incoming-payment":   reflect.TypeFor[*IncomingPaymentWebhook](),
		"outgoing-payment":   reflect.TypeFor[*OutgoingPaymentWebhook](),
		"test-webhook":       reflect.TypeFor[*TestWebhook](),
		"bulk-upload":        reflect.TypeFor[*BulkUploadWebhook](),
		"invitation-claimed": reflect.TypeFor[*InvitationClaimedWebhook](),
	}
	for _, ex := range file.Examples {
		t.Run(ex.Webhook+"/"+ex.Example, func(t *testing.T) {
			ev, err := Parse(ex.Body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := reflect.TypeOf(ev); got != wantType[ex.Webhook] {
				t.Fatalf("Parse gave %v, want %v", got, wantType[ex.Webhook])
			}
			env := ev.Envelope()
			if !strings.HasPrefix(env.WebhookID, WebhookIDPrefix) || env.Timestamp.IsZero() {
				t.Fatalf("envelope %+v", env)
			}
			again, err := Marshal(ev)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			assertJSONSubset(t, ex.Body, again)
			ev2, err := Parse(again)
			if err != nil {
				t.Fatalf("Parse(Marshal(ev)): %v", err)
			}
			if again2, err := Marshal(ev2); err != nil || string(again2) != string(again) {
				t.Fatalf("round trip is not stable:\n%s\n%s (%v)", again, again2, err)
			}
		})
	}
}

// assertJSONSubset checks that every value in want appears, equal, in got
// (got may add zero-valued fields the example left out).
func assertJSONSubset(t *testing.T, want, got []byte) {
	t.Helper()
	var w, g any
	dec := func(b []byte, v *any) {
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	dec(want, &w)
	dec(got, &g)
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok {
				t.Errorf("%s: got %v, want an object", path, g)
				return
			}
			for k, v := range wv {
				walk(path+"."+k, v, gv[k])
			}
		case []any:
			gv, ok := g.([]any)
			if !ok || len(gv) != len(wv) {
				// An empty list may be omitted.
				if len(wv) == 0 && g == nil {
					return
				}
				t.Errorf("%s: got %v, want %v", path, g, w)
				return
			}
			for i := range wv {
				walk(path, wv[i], gv[i])
			}
		case string:
			if gs, ok := g.(string); ok && gs != wv {
				// Times may be re-spelled; compare them as instants.
				tw, e1 := time.Parse(time.RFC3339Nano, wv)
				tg, e2 := time.Parse(time.RFC3339Nano, gs)
				if e1 == nil && e2 == nil && tw.Equal(tg) {
					return
				}
			}
			if g != w {
				t.Errorf("%s: got %v, want %v", path, g, w)
			}
		default:
			if !reflect.DeepEqual(g, w) {
				t.Errorf("%s: got %v, want %v", path, g, w)
			}
		}
	}
	walk("$", w, g)
}

func TestParseTypedFields(t *testing.T) {
	ev, err := Parse([]byte(`{"transaction":{"id":"Transaction:1","status":"COMPLETED","type":"OUTGOING","sentAmount":{"amount":10550,"currency":{"code":"USD","decimals":2}},"receivedAmount":{"amount":9706,"currency":{"code":"EUR","decimals":2}},"exchangeRate":0.920000000000000000001,"fees":0,"paymentInstructions":{"reference":"R","bankAccountInfo":{"accountType":"IBAN","iban":"DE89370400440532013000"}},"counterpartyInformation":{"AGE":42,"FULL_NAME":"X"},"futureField":{"x":1}},"timestamp":"2026-11-22T07:00:00.123456Z","webhookId":"Webhook:1","type":"OUTGOING_PAYMENT"}`))
	if err != nil {
		t.Fatal(err)
	}
	o := ev.(*OutgoingPaymentWebhook)
	tx := o.Transaction
	// Exact decimal text, never a float64; zero fees present, not absent.
	if tx.ExchangeRate != "0.920000000000000000001" || tx.Fees == nil || *tx.Fees != 0 || tx.ReceivedAmount.Amount != 9706 {
		t.Fatalf("transaction %+v", tx)
	}
	if n, ok := tx.CounterpartyInformation["AGE"].(json.Number); !ok || n != "42" {
		t.Fatalf("free-form number decoded as %T %v, want json.Number", tx.CounterpartyInformation["AGE"], tx.CounterpartyInformation["AGE"])
	}
	if tx.PaymentInstructions.BankAccountInfo.IBAN != "DE89370400440532013000" || o.Timestamp.Nanosecond() != 123456000 {
		t.Fatalf("%+v", o)
	}

	u, err := Parse([]byte(`{"x":[1,2],"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:2","type":"SOMETHING_NEW"}`))
	if err != nil {
		t.Fatal(err)
	}
	if uw, ok := u.(*UnknownWebhook); !ok || uw.Type != "SOMETHING_NEW" || !strings.Contains(string(uw.Raw), `"x":[1,2]`) {
		t.Fatalf("unknown type: %#v", u)
	}
}

// umaRequestBody is an UMA_REQUEST as vaspd sends it (keys in the order
// of its map encoding), with extra fields inserted at the top level and
// inside umaRequest (given as `,"k":v` fragments).
func umaRequestBody(top, inner string) string {
	return `{"platformUserId":"p-alice","timestamp":"2026-11-22T07:00:00.123456Z","type":"UMA_REQUEST",` +
		`"umaRequest":{"id":"UmaRequest:01a2020d-f980-7c3e-8f21-5d6b0c1e9a10","userId":"User:01a2020d-f980-7c3e-8f21-5d6b0c1e9a11",` +
		`"receiverUmaAddress":"$carol@vasp1.example","invoiceUUID":"c7c07fec-cf00-431c-916f-6c13fc4b69f9","invoice":"uma1qqxy",` +
		`"amount":1250,"currency":"USD","expiresAt":"2026-11-22T08:00:00Z","createdAt":"2026-11-22T07:00:00.123456Z"` + inner + `}` +
		top + `,"webhookId":"Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a12"}`
}

func TestParseUmaRequest(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 123456000, time.UTC)
	want := &UmaRequestWebhook{
		UmaRequest: UmaRequest{ID: "UmaRequest:01a2020d-f980-7c3e-8f21-5d6b0c1e9a10", UserID: "User:01a2020d-f980-7c3e-8f21-5d6b0c1e9a11",
			ReceiverUmaAddress: "$carol@vasp1.example", InvoiceUUID: "c7c07fec-cf00-431c-916f-6c13fc4b69f9", Invoice: "uma1qqxy",
			Amount: 1250, Currency: "USD", ExpiresAt: at.Truncate(time.Hour).Add(time.Hour), CreatedAt: at},
		PlatformUserID: "p-alice",
		BaseWebhook:    BaseWebhook{Timestamp: at, WebhookID: "Webhook:01a2020d-f980-7c3e-8f21-5d6b0c1e9a12", Type: TypeUmaRequest},
	}
	for _, c := range []struct{ name, body string }{
		{"as sent", umaRequestBody("", "")},
		// Fields a newer vaspd may add are ignored, as for every type.
		{"unknown fields", umaRequestBody(`,"futureField":{"x":[1]}`, `,"note":"later","memo":{"a":1}`)},
	} {
		ev, err := Parse([]byte(c.body))
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		got, ok := ev.(*UmaRequestWebhook)
		if !ok {
			t.Fatalf("%s: Parse gave %T, want *UmaRequestWebhook", c.name, ev)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: Parse gave\n%+v\nwant\n%+v", c.name, got, want)
		}
	}
	// Marshal sends it (envelope last) and Parse reads that back the same.
	b, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	assertJSONSubset(t, []byte(umaRequestBody("", "")), b)
	if ev, err := Parse(b); err != nil || !reflect.DeepEqual(ev, want) {
		t.Fatalf("Parse(Marshal) = %+v, %v", ev, err)
	}
}

func TestParseRejects(t *testing.T) {
	const env = `"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:1"`
	for _, c := range []struct{ name, body string }{
		{"not JSON", `Webhook`},
		{"array", `[]`},
		{"empty", ``},
		{"trailing data", `{` + env + `,"type":"TEST"} {}`},
		{"trailing brace", `{` + env + `,"type":"TEST"}}`},
		{"trailing bracket", `{` + env + `,"type":"TEST"}]`},
		{"trailing garbage", `{` + env + `,"type":"TEST"} ]x`},
		{"missing type", `{` + env + `}`},
		{"missing webhookId", `{"timestamp":"2026-11-22T07:00:00Z","type":"TEST"}`},
		{"foreign id", `{"timestamp":"2026-11-22T07:00:00Z","webhookId":"msg_1","type":"TEST"}`},
		{"id with a dot", `{"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:a.b","type":"TEST"}`},
		{"id with a space", `{"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:a b","type":"TEST"}`},
		{"missing timestamp", `{"webhookId":"Webhook:1","type":"TEST"}`},
		{"bad timestamp", `{"timestamp":"yesterday","webhookId":"Webhook:1","type":"TEST"}`},
		{"long type", `{` + env + `,"type":"` + strings.Repeat("X", 65) + `"}`},
		{"incoming without transaction", `{` + env + `,"type":"INCOMING_PAYMENT"}`},
		{"incoming carrying outgoing", `{"transaction":{"id":"Transaction:1","status":"PENDING","type":"OUTGOING"},` + env + `,"type":"INCOMING_PAYMENT"}`},
		{"outgoing without status", `{"transaction":{"id":"Transaction:1"},` + env + `,"type":"OUTGOING_PAYMENT"}`},
		{"outgoing carrying incoming", `{"transaction":{"id":"Transaction:1","status":"COMPLETED","type":"INCOMING"},` + env + `,"type":"OUTGOING_PAYMENT"}`},
		{"amount as float", `{"transaction":{"id":"Transaction:1","status":"PENDING","receivedAmount":{"amount":1.5}},` + env + `,"type":"INCOMING_PAYMENT"}`},
		{"amount as string", `{"transaction":{"id":"Transaction:1","status":"PENDING","receivedAmount":{"amount":"15"}},` + env + `,"type":"INCOMING_PAYMENT"}`},
		// The specification's own examples have this erratum (its schema says string).
		{"account number as a number", `{"transaction":{"id":"Transaction:1","status":"COMPLETED","paymentInstructions":{"bankAccountInfo":{"accountType":"US_ACCOUNT","accountNumber":987654321}}},` + env + `,"type":"OUTGOING_PAYMENT"}`},
		{"bulk without job id", `{"bulkUserImportJob":{},` + env + `,"type":"BULK_UPLOAD"}`},
		{"invitation without code", `{"invitation":{},` + env + `,"type":"INVITATION_CLAIMED"}`},
		{"UMA request without umaRequest", `{"platformUserId":"p-alice",` + env + `,"type":"UMA_REQUEST"}`},
		{"UMA request with null umaRequest", strings.Replace(umaRequestBody("", ""), `"umaRequest":{`, `"umaRequest":null,"x":{`, 1)},
		{"UMA request without id", strings.Replace(umaRequestBody("", ""), `"id":"UmaRequest:01a2020d-f980-7c3e-8f21-5d6b0c1e9a10",`, ``, 1)},
		{"UMA request without userId", strings.Replace(umaRequestBody("", ""), `"userId":`, `"uid":`, 1)},
		{"UMA request without receiver", strings.Replace(umaRequestBody("", ""), `"receiverUmaAddress":`, `"receiver":`, 1)},
		{"UMA request without amount", strings.Replace(umaRequestBody("", ""), `"amount":1250,`, ``, 1)},
		{"UMA request with a zero amount", strings.Replace(umaRequestBody("", ""), `"amount":1250`, `"amount":0`, 1)},
		{"UMA request with a negative amount", strings.Replace(umaRequestBody("", ""), `"amount":1250`, `"amount":-1`, 1)},
		{"UMA request with amount as float", strings.Replace(umaRequestBody("", ""), `"amount":1250`, `"amount":12.5`, 1)},
		{"UMA request without currency", strings.Replace(umaRequestBody("", ""), `"currency":"USD"`, `"currency":""`, 1)},
		{"UMA request with a bad expiresAt", strings.Replace(umaRequestBody("", ""), `"expiresAt":"2026-11-22T08:00:00Z"`, `"expiresAt":"soon"`, 1)},
	} {
		if ev, err := Parse([]byte(c.body)); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("%s: Parse = %v, %v; want ErrInvalidPayload", c.name, ev, err)
		}
	}
}

func TestMarshal(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	// The type is filled in from the struct.
	b, err := Marshal(&BulkUploadWebhook{BulkUserImportJob: BulkUserImportJob{JobID: "Job:1", Status: "COMPLETED"}, BaseWebhook: BaseWebhook{Timestamp: at, WebhookID: "Webhook:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), `"timestamp":"2026-11-22T07:00:00Z","webhookId":"Webhook:1","type":"BULK_UPLOAD"}`) {
		t.Fatalf("Marshal = %s: the envelope must come last, in order", b)
	}
	for _, c := range []struct {
		name string
		ev   Event
	}{
		{"nil", nil},
		{"type mismatch", &TestWebhook{BaseWebhook{Timestamp: at, WebhookID: "Webhook:1", Type: TypeBulkUpload}}},
		{"unknown", &UnknownWebhook{BaseWebhook: BaseWebhook{Timestamp: at, WebhookID: "Webhook:1", Type: "X"}}},
		{"foreign struct", &BaseWebhook{Timestamp: at, WebhookID: "Webhook:1", Type: TypeTest}},
		{"no id", &TestWebhook{BaseWebhook{Timestamp: at}}},
		{"no timestamp", &TestWebhook{BaseWebhook{WebhookID: "Webhook:1"}}},
		{"incoming without transaction", &IncomingPaymentWebhook{BaseWebhook: BaseWebhook{Timestamp: at, WebhookID: "Webhook:1"}}},
		{"invitation without code", &InvitationClaimedWebhook{BaseWebhook: BaseWebhook{Timestamp: at, WebhookID: "Webhook:1"}}},
		{"UMA request without umaRequest", &UmaRequestWebhook{PlatformUserID: "p", BaseWebhook: BaseWebhook{Timestamp: at, WebhookID: "Webhook:1"}}},
		{"UMA request typed otherwise", &UmaRequestWebhook{BaseWebhook: BaseWebhook{Timestamp: at, WebhookID: "Webhook:1", Type: TypeTest}}},
	} {
		if b, err := Marshal(c.ev); !errors.Is(err, ErrInvalidPayload) {
			t.Errorf("%s: Marshal = %s, %v; want ErrInvalidPayload", c.name, b, err)
		}
	}
}
