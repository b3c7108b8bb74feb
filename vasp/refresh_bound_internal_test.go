package vasp

import (
	"math"
	"testing"
)

// The bound's arithmetic: integers, rounded toward our user, without
// overflow at the largest amounts.
func TestRefreshAllowed(t *testing.T) {
	for _, tc := range []struct {
		side     string
		was, now quoteAmounts
		bps      int64
		want     bool
	}{
		// Receiver-locked: the debit may grow to floor(was × 1.02).
		{LockedReceiving, quoteAmounts{1100, 1000}, quoteAmounts{1122, 1000}, 200, true},
		{LockedReceiving, quoteAmounts{1100, 1000}, quoteAmounts{1123, 1000}, 200, false},
		{LockedReceiving, quoteAmounts{91, 900}, quoteAmounts{92, 900}, 200, true},  // 92.82 → 92
		{LockedReceiving, quoteAmounts{91, 900}, quoteAmounts{93, 900}, 200, false}, // 93 > 92.82
		{LockedReceiving, quoteAmounts{49, 900}, quoteAmounts{50, 900}, 200, false}, // 49.98 → 49: no unit more
		{LockedReceiving, quoteAmounts{1100, 1000}, quoteAmounts{900, 1000}, 200, true},
		{LockedReceiving, quoteAmounts{1100, 1000}, quoteAmounts{1100, 999}, 200, false}, // the locked credit is not less
		// Sender-locked: the credit may fall to ceil(was × 0.98), the
		// debit not grow.
		{LockedSending, quoteAmounts{1100, 1000}, quoteAmounts{1100, 980}, 200, true},
		{LockedSending, quoteAmounts{1100, 1000}, quoteAmounts{1100, 979}, 200, false},
		{LockedSending, quoteAmounts{1100, 999}, quoteAmounts{1100, 979}, 200, false}, // 979.02 → 980
		{LockedSending, quoteAmounts{1100, 49}, quoteAmounts{1100, 48}, 200, false},   // 48.02 → 49
		{LockedSending, quoteAmounts{1100, 1000}, quoteAmounts{1101, 1000}, 200, false},
		{LockedSending, quoteAmounts{1100, 1000}, quoteAmounts{1100, 2000}, 200, true},
		// The largest amounts: 9e18 × 1.5 is past int64.
		{LockedReceiving, quoteAmounts{9e18, 1}, quoteAmounts{math.MaxInt64, 1}, 5000, true},
		{LockedSending, quoteAmounts{1, 9e18}, quoteAmounts{1, 9e18 / 2}, 5000, true},
		{LockedSending, quoteAmounts{1, 9e18}, quoteAmounts{1, 9e18/2 - 1}, 5000, false},
		{LockedSending, quoteAmounts{1, math.MaxInt64}, quoteAmounts{1, 0}, 10_000, true},
	} {
		if got := refreshAllowed(tc.side, tc.was, tc.now, tc.bps); got != tc.want {
			t.Errorf("%s %+v → %+v at %d bps: %v, want %v", tc.side, tc.was, tc.now, tc.bps, got, tc.want)
		}
	}
}
