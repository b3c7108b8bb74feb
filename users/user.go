package users

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// User types (UMAaaS UserType).
const (
	Individual = "INDIVIDUAL"
	Business   = "BUSINESS"
)

// KYC statuses, as sent to counterparties in UMA compliance data.
const (
	KYCUnknown     = string(uma.KycUnknown)
	KYCNotVerified = string(uma.KycNotVerified)
	KYCPending     = string(uma.KycPending)
	KYCVerified    = string(uma.KycVerified)
)

// MaxPreferredCurrencies bounds a user's preferred currencies.
const MaxPreferredCurrencies = 20

// User is a user of this VASP: the UMAaaS IndividualUser or BusinessUser,
// plus the KYC status and preferred currencies the UMA flows need.
type User struct {
	ID             string // "User:<uuidv7>"
	PlatformUserID string // the platform's own id for the user (not unique)
	UserType       string // Individual or Business
	// UMALocal is the normalised local part of the UMA address: "alice"
	// for $alice@our.domain. Unique among live users.
	UMALocal  string
	KYCStatus string // one of the KYC* constants
	// PreferredCurrencies are the currencies the user holds and receives
	// in, most preferred first (codes of the rates provider).
	PreferredCurrencies []string

	// FullName is an individual's full name; for a business it is the
	// legal name (BusinessInfo.LegalName), so payee data can use it alike.
	FullName     string
	BirthDate    string // individual: YYYY-MM-DD, or ""
	Nationality  string // individual: ISO 3166-1 alpha-2, or ""
	Email        string // individual: contact e-mail address, or ""
	Address      *Address
	BankAccount  *BankAccountInfo
	BusinessInfo *BusinessInfo // business only

	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt time.Time // zero while the user is live
}

// IsDeleted reports whether the user was soft-deleted.
func (u User) IsDeleted() bool { return !u.DeletedAt.IsZero() }

// Address is the UMAaaS Address.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2,omitempty"`
	Town       string `json:"town,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// BusinessInfo is the UMAaaS businessInfo of a BusinessUser.
type BusinessInfo struct {
	LegalName          string `json:"legalName"`
	RegistrationNumber string `json:"registrationNumber,omitempty"`
	TaxID              string `json:"taxId,omitempty"`
}

// Bank account types (UMAaaS BankAccountType).
const (
	AccountCLABE     = "CLABE"
	AccountUS        = "US_ACCOUNT"
	AccountPIX       = "PIX"
	AccountIBAN      = "IBAN"
	AccountFBO       = "FBO"
	AccountUPI       = "UPI"
	CategoryChecking = "CHECKING"
	CategorySavings  = "SAVINGS"
)

// BankAccountInfo is the UMAaaS UserBankAccountInfo: one struct for all
// account types; which fields apply depends on AccountType.
type BankAccountInfo struct {
	AccountType       string `json:"accountType"`
	PlatformAccountID string `json:"platformAccountId,omitempty"`
	AccountHolderName string `json:"accountHolderName,omitempty"`
	BankName          string `json:"bankName,omitempty"`
	// CLABE
	ClabeNumber string `json:"clabeNumber,omitempty"`
	// US_ACCOUNT
	AccountNumber   string `json:"accountNumber,omitempty"`
	RoutingNumber   string `json:"routingNumber,omitempty"`
	AccountCategory string `json:"accountCategory,omitempty"`
	// PIX
	PixKey     string `json:"pixKey,omitempty"`
	PixKeyType string `json:"pixKeyType,omitempty"`
	// IBAN
	IBAN     string `json:"iban,omitempty"`
	SwiftBic string `json:"swiftBic,omitempty"`
	// FBO
	CurrencyCode string `json:"currencyCode,omitempty"`
	// UPI
	VPA string `json:"vpa,omitempty"`
}

var (
	countryRE  = regexp.MustCompile(`^[A-Z]{2}$`)
	digits9RE  = regexp.MustCompile(`^[0-9]{9}$`)
	digits18RE = regexp.MustCompile(`^[0-9]{18}$`)
	ibanRE     = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)
	swiftRE    = regexp.MustCompile(`^[A-Z0-9]{8}([A-Z0-9]{3})?$`)
	currencyRE = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,7}$`)
)

