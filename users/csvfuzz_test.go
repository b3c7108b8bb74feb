package users_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// fuzzDB is the database a fuzz target reuses across its inputs:
// PostgreSQL when VASPD_TEST_POSTGRES_URL is set (it refuses text SQLite
// takes: NUL, invalid UTF-8), else SQLite.
func fuzzDB(f *testing.F) *store.DB {
	if os.Getenv(storetest.PostgresEnv) != "" {
		return storetest.Postgres(f)
	}
	return storetest.SQLite(f)
}

// FuzzImportCSV: any bytes as a bulk-upload file (POST /users/bulk/csv)
// are refused as a whole with a 4xx, or every data row ends as exactly one
// created user or one row error: the synchronous ImportCSV and the durable
// job agree on which, row errors carry the right row numbers and a 4xx
// with a printable message, and every created user is one POST /users
// would accept as it is stored.
func FuzzImportCSV(f *testing.F) {
	for _, s := range []string{
		importCSV,
		"umaAddress,platformUserId,userType\n$a,p,INDIVIDUAL\n",
		"\ufeff\"umaAddress\",\"platformUserId\",\"userType\"\r\n\"$bom\",\"p1\",\"INDIVIDUAL\"\r\n",
		"umaAddress,platformUserId,userType\n$a,p,INDIVIDUAL,extra\n$b,p,INDIVIDUAL\n",
		"umaAddress,platformUserId,userType\n$a,\"p\nq\",INDIVIDUAL\n$b,p,INDIVIDUAL\n",
		"umaAddress,platformUserId,userType\n$a,\"p,INDIVIDUAL\n$b,p,INDIVIDUAL\n$c,p,INDIVIDUAL\n",
		"umaAddress,platformUserId,userType\n$a,p\"q,INDIVIDUAL\n$b,p,INDIVIDUAL\n",
		"umaAddress,platformUserId,userType\n$a,p\x00,INDIVIDUAL\n$b,\xff,INDIVIDUAL\n",
		"umaAddress,platformUserId,userType,fullName,email,nationality,birthDate\n$a,p,individual,\"Doe, J\",a@b.c,us,1990-02-28\n",
		"umaAddress,platformUserId,userType,accountType,iban,bankName,swiftBic\n$i,p,INDIVIDUAL,iban,de89 3704 0044 0532 0130 00,B,deutdeff\n",
		"umaAddress,platformUserId,userType,accountType,pixKey,pixKeyType\n$x,p,INDIVIDUAL,PIX,k,email\n",
		"umaAddress,platformUserId,userType,accountType,clabeNumber,bankName\n$c,p,INDIVIDUAL,CLABE,123456789012345678,B\n",
		"umaAddress,platformUserId,userType,businessLegalName,businessTaxId\n$b,p,BUSINESS,Acme,1\n",
		"umaAddress,platformUserId,userType,preferredCurrencies\n$c,p,INDIVIDUAL,usd;eur usd\n",
		"",
		"umaAddress,platformUserId,userType,\n",
		"umaAddress,platformUserId,userType\n,,\n$a,p,INDIVIDUAL\n , \n,,,,\n",
		"\xff\xfeu\x00m\x00",
	} {
		f.Add(false, []byte(s))
	}
	// Rows under a header naming every column, so that mutations reach the
	// rows rather than break the header.
	for _, s := range []string{
		"$a,p,INDIVIDUAL,A B,1990-01-15,US,a@b.example,1 Main,,SF,CA,94105,US,US_ACCOUNT,123,Bank,acc,,,,,222888888,CHECKING,,,,,,,VERIFIED,USD;EUR\n",
		"$b,p,BUSINESS,,,,,1 Main,,SF,CA,94105,US,IBAN,,Bank,acc,,Acme,R1,T1,,,,,,DE89370400440532013000,DEUTDEFF,,PENDING,\n",
		"$c,p,INDIVIDUAL,,,,,,,,,,,PIX,,,,,,,,,,,key,CPF,,,Holder,,\n$d,q,INDIVIDUAL,,,,,,,,,,,CLABE,,B,,,,,,,,123456789012345678,,,,,,,\n",
	} {
		f.Add(true, []byte(s))
	}
	db := fuzzDB(f)
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		f.Fatal(err)
	}
	s := users.New(db, vaspd.NewFakeClock(t0), users.WithRates(p))
	im := users.NewImporter(s, users.ImporterOptions{})
	f.Fuzz(func(t *testing.T, withHeader bool, file []byte) {
		if withHeader {
			file = append([]byte(fullHeader+"\n"), file...)
		}
		defer clearUsers(t, db)
		res, syncErr := s.ImportCSV(ctx, bytes.NewReader(file), "vasp.example")
		if syncErr == nil {
			checkImportResult(t, file, res)
		}
		clearUsers(t, db)

		j, err := im.Submit(ctx, file, "vasp.example")
		if err != nil {
			e := wantClientError(t, err)
			if syncErr == nil {
				t.Fatalf("the job refused the file (%v), ImportCSV took it: %+v", e, res)
			}
			return
		}
		if syncErr != nil {
			t.Fatalf("ImportCSV refused the file (%v), the job took it", syncErr)
		}
		if found, err := im.Step(ctx); !found || err != nil {
			t.Fatalf("step: %v %v", found, err)
		}
		if j, err = im.Get(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if j.Status != users.ImportCompleted || j.Total != int64(res.Total) || j.Processed != j.Total ||
			j.Successful != int64(res.Successful) || j.Failed != int64(res.Failed) || len(j.Errors) != len(res.Errors) {
			t.Fatalf("job %+v, ImportCSV %+v", j, res)
		}
		for i, e := range j.Errors {
			if e != res.Errors[i] {
				t.Fatalf("job's row error %+v, ImportCSV's %+v", e, res.Errors[i])
			}
		}
	})
}

