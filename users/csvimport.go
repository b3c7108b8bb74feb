package users

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

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
// BulkUserImportJob.errors.
type ImportRowError struct {
	CorrelationID string          `json:"correlationId"`
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

// ImportCSV creates one user per data row of a UMAaaS bulk-upload CSV. The
// header row names the columns (exact names; unknown ones are an error for
// the whole file, so a misspelt column is not silently dropped). Each row is
// created in its own transaction: a bad row is reported in the result and
// does not stop the others. Rows whose address is taken fail with
// UMA_ADDRESS_EXISTS, so running an import twice creates nobody twice.
// domain is this VASP's UMA domain; addresses may omit it or the "$".
//
// The returned error is for problems with the file as a whole (not CSV, bad
// header, too many rows) or the database; row problems are in the result.
func (s *Service) ImportCSV(ctx context.Context, r io.Reader, domain string) (ImportResult, error) {
	res := ImportResult{Errors: []ImportRowError{}}
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return res, invalid("the CSV file is empty: want a header row")
	}
	if err != nil {
		return res, invalid("the CSV file is malformed: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !csvColumns[h] {
			return res, invalid("unknown CSV column %q", truncate(h))
		}
		if _, dup := col[h]; dup {
			return res, invalid("CSV column %q appears twice", h)
		}
		col[h] = i
	}
	for _, need := range []string{"umaAddress", "platformUserId", "userType"} {
		if _, ok := col[need]; !ok {
			return res, invalid("the CSV header lacks the %s column", need)
		}
	}
	for row := 1; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if err != nil && !errors.As(err, &perr) {
			return res, fmt.Errorf("users: read CSV: %w", err)
		}
		if row > MaxImportRows {
			return res, invalid("the CSV file has more than %d rows", MaxImportRows)
		}
		res.Total++
		corr := fmt.Sprintf("row_%d", row)
		var u User
		if err == nil {
			get := func(name string) string {
				if i, ok := col[name]; ok && i < len(rec) {
					return strings.TrimSpace(rec[i])
				}
				return ""
			}
			if id := get("platformUserId"); id != "" {
				corr = id
			}
			u, err = csvUser(get, domain)
		} else {
			err = invalid("malformed CSV row: %v", err)
		}
		if err == nil {
			u, err = s.Create(ctx, s.db, u)
		}
		if err != nil {
			var e *vaspd.Error
			if !errors.As(err, &e) || e.Status >= 500 {
				return res, fmt.Errorf("users: import %s: %w", corr, err)
			}
			res.Failed++
			res.Errors = append(res.Errors, ImportRowError{CorrelationID: corr,
				Error: ImportErrorBody{Status: e.Status, Code: e.Code, Message: e.Message}})
			continue
		}
		res.Successful++
		res.Created = append(res.Created, u)
	}
	return res, nil
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
	if u.UserType == Business {
		if get("fullName") != "" {
			return User{}, invalid("fullName is for INDIVIDUAL rows; use businessLegalName")
		}
		if n := get("businessLegalName"); n != "" || get("businessTaxId") != "" || get("businessRegistrationNumber") != "" {
			u.BusinessInfo = &BusinessInfo{LegalName: n, RegistrationNumber: get("businessRegistrationNumber"),
				TaxID: get("businessTaxId")}
		}
	} else if get("businessLegalName") != "" {
		return User{}, invalid("businessLegalName is for BUSINESS rows")
	}
	if get("addressLine1") != "" || get("postalCode") != "" || get("country") != "" {
		u.Address = &Address{Line1: get("addressLine1"), Line2: get("addressLine2"), City: get("city"),
			State: get("state"), PostalCode: get("postalCode"), Country: get("country")}
	}
	if t := strings.ToUpper(get("accountType")); t != "" {
		holder := get("accountHolderName")
		if holder == "" {
			holder = u.FullName
			if u.BusinessInfo != nil {
				holder = u.BusinessInfo.LegalName
			}
		}
		b := &BankAccountInfo{AccountType: t, PlatformAccountID: get("platformAccountId"), BankName: get("bankName")}
		switch t {
		case AccountUS:
			b.AccountNumber, b.RoutingNumber, b.AccountCategory = get("accountNumber"), get("routingNumber"), strings.ToUpper(get("accountCategory"))
			b.AccountHolderName = holder
		case AccountCLABE:
			b.ClabeNumber = firstOf(get("clabeNumber"), get("accountNumber"))
			b.AccountHolderName = holder
		case AccountPIX:
			b.PixKey, b.PixKeyType = get("pixKey"), strings.ToUpper(get("pixKeyType"))
			b.AccountHolderName = holder
		case AccountIBAN:
			b.IBAN, b.SwiftBic = firstOf(get("iban"), get("accountNumber")), get("swiftBic")
			b.AccountHolderName = holder
		}
		u.BankAccount = b
	}
	return u, nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
