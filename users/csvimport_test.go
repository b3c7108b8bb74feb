package users_test

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
)

// The spec's example (umaaas-api.md §5), plus rows that must fail.
const importCSV = "\ufeffumaAddress,platformUserId,userType,fullName,birthDate,addressLine1,city,state,postalCode,country,accountType,accountNumber,bankName,platformAccountId,businessLegalName,routingNumber,accountCategory,preferredCurrencies,kycStatus\n" +
	"john.doe@vasp.example,user123,INDIVIDUAL,John Doe,1990-01-15,123 Main St,San Francisco,CA,94105,US,US_ACCOUNT,123456789,Chase Bank,chase_primary_1234,,222888888,SAVINGS,USD;EUR,VERIFIED\n" +
	"acme@vasp.example,biz456,BUSINESS,,,400 Commerce Way,Austin,TX,78701,US,US_ACCOUNT,987654321,Bank of America,boa_business_5678,Acme Corp,121212121,CHECKING,,\n" +
	"$john.doe,dup,INDIVIDUAL,J,,,,,,,,,,,,,,,\n" +
	"bad@other.example,,INDIVIDUAL,,,,,,,,,,,,,,,,\n" +
	"$eve,eve1,INDIVIDUAL,Eve,1990-01-01,,,,,,US_ACCOUNT,1,B,,,12,CHECKING,,\n" +
	"$zed,zed1,ROBOT,,,,,,,,,,,,,,,,\n"

func TestImportCSV(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		res, err := s.ImportCSV(ctx, strings.NewReader(importCSV), "vasp.example")
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 6 || res.Successful != 2 || res.Failed != 4 || len(res.Created) != 2 {
			t.Fatalf("result %+v", res)
		}
		want := map[string]string{"dup": vaspd.CodeUMAAddressExists, "row_4": vaspd.CodeInvalidUMAAddress,
			"eve1": vaspd.CodeInvalidInput, "zed1": vaspd.CodeInvalidInput}
		for _, e := range res.Errors {
			if want[e.CorrelationID] != e.Error.Code || e.Error.Status < 400 || e.Error.Message == "" {
				t.Errorf("row error %+v", e)
			}
			delete(want, e.CorrelationID)
		}
		if len(want) != 0 {
			t.Errorf("missing row errors %v", want)
		}
		j, err := s.GetByUMALocal(ctx, db, "john.doe")
		if err != nil || j.FullName != "John Doe" || j.BankAccount.AccountHolderName != "John Doe" ||
			j.BankAccount.AccountCategory != "SAVINGS" || j.Address.City != "San Francisco" ||
			strings.Join(j.PreferredCurrencies, ",") != "USD,EUR" || j.KYCStatus != users.KYCVerified {
			t.Fatalf("john: %+v %v", j, err)
		}
		a, err := s.GetByUMALocal(ctx, db, "acme")
		if err != nil || a.UserType != users.Business || a.FullName != "Acme Corp" || a.BankAccount.AccountHolderName != "Acme Corp" {
			t.Fatalf("acme: %+v %v", a, err)
		}

		// A second run creates nobody twice.
		res, err = s.ImportCSV(ctx, strings.NewReader(importCSV), "vasp.example")
		if err != nil || res.Successful != 0 || res.Failed != 6 {
			t.Fatalf("second run %+v %v", res, err)
		}
	})
}

func TestImportCSVFileErrors(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	for name, in := range map[string]string{
		"empty":          "",
		"unknown column": "umaAddress,platformUserId,userType,fulName\n",
		"missing column": "umaAddress,userType\n",
		"duplicate":      "umaAddress,platformUserId,userType,userType\n",
		"malformed":      "umaAddress,\"platformUserId\n",
	} {
		_, err := s.ImportCSV(ctx, strings.NewReader(in), "vasp.example")
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
	}
	// A row with the wrong number of fields is a row error, not a file error.
	res, err := s.ImportCSV(ctx, strings.NewReader("umaAddress,platformUserId,userType\n$a,p,INDIVIDUAL,extra\n$b,p,INDIVIDUAL\n"), "vasp.example")
	if err != nil || res.Failed != 1 || res.Successful != 1 || res.Errors[0].CorrelationID != "row_1" {
		t.Fatalf("%+v %v", res, err)
	}
}

