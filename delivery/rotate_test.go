package delivery

import (
	"context"
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/webhook"
)

// TestRotationReachesHandoffs: a rotation is an endpoint change like any
// other for the worker's readings. An event enqueued after a rotation that
// ended the old secret (grace 0) is signed with the new secret alone, even
// when it is handed off with a reading taken just before the rotation: the
// old secret, which the caller was told stopped signing, signs nothing more.
func TestRotationReachesHandoffs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clock, rc, e, w := primed(t, db)
		secret, _, err := s.RotateSecret(ctx, e.ID, -1)
		if err != nil {
			t.Fatal(err)
		}
		id := enqueue(t, s, Event{Type: TypeTest})
		finish(t, w)
		v, err := webhook.NewStandardVerifier(webhook.StandardConfig{Secrets: []string{secret}, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, r := range rc.requests() {
			if r.header.Get("webhook-id") != id {
				continue
			}
			found = true
			if err := v.Verify(r.header, r.body); err != nil {
				t.Fatalf("webhook enqueued after the rotation does not verify with the new secret: %v", err)
			}
		}
		if !found {
			t.Fatal("the webhook enqueued after the rotation was not sent")
		}
	})
}
