package uma

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// UMA keys are secp256k1, and crypto/x509 can neither parse nor sign
// certificates on that curve ("x509: unsupported elliptic curve"). So this
// file reads the leaf's SubjectPublicKeyInfo and writes self-signed
// certificates with encoding/asn1 directly. Like every SDK, we do not
// validate chains or expiry: UMA trusts the key served over HTTPS by the
// counterparty's domain, the certificate is only its container.

var (
	oidECPublicKey      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1        = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidECDSAWithSHA256  = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
)

type certificate struct {
	TBS       asn1.RawValue
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
}

type tbsCertificate struct {
	Version    int `asn1:"optional,explicit,default:0,tag:0"`
	Serial     *big.Int
	Algorithm  pkix.AlgorithmIdentifier
	Issuer     asn1.RawValue
	Validity   validity
	Subject    asn1.RawValue
	PublicKey  subjectPublicKeyInfo
	IssuerUID  asn1.BitString   `asn1:"optional,tag:1"`
	SubjectUID asn1.BitString   `asn1:"optional,tag:2"`
	Extensions []pkix.Extension `asn1:"optional,explicit,tag:3"`
}

type validity struct {
	NotBefore, NotAfter time.Time
}

type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

type basicConstraints struct {
	IsCA bool `asn1:"optional"`
}

// maxCertSize bounds the DER we are willing to parse (real UMA certs are < 1 KiB).
const maxCertSize = 16 << 10

// ParseCertificatePublicKey returns the secp256k1 public key of a DER X.509
// certificate (its SubjectPublicKeyInfo). Failures are CERT_CHAIN_INVALID.
func ParseCertificatePublicKey(der []byte) (*PublicKey, error) {
	if len(der) == 0 || len(der) > maxCertSize {
		return nil, Errorf(CodeCertChainInvalid, "certificate size %d out of range", len(der))
	}
	var c certificate
	rest, err := asn1.Unmarshal(der, &c)
	if err != nil || len(rest) != 0 {
		return nil, Errorf(CodeCertChainInvalid, "certificate is not valid DER")
	}
	var tbs tbsCertificate
	if rest, err := asn1.Unmarshal(c.TBS.FullBytes, &tbs); err != nil || len(rest) != 0 {
		return nil, Errorf(CodeCertChainInvalid, "certificate body is not valid DER")
	}
	spki := tbs.PublicKey
	if !spki.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, Errorf(CodeCertChainInvalid, "certificate key is not an EC key")
	}
	var curve asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve); err != nil || len(rest) != 0 || !curve.Equal(oidSecp256k1) {
		return nil, Errorf(CodeCertChainInvalid, "certificate key is not on secp256k1")
	}
	if spki.PublicKey.BitLength != 8*len(spki.PublicKey.Bytes) {
		return nil, Errorf(CodeCertChainInvalid, "certificate key bit string is not byte aligned")
	}
	pub, err := ParsePublicKey(spki.PublicKey.Bytes)
	if err != nil {
		return nil, Errorf(CodeCertChainInvalid, "certificate key is not a valid secp256k1 point")
	}
	return pub, nil
}

// CertificateValidity returns a DER certificate's notBefore and notAfter.
func CertificateValidity(der []byte) (notBefore, notAfter time.Time, err error) {
	var c certificate
	var tbs tbsCertificate
	if len(der) > maxCertSize {
		return time.Time{}, time.Time{}, Errorf(CodeCertChainInvalid, "certificate too large")
	}
	if _, err := asn1.Unmarshal(der, &c); err != nil {
		return time.Time{}, time.Time{}, Errorf(CodeCertChainInvalid, "certificate is not valid DER")
	}
	if _, err := asn1.Unmarshal(c.TBS.FullBytes, &tbs); err != nil {
		return time.Time{}, time.Time{}, Errorf(CodeCertChainInvalid, "certificate body is not valid DER")
	}
	return tbs.Validity.NotBefore, tbs.Validity.NotAfter, nil
}

// NewSelfSignedCertificate returns a DER X.509 v3 certificate for key,
// self-signed with ecdsa-with-SHA256, subject and issuer CN=commonName
// (typically our domain), basicConstraints CA:TRUE — the same shape as
// `openssl req -new -x509` with a secp256k1 key, which the UMA spec suggests.
func NewSelfSignedCertificate(key *PrivateKey, commonName string, notBefore, notAfter time.Time) ([]byte, error) {
	if key == nil || !notBefore.Before(notAfter) {
		return nil, Errorf(CodeInvalidInput, "certificate needs a key and notBefore < notAfter")
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	serial.Add(serial, big.NewInt(1)) // positive, non-zero
	name, err := asn1.Marshal(pkix.Name{CommonName: commonName}.ToRDNSequence())
	if err != nil {
		return nil, err
	}
	curve, _ := asn1.Marshal(oidSecp256k1)
	bc, _ := asn1.Marshal(basicConstraints{IsCA: true})
	pub := key.PublicKey().Bytes()
	alg := pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}
	tbs := tbsCertificate{
		Version:   2, // v3
		Serial:    serial,
		Algorithm: alg,
		Issuer:    asn1.RawValue{FullBytes: name},
		Validity:  validity{NotBefore: notBefore.UTC().Truncate(time.Second), NotAfter: notAfter.UTC().Truncate(time.Second)},
		Subject:   asn1.RawValue{FullBytes: name},
		PublicKey: subjectPublicKeyInfo{
			Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: curve}},
			PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)},
		},
		Extensions: []pkix.Extension{{Id: oidBasicConstraints, Critical: true, Value: bc}},
	}
	tbsDER, err := asn1.Marshal(tbs)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(tbsDER)
	sig := ecdsa.Sign(key.k, h[:]).Serialize()
	return asn1.Marshal(certificate{
		TBS:       asn1.RawValue{FullBytes: tbsDER},
		Algorithm: alg,
		Signature: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)},
	})
}

// ParseCertChainPEM reads the CERTIFICATE blocks of a PEM chain (leaf first,
// the format of the SDKs' *_CERT_CHAIN settings) and returns their DER.
func ParseCertChainPEM(data []byte) ([][]byte, error) {
	var chain [][]byte
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := ParseCertificatePublicKey(block.Bytes); err != nil && len(chain) == 0 {
			return nil, err // the leaf must carry a secp256k1 key; issuers may be anything (RSA roots exist)
		}
		chain = append(chain, block.Bytes)
	}
	if len(chain) == 0 {
		return nil, Errorf(CodeCertChainInvalid, "no CERTIFICATE block in PEM")
	}
	return chain, nil
}

// EncodeCertChainPEM is the inverse of ParseCertChainPEM.
func EncodeCertChainPEM(chain [][]byte) []byte {
	var out []byte
	for _, der := range chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return out
}

func hexChain(chain [][]byte) []string {
	if len(chain) == 0 {
		return nil
	}
	out := make([]string, len(chain))
	for i, der := range chain {
		out[i] = hex.EncodeToString(der)
	}
	return out
}
