// Package specschema checks JSON values against the schemas of the UMAaaS
// OpenAPI document (../shared/umaaas-api/openapi.yaml next to the
// repository), for tests: platforms generate clients from that file, so
// what vaspd answers and sends is checked against it, not against our
// reading of it.
//
// It supports the subset of OpenAPI 3.1 the file uses: $ref to
// components/schemas, type, required, properties, enum, items, allOf,
// oneOf/anyOf (with a discriminator when there is one), nullable, formats
// date-time/date/int64 (loosely), minimum, exclusiveMinimum, maximum,
// minLength, maxLength and pattern. Properties no schema names are not
// errors (the file never forbids them) but are reported apart, as they are
// the likely trace of a misspelt field.
package specschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Spec is a parsed OpenAPI document.
type Spec struct {
	root    map[string]any
	schemas map[string]any
}

// Result is what one check found: Errors break the schema; Extra lists
// properties (as JSON paths) that no schema of their object names.
type Result struct {
	Errors []string
	Extra  []string
}

// OK reports whether the value conforms.
func (r Result) OK() bool { return len(r.Errors) == 0 }

func (r Result) String() string {
	s := strings.Join(r.Errors, "\n")
	if len(r.Extra) > 0 {
		s += "\nnot in the schema: " + strings.Join(r.Extra, ", ")
	}
	return s
}

// Path is where the UMAaaS OpenAPI document sits, from any directory of the
// repository: ../shared/umaaas-api/openapi.yaml relative to its root.
func Path() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "umaaas-api", "openapi.yaml"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = up
	}
}

// Shared loads the document, or skips the test when it is absent (a fresh
// clone has no ../shared).
func Shared(t testing.TB) *Spec {
	t.Helper()
	s := IfShared(t)
	if s == nil {
		t.Skip("../shared/umaaas-api/openapi.yaml not present (fresh clone); nothing to check against")
	}
	return s
}

