// Package vasptest holds test helpers for code built on package vasp.
package vasptest

import (
	"context"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/vasp"
)

// Directory is an in-memory vasp.Directory: recipients by user id.
type Directory map[string]vasp.Recipient

// ByUMALocal finds the recipient whose UMA local part is local.
func (d Directory) ByUMALocal(_ context.Context, local string) (vasp.Recipient, error) {
	for _, r := range d {
		if r.Local == local {
			return r, nil
		}
	}
	return vasp.Recipient{}, vaspd.NotFound("USER_NOT_FOUND", "no user %s", local)
}

// ByID finds the recipient with user id id.
func (d Directory) ByID(_ context.Context, id string) (vasp.Recipient, error) {
	if r, ok := d[id]; ok {
		return r, nil
	}
	return vasp.Recipient{}, vaspd.NotFound("USER_NOT_FOUND", "no user %s", id)
}

var _ vasp.Directory = Directory(nil)
