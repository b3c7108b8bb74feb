// Command webhooks is the proof harness of vaspd's webhook engine (package
// delivery): a crash test and a benchmark that run the real engine on a real
// database.
//
//	webhooks crash -vaspd ./vaspd -db sqlite            # kill -9 test of `vaspd serve`
//	webhooks crash -vaspd ./vaspd -db postgres -procs 2 # two daemons sharing PostgreSQL
//	webhooks crash -db postgres -procs 2                # the same with this binary's workers
//	webhooks bench [-pg postgres://…]                   # one JSON line of numbers
//
// With -vaspd the crash test starts and kills the daemon (a built vaspd
// binary) and enqueues the events itself; without it, it kills "worker"
// processes: the delivery worker plus an enqueue loop on one database, whose
// requests name their sender.
//
// scripts/ci/webhook-crash.sh and scripts/ci/webhook-bench.sh run it; the
// numbers and their reading are in docs/webhook-engine-benchmarks.md.
package main

import (
	"errors"
	"flag"
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
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the flags were printed
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
