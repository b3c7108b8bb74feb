// Package rates prices currencies against bitcoin, exactly.
//
// A [Provider] answers "what is one smallest unit of USD worth in
// millisatoshis right now, and what margins does this VASP charge?" with a
// [Rate]. The default provider, [ConfigProvider], serves the rates of a YAML
// file ([NewFileProvider]), reloaded whole when the file changes, or without a
// file built-in demo rates ([DefaultConfig], fixed); operators who want live
// prices have a feed rewrite the file, or implement Provider over their
// exchange.
//
// # Reload and staleness
//
// [ConfigProvider.Reload] (run every few seconds by [ConfigProvider.Watch])
// swaps in a changed, valid file atomically: each call reads one table, so a
// price never mixes two. A bad or vanished file keeps the last good rates
// (reported once per content). With a maximum age, rates whose file was last
// modified longer ago are stale: [FreshRate] refuses them
// with [ErrStale], for pricing new money, while [Provider.Rate] still answers
// them (to describe a currency). A quote locks the Rate it got, so a reload
// never changes a quote already made.
//
// # Units
//
// Every amount is an int64 in the smallest unit of its currency: cents for
// USD (decimals 2), satoshis for the SAT currency (decimals 0), and
// millisatoshis (msats) on the bitcoin side. A rate is the rational number
// msats per smallest unit (UMA's "multiplier"), held as a *big.Rat so that a
// configured "10869.565217391304…" never passes through a float.
//
// # Margins and rounding
//
// A Rate carries the mid-market price plus the VASP's spread (basis points)
// and fixed fee (smallest units of the currency). The spread always works
// against the customer: when a user receives bitcoin we value each unit of
// their currency at mid×(1+spread) msats, when they send we give
// mid×(1−spread) msats per unit. Every conversion rounds so the VASP never
// gives money away:
//
//	Receive, units → msats the payer must send     ceil
//	Receive, msats → units credited to our user    floor
//	Send,    units → msats we deliver              floor
//	Send,    msats → units we charge our user      ceil
//	fixed fee in units → msats                     ceil
//
// A quote locks a Rate by storing it (Rate marshals to JSON exactly) and
// converting with the stored value until the quote expires.
package rates
