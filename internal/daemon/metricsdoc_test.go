package daemon

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// registeredMetrics is every metric in reg, by name, with its label names
// (constant and variable), read from each description: a vector with no
// series yet is not gathered, but it is described.
func registeredMetrics(t *testing.T, reg *prometheus.Registry) map[string][]string {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	// Desc has no accessors; its String is
	// Desc{fqName: "…", help: "…", unit: "…", constLabels: {a="x",b="y"}, variableLabels: {c,d}}.
	name := regexp.MustCompile(`^Desc\{fqName: "([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	labels := regexp.MustCompile(`, constLabels: \{(.*)\}, variableLabels: \{([^}]*)\}\}$`)
	constName := regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="`)
	out := map[string][]string{}
	for d := range ch {
		s := d.String()
		n, l := name.FindStringSubmatch(s), labels.FindStringSubmatch(s)
		if n == nil || l == nil {
			t.Fatalf("cannot read the description %s (has client_golang's Desc.String changed?)", s)
		}
		var ls []string
		for _, m := range constName.FindAllStringSubmatch(l[1], -1) {
			ls = append(ls, m[1])
		}
		for _, v := range strings.Split(l[2], ",") {
			if v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"); v != "" {
				ls = append(ls, v)
			}
		}
		out[n[1]] = ls
	}
	return out
}

