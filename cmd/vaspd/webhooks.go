package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vaspd/vaspd/internal/apiclient"
	"github.com/vaspd/vaspd/internal/config"
)

const webhooksUsage = `Usage: vaspd webhooks <command> [flags]

Manage webhook endpoints and deliveries through a running vaspd's HTTP API.
Credentials come from VASPD_CLIENT_ID and VASPD_CLIENT_SECRET (a token with
MANAGE for changes, VIEW for reading); --url (or VASPD_URL) is the server.

Commands:
  endpoints list [--limit N] [--cursor C]
  endpoints get ID
  endpoints create --endpoint-url URL [--description D] [--event-types T1,T2] [--timeout 10s] [--disabled] [--ed25519]
  endpoints update ID [--endpoint-url URL] [--description D] [--event-types T1,T2] [--timeout D] [--enabled=true|false] [--ed25519=true|false]
  endpoints delete ID
  endpoints rotate-secret ID [--grace 24h]   (--grace 0: the old secret stops at once; refused during a grace period otherwise)
  deliveries list [--endpoint ID] [--status S] [--type T] [--webhook-id ID] [--since T] [--until T] [--limit N] [--cursor C]
  deliveries get ID
  deliveries redeliver ID
  replay --endpoint ID --since RFC3339 --until RFC3339 [--status delivered|failed|dead]
  replay-status JOB_ID
  replay-cancel JOB_ID                        stop a pending or running replay (what it re-queued already is sent)
  test [--endpoint ID]                        send a TEST webhook now and show the answer
  config get
  config set --webhook-endpoint URL           the primary endpoint ("" removes it; a change sends TEST)
  public-key                                  the ed25519 key that verifies v1a signatures
`

// webhookCommands are the commands of `vaspd webhooks`, as in webhooksUsage.
var webhookCommands = map[string]bool{
	"endpoints list": true, "endpoints get": true, "endpoints create": true, "endpoints update": true,
	"endpoints delete": true, "endpoints rotate-secret": true,
	"deliveries list": true, "deliveries get": true, "deliveries redeliver": true,
	"replay": true, "replay-status": true, "replay-cancel": true, "test": true, "config get": true, "config set": true, "public-key": true,
}

