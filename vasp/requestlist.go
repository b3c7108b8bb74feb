package vasp

import (
	"context"
	"fmt"
	"time"

	"github.com/vaspd/vaspd/store"
)

// listRequests lists the rows of a request table whose status is derived
// when read (UMA requests received: request.go; payment requests sent:
// payment_request.go), of one user and one status when given, newest
// first (oldest first when ascending) after the id cursor (exclusive; "" =
// from the first), at most limit. selectAt(n) is the table's SELECT, whose derived status reads
// the time, now, from parameter $n; what names the rows in errors.
func listRequests[T any](ctx context.Context, q store.Querier, what string, selectAt func(int) string,
	scan func(interface{ Scan(...any) error }) (T, error), userID, status string, ascending bool, cursor string, limit int, now time.Time) ([]T, error) {
	w := store.Where{}
	if userID != "" {
		w.Add("user_id = ?", userID)
	}
	if status != "" {
		w.Add("status = ?", status)
	}
	order := "DESC"
	switch {
	case ascending:
		order = "ASC"
		if cursor != "" {
			w.Add("id > ?", cursor)
		}
	case cursor != "":
		w.Add("id < ?", cursor)
	}
	rows, err := q.QueryContext(ctx, selectAt(w.Next()+1)+` WHERE `+w.String()+
		fmt.Sprintf(` ORDER BY id %s LIMIT $%d`, order, w.Next()), append(w.Args(), limit, store.Micros(now))...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