// A UTF-8 byte-order mark (as Excel writes) may precede a quoted header:
// it is not part of the first column's name, and not a stray quote.
func TestImportCSVBOMBeforeQuotedHeader(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	in := "\ufeff\"umaAddress\",\"platformUserId\",\"userType\"\r\n\"$bom\",\"p1\",\"INDIVIDUAL\"\r\n"
	res, err := s.ImportCSV(ctx, strings.NewReader(in), "vasp.example")
	if err != nil || res.Successful != 1 || res.Failed != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestImportCSVHeaderMessages: a header column that is not one of ours is
// refused (400), with a message that says what to fix: an empty one (the
// trailing comma a spreadsheet leaves) by its position, a known name in
// another case with its right spelling (names are exact, as in UMAaaS).
func TestImportCSVHeaderMessages(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	for in, want := range map[string]string{
		"umaAddress,platformUserId,userType,\n$a,p,INDIVIDUAL,\n": "column 4 is empty",
		"umaAddress, ,platformUserId,userType\n":                  "column 2 is empty",
		"UmaAddress,platformUserId,userType\n$a,p,INDIVIDUAL\n":   `"UmaAddress" (column 1): names are case-sensitive; did you mean umaAddress?`,
		"umaAddress,platformUserId,USERTYPE\n":                    "did you mean userType?",
		"umaAddress,platformUserId,userType,fulName\n":            `unknown CSV column "fulName" (column 4)`,
		"umaAddress,platformUserId,userType,userType\n":           `"userType" appears twice`,
	} {
		_, err := s.ImportCSV(ctx, strings.NewReader(in), "vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want it to say %s", in, err, want)
		}
	}
}

// A file in another encoding than UTF-8 is told so, with the fix: UTF-16
// (with or without its byte-order mark) as a whole, a Windows-1252 row
// (Excel's plain CSV, é as one byte 0xE9) by the column that holds it.
func TestImportCSVNotUTF8(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	utf16 := func(bom string, text string) string {
		var b strings.Builder
		b.WriteString(bom)
		for _, c := range []byte(text) {
			b.WriteByte(c)
			b.WriteByte(0)
		}
		return b.String()
	}
	for name, in := range map[string]string{
		"UTF-16 with its BOM":    utf16("\xff\xfe", "umaAddress,platformUserId,userType\n"),
		"UTF-16 without its BOM": utf16("", "umaAddress,platformUserId,userType\n"),
	} {
		_, err := s.ImportCSV(ctx, strings.NewReader(in), "vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		if !strings.Contains(err.Error(), "save the file as CSV UTF-8") {
			t.Errorf("%s: %v", name, err)
		}
	}
	res, err := s.ImportCSV(ctx, strings.NewReader("umaAddress,platformUserId,userType,fullName\n$jose,p1,INDIVIDUAL,Jos\xe9\n$ana,p2,INDIVIDUAL,Ana\n"), "vasp.example")
	if err != nil || res.Successful != 1 || res.Failed != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if m := res.Errors[0].Error.Message; !strings.Contains(m, "fullName is not UTF-8 text") || !strings.Contains(m, "save the file as CSV UTF-8") {
		t.Fatalf("row error %q", m)
	}
}

// TestImportCSVQuoteSpanningRows: a quoted field that does not close where
// it should runs on over the following lines, which the CSV reader then
// takes for its content: the rows on them would be neither imported nor
// reported. The file is refused as a whole instead, saying where the field
// starts. A quoted field that is merely malformed on its own line stays a
// row error, and a well-formed multi-line field is content.
func TestImportCSVQuoteSpanningRows(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	im := users.NewImporter(s, users.ImporterOptions{})
	for in, want := range map[string]string{
		// Never closed: the rest of the file would be its content.
		"umaAddress,platformUserId,userType\n$a,p,INDIVIDUAL\n$b,\"p,INDIVIDUAL\n$c,p,INDIVIDUAL\n$d,p,INDIVIDUAL\n": "data row 2 (line 3)",
		// Closed lines later, and followed by more than a comma.
		"umaAddress,platformUserId,userType\n$a,\"p,INDIVIDUAL\n$b,p\"x,INDIVIDUAL\n$c,p,INDIVIDUAL\n": "data row 1 (line 2)",
	} {
		_, err := im.Submit(ctx, []byte(in), "vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "quoted field") {
			t.Errorf("%q: %v, want it to name %s", in, err, want)
		}
		if _, err := s.ImportCSV(ctx, strings.NewReader(in), "vasp.example"); err == nil {
			t.Errorf("%q: ImportCSV accepted the file", in)
		}
	}
	for in, want := range map[string][2]int{ // total, failed
		"umaAddress,platformUserId,userType\n$e,\"p\"x,INDIVIDUAL\n$f,p,INDIVIDUAL\n":   {2, 1},
		"umaAddress,platformUserId,userType\n$g,\"p\nq\",INDIVIDUAL\n$h,p,INDIVIDUAL\n": {2, 1}, // a line end in platformUserId
		"umaAddress,platformUserId,userType\n$i,p,INDIVIDUAL\n$j,\"p":                   {2, 1},
		"umaAddress,platformUserId,userType\n\"$k\n\",p,INDIVIDUAL\n$l,p,INDIVIDUAL\n":  {2, 0},
	} {
		res, err := s.ImportCSV(ctx, strings.NewReader(in), "vasp.example")
		if err != nil || res.Total != want[0] || res.Failed != want[1] {
			t.Errorf("%q: %+v %v, want %v", in, res, err, want)
		}
	}
}

