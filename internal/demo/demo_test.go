package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `vaspd demo` as the README shows it and checks the story
// it tells: approval, payment, callbacks, webhooks and final balances.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, Options{Dir: t.TempDir()}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"INCOMING_PAYMENT PENDING from $alice@localhost:", "Bob receives €10.00", "COMPLETED",
		"Post-transaction callbacks, both ways", "Bob €10.00"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
}

// The demo starts from new databases: a --dir that holds anything (a
// previous run's data) is refused at once, saying so, where a second run
// used to fail half-way on state the first one left.
func TestDemoRefusesADirInUse(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "vasp1"), 0o700); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := Run(context.Background(), &out, Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), dir) || out.Len() != 0 {
		t.Fatalf("demo in a used directory: %v, printed %q; want a refusal naming it, before any step", err, out.String())
	}
}
