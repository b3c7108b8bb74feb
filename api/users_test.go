package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/api"
	"github.com/vaspd/vaspd/auth"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

type userFixture struct {
	*fixture
	db      *store.DB
	ledger  *ledger.Ledger
	manager auth.CreatedToken // VIEW + MANAGE, no TRANSACT
}

func newUserFixture(t *testing.T, db *store.DB) *userFixture {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(db, nil)
	u := users.New(db, nil, users.WithRates(p))
	f := newFixture(t, db, func(s *api.Server) { s.MountUsers(u, l, p, "VASP.example") })
	m, err := f.tokens.Create(context.Background(), "manager", []vaspd.Permission{vaspd.PermView, vaspd.PermManage})
	if err != nil {
		t.Fatal(err)
	}
	uf := &userFixture{fixture: f, db: db, ledger: l, manager: m}
	// Money is never created or lost, whatever the scenario did.
	t.Cleanup(func() {
		if err := l.Check(context.Background(), db); err != nil {
			t.Errorf("ledger check: %v", err)
		}
	})
	return uf
}

// req sends a JSON request with optional extra headers (name, value pairs;
// a name given twice is sent twice).
func (f *userFixture) req(t *testing.T, method, path string, tok *auth.CreatedToken, body string, headers ...string) (int, map[string]any, http.Header) {
	t.Helper()
	r, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if tok != nil {
		r.SetBasicAuth(tok.ClientID, tok.ClientSecret)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
		}
	}
	return resp.StatusCode, m, resp.Header
}

// create makes a user and returns its id.
func (f *userFixture) create(t *testing.T, body string) string {
	t.Helper()
	st, m, _ := f.req(t, "POST", "/users", &f.admin, body)
	if st != http.StatusCreated {
		t.Fatalf("create: %d %v", st, m)
	}
	return m["id"].(string)
}

// balance returns the user's available amount in currency per the API.
func (f *userFixture) balance(t *testing.T, id, currency string) (available, held float64) {
	t.Helper()
	st, m, _ := f.req(t, "GET", "/users/"+id+"/balances", &f.viewer, "")
	if st != http.StatusOK {
		t.Fatalf("balances: %d %v", st, m)
	}
	for _, b := range m["balances"].([]any) {
		b := b.(map[string]any)
		if b["currency"].(map[string]any)["code"] == currency {
			return b["available"].(float64), b["held"].(float64)
		}
	}
	return -1, -1
}

const userAliceJSON = `{"umaAddress":"$Alice@vasp.example","platformUserId":"p-1","userType":"INDIVIDUAL",
	"fullName":"Alice Example","birthDate":"1990-01-15","nationality":"FR","kycStatus":"VERIFIED",
	"preferredCurrencies":["EUR","USD"],
	"address":{"line1":"1 Rue X","postalCode":"75001","country":"FR"},
	"bankAccountInfo":{"accountType":"IBAN","iban":"FR1420041010050500013M02606","bankName":"La Banque"}}`