// fullHeader names every column of a bulk-upload file.
const fullHeader = "umaAddress,platformUserId,userType,fullName,birthDate,nationality,email,addressLine1," +
	"addressLine2,city,state,postalCode,country,accountType,accountNumber,bankName,platformAccountId,description," +
	"businessLegalName,businessRegistrationNumber,businessTaxId,routingNumber,accountCategory,clabeNumber,pixKey," +
	"pixKeyType,iban,swiftBic,accountHolderName,kycStatus,preferredCurrencies"

// checkImportResult checks res, ImportCSV's result for file.
func checkImportResult(t *testing.T, file []byte, res users.ImportResult) {
	t.Helper()
	if want := dataRecords(file); res.Total != want {
		t.Fatalf("%d rows imported, the file has %d: %+v", res.Total, want, res)
	}
	if res.Successful+res.Failed != res.Total || len(res.Created) != res.Successful || len(res.Errors) != res.Failed {
		t.Fatalf("counts %+v", res)
	}
	last := int64(0)
	for _, e := range res.Errors {
		if e.Row <= last || e.Row > int64(res.Total) {
			t.Fatalf("row error numbers out of order or range: %+v", res.Errors)
		}
		last = e.Row
		if n, ok := strings.CutPrefix(e.CorrelationID, "row_"); ok && n != strconv.FormatInt(e.Row, 10) {
			t.Fatalf("row %d reported as %s", e.Row, e.CorrelationID)
		}
		if e.CorrelationID == "" || !printable(e.CorrelationID) || len(e.CorrelationID) > 90 {
			t.Fatalf("correlation id %q", e.CorrelationID)
		}
		if e.Error.Status < 400 || e.Error.Status >= 500 || e.Error.Code == "" || e.Error.Message == "" || !printable(e.Error.Message) {
			t.Fatalf("row error %+v", e)
		}
	}
	for _, u := range res.Created {
		again := cloneUser(u)
		if err := users.Normalize(&again); err != nil || !reflect.DeepEqual(again, u) {
			t.Fatalf("created %+v, which validates to %+v, %v", u, again, err)
		}
	}
	// Nothing a created row gives is lost: every value is in its user.
	header, rows := records(file)
	failed := map[int64]bool{}
	for _, e := range res.Errors {
		failed[e.Row] = true
	}
	k := 0
	for i, rec := range rows {
		if failed[int64(i+1)] {
			continue
		}
		u := res.Created[k]
		k++
		for c, name := range header {
			if c >= len(rec) || strings.TrimSpace(rec[c]) == "" {
				continue
			}
			if v := strings.TrimSpace(rec[c]); !userHolds(u, name, v) {
				t.Fatalf("row %d's %s %q is not in the user created: %+v %+v", i+1, name, v, u, u.BankAccount)
			}
		}
	}
}

// records reads file as the importer does: its header's trimmed names and
// its data records.
func records(file []byte) (header []string, rows [][]string) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(file, []byte("\ufeff"))))
	for {
		rec, err := r.Read()
		var perr *csv.ParseError
		if errors.Is(err, io.EOF) || (err != nil && !errors.As(err, &perr)) {
			return header, rows
		}
		if header == nil {
			for _, h := range rec {
				header = append(header, strings.TrimSpace(h))
			}
			continue
		}
		if !emptyRecord(rec, err) {
			rows = append(rows, rec)
		}
	}
}

// emptyRecord reports whether rec, a data record read with err, is no row
// to the importer: every field empty (a header's is refused instead).
func emptyRecord(rec []string, err error) bool {
	return (err == nil || errors.Is(err, csv.ErrFieldCount)) &&
		!slices.ContainsFunc(rec, func(v string) bool { return strings.TrimSpace(v) != "" })
}

