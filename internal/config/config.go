// Package config loads vaspd's settings from, in order of precedence,
// command-line flags, VASPD_* environment variables, an optional YAML file,
// and built-in defaults. Every setting is declared once (Settings), which is
// what `vaspd serve --help` prints and what the README's table documents.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/vaspd/vaspd"
)

// Setting is one configurable value.
type Setting struct {
	Name    string // flag name and YAML key, e.g. "database-url"
	Default string
	Help    string
	Secret  bool // masked when printed
	// Redact, if set, is the part of a value that may be printed (Value):
	// RedactURL for a URL that may carry a password. "" means none of it.
	Redact func(string) string
	set    func(string) error
	get    func() string
	src    Source
}

// Env is the environment variable for the setting: VASPD_ + NAME in upper
// snake case.
func (s *Setting) Env() string {
	return "VASPD_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Masked is what Value shows of a value none of which may be printed.
const Masked = "****"

// Value returns the current value as text, safe to print: what Redact
// leaves of it when the setting has a Redact, else the value itself, but
// for a Secret, which is Masked (an empty one stays "", so that an unset
// secret shows as unset).
func (s *Setting) Value() string {
	v := s.get()
	switch {
	case v == "":
		return ""
	case s.Redact != nil:
		if r := s.Redact(v); r != "" {
			return r
		}
		return Masked
	case s.Secret:
		return Masked
	}
	return v
}

// Source is where the setting's value came from, as Parse found it: the
// zero Source (the default) before Parse.
func (s *Setting) Source() Source { return s.src }

// Set is a declared collection of settings bound to Go variables.
type Set struct {
	list []*Setting
	by   map[string]*Setting
}

func (c *Set) add(s *Setting) {
	if c.by == nil {
		c.by = map[string]*Setting{}
	}
	if _, dup := c.by[s.Name]; dup {
		panic("config: duplicate setting " + s.Name)
	}
	c.list = append(c.list, s)
	c.by[s.Name] = s
}

// String declares a string setting. White space around the value is no
// part of it (strings.TrimSpace), as for the other kinds: a variable
// filled from a file or a secret store often ends in a line end, which
// would make a path name another file (an SQLite database created empty)
// and a secret another secret.
func (c *Set) String(p *string, name, def, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Default: def, Help: help,
		set: func(v string) error { *p = strings.TrimSpace(v); return nil },
		get: func() string { return *p }}
	c.add(s)
	return s
}

// Int64 declares an integer setting.
func (c *Set) Int64(p *int64, name string, def int64, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Default: strconv.FormatInt(def, 10), Help: help,
		set: func(v string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("want an integer, got %s", QuoteValue(v))
			}
			*p = n
			return nil
		},
		get: func() string { return strconv.FormatInt(*p, 10) }}
	c.add(s)
	return s
}

// Int declares a small integer setting.
func (c *Set) Int(p *int, name string, def int, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Default: strconv.Itoa(def), Help: help,
		set: func(v string) error {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want an integer, got %s", QuoteValue(v))
			}
			*p = n
			return nil
		},
		get: func() string { return strconv.Itoa(*p) }}
	c.add(s)
	return s
}

// Duration declares a duration setting ("10s", "1h").
func (c *Set) Duration(p *time.Duration, name string, def time.Duration, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Default: def.String(), Help: help,
		set: func(v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d < 0 {
				return fmt.Errorf("want a duration such as 10s or 1h, got %s", QuoteValue(v))
			}
			*p = d
			return nil
		},
		get: func() string { return p.String() }}
	c.add(s)
	return s
}

// Float64 declares a fractional setting (a ratio). Only finite numbers
// are taken: strconv also parses "NaN" and "Inf", which no range check
// made with < and > refuses.
func (c *Set) Float64(p *float64, name string, def float64, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Default: strconv.FormatFloat(def, 'g', -1, 64), Help: help,
		set: func(v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("want a number such as 0.25, got %s", QuoteValue(v))
			}
			*p = f
			return nil
		},
		get: func() string { return strconv.FormatFloat(*p, 'g', -1, 64) }}
	c.add(s)
	return s
}