// runWebhooks is "vaspd webhooks …": a thin client of the webhook
// management API (api.Server.MountWebhooks). It prints the JSON answers.
func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, webhooksUsage)
		return errUsage
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, webhooksUsage)
		return flag.ErrHelp
	}
	cmd, args := args[0], args[1:]
	if cmd == "endpoints" || cmd == "deliveries" || cmd == "config" {
		if len(args) == 0 {
			fmt.Fprint(stderr, webhooksUsage)
			return errUsage
		}
		if isHelp(args[0]) { // `vaspd webhooks endpoints -h`
			fmt.Fprint(stdout, webhooksUsage)
			return flag.ErrHelp
		}
		cmd, args = cmd+" "+args[0], args[1:]
	}
	if !webhookCommands[cmd] {
		fmt.Fprintf(stderr, "vaspd webhooks: unknown command %q\n", cmd)
		fmt.Fprint(stderr, webhooksUsage)
		return errUsage
	}
	c := &webhookClient{}
	fs := flag.NewFlagSet("webhooks "+cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), webhooksUsage) }
	fs.StringVar(&c.base, "url", envOr("VASPD_URL", "http://127.0.0.1:8080"), "vaspd API base URL (env VASPD_URL)")
	fs.DurationVar(&c.timeout, "request-timeout", 60*time.Second, "HTTP request timeout")

	var (
		limit                                                int
		cursor, endpointURL, description, eventTypes         string
		endpoint, status, typ, webhookID, since, until, hook string
		timeout, grace                                       time.Duration
		disabled, ed25519                                    bool
		enabled, ed25519Update                               string
	)
	switch cmd {
	case "endpoints list", "deliveries list":
		fs.IntVar(&limit, "limit", 20, "page size (1-100)")
		fs.StringVar(&cursor, "cursor", "", "nextCursor of the previous page")
	}
	switch cmd {
	case "endpoints create", "endpoints update":
		fs.StringVar(&endpointURL, "endpoint-url", "", "the receiver's URL")
		fs.StringVar(&description, "description", "", "free text")
		fs.StringVar(&eventTypes, "event-types", "", "comma-separated webhook types (empty: every type)")
		fs.DurationVar(&timeout, "timeout", 0, "whole-attempt timeout, 1s to 1m (0: the server's default, 10s)")
	case "endpoints rotate-secret":
		fs.DurationVar(&grace, "grace", 0, "how long the old secret keeps signing (unset: the server's default, 24h; 0: stops at once)")
	case "deliveries list":
		fs.StringVar(&endpoint, "endpoint", "", "endpoint id")
		fs.StringVar(&status, "status", "", "pending, sending, delivered, failed or dead")
		fs.StringVar(&typ, "type", "", "webhook type, e.g. INCOMING_PAYMENT")
		fs.StringVar(&webhookID, "webhook-id", "", "Webhook:… id")
		fs.StringVar(&since, "since", "", "created at or after (RFC 3339)")
		fs.StringVar(&until, "until", "", "created before (RFC 3339)")
	case "replay":
		fs.StringVar(&endpoint, "endpoint", "", "endpoint id (required)")
		fs.StringVar(&since, "since", "", "from (RFC 3339, required)")
		fs.StringVar(&until, "until", "", "to, exclusive (RFC 3339, required)")
		fs.StringVar(&status, "status", "", "only deliveries with this status (default: every finished one)")
	case "test":
		fs.StringVar(&endpoint, "endpoint", "", "endpoint id (default: the primary endpoint)")
	case "config set":
		fs.StringVar(&hook, "webhook-endpoint", "", "URL of the primary endpoint (required; \"\" removes it)")
	}
	switch cmd {
	case "endpoints create":
		fs.BoolVar(&disabled, "disabled", false, "create it disabled")
		fs.BoolVar(&ed25519, "ed25519", false, "also sign with vaspd's ed25519 key (v1a)")
	case "endpoints update":
		fs.StringVar(&enabled, "enabled", "", "true or false")
		fs.StringVar(&ed25519Update, "ed25519", "", "true or false: also sign with ed25519 (v1a)")
	}
	var pos []string
	err := parseFlags(fs, stdout, stderr, func() (err error) {
		pos, err = webhookParse(fs, args)
		return err
	})
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	want := 0
	switch cmd {
	case "endpoints get", "endpoints update", "endpoints delete", "endpoints rotate-secret",
		"deliveries get", "deliveries redeliver", "replay-status", "replay-cancel":
		want = 1
	}
	if len(pos) != want {
		fmt.Fprintf(stderr, "vaspd webhooks %s: want %d argument(s), got %d\n", cmd, want, len(pos))
		return errUsage
	}
	// A required flag left out is the command line's mistake, named before
	// the credentials are looked at, not a request for the server to
	// refuse.
	for _, f := range map[string][]string{
		"endpoints create": {"endpoint-url"}, "replay": {"endpoint", "since", "until"}, "config set": {"webhook-endpoint"},
	}[cmd] {
		if !set[f] {
			fmt.Fprintf(stderr, "vaspd webhooks %s: --%s is required\n", cmd, f)
			return errUsage
		}
	}
	id := ""
	if want == 1 {
		id = url.PathEscape(pos[0])
	}
	if err := c.init(); err != nil {
		return err
	}

	var method, path string
	var body any
	switch cmd {
	case "endpoints list", "deliveries list":
		q := url.Values{}
		q.Set("limit", fmt.Sprint(limit))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		for k, v := range map[string]string{"endpointId": endpoint, "status": status, "type": typ, "webhookId": webhookID, "since": since, "until": until} {
			if v != "" {
				q.Set(k, v)
			}
		}
		method, path = "GET", "/webhooks/"+strings.TrimSuffix(cmd, " list")+"?"+q.Encode()
	case "endpoints get":
		method, path = "GET", "/webhooks/endpoints/"+id
	case "endpoints create", "endpoints update":
		in := map[string]any{}
		if set["endpoint-url"] || cmd == "endpoints create" {
			in["url"] = endpointURL
		}
		if set["description"] {
			in["description"] = description
		}
		if set["event-types"] {
			types := []string{}
			for _, t := range strings.Split(eventTypes, ",") {
				if t = strings.TrimSpace(t); t != "" {
					types = append(types, t)
				}
			}
			in["eventTypes"] = types
		}
		if set["timeout"] {
			// The API counts whole milliseconds, 0 meaning the server's
			// default: a fraction would be cut, one under 1 ms to that
			// default, which the operator did not ask for.
			if timeout%time.Millisecond != 0 {
				return fmt.Errorf("--timeout %s: want a whole number of milliseconds (e.g. 1500ms, 5s; 0: the server's default)", timeout)
			}
			in["timeoutMs"] = timeout.Milliseconds()
		}
		if cmd == "endpoints create" {
			in["enabled"] = !disabled
			in["signEd25519"] = ed25519
			method, path = "POST", "/webhooks/endpoints"
		} else {
			for flagName, field := range map[string]string{"enabled": "enabled", "ed25519": "signEd25519"} {
				if !set[flagName] {
					continue
				}
				v := map[string]string{"enabled": enabled, "ed25519": ed25519Update}[flagName]
				switch v {
				case "true", "false":
					in[field] = v == "true"
				default:
					return fmt.Errorf("--%s: want true or false", flagName)
				}
			}
			method, path = "PATCH", "/webhooks/endpoints/"+id
		}
		body = in
	case "endpoints delete":
		method, path = "DELETE", "/webhooks/endpoints/"+id
	case "endpoints rotate-secret":
		method, path = "POST", "/webhooks/endpoints/"+id+"/rotate-secret"
		if set["grace"] {
			// The API counts whole seconds: a grace under one, or a
			// fraction, would be cut to fewer (0: the old secret stops at
			// once), which the operator did not ask for.
			if grace < 0 || grace%time.Second != 0 {
				return fmt.Errorf("--grace %s: want 0 or a whole number of seconds (e.g. 30s, 24h)", grace)
			}
			body = map[string]any{"gracePeriodSeconds": int64(grace / time.Second)}
		}
	case "deliveries get":
		method, path = "GET", "/webhooks/deliveries/"+id
	case "deliveries redeliver":
		method, path = "POST", "/webhooks/deliveries/"+id+"/redeliver"
	case "replay":
		method, path = "POST", "/webhooks/replays"
		body = map[string]any{"endpointId": endpoint, "since": since, "until": until, "status": status}
	case "replay-status":
		method, path = "GET", "/webhooks/replays/"+id
	case "replay-cancel":
		method, path = "POST", "/webhooks/replays/"+id+"/cancel"
	case "test":
		method, path = "POST", "/webhooks/test"
		if endpoint != "" {
			body = map[string]any{"endpointId": endpoint}
		}
	case "config get":
		method, path = "GET", "/config"
	case "config set":
		method, path, body = "PATCH", "/config", map[string]any{"webhookEndpoint": hook}
	case "public-key":
		method, path = "GET", "/webhooks/public-key"
	default:
		fmt.Fprintf(stderr, "vaspd webhooks: unknown command %q\n", cmd)
		fmt.Fprint(stderr, webhooksUsage)
		return errUsage
	}
	return c.call(ctx, method, path, body, stdout)
}

