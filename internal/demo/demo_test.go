package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `vaspd demo` as the README shows it and checks the story
// it tells: approval, payment, callbacks, webhooks, then Bob's payment
// request that Alice's platform pays, and the final balances.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, Options{Dir: t.TempDir()}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	got := out.String()
	var missing []string
	for _, want := range []string{"INCOMING_PAYMENT PENDING from $alice@localhost:", "Bob receives €10.00", "COMPLETED",
		"Post-transaction callbacks, both ways",
		// The second act: Bob's payment request, delivered to vasp1,
		// announced to its platform, approved and paid by it, PAID at vasp2.
		"Bob asks Alice for €5.00 (POST /payment-requests on vasp2", "PENDING; delivery DELIVERED",
		"[vasp1 platform] UMA_REQUEST from $bob@localhost:", "for €5.00 to $alice@localhost:",
		"INCOMING_PAYMENT PENDING from $alice@localhost:", "Quote with umaRequestId", "Bob receives €5.00",
		"GET /payment-requests/{id} → PAID (1 payment)",
		// $10.98 and $5.49 at the built-in demo rates: the README says so.
		"Balances (GET /users/{id}/balances): Alice $83.53, Bob €15.00."} {
		if !strings.Contains(got, want) {
			missing = append(missing, want)
		}
	}
	// The request Bob made is the one paid: its id, as POST
	// /payment-requests answered it, is what the approval and the
	// COMPLETED webhooks name.
	m := regexp.MustCompile(`\n +(PaymentRequest:\S+) uma://uma1`).FindStringSubmatch(got)
	if m == nil {
		missing = append(missing, "PaymentRequest:… uma://uma1…")
	} else {
		for _, want := range []string{"paying " + m[1] + ": approve", "INCOMING_PAYMENT COMPLETED naming " + m[1] + "."} {
			if !strings.Contains(got, want) {
				missing = append(missing, want)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("demo output lacks %q:\n%s", missing, got)
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