// Bool declares a boolean setting.
func (c *Set) Bool(p *bool, name string, def bool, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Default: strconv.FormatBool(def), Help: help,
		set: func(v string) error {
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("want true or false, got %s", QuoteValue(v))
			}
			*p = b
			return nil
		},
		get: func() string { return strconv.FormatBool(*p) }}
	c.add(s)
	return s
}

// QuoteValue is a bad value as its error quotes it: at most 80 bytes of
// it, Go-quoted (vaspd.Truncate of strconv.Quote). A value from the file
// may be a megabyte long. Every setting's error quotes a value with it.
func QuoteValue(v string) string { return vaspd.Truncate(strconv.Quote(v), 80) }

// Settings lists the declared settings in declaration order.
func (c *Set) Settings() []*Setting { return c.list }

// Lookup returns a setting by name.
func (c *Set) Lookup(name string) *Setting { return c.by[name] }

// Parse applies, for each setting, the first of: its flag, its environment
// variable, its key in the YAML file named by the "config" setting (if
// declared and non-empty), its default. Errors name the setting and where
// its bad value came from.
func (c *Set) Parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	// A flag's bad value is refused as the variable's and the file's are
	// (flagErr), never as the flag package words it, quoting the whole
	// value.
	var flagErr error
	for _, s := range c.list {
		s := s
		fs.Func(s.Name, s.Help+" (env "+s.Env()+", default "+quoteDefault(s.Default)+")", func(v string) error {
			if err := s.set(v); err != nil {
				flagErr = fmt.Errorf("setting %s from --%s: %v", s.Name, s.Name, err)
				return err
			}
			return nil
		})
	}
	if err := flagWithoutValue(fs, args); err != nil {
		return &UsageError{err}
	}
	// Of what the flag package prints for a bad value, its error (which
	// quotes the whole value) is dropped and the usage kept: the value's
	// error is flagErr, worded as a variable's or the file's.
	out := fs.Output()
	var held bytes.Buffer
	fs.SetOutput(&held)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if flagErr == nil {
		_, _ = held.WriteTo(out)
	} else if fs.Usage != nil {
		fs.Usage()
	}
	if err != nil {
		if flagErr != nil {
			return flagErr
		}
		if commandLineMistake(err) {
			return &UsageError{err}
		}
		return err
	}
	if fs.NArg() > 0 {
		return &UsageError{unexpectedArgument(fs.Arg(0))}
	}
	// Each setting's source is where its value came from, and what a
	// place lower in precedence may not override.
	for _, s := range c.list {
		s.src = Source{}
	}
	fs.Visit(func(f *flag.Flag) {
		if s := c.by[f.Name]; s != nil {
			s.src = Source{Kind: FromFlag, Name: "--" + f.Name}
		}
	})

	// Environment next, then file: the file's name may itself come from env.
	for _, s := range c.list {
		if s.src.Kind == FromFlag {
			continue
		}
		if v, ok := lookupEnv(getenv, s.Env()); ok {
			if err := s.set(v); err != nil {
				return fmt.Errorf("setting %s from %s: %v", s.Name, s.Env(), err)
			}
			s.src = Source{Kind: FromEnv, Name: s.Env()}
		}
	}
	if cfg := c.by["config"]; cfg != nil && cfg.get() != "" {
		values, err := readFile(cfg.get())
		if err != nil {
			return fmt.Errorf("setting config: %v", err)
		}
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := c.by[k]
			if s == nil || k == "config" {
				return fmt.Errorf("setting config: %s: unknown key %s", cfg.get(), QuoteValue(k))
			}
			if !s.src.IsDefault() || values[k] == nil {
				continue // given by a flag or the environment; a YAML null leaves the setting unset
			}
			if err := s.set(*values[k]); err != nil {
				return fmt.Errorf("setting %s from %s: %v", k, cfg.get(), err)
			}
			s.src = Source{Kind: FromFile, Name: cfg.get()}
		}
	}
	return nil
}

