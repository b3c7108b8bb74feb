// Package apiclient is a small client of vaspd's platform API: HTTP Basic
// auth with an API token, JSON in and out, and the API's error JSON
// returned as an *Error. The CLI and `vaspd demo` use it.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxResponseBytes bounds the answers read.
const MaxResponseBytes = 16 << 20

// Client calls one vaspd. The zero value is not usable: set BaseURL and
// the token.
type Client struct {
	BaseURL      string // e.g. http://127.0.0.1:8080, no trailing slash needed
	ClientID     string
	ClientSecret string
	HTTP         *http.Client // nil: http.DefaultClient
}

// Error is a non-2xx answer. Code, Message and Details come from the
// platform API's error JSON when the body is one.
type Error struct {
	Status  int
	Method  string
	Path    string
	Code    string
	Message string
	Details map[string]any
	Body    []byte // as received, at most MaxResponseBytes
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d from %s %s", e.Status, e.Method, e.Path)
	}
	s := fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
	if len(e.Details) > 0 {
		d, _ := json.Marshal(e.Details)
		s += " " + string(d)
	}
	return s
}

// Do sends one request: body, when not nil, as JSON; header as name, value
// pairs. A 2xx answer is decoded into out when out is not nil (a
// *json.RawMessage gets the bytes as they are; an empty body leaves out
// alone); any other answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, header ...string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, Method: method, Path: path, Body: raw}
		var body struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		}
		if json.Unmarshal(raw, &body) == nil {
			e.Code, e.Message, e.Details = body.Code, body.Message, body.Details
		}
		return e
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if rm, ok := out.(*json.RawMessage); ok {
		*rm = append((*rm)[:0], raw...)
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
