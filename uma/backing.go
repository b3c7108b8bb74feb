package uma

// Backing signatures: a second VASP (e.g. a sponsor bank) signs the same
// payload as the primary signer; Verifier checks them when present.

// AddBackingSignature signs payload (a message's SignablePayload) with a
// backing VASP's key and returns the entry to append to the message.
func AddBackingSignature(key *PrivateKey, domain, payload string) BackingSignature {
	return BackingSignature{Domain: domain, Signature: signHex(key, payload)}
}

// VerifyBackingSignature checks one backing signature with the signing key
// of its domain.
func VerifyBackingSignature(pub *PublicKey, payload string, b BackingSignature) error {
	return verifyHex(pub, payload, b.Signature)
}
