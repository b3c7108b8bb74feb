package invitations_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/invitations"
	"github.com/vaspd/vaspd/ledger"
	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/webhook"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
)

type claims struct {
	mu  sync.Mutex
	got []webhook.UmaInvitation
}

func (c *claims) AnnounceClaim(ctx context.Context, tx *store.Tx, inv webhook.UmaInvitation) error {
	var st string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM invitations WHERE code = $1`, inv.Code).Scan(&st); err != nil || st != invitations.Claimed {
		return errors.New("announced outside the claiming transaction")
	}
	tx.AfterCommit(func() { // counted once committed, as the webhook engine's enqueue is
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got = append(c.got, inv)
	})
	return nil
}

func (c *claims) count() int { c.mu.Lock(); defer c.mu.Unlock(); return len(c.got) }

func setup(t *testing.T, db *store.DB) (*invitations.Service, *vaspd.FakeClock, *claims) {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := vaspd.NewFakeClock(t0)
	u := users.New(db, clock, users.WithRates(p))
	if _, err := u.Create(ctx, db, users.User{PlatformUserID: "a1", UserType: users.Individual, UMALocal: "alice",
		FullName: "Alice", PreferredCurrencies: []string{"USD"}}); err != nil {
		t.Fatal(err)
	}
	c := &claims{}
	s, err := invitations.New(db, u, invitations.Options{Clock: clock, Rates: p, Announcer: c,
		Domain: "VASP.example", BaseURL: "https://vasp.example/"})
	if err != nil {
		t.Fatal(err)
	}
	return s, clock, c
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	e := vaspd.AsError(err)
	if err == nil || e.Status != status || e.Code != code {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func TestInvitationLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clock, c := setup(t, db)
		amount := int64(1000)
		exp := t0.Add(time.Hour)
		inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice@vasp.example", FirstName: " Bob ",
			AmountToSend: &amount, ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Code) != 12 || inv.Status != invitations.Pending || inv.Currency != "USD" || inv.FirstName != "Bob" {
			t.Fatalf("created %+v", inv)
		}
		w := s.Render(ctx, inv)
		if w.URL != "https://vasp.example/i/"+inv.Code || w.InviterUma != "$alice@vasp.example" || w.Status != "PENDING" ||
			w.AmountToSend == nil || w.AmountToSend.Amount != 1000 || w.AmountToSend.Currency.Decimals != 2 {
			t.Fatalf("rendered %+v", w)
		}

		_, err = s.Claim(ctx, inv.Code, "bob@other.example")
		wantCode(t, err, 400, vaspd.CodeInvalidUMAAddress) // a Lightning Address is not an UMA address
		_, err = s.Claim(ctx, inv.Code, "$alice@vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidInput)

		got, err := s.Claim(ctx, inv.Code, "$Bob@Other.example")
		if err != nil || got.Status != invitations.Claimed || got.InviteeUMA != "$bob@other.example" || !got.ClaimedAt.Equal(t0) {
			t.Fatalf("claim: %+v %v", got, err)
		}
		if c.count() != 1 || c.got[0].Status != "CLAIMED" || c.got[0].InviteeUma != "$bob@other.example" {
			t.Fatalf("announced %+v", c.got)
		}
		// A retried claim by the same invitee is answered, not announced again.
		if again, err := s.Claim(ctx, inv.Code, "$bob@other.example"); err != nil || again.Status != invitations.Claimed || c.count() != 1 {
			t.Fatalf("retried claim: %+v %v, %d announcements", again, err, c.count())
		}
		_, err = s.Claim(ctx, inv.Code, "$carol@other.example")
		wantCode(t, err, 400, vaspd.CodeInvitationAlreadyClaimed)
		if d := vaspd.AsError(err).Details; d["inviteeUma"] != "$bob@other.example" {
			t.Fatalf("details %v", d)
		}
		_, err = s.Cancel(ctx, inv.Code)
		wantCode(t, err, 400, vaspd.CodeInvitationAlreadyClaimed)

		// Cancel, and expiry.
		other, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "alice", ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		if x, err := s.Cancel(ctx, other.Code); err != nil || x.Status != invitations.Cancelled {
			t.Fatalf("cancel: %+v %v", x, err)
		}
		// Cancelling again is a 400, as in UMAaaS ("only pending
		// invitations can be cancelled"): it was answered 200.
		_, err = s.Cancel(ctx, other.Code)
		wantCode(t, err, 400, vaspd.CodeInvitationCancelled)
		_, err = s.Claim(ctx, other.Code, "$bob@other.example")
		wantCode(t, err, 400, vaspd.CodeInvitationCancelled)

		late, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", ExpiresAt: &exp})
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(exp)
		if g, err := s.Get(ctx, late.Code); err != nil || s.Render(ctx, g).Status != "EXPIRED" {
			t.Fatalf("expired read: %+v %v", g, err)
		}
		_, err = s.Claim(ctx, late.Code, "$bob@other.example")
		wantCode(t, err, 400, vaspd.CodeInvitationExpired)
		_, err = s.Cancel(ctx, late.Code)
		wantCode(t, err, 400, vaspd.CodeInvitationExpired)
		if c.count() != 1 {
			t.Fatalf("%d announcements", c.count())
		}
	})
}

func TestInvitationInputErrors(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t, storetest.SQLite(t))
	zero, past := int64(0), t0.Add(-time.Second)
	for name, c := range map[string]struct {
		in     invitations.CreateInput
		status int
		code   string
	}{
		"no inviter":        {invitations.CreateInput{}, 400, vaspd.CodeInvalidUMAAddress},
		"foreign inviter":   {invitations.CreateInput{InviterUMA: "$alice@elsewhere.example"}, 400, vaspd.CodeInvalidUMAAddress},
		"unknown inviter":   {invitations.CreateInput{InviterUMA: "$nobody"}, 404, vaspd.CodeUserNotFound},
		"zero amount":       {invitations.CreateInput{InviterUMA: "$alice", AmountToSend: &zero}, 400, vaspd.CodeInvalidAmount},
		"past expiry":       {invitations.CreateInput{InviterUMA: "$alice", ExpiresAt: &past}, 400, vaspd.CodeInvalidInput},
		"name on two lines": {invitations.CreateInput{InviterUMA: "$alice", FirstName: "a\nb"}, 400, vaspd.CodeInvalidInput},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Create(ctx, c.in)
			wantCode(t, err, c.status, c.code)
		})
	}
	for _, code := range []string{"", "nope", "0123456789ab", "0123456789AB", "'; DROP TABLE invitations; --"} {
		_, err := s.Get(ctx, code)
		wantCode(t, err, 404, vaspd.CodeInvitationNotFound)
		_, err = s.Claim(ctx, code, "$bob@other.example")
		wantCode(t, err, 404, vaspd.CodeInvitationNotFound)
		_, err = s.Cancel(ctx, code)
		wantCode(t, err, 404, vaspd.CodeInvitationNotFound)
	}
}

// TestConcurrentClaims: of many platforms claiming one invitation at once,
// exactly one wins and exactly one webhook is announced.
func TestConcurrentClaims(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, c := setup(t, db)
		inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Claim(ctx, inv.Code, "$p"+string(rune('a'+i))+"@other.example")
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if vaspd.AsError(err).Code != vaspd.CodeInvitationAlreadyClaimed {
					t.Errorf("claim: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || c.count() != 1 {
			t.Fatalf("%d claims won, %d announced", wins, c.count())
		}
	})
}

// TestInvitationRefusesHostileInput: a firstName that is not printable
// UTF-8 on one line, or longer than MaxFirstName characters, and an
// amountToSend over ledger.MaxBalance are 400s on every database, never a
// 500; the limit counts characters, not bytes. A bidirectional embedding,
// override or isolate control ("alice\u202Egnp.exe" shows as
// "aliceexe.png" to the invitee) is refused as in a user's name; the marks
// a name written right to left needs are not.
func TestInvitationRefusesHostileInput(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, _ := setup(t, db)
		for _, name := range []string{"a\x00b", "a\tb", "a\x1bb", "a\x7fb", "a\u0085b", "a\xffb", "\xc3(", strings.Repeat("é", invitations.MaxFirstName+1),
			"alice\u202egnp.exe", "a\u202ab", "a\u2066b", "a\u2069"} {
			_, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", FirstName: name})
			wantCode(t, err, 400, vaspd.CodeInvalidInput)
		}
		long := strings.Repeat("é", invitations.MaxFirstName) // 200 bytes
		if inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", FirstName: long}); err != nil || inv.FirstName != long {
			t.Fatalf("a %d-character name: %v", invitations.MaxFirstName, err)
		}
		rtl := "\u05d3\u05d5\u05d3 \u200f(\u05db\u05d4\u05df)\u200e"
		if inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", FirstName: rtl}); err != nil || inv.FirstName != rtl {
			t.Fatalf("a name written right to left with its marks: %v", err)
		}
		// Invisible format characters, as in a user's name: "Bob\u200b"
		// was accepted, and showed as "Bob". The joiners Persian, Indic
		// scripts and emoji need between two characters are kept.
		for _, name := range []string{"Bob\u200b", "B\u2060ob", "\ufeffBob", "B\u00adob", "\u200dBob", "Bob\u200c", "\u200e"} {
			_, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", FirstName: name})
			wantCode(t, err, 400, vaspd.CodeInvalidInput)
			if !strings.Contains(err.Error(), "firstName") {
				t.Errorf("%+q: %v, which does not name the field", name, err)
			}
		}
		for _, name := range []string{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "\U0001f468\u200d\U0001f469"} {
			if inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", FirstName: name}); err != nil || inv.FirstName != name {
				t.Fatalf("name %+q: %v", name, err)
			}
		}
		over, max := int64(ledger.MaxBalance+1), int64(ledger.MaxBalance)
		_, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", AmountToSend: &over})
		wantCode(t, err, 400, vaspd.CodeInvalidAmount)
		if inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", AmountToSend: &max}); err != nil || inv.Amount != max {
			t.Fatalf("amountToSend %d: %v", max, err)
		}
	})
}

// TestNewRefusesABaseURLLinksCannotBeBuiltOn: an invitation's link is
// BaseURL/i/CODE, so New refuses a BaseURL that is not an absolute http(s)
// URL with a host and at most a path, without echoing it; an empty one is
// the domain's (uma.BaseURL), and a trailing slash is dropped.
func TestNewRefusesABaseURLLinksCannotBeBuiltOn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ base, want string }{
		{"vasp.example", "absolute http or https URL"},
		{"/pay", "absolute http or https URL"},
		{"ftp://vasp.example", "absolute http or https URL"},
		{"https:vasp.example", "absolute http or https URL"},
		{"https://", "no host"},
		{"https://:443/pay", "no host"},
		{"https://vasp.example/pay?ref=s3cret", "query"},
		{"https://vasp.example/?", "query"},
		{"https://vasp.example/pay#s3cret", "fragment"},
		{"https://user:s3cret@vasp.example", "user name or password"},
	} {
		_, err := invitations.New(nil, nil, invitations.Options{Domain: "vasp.example", BaseURL: c.base})
		if err == nil || !strings.Contains(err.Error(), "BaseURL") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err = %v, want one naming BaseURL and %q", c.base, err, c.want)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: err = %v echoes the URL", c.base, err)
		}
	}
	for _, c := range []struct{ domain, base, want string }{
		{"vasp.example", "https://vasp.example", "https://vasp.example/i/0123456789ab"},
		{"vasp.example", "https://pay.example:8443/uma/", "https://pay.example:8443/uma/i/0123456789ab"},
		{"Vasp.Example", "", "https://vasp.example/i/0123456789ab"},
		{"localhost:8080", "", "http://localhost:8080/i/0123456789ab"},
	} {
		s, err := invitations.New(nil, nil, invitations.Options{Domain: c.domain, BaseURL: c.base})
		if err != nil {
			t.Errorf("%q %q: %v", c.domain, c.base, err)
			continue
		}
		if got := s.Render(ctx, invitations.Invitation{Code: "0123456789ab", InviterLocal: "alice"}).URL; got != c.want {
			t.Errorf("%q %q: url %q, want %q", c.domain, c.base, got, c.want)
		}
	}
}

// TestCreateRetryAfterExpiry: a retry under an Idempotency-Key answers the
// first invitation even once the expiry it asked for has passed (the
// request was valid when first made); without the key it would be refused.
func TestCreateRetryAfterExpiry(t *testing.T) {
	t.Parallel()
	s, clock, _ := setup(t, storetest.SQLite(t))
	exp := t0.Add(time.Minute)
	in := invitations.CreateInput{InviterUMA: "$alice", ExpiresAt: &exp, IdempotencyKey: "k"}
	first, err := s.Create(ctx, in)
	if err != nil || first.Replayed {
		t.Fatalf("create: %+v %v", first, err)
	}
	clock.Set(exp.Add(time.Second))
	again, err := s.Create(ctx, in)
	if err != nil || !again.Replayed || again.Code != first.Code {
		t.Fatalf("retry: %+v %v, want %s replayed", again, err, first.Code)
	}
	in.IdempotencyKey = "other"
	_, err = s.Create(ctx, in)
	wantCode(t, err, 400, vaspd.CodeInvalidInput)
}

// TestCreateRacesCommit: a Create whose key another Create, still
// uncommitted, has just taken answers that one's invitation once it
// commits. (On PostgreSQL its INSERT waits on the other's, then fails on
// the key's unique index, and it must try again, not fail; on SQLite the
// writes are serial.) The goroutine is given time to get that far; were it
// slower, it would find the invitation committed, and still answer it.
func TestCreateRacesCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, _ := setup(t, db)
		type result struct {
			inv invitations.Invitation
			err error
		}
		done := make(chan result, 1)
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO invitations (code, inviter_user_id, inviter_local, first_name,
				amount, currency, status, created_at, updated_at, idempotency_key)
				SELECT '0123456789ab', id, uma_local, 'Bob', 0, '', 'PENDING', 1, 1, 'k' FROM users WHERE uma_local = 'alice'`); err != nil {
				return err
			}
			go func() {
				inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", FirstName: "Bob", IdempotencyKey: "k"})
				done <- result{inv, err}
			}()
			time.Sleep(300 * time.Millisecond)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil || !r.inv.Replayed || r.inv.Code != "0123456789ab" {
			t.Fatalf("create: %+v %v, want 0123456789ab replayed", r.inv, r.err)
		}
	})
}