// IfShared loads the document, or returns nil when it is absent: for a
// test that checks more than conformance and must run without it.
func IfShared(t testing.TB) *Spec {
	t.Helper()
	p, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); os.IsNotExist(err) {
		return nil
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Load parses an OpenAPI document.
func Load(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	schemas, _ := dig(root, "components", "schemas").(map[string]any)
	if len(schemas) == 0 {
		return nil, fmt.Errorf("%s: no components/schemas", path)
	}
	return &Spec{root: root, schemas: schemas}, nil
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// Schema returns the named components/schemas entry, or nil.
func (s *Spec) Schema(name string) map[string]any {
	m, _ := s.schemas[name].(map[string]any)
	return m
}

// Enum returns the values of a schema's enum, or of its property prop when
// prop is not "" (e.g. Enum("Error404", "code")).
func (s *Spec) Enum(name, prop string) []string {
	sc := s.Schema(name)
	if prop != "" {
		sc, _ = dig(sc, "properties", prop).(map[string]any)
	}
	var out []string
	for _, v := range asList(sc["enum"]) {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// Operation is one operation of the document: its method (upper case),
// its path as the document writes it ("/users/{userId}") and its
// operationId.
type Operation struct{ Method, Path, ID string }

// Operations lists the document's operations, by path, then method.
func (s *Spec) Operations() []Operation {
	paths, _ := s.root["paths"].(map[string]any)
	var out []Operation
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue // a path item's parameters, summary, servers
			}
			id, _ := dig(op, "operationId").(string)
			out = append(out, Operation{Method: strings.ToUpper(method), Path: path, ID: id})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// QueryParams lists the query parameters of an operation (method upper
// or lower case, path as the document writes it), its path item's
// included, each named once, in the document's order; references to
// components/parameters are followed.
func (s *Spec) QueryParams(method, path string) []string {
	item := dig(s.root, "paths", path)
	var out []string
	seen := map[string]bool{}
	for _, list := range []any{dig(item, "parameters"), dig(item, strings.ToLower(method), "parameters")} {
		for _, p := range asList(list) {
			if ref, ok := dig(p, "$ref").(string); ok {
				p = dig(s.root, "components", "parameters", strings.TrimPrefix(ref, "#/components/parameters/"))
			}
			name, _ := dig(p, "name").(string)
			if in, _ := dig(p, "in").(string); in == "query" && name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	return out
}

// ResponseSchema is the JSON schema of an operation's answer with this
// status (path as the document writes it, e.g. "/users/{userId}"), or nil
// when the operation declares no such answer.
func (s *Spec) ResponseSchema(method, path string, status int) map[string]any {
	sc, _ := dig(s.root, "paths", path, strings.ToLower(method), "responses", strconv.Itoa(status),
		"content", "application/json", "schema").(map[string]any)
	return sc
}

// CheckResponse checks a platform-API answer against what the document
// declares for this operation and status. A status the operation does not
// declare is an error; an error body is then still checked against the
// Error<status> schema when there is one.
func (s *Spec) CheckResponse(method, path string, status int, body []byte) Result {
	sc := s.ResponseSchema(method, path, status)
	if sc == nil {
		r := Result{Errors: []string{fmt.Sprintf("%s %s declares no %d answer", method, path, status)}}
		if e := s.Schema(fmt.Sprintf("Error%d", status)); e != nil {
			c := s.CheckJSON(e, body)
			r.Errors = append(r.Errors, c.Errors...)
			r.Extra = c.Extra
		}
		return r
	}
	return s.CheckJSON(sc, body)
}

// CheckWebhook checks a webhook body against the schema BaseWebhook's
// discriminator names for its type.
func (s *Spec) CheckWebhook(body []byte) Result {
	return s.CheckJSON(s.Schema("BaseWebhook"), body)
}

// CheckNamed checks body against a components/schemas entry.
func (s *Spec) CheckNamed(name string, body []byte) Result {
	sc := s.Schema(name)
	if sc == nil {
		return Result{Errors: []string{"no schema " + name}}
	}
	return s.CheckJSON(sc, body)
}

// CheckJSON checks a JSON document against a schema of this document.
func (s *Spec) CheckJSON(schema map[string]any, body []byte) Result {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return Result{Errors: []string{"not JSON: " + err.Error()}}
	}
	c := &checker{spec: s}
	c.check(schema, v, "$", false)
	sort.Strings(c.res.Extra)
	return c.res
}

type checker struct {
	spec  *Spec
	res   Result
	depth int
}

func (c *checker) errf(path, format string, args ...any) {
	c.res.Errors = append(c.res.Errors, path+": "+fmt.Sprintf(format, args...))
}

// resolve follows $ref to components/schemas.
func (c *checker) resolve(sc map[string]any) (map[string]any, string) {
	name := ""
	for i := 0; i < 16; i++ {
		ref, ok := sc["$ref"].(string)
		if !ok {
			return sc, name
		}
		name = strings.TrimPrefix(ref, "#/components/schemas/")
		next := c.spec.Schema(name)
		if next == nil {
			return map[string]any{"x-unresolved": ref}, name
		}
		sc = next
	}
	return sc, name
}

// check validates v against sc at path. inAllOf is set for the members of
// an allOf: a discriminator there (the base of its own subtypes) does not
// dispatch again, which would loop.
func (c *checker) check(sc map[string]any, v any, path string, inAllOf bool) {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 64 {
		c.errf(path, "schema nests too deep")
		return
	}
	sc, name := c.resolve(sc)
	if ref, ok := sc["x-unresolved"]; ok {
		c.errf(path, "unresolved $ref %v", ref)
		return
	}
	if v == nil {
		if sc["nullable"] == true || typeAllows(sc["type"], "null") {
			return
		}
		c.errf(path, "null where the schema wants a value")
		return
	}
	// A discriminator picks the schema; the chosen one includes this one
	// (allOf), so it is checked once, there.
	if disc, ok := sc["discriminator"].(map[string]any); ok && !inAllOf {
		if target, ok := c.pick(disc, v, path); ok {
			if _, tname := c.resolve(map[string]any{"$ref": target}); tname != name || sc["oneOf"] != nil || sc["anyOf"] != nil {
				c.check(map[string]any{"$ref": target}, v, path, false)
				return
			}
		} else {
			return
		}
	}
	if branches := asList(sc["oneOf"]); branches != nil {
		c.alternatives(branches, v, path, true)
	}
	if branches := asList(sc["anyOf"]); branches != nil {
		c.alternatives(branches, v, path, false)
	}
	for _, sub := range asList(sc["allOf"]) {
		if m, ok := sub.(map[string]any); ok {
			c.check(m, v, path, true)
		}
	}
	c.checkType(sc, v, path)
	c.checkEnum(sc, v, path)
	if obj, ok := v.(map[string]any); ok {
		c.checkObject(sc, obj, path, inAllOf)
	}
	if arr, ok := v.([]any); ok {
		if items, ok := sc["items"].(map[string]any); ok {
			for i, e := range arr {
				c.check(items, e, fmt.Sprintf("%s[%d]", path, i), false)
			}
		}
	}
}

// pick returns the $ref the discriminator maps the value's property to.
func (c *checker) pick(disc map[string]any, v any, path string) (string, bool) {
	prop, _ := disc["propertyName"].(string)
	obj, ok := v.(map[string]any)
	if !ok {
		c.errf(path, "want an object (discriminated by %s)", prop)
		return "", false
	}
	val, ok := obj[prop].(string)
	if !ok {
		c.errf(path, "discriminator %s missing or not a string", prop)
		return "", false
	}
	mapping, _ := disc["mapping"].(map[string]any)
	target, ok := mapping[val].(string)
	if !ok {
		keys := make([]string, 0, len(mapping))
		for k := range mapping {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		c.errf(path+"."+prop, "%q is none of %v", val, keys)
		return "", false
	}
	return target, true
}

// alternatives checks oneOf (exactly one branch) or anyOf (at least one).
func (c *checker) alternatives(branches []any, v any, path string, one bool) {
	var matched int
	var firstErrs []string
	var extra []string
	for _, b := range branches {
		m, ok := b.(map[string]any)
		if !ok {
			continue
		}
		sub := &checker{spec: c.spec, depth: c.depth}
		sub.check(m, v, path, false)
		if sub.res.OK() {
			matched++
			if extra == nil {
				extra = sub.res.Extra
			}
		} else if firstErrs == nil {
			firstErrs = sub.res.Errors
		}
	}
	switch {
	case matched == 0:
		c.errf(path, "matches none of %d alternatives; the first says: %s", len(branches), strings.Join(firstErrs, "; "))
	case one && matched > 1:
		c.errf(path, "matches %d of the oneOf alternatives, want exactly one", matched)
	default:
		c.res.Extra = append(c.res.Extra, extra...)
	}
}

func typeAllows(t any, want string) bool {
	for _, x := range asList(t) {
		if x == want {
			return true
		}
	}
	return t == want
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func (c *checker) checkType(sc map[string]any, v any, path string) {
	t := sc["type"]
	if t == nil {
		return
	}
	got := jsonType(v)
	if typeAllows(t, got) || got == "integer" && typeAllows(t, "number") {
		c.checkFormat(sc, v, path)
		c.checkBounds(sc, v, path)
		return
	}
	c.errf(path, "%s where the schema wants %v", got, t)
}

func jsonType(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

var datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func (c *checker) checkFormat(sc map[string]any, v any, path string) {
	s, isStr := v.(string)
	switch sc["format"] {
	case "date-time":
		if _, err := time.Parse(time.RFC3339Nano, s); isStr && err != nil {
			c.errf(path, "%q is not an RFC 3339 date-time", s)
		}
	case "date":
		if isStr && !datePattern.MatchString(s) {
			c.errf(path, "%q is not a YYYY-MM-DD date", s)
		}
	case "int64":
		if n, ok := v.(json.Number); ok {
			if _, err := n.Int64(); err != nil {
				c.errf(path, "%s is not an int64", n)
			}
		}
	}
	if p, ok := sc["pattern"].(string); ok && isStr {
		if re, err := regexp.Compile(p); err == nil && !re.MatchString(s) {
			c.errf(path, "%q does not match %s", s, p)
		}
	}
	if isStr {
		n := len([]rune(s))
		if min, ok := num(sc["minLength"]); ok && big.NewFloat(float64(n)).Cmp(min) < 0 {
			c.errf(path, "%q is shorter than %v", s, sc["minLength"])
		}
		if max, ok := num(sc["maxLength"]); ok && big.NewFloat(float64(n)).Cmp(max) > 0 {
			c.errf(path, "%q is longer than %v", s, sc["maxLength"])
		}
	}
}

func num(v any) (*big.Float, bool) {
	switch x := v.(type) {
	case int:
		return big.NewFloat(float64(x)), true
	case float64:
		return big.NewFloat(x), true
	case json.Number:
		f, _, err := big.ParseFloat(string(x), 10, 128, big.ToNearestEven)
		return f, err == nil
	}
	return nil, false
}

func (c *checker) checkBounds(sc map[string]any, v any, path string) {
	n, ok := num(v)
	if !ok {
		return
	}
	if min, ok := num(sc["minimum"]); ok && n.Cmp(min) < 0 {
		c.errf(path, "%v is below the minimum %v", v, sc["minimum"])
	}
	if min, ok := num(sc["exclusiveMinimum"]); ok && n.Cmp(min) <= 0 {
		c.errf(path, "%v is not above %v", v, sc["exclusiveMinimum"])
	}
	if max, ok := num(sc["maximum"]); ok && n.Cmp(max) > 0 {
		c.errf(path, "%v is above the maximum %v", v, sc["maximum"])
	}
}

func (c *checker) checkEnum(sc map[string]any, v any, path string) {
	enum := asList(sc["enum"])
	if enum == nil {
		return
	}
	for _, e := range enum {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return
		}
	}
	c.errf(path, "%v is not one of %v", v, enum)
}

func (c *checker) checkObject(sc map[string]any, obj map[string]any, path string, inAllOf bool) {
	for _, r := range asList(sc["required"]) {
		if _, ok := obj[fmt.Sprint(r)]; !ok {
			c.errf(path, "required property %q missing", r)
		}
	}
	props, _ := sc["properties"].(map[string]any)
	for k, p := range props {
		if pv, ok := obj[k]; ok {
			if m, ok := p.(map[string]any); ok {
				c.check(m, pv, path+"."+k, false)
			}
		}
	}
	// Names no schema of this object declares, looked for once per object:
	// at the outermost schema, which sees every allOf member.
	if inAllOf || sc["additionalProperties"] != nil {
		return
	}
	known := map[string]bool{}
	if !c.known(sc, known, 0) {
		return
	}
	for k := range obj {
		if !known[k] {
			c.res.Extra = append(c.res.Extra, path+"."+k)
		}
	}
}

// known adds the properties sc and its allOf members declare; false when
// some member leaves the object open (additionalProperties) or has no
// properties at all (then nothing can be called extra).
func (c *checker) known(sc map[string]any, into map[string]bool, depth int) bool {
	sc, _ = c.resolve(sc)
	if depth > 16 || sc["additionalProperties"] != nil {
		return false
	}
	props, _ := sc["properties"].(map[string]any)
	for k := range props {
		into[k] = true
	}
	all := asList(sc["allOf"])
	for _, sub := range all {
		m, ok := sub.(map[string]any)
		if !ok || !c.known(m, into, depth+1) {
			return false
		}
	}
	return props != nil || all != nil
}