// userHolds reports whether u keeps v, the value of column name, as
// normalisation leaves it (codes in upper case, an IBAN without spaces).
func userHolds(u users.User, name, v string) bool {
	b, a, bi := users.BankAccountInfo{}, users.Address{}, users.BusinessInfo{}
	if u.BankAccount != nil {
		b = *u.BankAccount
	}
	if u.Address != nil {
		a = *u.Address
	}
	if u.BusinessInfo != nil {
		bi = *u.BusinessInfo
	}
	iban := strings.ToUpper(strings.ReplaceAll(v, " ", ""))
	switch name {
	case "umaAddress", "description":
		return true // the address is normalised (FuzzParseAddress); a description is ignored, as documented
	case "platformUserId":
		return u.PlatformUserID == v
	case "userType":
		return strings.EqualFold(u.UserType, v)
	case "fullName":
		return u.FullName == v
	case "birthDate":
		return u.BirthDate == v
	case "nationality":
		return strings.EqualFold(u.Nationality, v)
	case "email":
		return u.Email == v
	case "addressLine1":
		return a.Line1 == v
	case "addressLine2":
		return a.Line2 == v
	case "city":
		return a.City == v
	case "state":
		return a.State == v
	case "postalCode":
		return a.PostalCode == v
	case "country":
		return strings.EqualFold(a.Country, v)
	case "accountType":
		return strings.EqualFold(b.AccountType, v)
	case "accountNumber":
		return b.AccountNumber == v || b.ClabeNumber == v || b.IBAN == iban || b.PixKey == v
	case "bankName":
		return b.BankName == v
	case "platformAccountId":
		return b.PlatformAccountID == v
	case "businessLegalName":
		return bi.LegalName == v
	case "businessRegistrationNumber":
		return bi.RegistrationNumber == v
	case "businessTaxId":
		return bi.TaxID == v
	case "routingNumber":
		return b.RoutingNumber == v
	case "accountCategory":
		return strings.EqualFold(b.AccountCategory, v)
	case "clabeNumber":
		return b.ClabeNumber == v
	case "pixKey":
		return b.PixKey == v
	case "pixKeyType":
		return strings.EqualFold(b.PixKeyType, v)
	case "iban":
		return b.IBAN == iban
	case "swiftBic":
		return strings.EqualFold(b.SwiftBic, v)
	case "accountHolderName":
		return b.AccountHolderName == v
	case "kycStatus":
		return strings.EqualFold(u.KYCStatus, v)
	case "preferredCurrencies":
		for _, c := range strings.FieldsFunc(v, func(r rune) bool { return r == ';' || r == ' ' }) {
			if !slices.ContainsFunc(u.PreferredCurrencies, func(p string) bool { return strings.EqualFold(p, strings.TrimSpace(c)) }) {
				return false
			}
		}
		return true
	}
	return false
}

// dataRecords counts the records after the header as a CSV reader sees
// them, malformed ones included.
func dataRecords(file []byte) int {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(file, []byte("\ufeff"))))
	n := -1
	for {
		rec, err := r.Read()
		var perr *csv.ParseError
		if errors.Is(err, io.EOF) || (err != nil && !errors.As(err, &perr)) {
			return max(n, 0)
		}
		if n >= 0 && emptyRecord(rec, err) {
			continue
		}
		n++
	}
}

// wantClientError fails unless err is a 4xx *vaspd.Error with a printable
// message, which it returns.
func wantClientError(t *testing.T, err error) *vaspd.Error {
	t.Helper()
	var e *vaspd.Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status >= 500 || e.Code == "" || e.Message == "" || !printable(e.Message) {
		t.Fatalf("got %#v (%v), want a 4xx with a printable message", e, err)
	}
	return e
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func cloneUser(u users.User) users.User {
	c := u
	c.PreferredCurrencies = append([]string(nil), u.PreferredCurrencies...)
	if u.PreferredCurrencies == nil {
		c.PreferredCurrencies = nil
	}
	if u.Address != nil {
		a := *u.Address
		c.Address = &a
	}
	if u.BankAccount != nil {
		b := *u.BankAccount
		c.BankAccount = &b
	}
	if u.BusinessInfo != nil {
		b := *u.BusinessInfo
		c.BusinessInfo = &b
	}
	return c
}

// clearUsers empties the tables an import writes, for the next input.
func clearUsers(t *testing.T, db *store.DB) {
	t.Helper()
	for _, q := range []string{`DELETE FROM user_import_errors`, `DELETE FROM user_imports`, `DELETE FROM users`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}
