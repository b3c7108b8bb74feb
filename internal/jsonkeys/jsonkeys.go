// Package jsonkeys finds a key named twice in one JSON object.
//
// encoding/json keeps the last of two members with one name, and matches
// member names to struct fields case-insensitively, so {"amount":1,
// "Amount":9} decodes as 9 where another parser (the counterparty's
// signer, a compliance tool reading the stored bytes, whatever checked
// the request before us) may read 1. vaspd refuses such documents from
// every outside party: the platform's requests (api), its webhook
// receiver's answer approving an incoming payment (vasp) and the other
// VASPs' messages (uma).
//
// Duplicate scans the bytes once, without decoding values: a receiving
// VASP checks every payreq, and a json.Decoder walk of its tokens costs
// more than parsing it (see BenchmarkDuplicate).
package jsonkeys

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Fold folds s as encoding/json does when it matches a member name to a
// field (Unicode simple folding: "K", "k" and the Kelvin sign are one).
func Fold(s string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, s)
}

// manyKeys is how many keys an object holds in the shared list, searched
// in order, before they move to a map: UMA's objects have a dozen at most,
// and a hostile document of 100 000 keys must not cost their square.
const manyKeys = 16

// A span is a folded key's bytes in the arena.
type span struct{ start, end int }

// A frame is an object or array being scanned. An object's keys are
// keys[base:] while it has few (a child's come after them, and go when
// it ends), else in set.
type frame struct {
	object    bool
	wantKey   bool
	base      int
	arenaBase int
	set       map[string]struct{}
}

// Duplicate returns the first key (as written, unescaped) that an object
// of data names a second time, folded as Fold does, at any depth; ok is
// false when there is none. data must be valid JSON (json.Valid, or
// decoded without error): Duplicate does not validate it.
func Duplicate(data []byte) (key string, ok bool) {
	var (
		stackBuf [8]frame
		keysBuf  [32]span
		arenaBuf [512]byte
	)
	stack, keys, arena := stackBuf[:0], keysBuf[:0], arenaBuf[:0]
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, frame{object: true, wantKey: true, base: len(keys), arenaBase: len(arena)})
		case '[':
			stack = append(stack, frame{base: len(keys), arenaBase: len(arena)})
		case '}', ']':
			f := stack[len(stack)-1]
			stack, keys, arena = stack[:len(stack)-1], keys[:f.base], arena[:f.arenaBase]
		case ',':
			if top := len(stack) - 1; top >= 0 && stack[top].object {
				stack[top].wantKey = true
			}
		case '"':
			// To the first quote; past it only if a backslash before
			// it may have escaped it (IndexByte is vectorized: most of
			// a payreq is long values).
			start := i + 1
			end := start + bytes.IndexByte(data[start:], '"')
			escaped := bytes.IndexByte(data[start:end], '\\') >= 0
			if escaped {
				for end = start; data[end] != '"'; end++ {
					if data[end] == '\\' {
						end++ // the escaped byte, a quote perhaps
					}
				}
			}
			i = end
			top := len(stack) - 1
			if top < 0 || !stack[top].object || !stack[top].wantKey {
				continue // a value
			}
			f := &stack[top]
			f.wantKey = false
			name := data[start:i]
			if escaped {
				name = unescape(name)
			}
			at := len(arena)
			arena = appendFolded(arena, name)
			folded := arena[at:]
			if f.set != nil {
				if _, dup := f.set[string(folded)]; dup {
					return string(name), true
				}
				f.set[string(folded)] = struct{}{}
				arena = arena[:at]
				continue
			}
			for _, k := range keys[f.base:] {
				if string(arena[k.start:k.end]) == string(folded) {
					return string(name), true
				}
			}
			if len(keys)-f.base < manyKeys {
				keys = append(keys, span{at, len(arena)})
				continue
			}
			// Many: to a map, this object's keys leaving the list.
			f.set = make(map[string]struct{}, 4*manyKeys)
			for _, k := range keys[f.base:] {
				f.set[string(arena[k.start:k.end])] = struct{}{}
			}
			f.set[string(folded)] = struct{}{}
			keys, arena = keys[:f.base], arena[:f.arenaBase]
		}
	}
	return "", false
}

// unescape is the member name written as raw (between its quotes), its
// escapes resolved.
func unescape(raw []byte) []byte {
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s); err != nil {
		return raw // not reached for valid JSON
	}
	return []byte(s)
}

// appendFolded appends name folded as Fold does, ASCII without a lookup.
func appendFolded(out, name []byte) []byte {
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRune(name[i:])
		out = utf8.AppendRune(out, unicode.ToUpper(unicode.ToLower(r)))
		i += n
	}
	return out
}