// TestClaimNamesTheInviterAsTheyAreNow: the INVITATION_CLAIMED webhook
// tells the platform whom to pay from by inviterUma, so it must name the
// user who invited, as they are addressed now: not whoever holds the
// address the inviter had when inviting (after a PATCH freed it), and an
// invitation of a deleted inviter (whose address another user may have
// taken) reads as CANCELLED and cannot be claimed. The inviter cannot
// claim under their new address either.
func TestClaimNamesTheInviterAsTheyAreNow(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, c := setup(t, db)
		u := users.New(db, nil)
		alice, err := u.GetByUMALocal(ctx, db, "alice")
		if err != nil {
			t.Fatal(err)
		}
		amount := int64(500)
		renamed, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", AmountToSend: &amount})
		if err != nil {
			t.Fatal(err)
		}
		deleted, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", AmountToSend: &amount})
		if err != nil {
			t.Fatal(err)
		}
		keyed, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", IdempotencyKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		// Alice becomes $alice2; Mallory takes $alice.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			_, err := u.Update(ctx, tx, alice.ID, users.Patch{UMALocal: ptr("alice2")})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		mallory, err := u.Create(ctx, db, users.User{PlatformUserID: "m1", UserType: users.Individual, UMALocal: "alice",
			PreferredCurrencies: []string{"USD"}})
		if err != nil {
			t.Fatal(err)
		}
		// A retry of a request made before the rename still answers it.
		if again, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice", IdempotencyKey: "k"}); err != nil ||
			!again.Replayed || again.Code != keyed.Code || again.InviterUserID != alice.ID {
			t.Fatalf("retry after the rename: %+v %v", again, err)
		}
		if g, err := s.Get(ctx, renamed.Code); err != nil || s.Render(ctx, g).InviterUma != "$alice2@vasp.example" {
			t.Fatalf("read after the inviter's rename: %+v %v", s.Render(ctx, g), err)
		}
		_, err = s.Claim(ctx, renamed.Code, "$alice2@vasp.example")
		wantCode(t, err, 400, vaspd.CodeInvalidInput)
		got, err := s.Claim(ctx, renamed.Code, "$bob@other.example")
		if err != nil {
			t.Fatal(err)
		}
		if w := s.Render(ctx, got); w.InviterUma != "$alice2@vasp.example" || c.count() != 1 || c.got[0].InviterUma != "$alice2@vasp.example" {
			t.Fatalf("claimed %+v, announced %+v: the inviter is $alice2", w, c.got)
		}

		// Alice is deleted: her pending invitation is cancelled with her.
		err = db.InTx(ctx, func(tx *store.Tx) error {
			_, err := u.Delete(ctx, tx, alice.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := s.Get(ctx, deleted.Code); err != nil || s.Render(ctx, g).Status != "CANCELLED" {
			t.Fatalf("read after the inviter's deletion: %+v %v", s.Render(ctx, g), err)
		}
		_, err = s.Claim(ctx, deleted.Code, "$carol@other.example")
		wantCode(t, err, 400, vaspd.CodeInvitationCancelled)
		if c.count() != 1 {
			t.Fatalf("%d announcements, want 1", c.count())
		}
		_, err = s.Cancel(ctx, deleted.Code)
		wantCode(t, err, 400, vaspd.CodeInvitationCancelled)
		// The claimed invitation stays claimed, and names Alice.
		if g, err := s.Get(ctx, renamed.Code); err != nil || s.Render(ctx, g).Status != "CLAIMED" || g.InviterUserID != alice.ID {
			t.Fatalf("claimed invitation after the deletion: %+v %v", g, err)
		}
		_ = mallory
	})
}

