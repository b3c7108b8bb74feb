package users

import (
	"bufio"
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
)

// MaxImportRows bounds one CSV import.
const MaxImportRows = 100_000

// csvColumns are the UMAaaS bulk-upload columns (umaaas-api.md §5) plus
// vaspd's kycStatus and preferredCurrencies (codes separated by ";" or
// spaces).
var csvColumns = map[string]bool{
	"umaAddress": true, "platformUserId": true, "userType": true, "fullName": true, "birthDate": true,
	"nationality": true, "email": true, "addressLine1": true, "addressLine2": true, "city": true, "state": true,
	"postalCode": true, "country": true, "accountType": true, "accountNumber": true, "bankName": true,
	"platformAccountId": true, "description": true, "businessLegalName": true, "businessRegistrationNumber": true,
	"businessTaxId": true, "routingNumber": true, "accountCategory": true, "clabeNumber": true, "pixKey": true,
	"pixKeyType": true, "iban": true, "swiftBic": true, "accountHolderName": true, "kycStatus": true,
	"preferredCurrencies": true,
}

// ImportRowError is one rejected row: CorrelationID is the row's
// platformUserId or "row_N" (N counts data rows from 1), as in UMAaaS's
// BulkUserImportJob.errors. Row is N, which a platformUserId (one a file
// may repeat) does not tell; the UMAaaS shape carries it in
// error.details.row (see ImportJob.Webhook).
type ImportRowError struct {
	CorrelationID string          `json:"correlationId"`
	Row           int64           `json:"-"`
	Error         ImportErrorBody `json:"error"`
}

// ImportErrorBody is the UMAaaS error object of a rejected row.
type ImportErrorBody struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ImportResult is the outcome of ImportCSV (UMAaaS BulkUserImportJob.progress
// and errors).
type ImportResult struct {
	Total      int              `json:"total"`
	Successful int              `json:"successful"`
	Failed     int              `json:"failed"`
	Errors     []ImportRowError `json:"errors"`
	Created    []User           `json:"-"`
}

// ImportCSV creates one user per data row of a UMAaaS bulk-upload CSV,
// synchronously (the platform API's POST /users/bulk/csv runs the same rows
// as a durable background job: see Importer). The header row names the
// columns (exact names; unknown ones are an error for the whole file, so a
// misspelt column is not silently dropped). Each row is created in its own
// transaction: a bad row is reported in the result and does not stop the
// others. Rows whose address is taken fail with UMA_ADDRESS_EXISTS, so
// running an import twice creates nobody twice. domain is this VASP's UMA
// domain; addresses may omit it or the "$".
//
// The returned error is for problems with the file as a whole (not CSV, bad
// header, too many rows) or the database; row problems are in the result.
func (s *Service) ImportCSV(ctx context.Context, r io.Reader, domain string) (ImportResult, error) {
	res := ImportResult{Errors: []ImportRowError{}}
	f, err := openCSV(r, domain)
	if err != nil {
		return res, err
	}
	for {
		row, corr, u, rowErr, err := f.next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		res.Total++
		if rowErr == nil {
			u, rowErr = s.Create(ctx, s.db, u)
		}
		if rowErr != nil {
			e, ok := asRowError(rowErr)
			if !ok {
				return res, fmt.Errorf("users: import %s: %w", corr, rowErr)
			}
			res.Failed++
			res.Errors = append(res.Errors, ImportRowError{CorrelationID: corr, Row: int64(row), Error: e})
			continue
		}
		res.Successful++
		res.Created = append(res.Created, u)
	}
}

// asRowError is err as a row's error, if it is the row's fault (a 4xx);
// anything else (the database failing) must stop the import instead.
func asRowError(err error) (ImportErrorBody, bool) {
	var e *vaspd.Error
	if !errors.As(err, &e) || e.Status >= 500 {
		return ImportErrorBody{}, false
	}
	return ImportErrorBody{Status: e.Status, Code: e.Code, Message: e.Message}, true
}

// csvFile reads a bulk-upload CSV row by row.
type csvFile struct {
	cr     *csv.Reader
	col    map[string]int
	names  []string // col's names in the header's order
	row    int
	domain string
}

// scientificRE is a number as a spreadsheet writes one it took a long
// digit string for ("+14155550123" becomes 1.41556E+10): the digits past
// the sixth are lost.
var scientificRE = regexp.MustCompile(`^[0-9](\.[0-9]+)?[eE]\+[0-9]{1,3}$`)

// saveAsUTF8 is what to do with a file in another encoding.
const saveAsUTF8 = "save the file as CSV UTF-8 (a spreadsheet's plain CSV may be Windows-1252, its Unicode text UTF-16)"

// openCSV reads and checks the header row.
func openCSV(r io.Reader, domain string) (*csvFile, error) {
	// A UTF-8 byte-order mark (Excel writes one) is not part of the first
	// column: drop it before the CSV reader, which would take the quote of
	// a quoted first header after it for a stray one.
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	// UTF-16 (a spreadsheet's "Unicode text") would read as a header of
	// unknown columns, which says nothing of the fix.
	if b, err := br.Peek(2); err == nil && (string(b) == "\xff\xfe" || string(b) == "\xfe\xff") {
		return nil, invalid("the CSV file is UTF-16 text: %s", saveAsUTF8)
	}
	cr := csv.NewReader(br)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, invalid("the CSV file is empty: want a header row")
	}
	if err != nil {
		return nil, invalid("the CSV file is malformed: %v", err)
	}
	if h := strings.Join(header, ","); !utf8.ValidString(h) || strings.ContainsRune(h, 0) {
		return nil, invalid("the CSV header is not UTF-8 text: %s", saveAsUTF8)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, invalid("the CSV header's column %d is empty: every column needs a name "+
				"(a spreadsheet may have added an empty one at the end)", i+1)
		}
		if !csvColumns[h] {
			for c := range csvColumns {
				if strings.EqualFold(c, h) {
					return nil, invalid("unknown CSV column %q (column %d): names are case-sensitive; did you mean %s?",
						h, i+1, c)
				}
			}
			return nil, invalid("unknown CSV column %q (column %d)", truncate(h), i+1)
		}
		if _, dup := col[h]; dup {
			return nil, invalid("CSV column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range []string{"umaAddress", "platformUserId", "userType"} {
		if _, ok := col[need]; !ok {
			return nil, invalid("the CSV header lacks the %s column", need)
		}
	}
	names := make([]string, 0, len(col))
	for name := range col {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return col[a] - col[b] })
	return &csvFile{cr: cr, col: col, names: names, domain: domain}, nil
}

