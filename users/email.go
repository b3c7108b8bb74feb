package users

import (
	"net/mail"
	"strings"
)

// checkEmail refuses an e-mail address (normalised, or "") that is not
// local-part@domain, both parts there: normalize looks only for an "@",
// which "@", "a@" and "@b" have. A display name or angle brackets
// ("Alice <a@b.example>") are refused too: the field is the address. Create
// checks it, Update only when it changes, so that an address stored
// before this check does not block other edits (as countries).
func checkEmail(email string) error {
	if email == "" {
		return nil
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email || strings.Count(email, "@") != 1 {
		return invalid("email must be an e-mail address such as alice@example.com")
	}
	return nil
}