// maxText bounds free-text fields (names, address lines, account numbers).
const maxText = 256

func invalid(format string, args ...any) *vaspd.Error {
	return vaspd.InvalidInput(format, args...)
}

// text checks a free-text field: valid UTF-8, no control characters, at
// most maxText bytes; required fields must be non-blank. It returns the
// value trimmed of surrounding spaces.
func text(field, v string, required bool) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			return "", invalid("%s is required", field)
		}
		return "", nil
	}
	if len(v) > maxText || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", invalid("%s must be at most %d characters of printable text", field, maxText)
	}
	return v, nil
}

// field is one free-text value of a user, as a table of its struct lists
// it (User.fields, BusinessInfo.fields, Address.fields,
// BankAccountInfo.fields): normalize checks and trims each with text, and
// checkControls refuses what text lets through, from the one table, so
// that a field cannot be added to one and missed by the other.
type field struct {
	name     string  // as errors name it: "address.line1"
	v        *string // the value, in the struct
	required bool    // must be non-blank (text)
	kind     textKind
}

// textKind says which invisible characters a value may hold
// (checkControls).
type textKind uint8

const (
	// shown is text shown to people (names, address lines): it keeps
	// the invisible characters its script needs (vaspd.InvisibleInName).
	shown textKind = iota
	// identifier is a value compared or looked up (ids, e-mail address,
	// account numbers, codes): it holds no invisible format character
	// (vaspd.FormatChar), which would make a look-alike of another.
	identifier
)

// normalizeText checks and trims each of fs with text, in order.
func normalizeText(fs []field) error {
	for _, f := range fs {
		v, err := text(f.name, *f.v, f.required)
		if err != nil {
			return err
		}
		*f.v = v
	}
	return nil
}

// fields are u's own free-text values: an individual's name and e-mail
// address are among them, a business's name being its
// businessInfo.legalName (normalize copies it) and it having no e-mail.
func (u *User) fields() []field {
	f := []field{{"platformUserId", &u.PlatformUserID, true, identifier}}
	if u.UserType == Individual {
		f = append(f, field{"fullName", &u.FullName, false, shown}, field{"email", &u.Email, false, identifier})
	}
	return f
}

// textFields are all of u's free-text values: its own, then those of its
// business info, address and bank account.
func (u *User) textFields() []field {
	f := u.fields()
	if b := u.BusinessInfo; b != nil {
		f = append(f, b.fields()...)
	}
	if a := u.Address; a != nil {
		f = append(f, a.fields()...)
	}
	if b := u.BankAccount; b != nil {
		f = append(f, b.fields()...)
	}
	return f
}

