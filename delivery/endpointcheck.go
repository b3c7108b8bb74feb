// Validation of endpoint fields (the management API's input): URLs the
// SSRF guard would refuse are refused when they are configured.

package delivery

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vaspd/vaspd"
)

// validate checks the fields that are set.
func (s *Service) validate(in EndpointInput) error {
	if in.URL != nil {
		if err := s.validateURL(*in.URL); err != nil {
			return err
		}
	}
	if in.Description != nil {
		d := *in.Description
		if len(d) > 1000 {
			return vaspd.InvalidInput("description is longer than 1000 bytes")
		}
		// Stored as text (PostgreSQL refuses NUL) and shown in consoles.
		if !utf8.ValidString(d) || strings.ContainsFunc(d, func(r rune) bool {
			return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
		}) {
			return vaspd.InvalidInput("description must be printable text")
		}
	}
	if in.EventTypes != nil {
		if len(*in.EventTypes) > 50 {
			return vaspd.InvalidInput("at most 50 event types")
		}
		for _, t := range *in.EventTypes {
			if !typePattern.MatchString(t) {
				return vaspd.InvalidInput("event type %q is not a webhook type such as INCOMING_PAYMENT", vaspd.Truncate(t, 64))
			}
			if len(s.opt.EventTypes) > 0 && !slices.Contains(s.opt.EventTypes, t) {
				return vaspd.InvalidInput("event type %q is not one this server sends (%s)", t, strings.Join(s.opt.EventTypes, ", "))
			}
		}
	}
	if in.TimeoutMS != nil {
		// 0 is the default (Options.AttemptTimeout, the operator's
		// setting); a timeout of the endpoint's own is bounded both ways.
		lo, hi := s.opt.MinAttemptTimeout.Milliseconds(), s.opt.MaxAttemptTimeout.Milliseconds()
		if ms := *in.TimeoutMS; ms != 0 && (ms < lo || ms > hi) {
			return vaspd.InvalidInput("timeoutMs must be 0 (the default, %d) or from %d to %d", s.opt.AttemptTimeout.Milliseconds(), lo, hi)
		}
	}
	return nil
}

// validateURL refuses what can never be delivered to: non-HTTP schemes,
// credentials in the URL, no host, a port outside 1–65535, and literal
// addresses the SSRF guard blocks. Host
// names are checked again at every connection, after DNS.
func (s *Service) validateURL(raw string) error {
	if len(raw) > 2048 {
		return vaspd.InvalidInput("url is longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return vaspd.InvalidInput("url must be an absolute http or https URL")
	}
	if u.User != nil {
		return vaspd.InvalidInput("url must not contain credentials")
	}
	if u.Fragment != "" {
		return vaspd.InvalidInput("url must not contain a fragment")
	}
	host := u.Hostname()
	if host == "" {
		// "http://:80/" would be dialled as this machine.
		return vaspd.InvalidInput("url must name a host")
	}
	if p := u.Port(); p != "" {
		// url.Parse takes any digits; no connection can use these.
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return vaspd.InvalidInput("url's port must be from 1 to 65535")
		}
	}
	ip, ipErr := netip.ParseAddr(host)
	if ipErr != nil && endsInNumber(host) {
		// The resolver (inet_aton) and URL parsers read "127.1",
		// "2130706433" or "0x7f.0.0.1" as an IPv4 address, the check
		// below does not: only the dotted quad is let through to it.
		return vaspd.InvalidInput("url's host %q is an IP address in a non-standard form; write IPv4 addresses as four decimal numbers (1.2.3.4)",
			vaspd.Truncate(host, 80))
	}
	if ipErr == nil && !s.guard.HostAllowed(host) {
		if err := s.guard.Check(ip); err != nil {
			return vaspd.InvalidInput("url points at a non-public address (%s); if intended, allow it with the webhook-allow-nets setting", ip)
		}
	} else if isLocalhost(host) && !s.guard.HostAllowed(host) {
		if err := s.guard.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
			return vaspd.InvalidInput("url points at localhost; if intended, allow it with the webhook-allow-nets setting")
		}
	}
	return nil
}

// endsInNumber reports whether host's last label (less a root's trailing
// dot) is a number, decimal or 0x-hex: what the WHATWG URL standard parses
// as IPv4, and the system resolver too.
func endsInNumber(host string) bool {
	h := strings.TrimSuffix(host, ".")
	last := strings.ToLower(h[strings.LastIndexByte(h, '.')+1:])
	digits := "0123456789"
	if strings.HasPrefix(last, "0x") {
		last, digits = last[2:], "0123456789abcdef"
		if last == "" {
			return true // "0x" alone is 0
		}
	}
	return last != "" && strings.Trim(last, digits) == ""
}

// isLocalhost reports whether host is "localhost" or a name under it (RFC
// 6761), however spelled: any case, with or without the root's trailing dot.
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
