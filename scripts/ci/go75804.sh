# Sourced by the fuzz scripts. go1.26's fuzz coordinator can fail a clean
# run with a bare "context deadline exceeded" at the -fuzztime boundary
# (golang/go#75804, fixed in go1.27). A real finding always prints more (the
# panic or error, "Failing input written to …") and writes a crasher.
#
# go75804_only LOG succeeds when LOG holds that error and nothing but
# progress lines and the closing FAIL lines of a test binary or of go test.
go75804_only() {
	grep -q '^    context deadline exceeded$' "$1" &&
		! grep -qvE '^(fuzz: elapsed: |--- FAIL: Fuzz[A-Za-z0-9]+ \([0-9.]+s\)$|    context deadline exceeded$|FAIL$|exit status 1$|FAIL	[^	]+	[0-9.]+s$)' "$1"
}
