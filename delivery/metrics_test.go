package delivery

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"go/types"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/store/storetest"
)

// TestOutcomesServedAtZero: every outcome of vaspd_webhook_deliveries_total
// is served, at 0, before its first attempt. A series born at its first
// Inc reads 1 at its first scrape, and Prometheus's increase() sees no rise
// in it: VaspdWebhookDeadLettered (increase of outcome="dead" > 0) missed
// the first dead letter of every process, which is most often the only one.
func TestOutcomesServedAtZero(t *testing.T) {
	got := servedOutcomes(t)
	want := []string{StatusDead, StatusDelivered, "gone", "retry", "sync_delivered", "sync_failed"}
	if outcomes := slices.Sorted(maps.Keys(got)); !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes served before any attempt: %v, want %v", outcomes, want)
	}
	for o, v := range got {
		if v != 0 {
			t.Errorf("outcome %s = %v before any attempt", o, v)
		}
	}
}

// servedOutcomes returns vaspd_webhook_deliveries_total by outcome, as a
// new Service serves it.
func servedOutcomes(t *testing.T) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	newTestService(t, storetest.SQLite(t), vaspd.NewFakeClock(t0), func(o *Options) { o.Registerer = reg })
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() == "vaspd_webhook_deliveries_total" {
			for _, m := range f.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return got
}

// TestOutcomeLabelsAllServed: the outcomes counted are the ones served at 0
// from the start and documented, whatever is added. The outcomes were
// string literals, repeated where each was counted: a typo, or a new one
// not added to the list served at 0, made a series of its own, born at
// its first count (increase() misses it) and on no page. They are now
// constants of a type no string converts to, counted through outcomeLabels;
// this checks that every constant of that type is below numOutcomeLabels
// (declared in its block, before it: a constant after it, or elsewhere,
// would be counted nowhere), has a label of its own, is served at 0 and is
// in the metrics table of docs/webhook-delivery.md.
func TestOutcomeLabelsAllServed(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var block *ast.GenDecl
	var elsewhere []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			ours := false
			for _, sp := range g.Specs {
				for _, n := range sp.(*ast.ValueSpec).Names {
					ours = ours || n.Name == "numOutcomeLabels"
				}
			}
			if ours {
				block = g
				continue
			}
			for _, sp := range g.Specs {
				if id, ok := sp.(*ast.ValueSpec).Type.(*ast.Ident); ok && id.Name == "outcomeLabel" {
					elsewhere = append(elsewhere, fset.Position(sp.Pos()).String())
				}
			}
		}
	}
	if block == nil {
		t.Fatal("no const block declares numOutcomeLabels")
	}
	if len(elsewhere) > 0 {
		t.Errorf("outcomeLabel constants outside numOutcomeLabels's block, at %v: declare them in it, before it", elsewhere)
	}
	// The block alone, type-checked, tells each constant's value.
	var src bytes.Buffer
	src.WriteString("package p\n\ntype outcomeLabel uint8\n\n")
	if err := printer.Fprint(&src, fset, block); err != nil {
		t.Fatal(err)
	}
	bset := token.NewFileSet()
	pf, err := parser.ParseFile(bset, "block.go", src.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}}
	if _, err := (&types.Config{}).Check("p", bset, []*ast.File{pf}, info); err != nil {
		t.Fatalf("type-checking the outcomes' block: %v", err)
	}
	served := servedOutcomes(t)
	documented := documentedOutcomes(t)
	labels := map[string]string{}
	for id, obj := range info.Defs {
		c, ok := obj.(*types.Const)
		if !ok || c.Type().String() != "p.outcomeLabel" || id.Name == "numOutcomeLabels" || id.Name == "_" {
			continue
		}
		v, _ := constantUint(c)
		if v >= uint64(numOutcomeLabels) {
			t.Errorf("%s = %d, not below numOutcomeLabels (%d): counted nowhere; declare it before numOutcomeLabels", id.Name, v, numOutcomeLabels)
			continue
		}
		l := outcomeLabels[v]
		switch {
		case l == "":
			t.Errorf("%s has no label in outcomeLabels", id.Name)
		case labels[l] != "":
			t.Errorf("%s and %s share the label %q", id.Name, labels[l], l)
		case !documented[l]:
			t.Errorf("outcome %q (%s) is not in docs/webhook-delivery.md's metrics table", l, id.Name)
		}
		if v, ok := served[l]; !ok || v != 0 {
			t.Errorf("outcome %q (%s) served %v (%v) before any attempt, want 0", l, id.Name, v, ok)
		}
		labels[l] = id.Name
	}
	if len(labels) != int(numOutcomeLabels) {
		t.Errorf("%d outcome constants with labels, numOutcomeLabels is %d", len(labels), numOutcomeLabels)
	}
	for l := range documented {
		if labels[l] == "" {
			t.Errorf("docs/webhook-delivery.md lists outcome %q, which is never counted", l)
		}
	}
}

func constantUint(c *types.Const) (uint64, bool) {
	v, err := strconv.ParseUint(c.Val().ExactString(), 10, 64)
	return v, err == nil
}

// documentedOutcomes reads the outcomes the metrics table of
// docs/webhook-delivery.md lists for vaspd_webhook_deliveries_total.
func documentedOutcomes(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/webhook-delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "| `vaspd_webhook_deliveries_total{outcome}` | attempt outcomes: ")
		if !ok {
			continue
		}
		list, _, _ := strings.Cut(rest, " (")
		out := map[string]bool{}
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(list, -1) {
			out[m[1]] = true
		}
		return out
	}
	t.Fatal("docs/webhook-delivery.md has no row for vaspd_webhook_deliveries_total{outcome}")
	return nil
}
