package bolt11

import (
	"crypto/sha256"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// signCompact signs sha256(msg). zpay32 hands its signer the unhashed
// hrp||data; signing msg itself yields a signature from which decoders
// recover some other key (a mistake easy to make and hard to notice).
func signCompact(key *secp256k1.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	return ecdsa.SignCompact(key, h[:], true)
}
