package storetest

import (
	"strings"
	"testing"

	"github.com/vaspd/vaspd/store"
)

// Explain is the database's plan for the query q with args, one line per
// step: EXPLAIN's on PostgreSQL, EXPLAIN QUERY PLAN's details on SQLite.
// Tests that an index serves a query look for its name in it, and for
// "Seq Scan on T" (PostgreSQL) or "SCAN T" (SQLite) to tell a table read
// whole. db may be a transaction, e.g. one that SET LOCAL enable_seqscan
// = off on PostgreSQL, whose planner reads small test tables whole even
// when an index could serve: then a Seq Scan left in the plan is a table
// no index can serve the query on.
func Explain(t testing.TB, db store.Querier, q string, args ...any) string {
	t.Helper()
	prefix, col := "EXPLAIN ", 0
	if db.Driver().Name() == "sqlite" {
		prefix, col = "EXPLAIN QUERY PLAN ", 3 // id, parent, notused, detail
	}
	rows, err := db.QueryContext(t.Context(), prefix+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		switch v := vals[col].(type) {
		case string:
			b.WriteString(v)
		case []byte:
			b.Write(v)
		}
		b.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
