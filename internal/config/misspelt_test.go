package config

import (
	"reflect"
	"testing"
)

// A VASPD_* variable a letter or two from a setting's is listed with the
// setting; a setting's own, one of vaspd's other tools and one far from
// every setting are not, and a value is never looked at.
func TestMisspeltVariables(t *testing.T) {
	var s Set
	var url, secret string
	s.String(&url, "database-url", "", "")
	s.String(&secret, "devnet-secret", "", "")
	got := s.MisspeltVariables([]string{
		"VASPD_DATABSE_URL=postgres://u:s3cret@h/db", // a letter dropped
		"VASPD_DATABASE_URL=x",                       // the setting's own
		"VASPD_DEVNET_SECRETS=x",                     // a letter added
		"vaspd_devnet_secret=x",                      // not VASPD_: no variable of vaspd's
		"VASPD_URL=http://127.0.0.1:8080",            // vaspd webhooks'
		"VASPD_CLIENT_SECRET=x",
		"VASPD_TEST_POSTGRES_URL=x",
		"PATH=/bin",
		"VASPD_DATABASE",
	})
	want := []Misspelt{
		{"VASPD_DATABSE_URL", "database-url", "VASPD_DATABASE_URL"},
		{"VASPD_DEVNET_SECRETS", "devnet-secret", "VASPD_DEVNET_SECRET"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
