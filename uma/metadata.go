package uma

import (
	"crypto/sha256"
	"encoding/json"
)

// MetadataWithInvoiceUUID appends ["text/uma-invoice", uuid] to a metadata
// string (a JSON array) — what a receiver hashes into the BOLT11 when the
// payment settles an UMA invoice, so the preimage proves that invoice was paid.
func MetadataWithInvoiceUUID(metadata, invoiceUUID string) (string, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal([]byte(metadata), &entries); err != nil {
		return "", wrapErr(CodeInvalidInput, err, "metadata is not a JSON array")
	}
	extra, _ := marshalNoEscape([2]string{"text/uma-invoice", invoiceUUID})
	entries = append(entries, extra)
	b, err := marshalNoEscape(entries)
	if err != nil {
		return "", wrapErr(CodeInvalidInput, err, "cannot encode metadata")
	}
	return string(b), nil
}

// DescriptionHash is the LUD-18 BOLT11 description hash:
// sha256(metadata + payerDataJSON). Pass PayRequest.PayerDataJSON(), the
// bytes as received: every SDK re-serialises payerData differently, so no
// sender can check this hash and none does — we only make it reproducible.
// With an invoice UUID, pass the metadata from MetadataWithInvoiceUUID.
func DescriptionHash(metadata string, payerDataJSON []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(metadata))
	h.Write(payerDataJSON)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