// normalize validates u's fields and puts them in canonical form. It does
// not check currencies against a rates provider or UMA address uniqueness;
// the Service does.
func (u *User) normalize() error {
	if err := normalizeText(u.fields()); err != nil {
		return err
	}
	var err error
	switch u.UserType {
	case Individual, Business:
	case "":
		return invalid("userType is required (INDIVIDUAL or BUSINESS)")
	default:
		return invalid("userType must be INDIVIDUAL or BUSINESS")
	}
	if u.UMALocal, err = NormalizeLocal(u.UMALocal); err != nil {
		return err
	}
	if u.KYCStatus == "" {
		u.KYCStatus = KYCUnknown
	}
	if !uma.KycStatus(u.KYCStatus).Valid() {
		return invalid("kycStatus must be UNKNOWN, NOT_VERIFIED, PENDING or VERIFIED")
	}
	if err := normalizeCurrencies(u.PreferredCurrencies); err != nil {
		return err
	}
	if u.UserType == Individual {
		if u.BusinessInfo != nil {
			return invalid("businessInfo is only for BUSINESS users")
		}
		// fullName and email were checked with platformUserId (fields).
		if u.Email != "" && (!strings.Contains(u.Email, "@") || strings.ContainsAny(u.Email, " ,;<>")) {
			return invalid("email must be an e-mail address")
		}
		// birthDate is checked by Service.checkBirthDate, on create and
		// when a PATCH sets it: one stored before a check must not block
		// the user's other edits.
		// Trimmed as the free-text fields are (address.country included).
		if u.Nationality = strings.TrimSpace(u.Nationality); u.Nationality != "" {
			u.Nationality = strings.ToUpper(u.Nationality)
			if !countryRE.MatchString(u.Nationality) {
				return invalid("nationality must be an ISO 3166-1 alpha-2 country code")
			}
		}
	} else {
		if u.BirthDate != "" || u.Nationality != "" || u.Email != "" {
			return invalid("birthDate, nationality and email are only for INDIVIDUAL users")
		}
		if u.BusinessInfo != nil {
			if err := u.BusinessInfo.normalize(); err != nil {
				return err
			}
			u.FullName = u.BusinessInfo.LegalName
		} else if u.FullName != "" {
			return invalid("a BUSINESS user's name goes in businessInfo.legalName")
		}
	}
	if u.Address != nil {
		if err := u.Address.normalize(); err != nil {
			return err
		}
	}
	if u.BankAccount != nil {
		// UMAaaS requires a US account's holder, yet its own createUser
		// and updateUserById examples leave it out: the user's name
		// (a business's legal name, set above), as a bulk-upload row's.
		if b := u.BankAccount; b.AccountType == AccountUS && strings.TrimSpace(b.AccountHolderName) == "" {
			b.AccountHolderName = u.FullName
		}
		if err := u.BankAccount.normalize(); err != nil {
			return err
		}
	}
	return nil
}

func normalizeCurrencies(cs []string) error {
	if len(cs) > MaxPreferredCurrencies {
		return invalid("at most %d preferred currencies", MaxPreferredCurrencies)
	}
	seen := map[string]bool{}
	for i, c := range cs {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !currencyRE.MatchString(c) {
			return vaspd.Errorf(http.StatusBadRequest, vaspd.CodeInvalidCurrency, "preferredCurrencies[%d] is not a currency code", i)
		}
		if seen[c] {
			return invalid("preferredCurrencies lists %s twice", c)
		}
		seen[c] = true
		cs[i] = c
	}
	return nil
}

func (b *BusinessInfo) fields() []field {
	return []field{
		{"businessInfo.legalName", &b.LegalName, true, shown},
		{"businessInfo.registrationNumber", &b.RegistrationNumber, false, identifier},
		{"businessInfo.taxId", &b.TaxID, false, identifier},
	}
}

func (b *BusinessInfo) normalize() error { return normalizeText(b.fields()) }

func (a *Address) fields() []field {
	return []field{
		{"address.line1", &a.Line1, true, shown}, {"address.line2", &a.Line2, false, shown}, {"address.town", &a.Town, false, shown},
		{"address.city", &a.City, false, shown}, {"address.state", &a.State, false, shown},
		{"address.postalCode", &a.PostalCode, true, identifier}, {"address.country", &a.Country, true, identifier},
	}
}

func (a *Address) normalize() error {
	if err := normalizeText(a.fields()); err != nil {
		return err
	}
	a.Country = strings.ToUpper(a.Country)
	if !countryRE.MatchString(a.Country) {
		return invalid("address.country must be an ISO 3166-1 alpha-2 country code")
	}
	return nil
}

// fields are b's free-text values; accountType, one of a list, is not.
func (b *BankAccountInfo) fields() []field {
	const p = "bankAccountInfo."
	return []field{
		{p + "platformAccountId", &b.PlatformAccountID, false, identifier},
		{p + "accountHolderName", &b.AccountHolderName, false, shown},
		{p + "bankName", &b.BankName, false, shown},
		{p + "clabeNumber", &b.ClabeNumber, false, identifier},
		{p + "accountNumber", &b.AccountNumber, false, identifier},
		{p + "routingNumber", &b.RoutingNumber, false, identifier},
		{p + "accountCategory", &b.AccountCategory, false, identifier},
		{p + "pixKey", &b.PixKey, false, identifier},
		{p + "pixKeyType", &b.PixKeyType, false, identifier},
		{p + "iban", &b.IBAN, false, identifier},
		{p + "swiftBic", &b.SwiftBic, false, identifier},
		{p + "currencyCode", &b.CurrencyCode, false, identifier},
		{p + "vpa", &b.VPA, false, identifier},
	}
}

