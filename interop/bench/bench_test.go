package bench

import "testing"

// BenchmarkUMA runs every operation on both sides:
//
//	go test -run '^$' -bench . ./bench/
//
// Sub-benchmarks are named <message>/<operation>/{ours,sdk}.
func BenchmarkUMA(b *testing.B) {
	ops, err := Ops()
	if err != nil {
		b.Fatal(err)
	}
	for _, op := range ops {
		b.Run(op.Name+"/ours", op.Ours)
		b.Run(op.Name+"/sdk", op.SDK)
	}
}