func TestUsersCRUD(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		st, a, _ := f.req(t, "POST", "/users", &f.admin, userAliceJSON)
		if st != http.StatusCreated || a["umaAddress"] != "$alice@vasp.example" || a["userType"] != "INDIVIDUAL" ||
			a["kycStatus"] != "VERIFIED" || a["isDeleted"] != false || a["fullName"] != "Alice Example" ||
			fmt.Sprint(a["preferredCurrencies"]) != "[EUR USD]" || a["createdAt"] == nil ||
			a["bankAccountInfo"].(map[string]any)["iban"] != "FR1420041010050500013M02606" {
			t.Fatalf("create: %d %v", st, a)
		}
		id := a["id"].(string)
		st, b, _ := f.req(t, "POST", "/users", &f.manager, `{"umaAddress":"$acme@vasp.example","platformUserId":"p-2",
			"userType":"BUSINESS","businessInfo":{"legalName":"Acme Corp","taxId":"T1"}}`)
		if st != http.StatusCreated || b["businessInfo"].(map[string]any)["legalName"] != "Acme Corp" ||
			b["fullName"] != nil || fmt.Sprint(b["preferredCurrencies"]) != "[USD]" || b["kycStatus"] != "UNKNOWN" {
			t.Fatalf("create business: %d %v", st, b)
		}

		// Errors.
		st, m, _ := f.req(t, "POST", "/users", &f.admin, userAliceJSON)
		wantError(t, st, m, 409, vaspd.CodeUMAAddressExists)
		st, m, _ = f.req(t, "POST", "/users", &f.admin, `{"umaAddress":"$bob@elsewhere.example","platformUserId":"p","userType":"INDIVIDUAL"}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidUMAAddress)
		st, m, _ = f.req(t, "POST", "/users", &f.admin, `{"platformUserId":"p","userType":"INDIVIDUAL"}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidUMAAddress)
		for _, dots := range []string{"$.", "$..", "$..@vasp.example"} { // no URL names them: never payable
			st, m, _ = f.req(t, "POST", "/users", &f.admin, `{"umaAddress":"`+dots+`","platformUserId":"p","userType":"INDIVIDUAL"}`)
			wantError(t, st, m, 400, vaspd.CodeInvalidUMAAddress)
		}
		st, m, _ = f.req(t, "POST", "/users", &f.admin, `{"umaAddress":"$bob","platformUserId":"p","userType":"INDIVIDUAL","preferredCurrencies":["XYZ"]}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidCurrency)
		st, m, _ = f.req(t, "POST", "/users", &f.admin, `{"umaAddress":"$bob","platformUserId":"p","userType":"INDIVIDUAL","isAdmin":true}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "POST", "/users", &f.admin, `{"umaAddress":"$bob","platformUserId":"p","userType":"INDIVIDUAL",
			"bankAccountInfo":{"accountType":"US_ACCOUNT","accountNumber":"1","routingNumber":"12","accountCategory":"CHECKING","accountHolderName":"B"}}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "POST", "/users", &f.viewer, `{}`)
		wantError(t, st, m, 403, vaspd.CodeForbidden)
		st, m, _ = f.req(t, "POST", "/users", nil, `{}`)
		wantError(t, st, m, 401, vaspd.CodeUnauthorized)

		// Get.
		st, g, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if st != http.StatusOK || fmt.Sprint(g) != fmt.Sprint(a) {
			t.Fatalf("get: %d\n got %v\nwant %v", st, g, a)
		}
		st, m, _ = f.req(t, "GET", "/users/"+vaspd.NewID(vaspd.IDUser), &f.viewer, "")
		wantError(t, st, m, 404, vaspd.CodeUserNotFound)
		st, m, _ = f.req(t, "GET", "/users/Token:x", &f.viewer, "")
		wantError(t, st, m, 404, vaspd.CodeUserNotFound)

		// Patch.
		st, p, _ := f.req(t, "PATCH", "/users/"+id, &f.manager, `{"userType":"INDIVIDUAL","umaAddress":"$alice2@vasp.example",
			"kycStatus":"PENDING","address":{"line1":"2 Rue Y","postalCode":"75002","country":"fr"}}`)
		if st != http.StatusOK || p["umaAddress"] != "$alice2@vasp.example" || p["kycStatus"] != "PENDING" ||
			p["address"].(map[string]any)["country"] != "FR" || p["fullName"] != "Alice Example" {
			t.Fatalf("patch: %d %v", st, p)
		}
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"userType":"BUSINESS"}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"umaAddress":"$ACME"}`)
		wantError(t, st, m, 409, vaspd.CodeUMAAddressExists)
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"nationality":"France"}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.viewer, `{}`)
		wantError(t, st, m, 403, vaspd.CodeForbidden)
		st, m, _ = f.req(t, "PATCH", "/users/"+vaspd.NewID(vaspd.IDUser), &f.admin, `{}`)
		wantError(t, st, m, 404, vaspd.CodeUserNotFound)

		// Delete: soft, once, frees the address.
		st, d, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, "")
		if st != http.StatusOK || d["isDeleted"] != true || d["id"] != id {
			t.Fatalf("delete: %d %v", st, d)
		}
		st, m, _ = f.req(t, "DELETE", "/users/"+id, &f.admin, "")
		wantError(t, st, m, 410, vaspd.CodeGone)
		st, m, _ = f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"VERIFIED"}`)
		wantError(t, st, m, 410, vaspd.CodeGone)
		st, g, _ = f.req(t, "GET", "/users/"+id, &f.viewer, "")
		if st != http.StatusOK || g["isDeleted"] != true {
			t.Fatalf("get deleted: %d %v", st, g)
		}
		f.create(t, `{"umaAddress":"alice2@vasp.example","platformUserId":"p-3","userType":"INDIVIDUAL"}`)
	})
}

func TestUsersList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		var ids []string
		for i := 0; i < 5; i++ {
			typ := "INDIVIDUAL"
			if i == 4 {
				typ = "BUSINESS"
			}
			ids = append(ids, f.create(t, fmt.Sprintf(`{"umaAddress":"$u%d","platformUserId":"p%d","userType":%q}`, i, i%2, typ)))
		}
		if st, m, _ := f.req(t, "DELETE", "/users/"+ids[0], &f.admin, ""); st != http.StatusOK {
			t.Fatalf("delete: %d %v", st, m)
		}
		list := func(query string) []string {
			t.Helper()
			var out []string
			path := "/users?" + query
			for pages := 0; ; pages++ {
				st, m, _ := f.req(t, "GET", path, &f.viewer, "")
				if st != http.StatusOK || pages > 10 {
					t.Fatalf("list %s: %d %v", path, st, m)
				}
				for _, u := range m["data"].([]any) {
					out = append(out, u.(map[string]any)["umaAddress"].(string))
				}
				if m["hasMore"] != true {
					if m["nextCursor"] != nil {
						t.Fatalf("nextCursor without hasMore: %v", m)
					}
					return out
				}
				path = "/users?" + query + "&cursor=" + m["nextCursor"].(string)
			}
		}
		eq := func(got []string, want string) {
			t.Helper()
			if strings.Join(got, " ") != want {
				t.Fatalf("got %v, want %s", got, want)
			}
		}
		const d = "@vasp.example"
		eq(list(""), "$u4"+d+" $u3"+d+" $u2"+d+" $u1"+d)
		eq(list("limit=2"), "$u4"+d+" $u3"+d+" $u2"+d+" $u1"+d)
		eq(list("limit=1&isIncludingDeleted=true"), "$u4"+d+" $u3"+d+" $u2"+d+" $u1"+d+" $u0"+d)
		eq(list("platformUserId=p1"), "$u3"+d+" $u1"+d)
		eq(list("userType=BUSINESS"), "$u4"+d)
		eq(list("umaAddress=%24U2%40vasp.example"), "$u2"+d)
		eq(list("umaAddress=%24u0%40vasp.example&isIncludingDeleted=1"), "$u0"+d)
		eq(list("createdAfter=2100-01-01T00:00:00Z"), "")
		eq(list("updatedBefore=2000-01-01T00:00:00Z"), "")
		eq(list("createdBefore=2100-01-01T00:00:00+01:00&kycStatus=UNKNOWN&userType=BUSINESS"), "$u4"+d)
		for _, q := range []string{"userType=ROBOT", "createdAfter=yesterday", "isIncludingDeleted=maybe", "kycStatus=OK", "limit=0", "cursor=!!"} {
			st, m, _ := f.req(t, "GET", "/users?"+q, &f.viewer, "")
			wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		}
		st, m, _ := f.req(t, "GET", "/users?umaAddress=%24u1%40other.example", &f.viewer, "")
		wantError(t, st, m, 400, vaspd.CodeInvalidUMAAddress)
	})
}

func TestUsersDepositsWithdrawals(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		dep := "/users/" + id + "/deposits"
		wd := "/users/" + id + "/withdrawals"

		// Preferred currencies show at zero before any movement.
		st, m, _ := f.req(t, "GET", "/users/"+id+"/balances", &f.viewer, "")
		if st != http.StatusOK || m["userId"] != id || len(m["balances"].([]any)) != 2 ||
			fmt.Sprint(m["balances"].([]any)[0]) != "map[available:0 currency:map[code:EUR decimals:2 name:Euro symbol:€] held:0]" {
			t.Fatalf("balances: %d %v", st, m)
		}

		st, m, h := f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":10000,"reference":"wire-1"}`, "Idempotency-Key", "k1")
		if st != http.StatusCreated || m["amount"] != float64(10000) || m["type"] != "DEPOSIT" || m["userId"] != id ||
			m["currency"].(map[string]any)["code"] != "USD" || m["reference"] != "wire-1" || h.Get("Idempotent-Replayed") != "" {
			t.Fatalf("deposit: %d %v", st, m)
		}
		// A retry replays; the money arrives once.
		st, r, h := f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":10000,"reference":"wire-1"}`, "Idempotency-Key", "k1")
		if st != http.StatusOK || h.Get("Idempotent-Replayed") != "true" || r["id"] != m["id"] || r["createdAt"] != m["createdAt"] {
			t.Fatalf("replay: %d %v", st, r)
		}
		// The key in the body works too, and a reference alone is a key.
		st, _, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"usd","amount":10000,"reference":"wire-1","idempotencyKey":"k1"}`)
		if st != http.StatusOK {
			t.Fatalf("body key replay: %d", st)
		}
		for i := 0; i < 2; i++ {
			st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"EUR","amount":500,"reference":"wire-2"}`)
			if st != []int{201, 200}[i] {
				t.Fatalf("reference-keyed deposit %d: %d %v", i, st, m)
			}
		}
		if av, held := f.balance(t, id, "USD"); av != 10000 || held != 0 {
			t.Fatalf("USD %v %v", av, held)
		}
		if av, _ := f.balance(t, id, "EUR"); av != 500 {
			t.Fatalf("EUR %v", av)
		}

		// Errors.
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":999,"reference":"wire-1"}`, "Idempotency-Key", "k1")
		wantError(t, st, m, 422, vaspd.CodeIdempotencyKeyReused)
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":5,"reference":"wire-1"}`, "Idempotency-Key", "k-other")
		wantError(t, st, m, 409, vaspd.CodeConflict)
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":5}`)
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "has space")
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":5,"idempotencyKey":"a"}`, "Idempotency-Key", "b")
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"XYZ","amount":5}`, "Idempotency-Key", "k2")
		wantError(t, st, m, 400, vaspd.CodeInvalidCurrency)
		for _, amt := range []string{"0", "-5", "9000000000000001"} {
			st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":`+amt+`}`, "Idempotency-Key", "k2")
			wantError(t, st, m, 400, vaspd.CodeInvalidAmount)
		}
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":1.5}`, "Idempotency-Key", "k2")
		wantError(t, st, m, 400, vaspd.CodeInvalidInput)
		st, m, _ = f.req(t, "POST", dep, &f.manager, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "k2")
		wantError(t, st, m, 403, vaspd.CodeForbidden)
		st, m, _ = f.req(t, "POST", "/users/"+vaspd.NewID(vaspd.IDUser)+"/deposits", &f.admin, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "k2")
		wantError(t, st, m, 404, vaspd.CodeUserNotFound)

		// Withdrawals never overdraw.
		st, m, _ = f.req(t, "POST", wd, &f.admin, `{"currencyCode":"USD","amount":10001}`, "Idempotency-Key", "w1")
		wantError(t, st, m, 400, vaspd.CodeInsufficientBalance)
		st, m, _ = f.req(t, "POST", wd, &f.admin, `{"currencyCode":"GBP","amount":1}`, "Idempotency-Key", "w1")
		wantError(t, st, m, 400, vaspd.CodeInsufficientBalance)
		st, m, _ = f.req(t, "POST", wd, &f.admin, `{"currencyCode":"USD","amount":4000}`, "Idempotency-Key", "w1")
		if st != http.StatusCreated || m["type"] != "WITHDRAWAL" {
			t.Fatalf("withdraw: %d %v", st, m)
		}
		if st, _, _ = f.req(t, "POST", wd, &f.admin, `{"currencyCode":"USD","amount":4000}`, "Idempotency-Key", "w1"); st != http.StatusOK {
			t.Fatalf("withdraw replay: %d", st)
		}
		if av, _ := f.balance(t, id, "USD"); av != 6000 {
			t.Fatalf("USD after withdrawal %v", av)
		}

		// A user with money cannot be deleted; once paid out, they can, and
		// then receive nothing more.
		st, m, _ = f.req(t, "DELETE", "/users/"+id, &f.admin, "")
		wantError(t, st, m, 409, vaspd.CodeConflict)
		if st, _, _ := f.req(t, "GET", "/users/"+id, &f.viewer, ""); st != http.StatusOK {
			t.Fatal("the refused delete deleted")
		}
		f.req(t, "POST", wd, &f.admin, `{"currencyCode":"USD","amount":6000}`, "Idempotency-Key", "w2")
		f.req(t, "POST", wd, &f.admin, `{"currencyCode":"EUR","amount":500}`, "Idempotency-Key", "w3")
		if st, m, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, ""); st != http.StatusOK {
			t.Fatalf("delete: %d %v", st, m)
		}
		st, m, _ = f.req(t, "POST", dep, &f.admin, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "k3")
		wantError(t, st, m, 404, vaspd.CodeUserNotFound)
		if av, _ := f.balance(t, id, "USD"); av != 0 {
			t.Fatalf("USD after payout %v", av)
		}
	})
}

