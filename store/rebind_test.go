package store

import "testing"

func TestRebindNumbered(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`:                              `SELECT 1`,
		`WHERE a = $1 AND b = $12`:              `WHERE a = ?1 AND b = ?12`,
		`SELECT '$1', "$2" FROM t WHERE x = $3`: `SELECT '$1', "$2" FROM t WHERE x = ?3`,
		`SELECT $`:                              `SELECT $`,
		`SELECT 'it''s $1' || $1`:               `SELECT 'it''s $1' || ?1`,
	} {
		if got := RebindNumbered(in); got != want {
			t.Errorf("RebindNumbered(%q) = %q, want %q", in, got, want)
		}
	}
}
