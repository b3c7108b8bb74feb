package uma

import (
	"slices"
	"strconv"
	"strings"
)

// Version is an UMA protocol version "major.minor". Minor versions are
// additive; the major version decides the wire shapes (0.x or 1.x).
type Version struct {
	Major, Minor int
}

var (
	// Version1 is the version we speak and emit ("1.0"; Go/JS/Kotlin SDKs).
	Version1 = Version{1, 0}
	// Version0 is the legacy version still spoken by old peers ("0.3").
	Version0 = Version{0, 3}
)

// supportedVersions lists the highest minor we support for each major, best first.
var supportedVersions = []Version{Version1, Version0}

// SupportedMajorVersions is what we advertise in 412 bodies and in
// /.well-known/uma-configuration: [1, 0].
func SupportedMajorVersions() []int {
	out := make([]int, len(supportedVersions))
	for i, v := range supportedVersions {
		out[i] = v.Major
	}
	return out
}

// ParseVersion reads "M.m" (non-negative decimal integers). Anything else is
// an INVALID_INPUT *Error.
func ParseVersion(s string) (Version, error) {
	major, minor, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok {
		return Version{}, Errorf(CodeInvalidInput, "invalid UMA version %q", truncate(s))
	}
	ma, err1 := parseSmallUint(major)
	mi, err2 := parseSmallUint(minor)
	if err1 != nil || err2 != nil {
		return Version{}, Errorf(CodeInvalidInput, "invalid UMA version %q", truncate(s))
	}
	return Version{ma, mi}, nil
}

func parseSmallUint(s string) (int, error) {
	if s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

func (v Version) String() string { return strconv.Itoa(v.Major) + "." + strconv.Itoa(v.Minor) }

// Less orders versions.
func (v Version) Less(o Version) bool {
	return v.Major < o.Major || v.Major == o.Major && v.Minor < o.Minor
}

// IsMajorVersionSupported reports whether we speak major.
func IsMajorVersionSupported(major int) bool {
	return slices.ContainsFunc(supportedVersions, func(v Version) bool { return v.Major == major })
}

// unsupportedVersionError is the 412 answer.
func unsupportedVersionError(requested string) *Error {
	return &Error{
		Code:                   CodeUnsupportedUMAVersion,
		Reason:                 "unsupported version: " + truncate(requested),
		UnsupportedVersion:     truncate(requested),
		SupportedMajorVersions: SupportedMajorVersions(),
	}
}

// NegotiateVersion is the receiver's choice for a requested version: the
// highest version we support within the requested major that is not above
// the request (1.3 → 1.0, 1.0 → 1.0, 0.3 → 0.3). An unparsable version or an
// unsupported major yields the UNSUPPORTED_UMA_VERSION *Error whose body
// carries supportedMajorVersions (HTTP 412).
func NegotiateVersion(requested string) (Version, error) {
	req, err := ParseVersion(requested)
	if err != nil {
		return Version{}, unsupportedVersionError(requested)
	}
	for _, v := range supportedVersions {
		if v.Major != req.Major {
			continue
		}
		if req.Less(v) {
			// The peer speaks an older minor of this major than ours:
			// minor versions are additive, so answer with its version.
			return req, nil
		}
		return v, nil
	}
	return Version{}, unsupportedVersionError(requested)
}

// SelectHighestSupportedVersion is the sender's retry after a 412: the
// highest major both sides support, at our highest minor of it. Without a
// common major it returns a NO_COMPATIBLE_UMA_VERSION *Error (HTTP 424).
func SelectHighestSupportedVersion(theirMajors []int) (Version, error) {
	for _, v := range supportedVersions { // best first
		if slices.Contains(theirMajors, v.Major) {
			return v, nil
		}
	}
	return Version{}, Errorf(CodeNoCompatibleUMAVersion, "no common UMA major version (theirs: %v, ours: %v)", theirMajors, SupportedMajorVersions())
}

// SelectInvoiceVersion picks the version to pay an UMA invoice with from its
// umaVersions field ("1.0" or "1.0,0.3").
func SelectInvoiceVersion(umaVersions string) (Version, error) {
	var majors []int
	for _, part := range strings.Split(umaVersions, ",") {
		if v, err := ParseVersion(part); err == nil {
			majors = append(majors, v.Major)
		}
	}
	return SelectHighestSupportedVersion(majors)
}

// majorOf returns the major version of s, or 1 when s is empty or invalid
// (absent versions mean "current" on every v1 message).
func majorOf(s string) int {
	if v, err := ParseVersion(s); err == nil {
		return v.Major
	}
	return 1
}