func ptr[T any](v T) *T { return &v }

// TestClaimByAnAddressOfThisVASP: an invitee on this VASP's own domain is
// one of its users, so the claim is checked against them: an address
// nobody holds, or a deleted user's (which a new user may take before the
// platform pays), is a 400 INVALID_UMA_ADDRESS and leaves the invitation
// pending for the real invitee; a live user's is claimed, however spelt.
func TestClaimByAnAddressOfThisVASP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, c := setup(t, db)
		u := users.New(db, nil)
		dave, err := u.Create(ctx, db, users.User{PlatformUserID: "d1", UserType: users.Individual, UMALocal: "dave",
			PreferredCurrencies: []string{"USD"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Create(ctx, db, users.User{PlatformUserID: "c1", UserType: users.Individual, UMALocal: "carol",
			PreferredCurrencies: []string{"USD"}}); err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx *store.Tx) error { _, err := u.Delete(ctx, tx, dave.ID); return err }); err != nil {
			t.Fatal(err)
		}
		inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
		if err != nil {
			t.Fatal(err)
		}
		for _, invitee := range []string{"$ghost@vasp.example", "$dave@vasp.example", "$Dave@VASP.example"} {
			_, err := s.Claim(ctx, inv.Code, invitee)
			wantCode(t, err, 400, vaspd.CodeInvalidUMAAddress)
		}
		if g, err := s.Get(ctx, inv.Code); err != nil || g.Status != invitations.Pending || c.count() != 0 {
			t.Fatalf("after refused claims: %+v %v, %d announced", g, err, c.count())
		}
		got, err := s.Claim(ctx, inv.Code, "$Carol@VASP.example")
		if err != nil || got.InviteeUMA != "$carol@vasp.example" || c.count() != 1 {
			t.Fatalf("claim by $carol: %+v %v, %d announced", got, err, c.count())
		}
	})
}

