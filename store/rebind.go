package store

import "strings"

// RebindNumbered rewrites PostgreSQL "$N" placeholders to SQLite's "?N",
// leaving quoted strings and identifiers alone. SQLite binds "?N" by number,
// so a placeholder may repeat or appear out of order exactly as in PostgreSQL.
func RebindNumbered(q string) string {
	if strings.IndexByte(q, '$') < 0 {
		return q
	}
	b := []byte(q)
	var quote byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9':
			b[i] = '?'
		}
	}
	return string(b)
}
