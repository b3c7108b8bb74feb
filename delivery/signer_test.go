package delivery

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/vaspd/vaspd/webhook"
)

// The signer a target caches for its attempts signs each exactly as
// DefaultSigner does with the same input, and follows the input when it
// changes under the same reading: the previous secret's grace period ends
// (two secrets, then one) or the ed25519 key appears.
func TestTargetSignerCacheMatchesDefaultSigner(t *testing.T) {
	cur, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	prev, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	sk, _, err := webhook.NewSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &signerCache{}
	at := time.Unix(1_800_000_000, 0)
	for i, in := range []SignInput{
		{Secrets: []string{cur, prev}},
		{Secrets: []string{cur, prev}},
		{Secrets: []string{cur}},
		{Secrets: []string{cur}, SigningKey: sk},
		{Secrets: []string{cur}},
	} {
		in.WebhookID = "Webhook:019a0000-0000-7000-8000-00000000000" + string(rune('0'+i))
		in.Timestamp = at.Add(time.Duration(i) * time.Second)
		in.Body = []byte(`{"n":` + string(rune('0'+i)) + `}`)
		want, got := http.Header{}, http.Header{}
		if err := DefaultSigner().Sign(want, in); err != nil {
			t.Fatal(err)
		}
		if err := c.sign(got, in); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("input %d: cached signer gave %v, DefaultSigner %v", i, got, want)
		}
	}
}