// UsageError is a mistake in the command line itself, not in a
// setting's value: an unknown flag, a flag without its value, bad flag
// syntax, an argument that is no flag. A command exits with code 2 for
// one (the usage after it), and 1 for a bad value, which is the same
// mistake whether a flag, a VASPD_* variable or the file gave it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// commandLineMistake reports whether err, from flag.FlagSet.Parse, is
// about the command line rather than a flag's value. The flag package
// has no error types; these are its messages (unchanged since Go 1), and
// a value's error is "invalid value …" or "invalid boolean value …".
func commandLineMistake(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined: ", "flag needs an argument: ", "bad flag syntax: "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// flagWithoutValue refuses a flag that takes a value given without one,
// the next argument being another of fs's flags (--listen
// --database-url=postgres://u:pw@…): the flag package would take that flag
// for the value, and then echo it, password and all, in its error or the
// setting's, or keep it without one (--domain --data-dir=/x runs with the
// default data directory). It looks at the arguments as fs.Parse does, up
// to the first that is not a flag or "--"; a value starting with "-" that
// names no flag is left to the setting to judge.
func flagWithoutValue(fs *flag.FlagSet, args []string) error {
	for i := 0; i < len(args); i++ {
		name, hasValue, ok := flagArg(args[i])
		if !ok {
			return nil
		}
		f := fs.Lookup(name)
		if hasValue || f == nil {
			continue // its value is in it, or fs.Parse reports the unknown flag
		}
		if b, isBool := f.Value.(interface{ IsBoolFlag() bool }); isBool && b.IsBoolFlag() {
			continue // --yes takes no value
		}
		if i+1 < len(args) {
			if next, _, ok := flagArg(args[i+1]); ok && fs.Lookup(next) != nil {
				return fmt.Errorf("flag --%s needs a value: the argument after it is the flag --%s", name, next)
			}
		}
		i++ // its value
	}
	return nil
}

// flagArg is the flag name in arg (-name, --name, -name=value or
// --name=value) and whether it carries its value, as the flag package reads
// it; ok is false for an argument that ends the flags: one not starting
// with "-", "-" itself, or "--".
func flagArg(arg string) (name string, hasValue, ok bool) {
	if len(arg) < 2 || arg[0] != '-' || arg == "--" {
		return "", false, false
	}
	name = strings.TrimPrefix(arg[1:], "-")
	name, _, hasValue = strings.Cut(name, "=")
	return name, hasValue, true
}

// unexpectedArgument refuses a stray argument, echoed as RedactURL shows
// it, or not at all: the likeliest one is a setting's value whose flag was
// forgotten, a database URL with its password (vaspd serve postgres://…).
func unexpectedArgument(arg string) error {
	if r := RedactURL(arg); r != "" {
		return fmt.Errorf("unexpected argument %q", r)
	}
	return errors.New("unexpected argument (not echoed: it may hold a password)")
}

// lookupEnv treats an empty variable as unset: orchestrators pass unset
// variables through as empty ones (VASPD_DATABASE_URL=${DB_URL}), and one
// such must not override the file's value (or the default) with "". So is
// one of only white space, which is empty once trimmed, as every value is.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv(name)
	return v, strings.TrimSpace(v) != ""
}

func quoteDefault(d string) string {
	if d == "" {
		return `""`
	}
	return d
}

// ParseURL checks a URL setting. Its errors show the value with any
// password redacted (RedactURL), never url.Parse's error, which repeats
// the whole value.
func ParseURL(name, v string, schemes ...string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		if r := RedactURL(v); r != "" {
			return nil, fmt.Errorf("setting %s: %s is not an absolute URL", name, QuoteValue(r))
		}
		return nil, fmt.Errorf("setting %s: not an absolute URL (the value is not echoed: it may hold a password)", name)
	}
	if !ValidPort(u.Port()) {
		return nil, fmt.Errorf("setting %s: the URL's port is out of range: want 1 to 65535, or none", name)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return u, nil
		}
	}
	return nil, fmt.Errorf("setting %s: scheme must be one of %s", name, strings.Join(schemes, ", "))
}

