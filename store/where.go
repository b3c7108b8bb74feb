package store

import (
	"strconv"
	"strings"
	"time"
)

// Placeholders returns "$from, $from+1, …", n of them: the list of an
// IN (…) whose values are arguments from..from+n-1.
func Placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

// Where builds the WHERE clause of a filtered list query, so that every
// list endpoint numbers its placeholders the same way. Each condition is
// written with "?" for its value; String numbers them $1, $2, … in
// order (the SQLite driver rewrites those to its own form). The zero value
// is an empty filter.
type Where struct {
	conds []string
	args  []any
}

// Add appends cond and its value. Every "?" in cond stands for v (one
// placeholder, so a condition may compare v with several columns: "a = ?
// OR b = ?" lets each side use its own index where "? IN (a, b)" cannot).
func (w *Where) Add(cond string, v any) {
	w.args = append(w.args, v)
	w.conds = append(w.conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(w.args))))
}

// Within appends column >= from and column <= to (a time column in
// microseconds, both bounds inclusive, as UMAaaS's createdAfter/Before and
// startDate/endDate), each only when set.
func (w *Where) Within(column string, from, to time.Time) {
	if !from.IsZero() {
		w.Add(column+" >= ?", Micros(from))
	}
	if !to.IsZero() {
		w.Add(column+" <= ?", Micros(to))
	}
}

// Raw appends a condition without a value.
func (w *Where) Raw(cond string) { w.conds = append(w.conds, cond) }

// String is the conditions joined with AND, or "1 = 1" when there are none.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return "1 = 1"
	}
	return strings.Join(w.conds, " AND ")
}

// Args are the values, in placeholder order.
func (w *Where) Args() []any { return w.args }

// Next is the number of the next placeholder, for clauses appended after
// the WHERE (LIMIT $n).
func (w *Where) Next() int { return len(w.args) + 1 }