// TestImportCSVKeepsEveryValue: a value in a column the row does not use
// (a city without the rest of an address, an IBAN on a US account, bank
// details without an account type, a tax id on an individual) fails the
// row, as the same user sent to POST /users does, rather than being
// dropped while the row is imported without it.
func TestImportCSVKeepsEveryValue(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	head := "umaAddress,platformUserId,userType,fullName,city,postalCode,accountType,accountNumber,routingNumber,accountCategory,iban,bankName,businessTaxId\n"
	for row, want := range map[string]string{
		"$a1,p,INDIVIDUAL,A,San Francisco,,,,,,,,\n":                                        "address.line1 is required",
		"$a2,p,INDIVIDUAL,A,,,US_ACCOUNT,123,222888888,CHECKING,DE89370400440532013000,,\n": "iban does not apply to US_ACCOUNT",
		"$a3,p,INDIVIDUAL,A,,,,123,,,,Chase,\n":                                             "accountType is required",
		"$a4,p,INDIVIDUAL,A,,,,,,,,,T-1\n":                                                  "businessTaxId are for BUSINESS rows",
	} {
		res, err := s.ImportCSV(ctx, strings.NewReader(head+row), "vasp.example")
		if err != nil || res.Failed != 1 || !strings.Contains(res.Errors[0].Error.Message, want) {
			t.Errorf("%q: %+v %v, want the row refused: %s", row, res, err, want)
		}
	}
	// The aliases stay: an IBAN or CLABE in accountNumber.
	res, err := s.ImportCSV(ctx, strings.NewReader("umaAddress,platformUserId,userType,fullName,accountType,accountNumber,bankName\n"+
		"$b1,p,INDIVIDUAL,B,IBAN,DE89370400440532013000,Bank\n$b2,p,INDIVIDUAL,B,CLABE,123456789012345678,Banco\n"), "vasp.example")
	if err != nil || res.Successful != 2 || res.Created[0].BankAccount.IBAN != "DE89370400440532013000" ||
		res.Created[1].BankAccount.ClabeNumber != "123456789012345678" || res.Created[1].BankAccount.AccountNumber != "" {
		t.Fatalf("%+v %v", res, err)
	}
}

// TestImportCSVAccountNumberRepeated: the UMAaaS bulk-upload format
// requires accountNumber on every row and, per account type, clabeNumber
// (CLABE), iban (IBAN) or pixKey (PIX) too, so a row that follows it
// gives the account's number twice. The same number in both is one value
// and the row is imported; two different ones still fail the row (one of
// them would be lost).
func TestImportCSVAccountNumberRepeated(t *testing.T) {
	t.Parallel()
	s, _ := newService(t, storetest.SQLite(t))
	file := "umaAddress,platformUserId,userType,fullName,accountType,accountNumber,bankName,clabeNumber,iban,swiftBic,pixKey,pixKeyType\n" +
		"$c1,p,INDIVIDUAL,C,CLABE,123456789012345678,Banco,123456789012345678,,,,\n" +
		"$i1,p,INDIVIDUAL,I,IBAN,DE89 3704 0044 0532 0130 00,Bank,,de89370400440532013000,DEUTDEFF,,\n" +
		"$x1,p,INDIVIDUAL,X,PIX,joao@example.com,Banco,,,,joao@example.com,EMAIL\n" +
		"$c2,p,INDIVIDUAL,C,CLABE,111111111111111111,Banco,123456789012345678,,,,\n"
	res, err := s.ImportCSV(ctx, strings.NewReader(file), "vasp.example")
	if err != nil || res.Successful != 3 || res.Failed != 1 || res.Errors[0].CorrelationID != "p" || res.Errors[0].Row != 4 {
		t.Fatalf("%+v %v, want the first three rows imported and the fourth refused", res, err)
	}
	c, i, x := res.Created[0].BankAccount, res.Created[1].BankAccount, res.Created[2].BankAccount
	if c.ClabeNumber != "123456789012345678" || c.AccountNumber != "" ||
		i.IBAN != "DE89370400440532013000" || i.AccountNumber != "" ||
		x.PixKey != "joao@example.com" || x.AccountNumber != "" {
		t.Fatalf("accounts %+v %+v %+v", c, i, x)
	}
}

