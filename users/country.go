package users

import "strings"

// iso3166 holds the officially assigned ISO 3166-1 alpha-2 codes, which
// UMAaaS names for nationality and address.country: a code of the right
// shape nobody assigned (XX, QQ, ZZ) is refused, as it is no country a
// counterparty or a bank can read. XK (Kosovo) is added: user-assigned,
// not official, but used for it by the European Commission, SWIFT and
// most banks, so refusing it would refuse real users.
var iso3166 = func() map[string]bool {
	m := map[string]bool{"XK": true}
	for _, c := range strings.Fields(`
		AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
		BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
		CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
		DE DJ DK DM DO DZ
		EC EE EG EH ER ES ET
		FI FJ FK FM FO FR
		GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
		HK HM HN HR HT HU
		ID IE IL IM IN IO IQ IR IS IT
		JE JM JO JP
		KE KG KH KI KM KN KP KR KW KY KZ
		LA LB LC LI LK LR LS LT LU LV LY
		MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
		NA NC NE NF NG NI NL NO NP NR NU NZ
		OM
		PA PE PF PG PH PK PL PM PN PR PS PT PW PY
		QA
		RE RO RS RU RW
		SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
		TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
		UA UG UM US UY UZ
		VA VC VE VG VI VN VU
		WF WS
		YE YT
		ZA ZM ZW`) {
		m[c] = true
	}
	return m
}()

// IsCountry reports whether code (upper case) is an ISO 3166-1 alpha-2
// country code (see iso3166).
func IsCountry(code string) bool { return iso3166[code] }

// checkCountries refuses u's (normalised) nationality, if nationality, and
// address country, if address, when not an ISO 3166-1 code. Update checks
// only the fields it changes, so that a code stored before this check
// does not block other edits (as currencies and birth dates).
func (u *User) checkCountries(nationality, address bool) error {
	if nationality && u.Nationality != "" && !IsCountry(u.Nationality) {
		return invalid("nationality %s is not an ISO 3166-1 alpha-2 country code", u.Nationality)
	}
	if address && u.Address != nil && !IsCountry(u.Address.Country) {
		return invalid("address.country %s is not an ISO 3166-1 alpha-2 country code", u.Address.Country)
	}
	return nil
}
