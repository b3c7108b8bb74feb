package vasp

import (
	"strings"

	"github.com/vaspd/vaspd"
)

// logDomain is the domain of a counterparty's address (UMA, Lightning or
// a plain LNURL payer's free text), for a log line: a payer's or payee's
// address is personal data and is never logged; the line names the
// payment by its id, and the counterparty by its VASP's domain. "" for
// an address without a domain.
func logDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return vaspd.Truncate(vaspd.Storable(addr[i+1:]), 100)
}
