package demo

import (
	"bytes"
	"context"
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
