package vasp_test

import (
	"testing"

	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/store/storetest"
)

// counter is the value of the counter name{label=value} in r's registry,
// and whether it is served.
func (r *refresher) counter(name, label, value string) (float64, bool) {
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// Executes refused are counted by their error code, served from the
// start at 0: a refusal makes no payment, so vaspd_payments_ended_total
// never saw them (a rise of QUOTE_EXPIRED or INSUFFICIENT_BALANCE went
// unseen but in the platform's own logs). An execute that pays counts
// nothing here, and a code of no refusal listed counts as OTHER.
func TestExecuteRefusalsCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRefresher(t, db, nil)
		const name = "vaspd_quote_executes_refused_total"
		for _, code := range []string{"QUOTE_EXPIRED", "INSUFFICIENT_BALANCE", "QUOTE_ALREADY_EXECUTED", "OTHER"} {
			if v, ok := r.counter(name, "code", code); !ok || v != 0 {
				t.Fatalf("%s{code=%q} = %v, served %v; want 0, served", name, code, v, ok)
			}
		}
		q := r.plainQuote(t)
		if _, err := r.s.ExecuteQuote(t.Context(), q.ID, ""); err == nil {
			t.Fatal("an execute beyond the balance paid")
		}
		r.fund(t, 100_000)
		if _, err := r.s.ExecuteQuote(t.Context(), q.ID, ""); err != nil {
			t.Fatal(err)
		}
		expired := r.plainQuote(t)
		r.w.clock.Set(expired.ExpiresAt)
		for range 2 {
			if _, err := r.s.ExecuteQuote(t.Context(), expired.ID, ""); err == nil {
				t.Fatal("an expired quote paid")
			}
		}
		for code, want := range map[string]float64{"INSUFFICIENT_BALANCE": 1, "QUOTE_EXPIRED": 2, "QUOTE_ALREADY_EXECUTED": 0, "OTHER": 0} {
			if v, _ := r.counter(name, "code", code); v != want {
				t.Errorf("%s{code=%q} = %v, want %v", name, code, v, want)
			}
		}
	})
}