// TestClaimByAnotherSpellingOfThisVASP: "vasp.example." (a trailing dot,
// which UMA's domain rule accepts) and "vasp.example:443" (https's default
// port) name this VASP as "vasp.example" does, so a claim naming either
// is checked as one of ours: not the inviter's own, not an address no live
// user holds. A live user's is claimed, recorded on the domain as this
// VASP writes it (the platform pays that address).
func TestClaimByAnotherSpellingOfThisVASP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, c := setup(t, db)
		u := users.New(db, nil)
		if _, err := u.Create(ctx, db, users.User{PlatformUserID: "c1", UserType: users.Individual, UMALocal: "carol",
			PreferredCurrencies: []string{"USD"}}); err != nil {
			t.Fatal(err)
		}
		inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
		if err != nil {
			t.Fatal(err)
		}
		for invitee, code := range map[string]string{
			"$alice@vasp.example.": vaspd.CodeInvalidInput, "$alice@VASP.example:443": vaspd.CodeInvalidInput, // the inviter
			"$alice@vasp.example.:443": vaspd.CodeInvalidInput,
			"$ghost@vasp.example.":     vaspd.CodeInvalidUMAAddress, "$ghost@vasp.example:443": vaspd.CodeInvalidUMAAddress, // nobody
		} {
			_, err := s.Claim(ctx, inv.Code, invitee)
			if err == nil {
				t.Fatalf("claim by %s, not a live user of ours other than the inviter, accepted", invitee)
			}
			wantCode(t, err, 400, code)
		}
		if g, err := s.Get(ctx, inv.Code); err != nil || g.Status != invitations.Pending || c.count() != 0 {
			t.Fatalf("after refused claims: %+v %v, %d announced", g, err, c.count())
		}
		got, err := s.Claim(ctx, inv.Code, "$carol@vasp.example.:443")
		if err != nil || got.InviteeUMA != "$carol@vasp.example" || c.count() != 1 {
			t.Fatalf("claim by $carol@vasp.example.:443: %+v %v, %d announced", got, err, c.count())
		}
		// Its retry, however spelt, answers the claim.
		if again, err := s.Claim(ctx, inv.Code, "$carol@vasp.example."); err != nil || again.Status != invitations.Claimed || c.count() != 1 {
			t.Fatalf("retried claim: %+v %v, %d announced", again, err, c.count())
		}
	})
}