// webhookParse parses flags anywhere among the arguments and returns the
// positional ones.
func webhookParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

type webhookClient struct {
	base    string
	timeout time.Duration
	api     apiclient.Client
}

func (c *webhookClient) init() error {
	id, secret := os.Getenv("VASPD_CLIENT_ID"), os.Getenv("VASPD_CLIENT_SECRET")
	if id == "" || secret == "" {
		return errors.New("set VASPD_CLIENT_ID and VASPD_CLIENT_SECRET to an API token (vaspd token create)")
	}
	u, err := url.Parse(c.base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Echoed with any password hidden, or not at all (config.RedactURL).
		if r := config.RedactURL(c.base); r != "" {
			return fmt.Errorf("--url: want http(s)://host:port, got %q", r)
		}
		return errors.New("--url: want http(s)://host:port")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.base, "#") {
		// The API's paths are appended to --url: after a query or a
		// fragment they would be part of it, every request going to the
		// server's root. Not echoed: a query may hold a secret.
		return errors.New("--url: want http(s)://host:port[/path], without a query or fragment")
	}
	if u.User != nil {
		// The token from the environment is the credential; a second one
		// in the URL would only end up in error messages and histories.
		return fmt.Errorf("--url: must not carry a user name or password (the token comes from VASPD_CLIENT_ID and VASPD_CLIENT_SECRET), got %q", u.Redacted())
	}
	// 0 would let a request hang forever, a negative one fail at once.
	if c.timeout <= 0 {
		return fmt.Errorf("--request-timeout: want a positive duration, got %s", c.timeout)
	}
	c.api = apiclient.Client{BaseURL: strings.TrimSuffix(c.base, "/"), ClientID: id, ClientSecret: secret,
		HTTP: &http.Client{Timeout: c.timeout}}
	return nil
}

// call sends one request and prints the JSON answer, indented; an API
// error becomes an error carrying its status, code and message.
func (c *webhookClient) call(ctx context.Context, method, path string, body any, stdout io.Writer) error {
	var raw json.RawMessage
	if err := c.api.Do(ctx, method, path, body, &raw); err != nil {
		return err
	}
	if len(raw) == 0 {
		fmt.Fprintln(stdout, "done")
		return nil
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		_, err = stdout.Write(raw)
		return err
	}
	out.WriteByte('\n')
	_, err := stdout.Write(out.Bytes())
	return err
}
