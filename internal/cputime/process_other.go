//go:build !unix

package cputime

import "time"

// process is not measured on this platform; CPU figures read 0.
func process() time.Duration { return 0 }