// TestMetricsDocumentedAndAlertable: every metric a daemon serves is in
// docs/metrics.md (the collectors' go_* and process_* by their prefix),
// every vaspd_* one named there is served, and the alerting
// rules in deploy/prometheus use only metrics vaspd serves, with labels
// they have (promtool's own tests of the rules, in
// scripts/ci/prometheus-rules.sh, feed them series written by hand: they
// cannot tell a misspelt metric).
func TestMetricsDocumentedAndAlertable(t *testing.T) {
	t.Parallel()
	r := start(t, Config{DataDir: filepath.Join(t.TempDir(), "data")})
	served := registeredMetrics(t, r.d.registry)

	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`vaspd_[a-z_]*[a-z]`)
	documented := map[string]bool{}
	for _, n := range ref.FindAllString(string(doc), -1) {
		documented[n] = true
	}
	var names []string
	for n := range served {
		names = append(names, n)
	}
	sort.Strings(names)
	// The others: the Go runtime's and the process's collectors, which
	// the page names as go_* and process_*, and any other by its name.
	others := regexp.MustCompile("`((?:go|process)_)\\*`|`([a-z][a-z0-9_]*[a-z0-9])(?:\\{[^}]*\\})?`")
	otherDocumented := map[string]bool{}
	var prefixes []string
	for _, m := range others.FindAllStringSubmatch(string(doc), -1) {
		if m[1] != "" {
			prefixes = append(prefixes, m[1])
		} else {
			otherDocumented[m[2]] = true
		}
	}
	if len(prefixes) != 2 {
		t.Fatalf("docs/metrics.md names the collectors' prefixes %q, want go_* and process_*", prefixes)
	}
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, "vaspd_"):
			if !documented[n] {
				t.Errorf("%s is served but not in docs/metrics.md", n)
			}
		case !otherDocumented[n] && !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(n, p) }):
			t.Errorf("%s is served but not in docs/metrics.md", n)
		}
	}
	for n := range documented {
		_, ok := served[n]
		if _, hist := served[histogramOf(n)]; !ok && !hist {
			t.Errorf("docs/metrics.md names %s, which vaspd does not serve", n)
		}
	}
	documentedLabels(t, string(doc), served)

	rules, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "vaspd-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// A selector: a metric name and its matchers, e.g.
	// vaspd_payments_ended_total{direction="OUTGOING",status="FAILED"}.
	sel := regexp.MustCompile(`(vaspd_[a-z_]*[a-z])(\{([^}]*)\})?`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	seen := 0
	for _, line := range strings.Split(string(rules), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range sel.FindAllStringSubmatch(line, -1) {
			seen++
			n := m[1]
			ls, ok := served[n]
			if !ok {
				if ls, ok = served[histogramOf(n)]; !ok {
					t.Errorf("deploy/prometheus/vaspd-alerts.yml uses %s, which vaspd does not serve", n)
					continue
				}
			}
			for _, l := range matcher.FindAllStringSubmatch(m[3], -1) {
				if !slices.Contains(ls, l[1]) {
					t.Errorf("deploy/prometheus/vaspd-alerts.yml selects %s by %q, a label it does not have (%v)", n, l[1], ls)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found %d metric selectors in the rules: is the file read right?", seen)
	}
	countersServedAtStart(t, r.d.registry, string(rules))
}

// countersServedAtStart: every counter a rule selects is served, from the
// start, with a series its matchers select. Prometheus's increase() and
// rate() see no rise in a series that first appears at 1 (a vector's
// series is born at its first Inc): an alert on increase(…) > 0 over a
// counter not served at 0 beforehand misses the first event of every
// process, often the only one. And a matcher's value that no series has
// (outcome="dead_lettered" for "dead") makes the alert never fire.
func countersServedAtStart(t *testing.T, reg *prometheus.Registry, rules string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counters := map[string][]map[string]string{}
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_COUNTER {
			continue
		}
		counters[mf.GetName()] = []map[string]string{}
		for _, m := range mf.GetMetric() {
			ls := map[string]string{}
			for _, l := range m.GetLabel() {
				ls[l.GetName()] = l.GetValue()
			}
			counters[mf.GetName()] = append(counters[mf.GetName()], ls)
		}
	}
	sel := regexp.MustCompile(`(vaspd_[a-z_]*[a-z])(\{([^}]*)\})?`)
	matcher := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	checked := 0
	for _, line := range strings.Split(rules, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range sel.FindAllStringSubmatch(line, -1) {
			series, counter := counters[m[1]]
			if !counter && strings.HasSuffix(m[1], "_total") {
				t.Errorf("deploy/prometheus/vaspd-alerts.yml uses the counter %s, which vaspd does not serve at start", m[1])
				continue
			}
			if !counter {
				continue
			}
			checked++
			ok := slices.ContainsFunc(series, func(ls map[string]string) bool {
				for _, mm := range matcher.FindAllStringSubmatch(m[3], -1) {
					v := ls[mm[1]]
					re := regexp.MustCompile("^(?:" + mm[3] + ")$")
					if match := map[string]bool{"=": v == mm[3], "!=": v != mm[3], "=~": re.MatchString(v), "!~": !re.MatchString(v)}[mm[2]]; !match {
						return false
					}
				}
				return true
			})
			if !ok {
				t.Errorf("deploy/prometheus/vaspd-alerts.yml selects %s, which no series vaspd serves at start matches (it serves %v): increase() misses the first event, or the selector matches nothing ever", m[0], series)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked %d counter selectors in the rules: is the file read right?", checked)
	}
}

// histogramOf is the histogram a _count, _sum or _bucket series belongs
// to, or "".
func histogramOf(series string) string {
	for _, s := range []string{"_count", "_sum", "_bucket"} {
		if h, ok := strings.CutSuffix(series, s); ok {
			return h
		}
	}
	return ""
}

// documentedLabels: the labels docs/metrics.md gives a metric are the ones
// it is served with. A metric is given its labels as `name{a,b}` (in a
// table row or in prose); a table row's `name` alone says it has none.
// Every served vaspd_* metric with labels is given them.
func documentedLabels(t *testing.T, doc string, served map[string][]string) {
	t.Helper()
	declared := map[string][]string{}
	declare := func(n, ls string) {
		var labels []string
		if ls != "" {
			labels = strings.Split(ls, ",")
		}
		slices.Sort(labels)
		if prev, ok := declared[n]; ok && !slices.Equal(prev, labels) {
			t.Errorf("docs/metrics.md gives %s the labels %v and %v", n, prev, labels)
		}
		declared[n] = labels
	}
	braces := regexp.MustCompile("`(vaspd_[a-z_]*[a-z])\\{([a-z_,]+)\\}`")
	row := regexp.MustCompile("^\\| `(vaspd_[a-z_]*[a-z])(?:\\{([a-z_,]+)\\})?` \\|")
	for _, line := range strings.Split(doc, "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			declare(m[1], m[2])
		}
		for _, m := range braces.FindAllStringSubmatch(line, -1) {
			declare(m[1], m[2])
		}
	}
	for n, ls := range served {
		if !strings.HasPrefix(n, "vaspd_") {
			continue
		}
		want := slices.Sorted(slices.Values(ls))
		got, ok := declared[n]
		switch {
		case !ok && len(want) > 0:
			t.Errorf("docs/metrics.md does not give %s its labels %v (as `%s{…}`)", n, want, n)
		case ok && !slices.Equal(got, want):
			t.Errorf("docs/metrics.md gives %s the labels %v; it is served with %v", n, got, want)
		}
	}
	if len(declared) < 10 {
		t.Fatalf("found %d metrics with their labels in docs/metrics.md: is it read right?", len(declared))
	}
}
