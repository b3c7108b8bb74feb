package store

import (
	"reflect"
	"testing"
	"time"
)

func TestWhere(t *testing.T) {
	var w Where
	if w.String() != "1 = 1" || len(w.Args()) != 0 || w.Next() != 1 {
		t.Fatalf("zero Where: %q %v %d", w.String(), w.Args(), w.Next())
	}
	w.Add("status = ?", "PENDING")
	w.Raw("deleted_at IS NULL")
	w.Add("created_at >= ?", int64(5))
	w.Add("(a = ? OR b = ?)", "x")
	w.Within("t", time.Time{}, time.UnixMicro(7))
	if got, want := w.String(), "status = $1 AND deleted_at IS NULL AND created_at >= $2 AND (a = $3 OR b = $3) AND t <= $4"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(w.Args(), []any{"PENDING", int64(5), "x", int64(7)}) || w.Next() != 5 {
		t.Fatalf("Args() = %v, Next() = %d", w.Args(), w.Next())
	}
}

func TestPlaceholders(t *testing.T) {
	for _, c := range []struct {
		from, n int
		want    string
	}{{1, 0, ""}, {1, 1, "$1"}, {4, 3, "$4, $5, $6"}} {
		if got := Placeholders(c.from, c.n); got != c.want {
			t.Errorf("Placeholders(%d, %d) = %q, want %q", c.from, c.n, got, c.want)
		}
	}
}
