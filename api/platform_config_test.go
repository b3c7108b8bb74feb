package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/vasp"
)

// GET /config tells a platform what UMAaaS's PlatformConfig does: the UMA
// domain and, per currency of the rates file, the amounts accepted and the
// fields asked of senders (required-counterparty-fields). They are
// settings: PATCH refuses to change them, and accepts the domain it has.
func TestPlatformConfig(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		required, err := vasp.ParseRequiredCounterpartyFields("FULL_NAME,NATIONALITY:optional,EMAIL")
		if err != nil {
			t.Fatal(err)
		}
		f := newPayFixtureMount(t, db, func(o *vasp.Options) { o.PayerData = required }, nil, nil, func(s *api.Server, f *payFixture) {
			hooks, err := delivery.New(db, delivery.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s.MountWebhooks(hooks)
		})
		st, body, _ := f.call(t, "GET", "/config", &f.viewer, "")
		if st != http.StatusOK {
			t.Fatalf("GET /config: %d %s", st, body)
		}
		var cfg struct {
			UmaDomain           string  `json:"umaDomain"`
			WebhookEndpoint     *string `json:"webhookEndpoint"`
			SupportedCurrencies []struct {
				CurrencyCode               string `json:"currencyCode"`
				MinAmount, MaxAmount       int64
				RequiredCounterpartyFields []map[string]any `json:"requiredCounterpartyFields"`
				EnabledTransactionTypes    []string         `json:"enabledTransactionTypes"`
			} `json:"supportedCurrencies"`
		}
		if err := json.Unmarshal(body, &cfg); err != nil {
			t.Fatal(err)
		}
		if cfg.UmaDomain != f.domain || cfg.WebhookEndpoint != nil || len(cfg.SupportedCurrencies) < 2 {
			t.Fatalf("GET /config: %s", body)
		}
		wantFields := []map[string]any{{"name": "EMAIL", "mandatory": true}, {"name": "FULL_NAME", "mandatory": true}, {"name": "NATIONALITY", "mandatory": false}}
		codes := map[string]bool{}
		for _, c := range cfg.SupportedCurrencies {
			codes[c.CurrencyCode] = true
			if c.MinAmount < 1 || c.MaxAmount < c.MinAmount || !reflect.DeepEqual(c.RequiredCounterpartyFields, wantFields) ||
				!reflect.DeepEqual(c.EnabledTransactionTypes, []string{"OUTGOING", "INCOMING"}) {
				t.Fatalf("currency %+v in %s", c, body)
			}
		}
		if !codes["USD"] || !codes["EUR"] {
			t.Fatalf("the rates file's USD and EUR are not listed: %s", body)
		}

		for _, tc := range []struct{ body, says string }{
			{`{"umaDomain":"other.example"}`, "umaDomain"},
			{`{"umaDomain":null}`, "umaDomain"},
			{`{"supportedCurrencies":[]}`, "rates file"},
		} {
			st, body, _ := f.call(t, "PATCH", "/config", &f.admin, tc.body)
			if st != http.StatusBadRequest || !strings.Contains(string(body), tc.says) {
				t.Errorf("PATCH %s: %d %s, want 400 saying %q", tc.body, st, body, tc.says)
			}
		}
		st, body, _ = f.call(t, "PATCH", "/config", &f.admin, `{"umaDomain":"`+strings.ToUpper(f.domain)+`"}`)
		if st != http.StatusOK || !strings.Contains(string(body), `"umaDomain":"`+f.domain+`"`) {
			t.Fatalf("PATCH with the domain it has: %d %s", st, body)
		}
		// What GET answered, PATCHed back (currencies in another order),
		// changes nothing and is accepted; one amount changed is not.
		_, got, _ := f.call(t, "GET", "/config", &f.viewer, "")
		var whole map[string]json.RawMessage
		if err := json.Unmarshal(got, &whole); err != nil {
			t.Fatal(err)
		}
		var cs []map[string]any
		if err := json.Unmarshal(whole["supportedCurrencies"], &cs); err != nil {
			t.Fatal(err)
		}
		slices.Reverse(cs)
		back, _ := json.Marshal(map[string]any{"umaDomain": f.domain, "supportedCurrencies": cs})
		if st, body, _ := f.call(t, "PATCH", "/config", &f.admin, string(back)); st != http.StatusOK {
			t.Fatalf("PATCH of what GET answered: %d %s", st, body)
		}
		cs[0]["maxAmount"] = cs[0]["maxAmount"].(float64) - 1
		changed, _ := json.Marshal(map[string]any{"supportedCurrencies": cs})
		if st, body, _ := f.call(t, "PATCH", "/config", &f.admin, string(changed)); st != http.StatusBadRequest || !strings.Contains(string(body), "rates file") {
			t.Fatalf("PATCH changing a maxAmount: %d %s, want 400", st, body)
		}
	})
}