// next reads the next data row: its number (from 1), its correlation id
// (platformUserId, or "row_N"), and the user it describes or, if the row is
// bad, rowErr (a *vaspd.Error). err is io.EOF after the last row, or a
// problem with the file as a whole.
func (f *csvFile) next() (row int, corr string, u User, rowErr, err error) {
	rec, err := f.cr.Read()
	// A row of empty fields (a spreadsheet's trailing ",,,," line, of the
	// header's width or another) is no row, as a blank line is not one to
	// the CSV reader: it is neither counted nor numbered.
	for err == nil || errors.Is(err, csv.ErrFieldCount) {
		if slices.ContainsFunc(rec, func(v string) bool { return strings.TrimSpace(v) != "" }) {
			break
		}
		rec, err = f.cr.Read()
	}
	if errors.Is(err, io.EOF) {
		return 0, "", User{}, nil, io.EOF
	}
	var perr *csv.ParseError
	if err != nil && !errors.As(err, &perr) {
		return 0, "", User{}, nil, fmt.Errorf("users: read CSV: %w", err)
	}
	f.row++
	if f.row > MaxImportRows {
		return 0, "", User{}, nil, invalid("the CSV file has more than %d rows", MaxImportRows)
	}
	corr = fmt.Sprintf("row_%d", f.row)
	if perr != nil && errors.Is(perr, csv.ErrQuote) && perr.Line > perr.StartLine {
		// A quoted field that does not close where it should ran on over
		// the following lines, to the end of the file or to a quote that
		// does not end a field: the rows on those lines were read as its
		// content. Reported as one bad row, they would be neither imported
		// nor told of; the file is refused instead.
		return 0, "", User{}, nil, invalid("the CSV file is malformed: data row %d (line %d) has a quoted field "+
			"that does not close properly (parse error on line %d): the lines after it were read as its content, "+
			"so its rows cannot be told apart; double every quote inside a quoted field", f.row, perr.StartLine, perr.Line)
	}
	if err != nil {
		return f.row, corr, User{}, invalid("malformed CSV row: %v", err), nil
	}
	// Text in another encoding (Windows-1252's accented letters, most
	// often) would fail as "not printable text", which hides the fix.
	for _, name := range f.names {
		if i := f.col[name]; i < len(rec) && !utf8.ValidString(rec[i]) {
			return f.row, corr, User{}, invalid("%s is not UTF-8 text: %s", name, saveAsUTF8), nil
		}
	}
	get := func(name string) string {
		if i, ok := f.col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	// The correlation id is stored and echoed as text: an id that is not
	// printable UTF-8 (the row fails for it anyway) is reported by number.
	corr = cmp.Or(printableID(get("platformUserId")), corr)
	// A value a spreadsheet rewrote in scientific notation lost its
	// digits, yet may pass for one (an UMA address's local part, an
	// account number): it would be imported as nobody wrote it.
	for _, name := range f.names {
		if v := get(name); scientificRE.MatchString(v) {
			return f.row, corr, User{}, invalid("%s %s is a number in scientific notation, its digits lost: "+
				"format the column as text in the spreadsheet, enter the values again and export the file", name, v), nil
		}
	}
	u, rowErr = csvUser(get, f.domain)
	return f.row, corr, u, rowErr, nil
}

// printableID is id as a row's correlation id, "" if it is none: an id
// that is not printable UTF-8 (the row fails for it anyway) is reported by
// the row's number.
func printableID(id string) string {
	if id == "" || !utf8.ValidString(id) || !printable(id) {
		return ""
	}
	return truncate(id)
}

// csvUser builds a user from one row; get returns a column's value.
func csvUser(get func(string) string, domain string) (User, error) {
	local, err := ParseAddress(get("umaAddress"), domain)
	if err != nil {
		return User{}, err
	}
	u := User{PlatformUserID: get("platformUserId"), UserType: strings.ToUpper(get("userType")), UMALocal: local,
		KYCStatus: strings.ToUpper(get("kycStatus")), FullName: get("fullName"), BirthDate: get("birthDate"),
		Nationality: get("nationality"), Email: get("email")}
	if pc := strings.FieldsFunc(get("preferredCurrencies"), func(r rune) bool { return r == ';' || r == ' ' }); len(pc) > 0 {
		u.PreferredCurrencies = pc
	}
	// Every value the row gives reaches the user, where the validation
	// POST /users applies refuses one the row's type does not use: a
	// value dropped here would be lost while the row is imported.
	business := get("businessLegalName") != "" || get("businessTaxId") != "" || get("businessRegistrationNumber") != ""
	if u.UserType == Business {
		if get("fullName") != "" {
			return User{}, invalid("fullName is for INDIVIDUAL rows; use businessLegalName")
		}
		if business {
			u.BusinessInfo = &BusinessInfo{LegalName: get("businessLegalName"), RegistrationNumber: get("businessRegistrationNumber"),
				TaxID: get("businessTaxId")}
		}
	} else if business {
		return User{}, invalid("businessLegalName, businessRegistrationNumber and businessTaxId are for BUSINESS rows")
	}
	if a := (Address{Line1: get("addressLine1"), Line2: get("addressLine2"), City: get("city"), State: get("state"),
		PostalCode: get("postalCode"), Country: get("country")}); a != (Address{}) {
		u.Address = &a
	}
	b := BankAccountInfo{AccountType: strings.ToUpper(get("accountType")), PlatformAccountID: get("platformAccountId"),
		AccountHolderName: get("accountHolderName"), BankName: get("bankName"), AccountNumber: get("accountNumber"),
		RoutingNumber: get("routingNumber"), AccountCategory: strings.ToUpper(get("accountCategory")),
		ClabeNumber: get("clabeNumber"), PixKey: get("pixKey"), PixKeyType: strings.ToUpper(get("pixKeyType")),
		IBAN: get("iban"), SwiftBic: get("swiftBic")}
	if b != (BankAccountInfo{}) {
		// The accountNumber column may hold the CLABE or the IBAN
		// (umaaas-api.md §5). The format requires it on every row, and
		// clabeNumber, iban or pixKey besides for those types, so a row
		// may give the account's number twice: the same number is one
		// value, not one the account type does not use (two different
		// ones still fail the row: one would be lost).
		switch b.AccountType {
		case AccountCLABE:
			if b.ClabeNumber == "" || b.AccountNumber == b.ClabeNumber {
				b.ClabeNumber, b.AccountNumber = cmp.Or(b.ClabeNumber, b.AccountNumber), ""
			}
		case AccountIBAN:
			if b.IBAN == "" || compactIBAN(b.AccountNumber) == compactIBAN(b.IBAN) {
				b.IBAN, b.AccountNumber = cmp.Or(b.IBAN, b.AccountNumber), ""
			}
		case AccountPIX:
			if b.AccountNumber == b.PixKey {
				b.AccountNumber = ""
			}
		}
		switch b.AccountType {
		case AccountUS, AccountCLABE, AccountPIX, AccountIBAN:
			if b.AccountHolderName == "" {
				b.AccountHolderName = u.FullName
				if u.BusinessInfo != nil {
					b.AccountHolderName = u.BusinessInfo.LegalName
				}
			}
		}
		u.BankAccount = &b
	}
	return u, nil
}
