package audit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vaspd/vaspd/audit"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// RecordTx's event is the change's own: it commits with the transaction
// it is written in, outcome and all, and a transaction rolled back leaves
// no event (no change recorded as done that was not made).
func TestRecordTx(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		l := audit.New(db, &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
		undone := errors.New("rolled back")
		var gone audit.Event
		err := db.InTx(ctx, func(tx *store.Tx) error {
			gone = audit.CLIEvent("vaspd serve", map[string]string{"tokenId": "Token:1"})
			if err := l.RecordTx(ctx, tx, &gone, 200); err != nil {
				return err
			}
			return undone
		})
		if !errors.Is(err, undone) {
			t.Fatal(err)
		}
		if _, err := l.Get(ctx, gone.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the event of a rolled-back change: %v, want not found", err)
		}
		var kept audit.Event
		if err := db.InTx(ctx, func(tx *store.Tx) error {
			kept = audit.CLIEvent("vaspd serve", map[string]string{"tokenId": "Token:2"})
			return l.RecordTx(ctx, tx, &kept, 200)
		}); err != nil {
			t.Fatal(err)
		}
		e, err := l.Get(ctx, kept.ID)
		if err != nil || e.Outcome == nil || e.Outcome.Status != 200 || e.ResourceID != "Token:2" || e.Method != "CLI" {
			t.Fatalf("the event of a committed change: %+v (outcome %+v), %v", e, e.Outcome, err)
		}
		if err := l.Finish(ctx, kept.ID, audit.Result{Status: 500, ErrorCode: "X"}); err == nil {
			t.Error("Finish changed the outcome RecordTx wrote")
		}
	})
}