func (b *BankAccountInfo) normalize() error {
	if err := normalizeText(b.fields()); err != nil {
		return err
	}
	// Only the fields of the account's type may be set, so that a typo in
	// accountType does not silently keep the wrong details.
	allowed := map[string]bool{}
	need := func(name, v string) error {
		allowed[name] = true
		if v == "" {
			return invalid("bankAccountInfo.%s is required for %s accounts", name, b.AccountType)
		}
		return nil
	}
	may := func(names ...string) {
		for _, n := range names {
			allowed[n] = true
		}
	}
	may("platformAccountId") // the platform's own id, of any account
	var errs []error
	switch b.AccountType {
	case AccountCLABE:
		errs = append(errs, need("clabeNumber", b.ClabeNumber), need("bankName", b.BankName))
		may("accountHolderName")
		if b.ClabeNumber != "" && !digits18RE.MatchString(b.ClabeNumber) {
			return invalid("bankAccountInfo.clabeNumber must be 18 digits")
		}
	case AccountUS:
		errs = append(errs, need("accountNumber", b.AccountNumber), need("routingNumber", b.RoutingNumber),
			need("accountCategory", b.AccountCategory), need("accountHolderName", b.AccountHolderName))
		may("bankName")
		if b.RoutingNumber != "" && !digits9RE.MatchString(b.RoutingNumber) {
			return invalid("bankAccountInfo.routingNumber must be 9 digits")
		}
		if b.AccountCategory != "" && b.AccountCategory != CategoryChecking && b.AccountCategory != CategorySavings {
			return invalid("bankAccountInfo.accountCategory must be CHECKING or SAVINGS")
		}
	case AccountPIX:
		errs = append(errs, need("pixKey", b.PixKey), need("pixKeyType", b.PixKeyType))
		may("bankName", "accountHolderName")
		switch b.PixKeyType {
		case "", "CPF", "CNPJ", "EMAIL", "PHONE", "RANDOM":
		default:
			return invalid("bankAccountInfo.pixKeyType must be CPF, CNPJ, EMAIL, PHONE or RANDOM")
		}
	case AccountIBAN:
		b.IBAN = compactIBAN(b.IBAN)
		b.SwiftBic = strings.ToUpper(b.SwiftBic)
		errs = append(errs, need("iban", b.IBAN), need("bankName", b.BankName))
		may("swiftBic", "accountHolderName")
		if b.IBAN != "" && !ibanRE.MatchString(b.IBAN) {
			return invalid("bankAccountInfo.iban must be 15 to 34 letters and digits starting with a country code")
		}
		if b.SwiftBic != "" && !swiftRE.MatchString(b.SwiftBic) {
			return invalid("bankAccountInfo.swiftBic must be 8 or 11 letters and digits")
		}
	case AccountFBO:
		b.CurrencyCode = strings.ToUpper(b.CurrencyCode)
		errs = append(errs, need("currencyCode", b.CurrencyCode))
		if b.CurrencyCode != "" && !currencyRE.MatchString(b.CurrencyCode) {
			return invalid("bankAccountInfo.currencyCode is not a currency code")
		}
	case AccountUPI:
		errs = append(errs, need("vpa", b.VPA))
		may("accountHolderName")
	case "":
		return invalid("bankAccountInfo.accountType is required")
	default:
		return invalid("bankAccountInfo.accountType must be CLABE, US_ACCOUNT, PIX, IBAN, FBO or UPI")
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	for _, f := range b.fields() {
		if *f.v != "" && !allowed[strings.TrimPrefix(f.name, "bankAccountInfo.")] {
			return invalid("%s does not apply to %s accounts", f.name, b.AccountType)
		}
	}
	return nil
}

// compactIBAN is an IBAN as stored: upper case, without spaces.
func compactIBAN(s string) string { return strings.ToUpper(strings.ReplaceAll(s, " ", "")) }

// String is for logs: the user's id and address local part, never PII.
func (u User) String() string { return fmt.Sprintf("%s ($%s)", u.ID, u.UMALocal) }
