// Command umabench times the UMA work of vaspd's uma package against
// uma-go-sdk v1.5.1 in one run and prints one JSON line:
//
//	{"benchmark":"uma_vs_uma-go-sdk@v1.5.1","results":[{"op":"payreq/sign","ours_ns_op":...,"sdk_ns_op":...,"ratio":...,"slower":false},...],"slower":[...]}
//
// Run it from interop/: `go run ./cmd/umabench`. It takes about two seconds
// per operation. The exit status is 0 even when we are slower somewhere
// ("slower" lists those ops): timings on a shared machine are evidence, not
// a gate.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/vaspd/vaspd/interop/bench"
)

func main() {
	results, err := bench.Compare()
	if err != nil {
		fmt.Fprintln(os.Stderr, "umabench:", err)
		os.Exit(1)
	}
	slower := []string{}
	for _, r := range results {
		if r.Slower {
			slower = append(slower, r.Op)
		}
	}
	line, err := json.Marshal(struct {
		Benchmark string         `json:"benchmark"`
		Results   []bench.Result `json:"results"`
		Slower    []string       `json:"slower"`
	}{"uma_vs_uma-go-sdk@v1.5.1", results, slower})
	if err != nil {
		fmt.Fprintln(os.Stderr, "umabench:", err)
		os.Exit(1)
	}
	fmt.Println(string(line))
}
