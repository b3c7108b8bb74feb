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
