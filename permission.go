package vaspd

import (
	"fmt"
	"slices"
	"strings"
)

// Permission is what an API token may do, as in the UMAaaS API.
type Permission string

const (
	// PermView reads everything: config, users, transactions, webhooks.
	PermView Permission = "VIEW"
	// PermTransact sends payments (quotes, execute, approvals).
	PermTransact Permission = "TRANSACT"
	// PermManage changes configuration, tokens, users and webhook endpoints.
	PermManage Permission = "MANAGE"
)

// AllPermissions lists every permission, in a stable order.
var AllPermissions = []Permission{PermView, PermTransact, PermManage}

// ParsePermissions parses a comma-separated or repeated list such as
// "VIEW,MANAGE" (case-insensitive). Duplicates collapse; order is canonical.
func ParsePermissions(items ...string) ([]Permission, error) {
	var out []Permission
	for _, item := range items {
		for _, p := range strings.Split(item, ",") {
			p = strings.ToUpper(strings.TrimSpace(p))
			if p == "" {
				continue
			}
			perm := Permission(p)
			if !slices.Contains(AllPermissions, perm) {
				return nil, fmt.Errorf("unknown permission %q (want VIEW, TRANSACT or MANAGE)", Truncate(p, 40))
			}
			if !slices.Contains(out, perm) {
				out = append(out, perm)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one permission is required (VIEW, TRANSACT, MANAGE)")
	}
	slices.SortFunc(out, func(a, b Permission) int {
		return slices.Index(AllPermissions, a) - slices.Index(AllPermissions, b)
	})
	return out, nil
}

// Allows reports whether a token holding perms may do what needs requires.
// MANAGE implies VIEW: an administrator can read what it configures.
func Allows(perms []Permission, need Permission) bool {
	if slices.Contains(perms, need) {
		return true
	}
	return need == PermView && slices.Contains(perms, PermManage)
}
