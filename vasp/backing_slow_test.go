package vasp_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// slowBackers answers the keys of domains ending in ".slow" only after
// delay (or never, past ctx), as the pubkey endpoint of a backing signer
// the sender runs can, each within a fetch's timeout; others from next.
type slowBackers struct {
	next  uma.PublicKeySource
	keys  map[string]*uma.PublicKeys
	delay time.Duration
}

func (s slowBackers) PublicKeys(ctx context.Context, domain string) (*uma.PublicKeys, error) {
	if !strings.HasSuffix(domain, ".slow") {
		return s.next.PublicKeys(ctx, domain)
	}
	select {
	case <-ctx.Done():
		return nil, &uma.Error{Code: uma.CodeCounterpartyPubkeyFetchError, Reason: "cannot fetch public keys of " + domain, Err: ctx.Err()}
	case <-time.After(s.delay):
		return s.keys[domain], nil
	}
}

// A payreq naming ten backing signers at domains whose pubkey endpoints
// hang is refused within one counterparty call's time, not ten: all the
// key fetches of one message share it. Each taking its own, the payreq
// outlived the write deadline of our answer (a minute), and was then
// recorded, its invoice made and the platform asked to approve it, for an
// answer nobody could receive; and each such request held a handler ten
// times as long.
func TestPayRequestSlowBackingSignersShareOneTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sender := w.counterparty(t, "vasp1.example")
		const timeout = 500 * time.Millisecond
		backers := slowBackers{keys: map[string]*uma.PublicKeys{}, delay: timeout * 9 / 10}
		s := w.service(t, func(o *vasp.Options) {
			o.CounterpartyTimeout = timeout
			backers.next = o.KeySource
			o.KeySource = backers
		})
		pr := payRequest(t, sender.Signing, "$alice@vasp1.example", w.clock.Now())
		for i := range 10 {
			domain := fmt.Sprintf("b%d.slow", i)
			k := newKeys(t, domain)
			backers.keys[domain] = &uma.PublicKeys{Signing: k.Signing.PublicKey(), Encryption: k.Encryption.PublicKey()}
			pr.PayerData.Compliance.BackingSignatures = append(pr.PayerData.Compliance.BackingSignatures,
				uma.BackingSignature{Domain: domain, Signature: hex.EncodeToString(uma.SignPayload(k.Signing, []byte(pr.SignablePayload())))})
		}
		start := time.Now()
		_, err := s.PayRequest(t.Context(), "bob", pr)
		if took := time.Since(start); took > 5*timeout { // ten fetches each take 9/10 of it
			t.Fatalf("payreq answered after %s, want about %s", took, timeout)
		}
		wantCode(t, err, uma.CodeCounterpartyPubkeyFetchError)
		if n := countRows(t, db, "uma_transactions"); n != 0 {
			t.Fatalf("%d transactions recorded", n)
		}
	})
}
