// Package bech32 implements classic BIP-173 bech32 (not bech32m) without the
// 90-character limit, as UMA invoices need.
package bech32

import (
	"errors"
	"strings"
)

const charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

var charsetRev = func() [128]int8 {
	var t [128]int8
	for i := range t {
		t[i] = -1
	}
	for i, c := range charset {
		t[c] = int8(i)
	}
	return t
}()

var gen = [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}

func polymod(values []byte) uint32 {
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>uint(i))&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func hrpExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// Errors returned by Decode.
var (
	ErrMixedCase = errors.New("bech32: mixed case")
	ErrFormat    = errors.New("bech32: invalid format")
	ErrChecksum  = errors.New("bech32: invalid checksum")
	ErrChar      = errors.New("bech32: invalid character")
	ErrPadding   = errors.New("bech32: invalid padding")
	ErrTooLong   = errors.New("bech32: too long")
)

// Encode encodes 8-bit data under hrp (lowercase).
func Encode(hrp string, data []byte) (string, error) {
	values, err := ConvertBits(data, 8, 5, true)
	if err != nil {
		return "", err
	}
	hrp = strings.ToLower(hrp)
	chk := polymod(append(append(hrpExpand(hrp), values...), 0, 0, 0, 0, 0, 0)) ^ 1
	var b strings.Builder
	b.Grow(len(hrp) + 1 + len(values) + 6)
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, v := range values {
		b.WriteByte(charset[v])
	}
	for i := 0; i < 6; i++ {
		b.WriteByte(charset[(chk>>uint(5*(5-i)))&31])
	}
	return b.String(), nil
}

// Decode decodes s (at most maxLen characters) into its hrp and 8-bit data.
func Decode(s string, maxLen int) (hrp string, data []byte, err error) {
	if len(s) > maxLen {
		return "", nil, ErrTooLong
	}
	if strings.ToLower(s) != s && strings.ToUpper(s) != s {
		return "", nil, ErrMixedCase
	}
	s = strings.ToLower(s)
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, ErrFormat
	}
	hrp = s[:pos]
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, ErrChar
		}
	}
	values := make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(s); i++ {
		c := s[i]
		if c >= 128 || charsetRev[c] < 0 {
			return "", nil, ErrChar
		}
		values = append(values, byte(charsetRev[c]))
	}
	if polymod(append(hrpExpand(hrp), values...)) != 1 {
		return "", nil, ErrChecksum
	}
	data, err = ConvertBits(values[:len(values)-6], 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, data, nil
}

// ConvertBits regroups bits (BIP-173 reference algorithm).
func ConvertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	acc, bits := uint32(0), uint(0)
	maxv := uint32(1)<<to - 1
	out := make([]byte, 0, len(data)*int(from)/int(to)+1)
	for _, v := range data {
		if uint32(v)>>from != 0 {
			return nil, ErrChar
		}
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, ErrPadding
	}
	return out, nil
}