// ValidPort reports whether p, a URL's port as url.URL.Port gives it
// (digits, or ""), is none or one a connection can be made to: url.Parse
// takes any digits, so https://host:99999 parses.
func ValidPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// RedactURL is v to echo in an error or a log line, its password hidden:
// url.URL.Redacted for a user:password@ part; every query parameter but
// those known to be harmless (harmlessParam: sslmode, search_path, …)
// written before any password, password and sslpassword as
// "password=xxxxx", any other as "xxxxx=xxxxx"; and any fragment. The
// query is hidden by what is known harmless rather than by what looks
// secret: a password with an unescaped '&' ("password=a&b=c") splits into
// pairs, and a test of names would show the rest of it, name and value;
// and nothing after a password is shown, since the rest of it may even
// read as a harmless pair ("password=a&sslmode=b"). It is "" for a value that must not be echoed at
// all: one that does not parse as a URL, has an '@' that is not the one
// ending its user info (a password with an unescaped '/', '?' or '#' ends
// the authority early, and the rest of it, up to its '@', is taken for the
// path, query or fragment; an opaque URL has no authority), has a query
// that does not parse (url.Query drops a bad pair, which would be echoed
// unredacted), or has white space, which no URL has but url.Parse takes in
// a path (a libpq "host=… password=…" string parses as one).
func RedactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || strings.ContainsFunc(v, unicode.IsSpace) {
		return ""
	}
	if n := strings.Count(v, "@"); n > 1 || (n == 1 && u.User == nil) {
		return ""
	}
	if u.RawQuery != "" {
		// Checked whole first: url.ParseQuery refuses what it would
		// drop (a ';'), which must not be echoed as it is.
		if _, err := url.ParseQuery(u.RawQuery); err != nil {
			return ""
		}
		// Pairs in the order written, as url.ParseQuery splits them:
		// a password's unescaped '&' cuts it before the pairs that
		// follow, which may then be any more of it.
		shown, redacted, afterPassword := url.Values{}, false, false
		for _, pair := range strings.Split(u.RawQuery, "&") {
			if pair == "" {
				continue
			}
			k, v, _ := strings.Cut(pair, "=")
			k, err1 := url.QueryUnescape(k)
			v, err2 := url.QueryUnescape(v)
			if err1 != nil || err2 != nil {
				return ""
			}
			switch name := strings.ToLower(k); {
			case name == "password" || name == "sslpassword":
				// Say that there is one, not what it is.
				shown.Add(k, "xxxxx")
				redacted, afterPassword = true, true
			case harmlessParam(name) && !afterPassword:
				shown.Add(k, v)
			default:
				// Neither the value nor the name: a name may be
				// the tail of a password cut at an '&'.
				shown.Add("xxxxx", "xxxxx")
				redacted = true
			}
		}
		if redacted {
			u.RawQuery = shown.Encode()
		}
	}
	if u.Fragment != "" || u.RawFragment != "" {
		u.Fragment, u.RawFragment = "xxxxx", ""
	}
	return u.Redacted()
}

// harmlessParam reports whether a URL query parameter (its name in lower
// case) may be shown:
// the connection settings of pgx and libpq that tell an operator which
// database and how (never a password, a key or a free-form option string),
// and SQLite's. Any other parameter's value is hidden.
func harmlessParam(name string) bool {
	switch name {
	case "sslmode", "sslrootcert", "sslcert", "sslsni", "search_path", "application_name", "connect_timeout",
		"target_session_attrs", "timezone", "client_encoding", "datestyle", "port", "host", "dbname", "user",
		"pool_max_conns", "pool_min_conns", "pool_min_idle_conns", "pool_max_conn_lifetime",
		"pool_max_conn_lifetime_jitter", "pool_max_conn_idle_time", "pool_health_check_period",
		"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode",
		"_pragma", "_txlock", "_time_format", "mode", "cache", "vfs":
		return true
	}
	return false
}
