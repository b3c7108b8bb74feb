package vasp

import (
	"fmt"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/uma"
)

// payerTold is who a quote told the receiver pays: our user's UMA local
// part and KYC status, as its signed payreq stated them
// (payerData.identifier, compliance.kycStatus). The receiver, and its
// platform through its approval webhook, accepted the payment from that
// payer; an execute pays only while it is still so (checkPayer). Kept in
// the quote's details; nil for a plain Lightning Address quote (no
// compliance data is sent) and for quotes made before it was kept.
type payerTold struct {
	Local     string        `json:"local"`
	KycStatus uma.KycStatus `json:"kycStatus"`
}

// local is the local part told, "" when nothing was (any will do).
func (p *payerTold) local() string {
	if p == nil {
		return ""
	}
	return p.Local
}

// checkPayer refuses (409) to execute q for sender when sender is no
// longer the payer q told the receiver of: the platform set another KYC
// status since (other than VERIFIED), or the user took another address (theirs perhaps held by
// someone else now). A refresh tells the receiver the payer as it is.
func (s *Service) checkPayer(q Quote, sender Recipient) error {
	told := q.payer
	if told == nil {
		return nil
	}
	if sender.Local != told.Local {
		return s.payerMoved(q)
	}
	// Verified since is no reason to refuse: the receiver accepted the
	// payer as less verified than it now is.
	if kyc := sender.kycStatus(); kyc != told.KycStatus && kyc != uma.KycVerified {
		return vaspd.Conflict(vaspd.CodeConflict, "quote %s told the receiver the sender's KYC status was %s; it is %s now: %s",
			q.ID, told.KycStatus, kyc, refreshToTell(q))
	}
	return nil
}

// payerMoved is checkPayer's refusal of a sender who no longer holds the
// address q told.
func (s *Service) payerMoved(q Quote) error {
	return vaspd.Conflict(vaspd.CodeConflict, "quote %s told the receiver the payer was %s, an address the sender no longer holds: %s",
		q.ID, s.address(q.payer.Local), refreshToTell(q))
}

func refreshToTell(q Quote) string {
	return fmt.Sprintf("POST /quotes/%s/refresh for a quote that tells the receiver the payer as it is, and execute that one", q.ID)
}