// TestUsersConcurrentDepositRetries fires the same deposit from many
// clients at once: it is recorded exactly once.
func TestUsersConcurrentDepositRetries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		id := f.create(t, userAliceJSON)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			created int
		)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, m, _ := f.req(t, "POST", "/users/"+id+"/deposits", &f.admin, `{"currencyCode":"EUR","amount":700}`, "Idempotency-Key", "same")
				mu.Lock()
				defer mu.Unlock()
				switch st {
				case http.StatusCreated:
					created++
				case http.StatusOK:
				default:
					t.Errorf("deposit: %d %v", st, m)
				}
			}()
		}
		wg.Wait()
		if created != 1 {
			t.Fatalf("%d deposits created", created)
		}
		if av, _ := f.balance(t, id, "EUR"); av != 700 {
			t.Fatalf("EUR %v", av)
		}
	})
}

// TestUsersDeleteRacesDeposit races a deposit against the user's deletion:
// either the deposit lands and the delete is refused, or the user is gone
// and the deposit is refused — never a deleted user holding money.
func TestUsersDeleteRacesDeposit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		for i := 0; i < 6; i++ {
			id := f.create(t, fmt.Sprintf(`{"umaAddress":"$race%d","platformUserId":"p","userType":"INDIVIDUAL"}`, i))
			var wg sync.WaitGroup
			var depSt, delSt int
			wg.Add(2)
			go func() {
				defer wg.Done()
				depSt, _, _ = f.req(t, "POST", "/users/"+id+"/deposits", &f.admin, `{"currencyCode":"USD","amount":5}`, "Idempotency-Key", "r")
			}()
			go func() {
				defer wg.Done()
				delSt, _, _ = f.req(t, "DELETE", "/users/"+id, &f.admin, "")
			}()
			wg.Wait()
			av, _ := f.balance(t, id, "USD")
			_, u, _ := f.req(t, "GET", "/users/"+id, &f.viewer, "")
			switch {
			case depSt == http.StatusCreated && delSt == http.StatusConflict && av == 5 && u["isDeleted"] == false:
			case depSt == http.StatusNotFound && delSt == http.StatusOK && av == 0 && u["isDeleted"] == true:
			default:
				t.Fatalf("deposit %d, delete %d, balance %v, deleted %v", depSt, delSt, av, u["isDeleted"])
			}
		}
	})
}

