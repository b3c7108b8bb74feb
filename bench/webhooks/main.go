// Command webhooks is the proof harness of vaspd's webhook engine (package
// delivery): a crash test and a benchmark that run the real engine on a real
// database, independent of the daemon.
//
//	webhooks crash -db sqlite                      # kill -9 test, one process
//	webhooks crash -db postgres -procs 2           # two processes sharing PostgreSQL
//	webhooks bench [-pg postgres://…]              # one JSON line of numbers
//
// "worker" is the process the crash test starts and kills: the delivery
// worker plus an enqueue loop on one database.
//
// scripts/ci/webhook-crash.sh and scripts/ci/webhook-bench.sh run it; the
// numbers and their reading are in docs/webhook-engine-benchmarks.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "crash":
		err = crashMain(os.Args[2:])
	case "worker":
		err = workerMain(os.Args[2:])
	case "bench":
		err = benchMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "webhooks %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: webhooks crash|bench|worker [flags] (-h for each command's flags)")
	os.Exit(2)
}
