package vasp_test

import (
	"net/url"
	"testing"

	"github.com/vaspd/vaspd/rates"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// An lnurlp answer's minSendable and maxSendable (msats, LUD-06) are what
// a payreq of the payee may carry: a wallet paying a Lightning Address
// offers its user that range, and an amount inside it that the payreq then
// refuses (1 sat, which credits no euro cent) is a payment the wallet
// said would go. So they are the msats that credit the payee at least the
// currency's min and at most its max at today's rate, within the
// configured bounds: the payee's default currency for a plain payer (its
// payment is credited in it), every currency offered for an UMA sender.
func TestLnurlpSendableRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		cfg := rates.DefaultConfig()
		for i := range cfg.Currencies {
			switch cfg.Currencies[i].Code {
			case "EUR":
				cfg.Currencies[i].Min, cfg.Currencies[i].Max = 5, 100_000 // €0.05 to €1 000
			case "GBP":
				cfg.Currencies[i].Min, cfg.Currencies[i].Max = 1, 200_000
			}
		}
		p, err := rates.NewConfigProvider(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.bob.Currencies = []string{"EUR", "GBP"}
		w.users[w.bob.UserID] = w.bob
		s := w.service(t, func(o *vasp.Options) { o.Rates = p })
		rate := func(code string) rates.Rate {
			r, err := p.Rate(t.Context(), code)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		msats := func(code string, units int64) int64 {
			c, err := rate(code).ReceiveForAmount(units)
			if err != nil {
				t.Fatal(err)
			}
			return c.Msats
		}
		// The least that credits €0.05; the most that credits at most
		// €1 000 is one msat short of what credits €1 000.01.
		lo, hi := msats("EUR", 5), msats("EUR", 100_001)-1

		plain, err := s.Lnurlp(t.Context(), lnurlpPlainURL(t, "bob"), "bob")
		if err != nil {
			t.Fatal(err)
		}
		if plain.MinSendable != lo || plain.MaxSendable != hi {
			t.Fatalf("plain lnurlp: [%d, %d] msats, want [%d, %d]", plain.MinSendable, plain.MaxSendable, lo, hi)
		}
		wantPayable(t, lo, hi, "msats", func(amount int64) error {
			_, err := s.PayRequest(t.Context(), "bob", &uma.PayRequest{Amount: amount})
			return err
		})

		// An UMA sender may have either currency credited: the range is
		// the union, GBP's min being the lower and its max the higher.
		sender := w.counterparty(t, "vasp1.example")
		resp, err := s.Lnurlp(t.Context(), lnurlpURL(t, sender.Signing, "bob", "vasp1.example", w.clock.Now()), "bob")
		if err != nil {
			t.Fatal(err)
		}
		ulo, uhi := min(lo, msats("GBP", 1)), max(hi, msats("GBP", 200_001)-1)
		if resp.MinSendable != ulo || resp.MaxSendable != uhi {
			t.Fatalf("UMA lnurlp: [%d, %d] msats, want [%d, %d]", resp.MinSendable, resp.MaxSendable, ulo, uhi)
		}
	})
}

// Within the configured bounds: a currency whose range reaches past them
// is advertised up to them only (the payreq refuses the rest). At the
// bottom, the currency's min becomes the fewest cents costing at least
// the configured min (5: 4 cost 43 696 msats), and minSendable what they
// cost.
func TestLnurlpSendableConfiguredBounds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.MinSendableMsats, o.MaxSendableMsats = 50_000, 2_000_000 })
		eur := defaultRate(t, "EUR")
		five, err := eur.ReceiveForAmount(5)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Lnurlp(t.Context(), lnurlpPlainURL(t, "bob"), "bob")
		if err != nil {
			t.Fatal(err)
		}
		if resp.MinSendable != five.Msats || resp.MaxSendable != 2_000_000 {
			t.Fatalf("plain lnurlp: [%d, %d] msats, want [%d (5 cents), 2000000]", resp.MinSendable, resp.MaxSendable, five.Msats)
		}
	})
}

// lnurlpPlainURL is the URL a Lightning Address wallet GETs for $local:
// no UMA parameters.
func lnurlpPlainURL(t *testing.T, local string) *url.URL {
	t.Helper()
	return &url.URL{Scheme: "https", Host: ourDomain, Path: "/.well-known/lnurlp/" + local}
}

// A currency's convertible range is narrowed to the amounts whose msats
// are within the configured bounds: the rates file's €1M max costs more
// than the 10 BTC a payreq may carry, so an UMA sender shown €1M as the
// max would be refused the top of it.
func TestLnurlpConvertibleWithinSendable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		s := w.service(t, func(o *vasp.Options) { o.MinSendableMsats = 50_000 })
		eur := defaultRate(t, "EUR")
		resp, err := s.Lnurlp(t.Context(), lnurlpPlainURL(t, "bob"), "bob")
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Currencies[0]
		if c.Code != "EUR" {
			t.Fatalf("currencies %+v, want EUR first", resp.Currencies)
		}
		lo, hi := c.Convertible.Min, c.Convertible.Max
		if lo <= 1 || hi >= 100_000_000 {
			t.Fatalf("EUR range [%d, %d], want inside the rates file's [1, 100000000]", lo, hi)
		}
		cost := func(units int64) int64 {
			conv, err := eur.ReceiveForAmount(units)
			if err != nil {
				t.Fatal(err)
			}
			return conv.Msats
		}
		// Exactly the amounts within 50 000 msats .. 10 BTC.
		if cost(lo) < 50_000 || cost(lo-1) >= 50_000 || cost(hi) > 1_000_000_000_000 || cost(hi+1) <= 1_000_000_000_000 {
			t.Errorf("EUR range [%d, %d] costs %d..%d msats, the amounts outside it %d and %d", lo, hi, cost(lo), cost(hi), cost(lo-1), cost(hi+1))
		}
		wantPayable(t, lo, hi, "EUR cents", func(amount int64) error {
			_, err := s.PayRequest(t.Context(), "bob", &uma.PayRequest{Amount: amount, SendingCurrency: "EUR", ReceivingCurrency: "EUR"})
			return err
		})
	})
}

// wantPayable checks that pay, a payreq of an amount in unit, accepts the
// edges of the range [lo, hi] advertised and refuses the amounts just
// outside it, AMOUNT_OUT_OF_RANGE.
func wantPayable(t *testing.T, lo, hi int64, unit string, pay func(amount int64) error) {
	t.Helper()
	for _, a := range []int64{lo, hi} {
		if err := pay(a); err != nil {
			t.Errorf("payreq of %d %s, inside the range advertised: %v", a, unit, err)
		}
	}
	for _, a := range []int64{lo - 1, hi + 1} {
		err := pay(a)
		if e := uma.AsError(err); err == nil || e.Code != uma.CodeAmountOutOfRange {
			t.Errorf("payreq of %d %s, outside the range advertised: %v, want %s", a, unit, err, uma.CodeAmountOutOfRange)
		}
	}
}

// defaultRate is code's rate in the default rates file, which newWorld's
// services price with.
func defaultRate(t *testing.T, code string) rates.Rate {
	t.Helper()
	p, err := rates.NewConfigProvider(rates.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Rate(t.Context(), code)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