// TestClaimRetriedUnderAnotherSpelling: a retried claim answers the claim,
// and announces nothing, whichever spelling of the invitee's domain it
// uses ("other.example.", "other.example:443" name the server
// "other.example" does, as uma.NormalizeDomain has it): it was a 400
// INVITATION_ALREADY_CLAIMED naming the very invitee retrying. Another
// port, or another user, is still someone else.
func TestClaimRetriedUnderAnotherSpelling(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, c := setup(t, db)
		inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.Claim(ctx, inv.Code, "$bob@other.example:443")
		if err != nil || c.count() != 1 {
			t.Fatalf("claim: %+v %v, %d announced", first, err, c.count())
		}
		for _, again := range []string{"$bob@other.example", "$BOB@Other.Example.", "$bob@other.example.:443"} {
			got, err := s.Claim(ctx, inv.Code, again)
			if err != nil || got.Status != invitations.Claimed || got.InviteeUMA != first.InviteeUMA || c.count() != 1 {
				t.Fatalf("retried claim as %s: %+v %v, %d announced", again, got, err, c.count())
			}
		}
		for _, other := range []string{"$bob@other.example:8443", "$bobby@other.example", "$bob@another.example"} {
			_, err := s.Claim(ctx, inv.Code, other)
			wantCode(t, err, 400, vaspd.CodeInvitationAlreadyClaimed)
		}
	})
}