// TestImportCSVScientificNotation: a spreadsheet writes a long number in
// a column it took for numbers in scientific notation, its digits lost
// ("+14155550123" or 14155550123 becomes 1.41556E+10, an account number
// 123456789012 1.23457E+11). The row was imported all the same: such an
// umaAddress lower-cased is a valid local part (1.41556e+10), an account
// number is free text, so a user got an address or an account nobody
// gave. The row fails naming the column and the fix; the others import.
func TestImportCSVScientificNotation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db)
		im := users.NewImporter(s, users.ImporterOptions{})
		const hdr = "umaAddress,platformUserId,userType,fullName,birthDate,addressLine1,city,state,postalCode,country,accountType,accountNumber,bankName,routingNumber,accountCategory\n"
		row := func(addr, id, account string) string {
			return addr + "," + id + ",INDIVIDUAL,John Doe,1990-01-15,1 Main St,SF,CA,94105,US,US_ACCOUNT," + account +
				",Chase,222888888,CHECKING\n"
		}
		j := importFile(t, im, hdr+
			row("1.41556E+10", "p1", "123456789")+
			row("$ok1", "p2", "1.23457E+11")+
			row("$ok2", "1.23457E+15", "123456789")+
			row("$ok3", "p4", "12345678901"))
		if j.Successful != 1 || j.Failed != 3 || len(j.Errors) != 3 {
			t.Fatalf("job %+v", j)
		}
		for i, col := range []string{"umaAddress", "accountNumber", "platformUserId"} {
			if m := j.Errors[i].Error.Message; !strings.Contains(m, col) || !strings.Contains(m, "scientific notation") {
				t.Errorf("row %d: %q", j.Errors[i].Row, m)
			}
		}
		if _, err := s.GetByUMALocal(ctx, db, "1.41556e+10"); err == nil {
			t.Error("a user was created at the address a spreadsheet mangled")
		}
	})
}

// TestImportCSVSkipsEmptyRows: a row whose every field is empty (a
// spreadsheet's trailing ",,,," line, with the header's number of fields
// or another) is no row, as a blank line is to the CSV reader: it was
// counted and failed (umaAddress is required, or "wrong number of
// fields"), so a file of two good rows reported failures. Skipped, it is
// not counted, nor does it take a row number, in ImportCSV and the bulk
// upload job alike.
func TestImportCSVSkipsEmptyRows(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		file := "umaAddress,platformUserId,userType,fullName\n" +
			",,,\n" +
			"$ann,p1,INDIVIDUAL,Ann\n" +
			" , ,\t, \n" +
			",,\n" +
			"$bad,p2,ROBOT,Bad\n" +
			",,,,,,\n" +
			"$cid,p3,INDIVIDUAL,Cid\n" +
			",,,\n,,,\n"
		s, _ := newService(t, db)
		res, err := s.ImportCSV(ctx, strings.NewReader(file), "vasp.example")
		if err != nil {
			t.Fatal(err)
		}
		if res.Total != 3 || res.Successful != 2 || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].Row != 2 {
			t.Fatalf("ImportCSV: %+v", res)
		}

		s2, _ := newService(t, db)
		im := users.NewImporter(s2, users.ImporterOptions{})
		j := importFile(t, im, strings.NewReplacer("ann", "ann2", "cid", "cid2", "bad", "bad2").Replace(file))
		if j.Total != 3 || j.Successful != 2 || j.Failed != 1 || len(j.Errors) != 1 || j.Errors[0].Row != 2 {
			t.Fatalf("bulk upload job: %+v", j)
		}
	})
}
