package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/vaspd/vaspd"
)

// Page is the UMAaaS list envelope.
type Page[T any] struct {
	Data       []T    `json:"data"`
	HasMore    bool   `json:"hasMore"`
	NextCursor string `json:"nextCursor,omitempty"`
	TotalCount *int   `json:"totalCount,omitempty"`
}

// ListParams are the common list query parameters. After is the decoded
// cursor: the sort key of the last item of the previous page (opaque to
// clients, who only pass nextCursor back).
type ListParams struct {
	Limit int
	After string
}

// ParseListParams reads ?limit (1–100, default 20) and ?cursor, the cursor
// of a list of ids of type typ. A cursor is the last id of a page as NewPage
// issues it (its uuid in lower-case hex, which the ids compare with); the
// list reads the ids after it. Anything else (another list's id, text, an
// id in upper case) would be compared with the ids as it is, a page answered
// for nothing: the first again, or an empty last one that tells a platform
// paging oldest first it has seen everything. It is 400, as is a cursor
// that does not decode.
func ParseListParams(r *http.Request, typ string) (ListParams, error) {
	p := ListParams{Limit: 20}
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return p, vaspd.InvalidInput("limit must be an integer from 1 to 100")
		}
		p.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err == nil {
			var id uuid.UUID
			if id, err = vaspd.ParseID(typ, string(b)); err == nil && typ+":"+id.String() != string(b) {
				err = errors.New("not as issued")
			}
		}
		if err != nil {
			return p, vaspd.InvalidInput("cursor is not one this server issued")
		}
		p.After = string(b)
	}
	return p, nil
}

// printable reports whether s holds no control characters. Query values
// reach SQL as text, and PostgreSQL refuses a NUL in text outright.
func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// QueryText reads an optional free-text query parameter used as a filter:
// at most max bytes of printable UTF-8, else a 400.
func QueryText(r *http.Request, name string, max int) (string, error) {
	v := r.URL.Query().Get(name)
	if len(v) > max || !utf8.ValidString(v) || !printable(v) {
		return "", vaspd.InvalidInput("%s must be at most %d characters of printable text", name, max)
	}
	return v, nil
}

// QueryStoredText is QueryText for a filter on a value stored trimmed of
// surrounding spaces (a platformUserId, as users.text stores it): the
// filter is trimmed alike, so " p-1 " finds what POST " p-1 " stored.
func QueryStoredText(r *http.Request, name string, max int) (string, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	if len(v) > max || !utf8.ValidString(v) || !printable(v) {
		return "", vaspd.InvalidInput("%s must be at most %d characters of printable text", name, max)
	}
	return v, nil
}

// QueryTime reads an optional RFC 3339 date-time query parameter (the
// zero time if absent); anything else is a 400. Every list's date filters
// read it, alike: a "+" offset left unescaped in the query string arrives
// as a space, so a space is read as the "+" it was.
func QueryTime(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v, " ", "+"))
	if err != nil {
		return time.Time{}, vaspd.InvalidInput("%s must be an RFC 3339 date-time such as 2025-01-02T15:04:05Z", name)
	}
	return t, nil
}

// QueryTimeRange reads a list's pair of date-time bounds, fromName and
// toName (QueryTime each). A start after the end matches
// nothing: answered as an empty list, a platform that swapped them would be
// told nothing happened in the window it asked about, so it is a 400.
func QueryTimeRange(r *http.Request, fromName, toName string) (from, to time.Time, err error) {
	if from, err = QueryTime(r, fromName); err != nil {
		return from, to, err
	}
	if to, err = QueryTime(r, toName); err != nil {
		return from, to, err
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		return from, to, vaspd.InvalidInput("%s must not be after %s", fromName, toName)
	}
	return from, to, nil
}

// QueryID reads an optional id query parameter of type typ ("" if absent);
// anything but a well-formed id of that type is a 400. The id is returned
// in the case ids are stored in (vaspd.CanonicalID).
func QueryID(r *http.Request, name, typ string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	id, err := vaspd.CanonicalID(typ, v)
	if err != nil {
		return "", vaspd.InvalidInput("%s: %v", name, err)
	}
	return id, nil
}

// NewPage builds a page from up to limit+1 items fetched in sort order: the
// extra item only says there is more. key returns an item's sort key, which
// becomes the cursor.
func NewPage[T any](items []T, limit int, key func(T) string) Page[T] {
	p := Page[T]{Data: items}
	if p.Data == nil {
		p.Data = []T{}
	}
	if len(items) > limit {
		p.Data = items[:limit]
		p.HasMore = true
		p.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(items[limit-1])))
	}
	return p
}

// QuerySortOrder reads the sortOrder query parameter of a list: "desc"
// (newest first, the default) or "asc"; another value is 400.
func QuerySortOrder(r *http.Request) (ascending bool, err error) {
	switch r.URL.Query().Get("sortOrder") {
	case "", "desc":
		return false, nil
	case "asc":
		return true, nil
	}
	return false, vaspd.InvalidInput("sortOrder must be asc or desc")
}