// TestClaimRecordsTheInviteeInNormalForm: an invitee at another VASP was
// recorded, answered and sent in INVITATION_CLAIMED as the caller spelt
// the domain ("other.example.:443"), not in the form UMA compares domains
// in (uma.NormalizeDomain), so the platform was told to pay an address
// spelt unlike the one every other message names. The claim, a read of it
// and the webhook now name "$bob@other.example"; a port other than
// https's default is part of the address and stays.
func TestClaimRecordsTheInviteeInNormalForm(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _, c := setup(t, db)
		for invitee, want := range map[string]string{
			"$Bob@Other.Example.:443": "$bob@other.example",
			"$bob@other.example.":     "$bob@other.example",
			"$bob@other.example:8443": "$bob@other.example:8443",
		} {
			inv, err := s.Create(ctx, invitations.CreateInput{InviterUMA: "$alice"})
			if err != nil {
				t.Fatal(err)
			}
			n := c.count()
			got, err := s.Claim(ctx, inv.Code, invitee)
			if err != nil || got.InviteeUMA != want || c.count() != n+1 {
				t.Fatalf("claim as %s: %+v %v, want %s", invitee, got, err, want)
			}
			if g, err := s.Get(ctx, inv.Code); err != nil || g.InviteeUMA != want {
				t.Fatalf("claimed as %s, read: %+v %v, want %s", invitee, g, err, want)
			}
			c.mu.Lock()
			sent := c.got[n].InviteeUma
			c.mu.Unlock()
			if sent != want {
				t.Fatalf("claimed as %s, INVITATION_CLAIMED names %q, want %s", invitee, sent, want)
			}
		}
	})
}