// TestUsersIdempotencyKey: a platform retrying POST /users after a lost
// response, with its Idempotency-Key, gets the user the first request
// created (its 201, marked Idempotent-Replayed, the user as it is now,
// even patched or deleted), never a 409 UMA_ADDRESS_EXISTS or a second
// user; the key sent with another request is refused, and of concurrent
// retries one creates.
func TestUsersIdempotencyKey(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newUserFixture(t, db)
		post := func(t *testing.T, body, key string) (int, map[string]any, http.Header) {
			t.Helper()
			return f.req(t, "POST", "/users", &f.admin, body, "Idempotency-Key", key)
		}
		testIdempotencyKey(t, db, idempotentCreate{
			send: post, status: http.StatusCreated, id: "id", table: "users",
			body: userAliceJSON, key: "user-1",
			// The retry, and one spelling the same request another way
			// (the address without its domain, other case and spaces,
			// fields in another order, the IBAN with spaces).
			retries: []string{userAliceJSON,
				`{"platformUserId":" p-1 ","umaAddress":"ALICE","userType":"INDIVIDUAL","kycStatus":"VERIFIED",
				"fullName":"Alice Example ","birthDate":"1990-01-15","nationality":"fr","preferredCurrencies":["eur","USD"],
				"address":{"line1":"1 Rue X","postalCode":"75001","country":"fr"},
				"bankAccountInfo":{"accountType":"IBAN","iban":"FR14 2004 1010 0505 0001 3M02 606","bankName":"La Banque"}}`},
			others: []string{
				strings.Replace(userAliceJSON, `"p-1"`, `"p-2"`, 1),
				strings.Replace(userAliceJSON, `$Alice@`, `$alice.b@`, 1),
				strings.Replace(userAliceJSON, `"VERIFIED"`, `"PENDING"`, 1),
				strings.Replace(userAliceJSON, `["EUR","USD"]`, `["USD","EUR"]`, 1),
				strings.Replace(userAliceJSON, `"1 Rue X"`, `"2 Rue X"`, 1),
				strings.Replace(userAliceJSON, `"birthDate":"1990-01-15",`, ``, 1),
				`{"umaAddress":"$carol","platformUserId":"p-3","userType":"INDIVIDUAL"}`,
			},
			// The user as it is now: patched, then deleted, its address
			// then given to someone else; the retry still answers the
			// first user, not a 409 for the address. The first user
			// renamed, $alice is free again for another key.
			then: func(t *testing.T, first map[string]any) {
				id := first["id"].(string)
				if st, got, _ := f.req(t, "PATCH", "/users/"+id, &f.admin, `{"kycStatus":"PENDING","umaAddress":"$alice.old"}`); st != http.StatusOK {
					t.Fatalf("patch: %d %v", st, got)
				}
				if st, got, h := post(t, userAliceJSON, "user-1"); st != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" ||
					got["id"] != id || got["kycStatus"] != "PENDING" || got["umaAddress"] != "$alice.old@vasp.example" {
					t.Fatalf("retry after the patch: %d %v %v", st, got, h)
				}
				if st, got, _ := f.req(t, "DELETE", "/users/"+id, &f.admin, ""); st != http.StatusOK {
					t.Fatalf("delete: %d %v", st, got)
				}
				f.create(t, strings.Replace(userAliceJSON, `$Alice@`, `$alice.old@`, 1))
				if st, got, h := post(t, userAliceJSON, "user-1"); st != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" ||
					got["id"] != id || got["isDeleted"] != true {
					t.Fatalf("retry after the delete: %d %v %v", st, got, h)
				}
			},
			// Another key took $alice again.
			conflict: vaspd.CodeUMAAddressExists,
			total:    3,
			race:     `{"umaAddress":"$racer","platformUserId":"p-race","userType":"INDIVIDUAL","preferredCurrencies":["USD"]}`,
		})

		// A request refused under a key used it not: it may be sent
		// again, fixed.
		st, got, _ := post(t, userAliceJSON, "user-3")
		wantError(t, st, got, http.StatusConflict, vaspd.CodeUMAAddressExists)
		if st, got, _ := post(t, strings.Replace(userAliceJSON, `$Alice@`, `$alice3@`, 1), "user-3"); st != http.StatusCreated {
			t.Fatalf("user-3 fixed: %d %v", st, got)
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM users`).Scan(&n); err != nil || n != 5 {
			t.Fatalf("%d users (%v), want 5", n, err)
		}
	})
}
