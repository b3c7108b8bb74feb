package delivery

import (
	"strconv"
	"strings"

	"github.com/vaspd/vaspd/store"
)

// params writes the placeholders of a statement in the order of its
// arguments. On SQLite they are plain "?": binding numbered ones ("?N", what
// store's rebinding makes of "$N") costs SQLite a linear search per
// parameter, quadratic in the multi-row statements here. So every
// placeholder written with it must appear once, in argument order.
type params struct {
	pg bool
	n  int
}

func newParams(d store.Driver) *params { return &params{pg: d.Name() == "postgres"} }

// next returns the next placeholder.
func (p *params) next() string {
	p.n++
	if p.pg {
		return "$" + strconv.Itoa(p.n)
	}
	return "?"
}

// list returns k placeholders separated by commas.
func (p *params) list(k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.next())
	}
	return b.String()
}

// sqliteRowsPerStatement bounds the rows of one multi-row statement on
// SQLite, and statementRows makes every such statement's row count a power
// of two up to it: a batch of any size is then a few statements of at most
// six shapes, each under the store's maxCachedQuery (2 KiB), so SQLite
// compiles each shape once per connection and reuses it (store/stmtcache.go)
// instead of parsing a new text of up to a hundred rows for every batch —
// 5–6 % of the process's CPU in the throughput benchmark
// (docs/webhook-engine-benchmarks.md, round 9b). The extra statements cost
// a fraction of a parse each. PostgreSQL keeps one statement per batch (a
// statement is a round trip there), up to its own limit pgMax.
const sqliteRowsPerStatement = 32

// statementRows returns how many of n remaining rows the next statement
// writes.
func statementRows(d store.Driver, n, pgMax int) int {
	if d.Name() == "postgres" {
		return min(n, pgMax)
	}
	k := 1
	for k*2 <= min(n, sqliteRowsPerStatement) {
		k *= 2
	}
	return k
}
