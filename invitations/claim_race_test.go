package invitations_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/webhook"
)

// TestClaimRacesTheInviteeLeaving: a claim naming one of our addresses
// while another process deletes or renames its holder, the change not
// yet committed, must not be recorded for that address: the platform
// would pay an address no user holds, which someone else may take. The
// claim waits for the other transaction and is refused (400
// INVALID_UMA_ADDRESS), the invitation left pending and unannounced.
// Two pools on one database, as two processes.
func TestClaimRacesTheInviteeLeaving(t *testing.T) {
	t.Parallel()
	for _, change := range []string{"delete", "rename"} {
		t.Run(change, func(t *testing.T) {
			t.Run("sqlite", func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "vaspd.db")
				claimRacesInviteeLeaving(t, change, storetest.SQLiteAt(t, path), storetest.SQLiteAt(t, path))
			})
			t.Run("postgres", func(t *testing.T) {
				u := storetest.PostgresURL(t)
				claimRacesInviteeLeaving(t, change, storetest.PostgresAt(t, u), storetest.PostgresAt(t, u))
			})
		})
	}
}

func claimRacesInviteeLeaving(t *testing.T, change string, db1, db2 *store.DB) {
	s, _, c := setup(t, db1)
	u1 := users.New(db1, nil)
	carol, err := u1.Create(ctx, db1, users.User{PlatformUserID: "c1", UserType: users.Individual, UMALocal: "carol",
		PreferredCurrencies: []string{"USD"}})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
	if err != nil {
		t.Fatal(err)
	}
	u2 := users.New(db2, nil)
	changed, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db2.InTx(ctx, func(tx *store.Tx) error {
			var err error
			if change == "delete" {
				_, err = u2.Delete(ctx, tx, carol.ID)
			} else {
				_, err = u2.Update(ctx, tx, carol.ID, users.Patch{UMALocal: ptr("carol2")})
			}
			close(changed)
			if err != nil {
				return err
			}
			<-release
			return nil
		})
	}()
	<-changed
	claimed := make(chan error, 1)
	go func() {
		_, err := s.Claim(ctx, inv.Code, "$carol@vasp.example")
		claimed <- err
	}()
	select {
	case err := <-claimed:
		close(release)
		<-done
		t.Fatalf("the claim did not wait for the %s of its invitee: %v", change, err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	err = <-claimed
	if e := vaspd.AsError(err); err == nil || e.Status != 400 || e.Code != vaspd.CodeInvalidUMAAddress {
		t.Fatalf("claim by $carol as she was %sd: %v, want 400 %s", change, err, vaspd.CodeInvalidUMAAddress)
	}
	if g, err := s.Get(ctx, inv.Code); err != nil || g.Status != invitations.Pending || c.count() != 0 {
		t.Fatalf("after the refused claim: %+v %v, %d announced", g, err, c.count())
	}
}

// pausingAnnouncer holds the claiming transaction open in
// AnnounceClaim, with every lock the claim took, until released.
type pausingAnnouncer struct {
	announced chan struct{}
	release   chan struct{}
}

func (p *pausingAnnouncer) AnnounceClaim(ctx context.Context, tx *store.Tx, inv webhook.UmaInvitation) error {
	close(p.announced)
	<-p.release
	return nil
}

// TestCrossedClaimsDoNotWait: $alice invited $bob and $bob invited $alice,
// both of this VASP, and the two claims run at once in two processes. A
// claim locks its invitation, its inviter (who must not be deleted or
// renamed meanwhile) and its invitee (likewise); with the users' rows
// share-locked the claims do not wait for each other, where an exclusive
// lock on the inviter made each wait for the other's share lock: a
// deadlock, which PostgreSQL breaks only after a second by aborting one.
func TestCrossedClaimsDoNotWait(t *testing.T) {
	t.Parallel()
	u := storetest.PostgresURL(t)
	db1, db2 := storetest.PostgresAt(t, u), storetest.PostgresAt(t, u)
	s1, _, c := setup(t, db1)
	if _, err := users.New(db1, nil).Create(ctx, db1, users.User{PlatformUserID: "b1", UserType: users.Individual,
		UMALocal: "bob", PreferredCurrencies: []string{"USD"}}); err != nil {
		t.Fatal(err)
	}
	pause := &pausingAnnouncer{announced: make(chan struct{}), release: make(chan struct{})}
	s2, err := invitations.New(db2, users.New(db2, nil), invitations.Options{Domain: "vasp.example", Announcer: pause})
	if err != nil {
		t.Fatal(err)
	}
	byAlice, err := s1.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
	if err != nil {
		t.Fatal(err)
	}
	byBob, err := s1.Create(ctx, invitations.CreateInput{InviterUMA: "$bob"})
	if err != nil {
		t.Fatal(err)
	}
	// The second process claims Bob's invitation for $alice and stops
	// in the middle, holding its locks.
	second := make(chan error, 1)
	go func() {
		_, err := s2.Claim(ctx, byBob.Code, "$alice@vasp.example")
		second <- err
	}()
	select {
	case <-pause.announced:
	case err := <-second:
		t.Fatalf("claim of Bob's invitation: %v", err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := s1.Claim(ctx, byAlice.Code, "$bob@vasp.example")
		first <- err
	}()
	var firstErr error
	select {
	case firstErr = <-first:
	case <-time.After(2 * time.Second):
		t.Errorf("the claim of Alice's invitation waited for the claim of Bob's")
		close(pause.release)
		firstErr = <-first
	}
	if firstErr != nil {
		t.Errorf("claim of Alice's invitation: %v", firstErr)
	}
	select {
	case <-pause.release:
	default:
		close(pause.release)
	}
	if err := <-second; err != nil {
		t.Errorf("claim of Bob's invitation: %v", err)
	}
	if c.count() != 1 {
		t.Fatalf("%d claims announced by the first process, want 1", c.count())
	}
}
