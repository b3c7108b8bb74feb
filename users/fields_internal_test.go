package users

import (
	"reflect"
	"strings"
	"testing"
)

// TestFieldTablesListEveryStringField: normalize and checkControls check
// the free-text values their structs' tables (fields) list, so a string
// field added to a struct and not to its table would be stored unchecked.
// Every string field is in its table, under its JSON name, unless it is
// named here as checked otherwise.
func TestFieldTablesListEveryStringField(t *testing.T) {
	u := User{UserType: Individual, BusinessInfo: &BusinessInfo{}, Address: &Address{}, BankAccount: &BankAccountInfo{}}
	for _, c := range []struct {
		s      any // pointer to the struct
		table  []field
		prefix string // of the table's names; "" for User, which has no JSON names
		// otherwise are the string fields checked otherwise, as normalize
		// and Service.checkCountries do.
		otherwise []string
	}{
		{&u, u.fields(), "", []string{"ID", "UserType", "UMALocal", "KYCStatus", "BirthDate", "Nationality"}},
		{u.BusinessInfo, u.BusinessInfo.fields(), "businessInfo.", nil},
		{u.Address, u.Address.fields(), "address.", nil},
		{u.BankAccount, u.BankAccount.fields(), "bankAccountInfo.", []string{"AccountType"}},
	} {
		byPtr := map[*string]field{}
		for _, f := range c.table {
			byPtr[f.v] = f
		}
		v := reflect.ValueOf(c.s).Elem()
		seen := 0
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if sf.Type.Kind() != reflect.String {
				continue
			}
			f, ok := byPtr[v.Field(i).Addr().Interface().(*string)]
			other := false
			for _, o := range c.otherwise {
				other = other || o == sf.Name
			}
			switch {
			case ok && other:
				t.Errorf("%s.%s is in its table and named as checked otherwise", v.Type().Name(), sf.Name)
			case !ok && !other:
				t.Errorf("%s.%s, a string field, is not in its table (fields): it would be stored unchecked",
					v.Type().Name(), sf.Name)
			case ok && c.prefix != "":
				if want := c.prefix + strings.Split(sf.Tag.Get("json"), ",")[0]; f.name != want {
					t.Errorf("%s.%s is named %q in its table, want %q (its JSON name)", v.Type().Name(), sf.Name, f.name, want)
				}
			}
			if ok {
				seen++
			}
		}
		if seen != len(c.table) {
			t.Errorf("%s: the table lists %d fields, %d of them the struct's", v.Type().Name(), len(c.table), seen)
		}
	}
	// A business's name is its legal name (normalize copies it): the one
	// in businessInfo's table.
	b := User{UserType: Business}
	for _, f := range b.fields() {
		if f.v == &b.FullName || f.v == &b.Email {
			t.Errorf("a business's table lists %s", f.name)
		}
	}
}
