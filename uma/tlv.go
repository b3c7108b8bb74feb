package uma

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// TLV as used by UMA invoices: tag (1 byte) ‖ length (1 byte) ‖ value.

type tlvRecord struct {
	tag   byte
	value []byte
	start int // offset of the record in the parsed buffer
	end   int
}

var errTLV = errors.New("truncated TLV record")

// parseTLV splits b into records; duplicate tags are refused because the
// signature would cover an ambiguous message.
func parseTLV(b []byte) ([]tlvRecord, error) {
	var out []tlvRecord
	seen := map[byte]bool{}
	for i := 0; i < len(b); {
		if i+2 > len(b) {
			return nil, errTLV
		}
		tag, n := b[i], int(b[i+1])
		if i+2+n > len(b) {
			return nil, errTLV
		}
		if seen[tag] {
			return nil, errors.New("duplicate TLV tag " + strconv.Itoa(int(tag)))
		}
		seen[tag] = true
		out = append(out, tlvRecord{tag: tag, value: b[i+2 : i+2+n], start: i, end: i + 2 + n})
		i += 2 + n
	}
	return out, nil
}

// maxTLVValue keeps every value readable by Kotlin, which reads the length
// as a signed byte.
const maxTLVValue = 127

type tlvWriter struct {
	buf []byte
	err error
}

func (w *tlvWriter) bytes(tag byte, v []byte) {
	if w.err != nil {
		return
	}
	if len(v) == 0 {
		w.err = errors.New("empty value for tag " + strconv.Itoa(int(tag)))
		return
	}
	if len(v) > maxTLVValue {
		w.err = errors.New("value of tag " + strconv.Itoa(int(tag)) + " longer than 127 bytes")
		return
	}
	w.buf = append(w.buf, tag, byte(len(v)))
	w.buf = append(w.buf, v...)
}

func (w *tlvWriter) str(tag byte, s string) { w.bytes(tag, []byte(s)) }

func (w *tlvWriter) int(tag byte, v int64) { w.bytes(tag, encodeTLVInt(v)) }

func (w *tlvWriter) bool(tag byte, v bool) {
	if v {
		w.bytes(tag, []byte{1})
	} else {
		w.bytes(tag, []byte{0})
	}
}

// encodeTLVInt is the minimal-width (1, 2, 4 or 8 bytes) signed big-endian
// encoding of the Python/JS/Kotlin SDKs.
func encodeTLVInt(v int64) []byte {
	switch {
	case v >= -1<<7 && v < 1<<7:
		return []byte{byte(v)}
	case v >= -1<<15 && v < 1<<15:
		return binary.BigEndian.AppendUint16(nil, uint16(v))
	case v >= -1<<31 && v < 1<<31:
		return binary.BigEndian.AppendUint32(nil, uint32(v))
	}
	return binary.BigEndian.AppendUint64(nil, uint64(v))
}

// decodeBinaryInt reads a signed big-endian integer of 1..8 bytes.
func decodeBinaryInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	var v int64
	if b[0]&0x80 != 0 {
		v = -1
	}
	for _, c := range b {
		v = v<<8 | int64(c)
	}
	return v, true
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeASCIIInt reads the uma-go-sdk's decimal text integers.
func decodeASCIIInt(b []byte) (int64, bool) {
	if !allDigits(b) || len(b) > 19 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}

// looksASCIIEncoded decides, from the expiration value, whether an invoice
// was written by uma-go-sdk (decimal text integers). An expiration is a unix
// time: as binary it is 4 or 8 bytes in [1e9, 1e14) (seconds or
// milliseconds); as text it is 9..13 digits. A value that is all digits and
// not a plausible binary time is text.
func looksASCIIEncoded(expiration []byte) bool {
	if !allDigits(expiration) {
		return false
	}
	if v, ok := decodeBinaryInt(expiration); ok && (len(expiration) == 4 || len(expiration) == 8) && v >= 1e9 && v < 1e14 {
		return false
	}
	return true
}
