package audit

// ListQuery is List's query and arguments, for its plan.
func ListQuery(f Filter) (string, []any) { return listQuery(f) }
