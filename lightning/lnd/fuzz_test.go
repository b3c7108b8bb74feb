package lnd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
	"github.com/vaspd/vaspd/lightning/lnd"
)

// The fuzz targets below (and in fuzzpay_test.go, those of outgoing
// payments) drive the backend's real code through an lnd REST server
// whose every answer is fuzzed (lndFuzz): what lnd, a proxy in its place
// or a compromised node may send. Beyond "no panic", each holds
// the backend to what vaspd's ledger relies on: a payment is never
// SUCCEEDED without the preimage of its hash; an amount is never negative,
// above 21M BTC or other than the one lnd wrote; an invoice is reported for
// the hash asked and settled only for an amount it received; a settled
// invoice the stream does not deliver is logged, never dropped in silence;
// every call ends within its time bound; and errors and log entries are
// one bounded line that never quotes the macaroon.

// sent is body as the server sends it for case c.
func (z *lndFuzz) sent(c fuzzCase, body []byte) []byte {
	z.mu.Lock()
	vars := z.vars
	z.mu.Unlock()
	return bytes.ReplaceAll([]byte(vars.Replace(string(body))), []byte("@M@"), []byte(hex.EncodeToString(z.macaroon)))
}

// lndNotFound reports whether an answer is lnd's NotFound status.
func lndNotFound(status int, body []byte) bool {
	var eb struct {
		Code  int `json:"code"`
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if status == 200 || json.Unmarshal(bytes.TrimSpace(body), &eb) != nil {
		return false
	}
	return eb.Code == 5 || (eb.Error != nil && eb.Error.Code == 5)
}

// FuzzInvoice: LookupInvoice and CreateInvoice (AddInvoice, then
// LookupInvoice) with any answers. An invoice returned is the one asked
// for: the hash looked up, or the hash AddInvoice answered with the amount
// and description hash asked, still open, with a payment request of this
// node (its key, regtest) for that hash, amount, description hash and
// expiry (an hour); its amounts are exactly lnd's,
// within 0 to 21M BTC; it is SETTLED only as lnd said, and then for an
// amount paid above 0. ErrNotFound only for lnd's NotFound.
func FuzzInvoice(f *testing.F) {
	for _, body := range []string{fuzzInvoiceOpen, fuzzInvoiceSettled,
		strings.Replace(fuzzInvoiceSettled, `"state":"SETTLED"`, `"state":"CANCELED"`, 1),
		strings.Replace(fuzzInvoiceOpen, `"state":"OPEN"`, `"state":"ACCEPTED"`, 1),
		strings.Replace(fuzzInvoiceSettled, `"amt_paid_msat":"1000000"`, `"amt_paid_msat":"999999999999999999999"`, 1),
		strings.Replace(fuzzInvoiceSettled, `"expiry":"3600"`, `"expiry":"-9223372036854775808"`, 1),
		`{"r_hash":"@HB@","state":"SETTLED","amt_paid_msat":"1"}`,
	} {
		f.Add(false, int64(0), uint16(0), []byte(`{"r_hash":"@HB@"}`), uint16(0), []byte(body))
	}
	f.Add(true, int64(1_000_000), uint16(0), []byte(`{"r_hash":"@HB@","payment_request":"lnbcrt10u1fuzz","add_index":"1"}`), uint16(0), []byte(fuzzInvoiceOpen))
	f.Add(true, int64(1_000_000), uint16(0), []byte(`{"r_hash":"@HB@"}`), uint16(0),
		[]byte(strings.Replace(fuzzInvoiceOpen, `"state":"OPEN"`, `"state":"ACCEPTED"`, 1)))
	f.Add(false, int64(0), uint16(0), []byte(nil), uint16(204), []byte(`{"code":5,"message":"there are no existing invoices","details":[]}`))
	f.Add(false, int64(0), uint16(0), []byte(nil), uint16(204), []byte("404 page not found\n"))
	f.Add(false, int64(0), uint16(0), []byte(nil), uint16(300), []byte(`{"code":2,"message":"macaroon @M@ refused"}`))
	f.Add(true, int64(-1), uint16(0), []byte(`{"r_hash":"@HB@"}`), uint16(0), []byte(fuzzInvoiceOpen))
	f.Add(true, int64(1_000_000), uint16(300), []byte(`{"code":2,"message":"invoice with payment hash already exists"}`), uint16(0), []byte(fuzzInvoiceOpen))
	for _, pr := range []string{"@PRK@", "@PRT@", "lnbcrt10u1fuzz", ""} { // another node's, testnet, garbage, none
		f.Add(true, int64(1_000_000), uint16(0), []byte(`{"r_hash":"@HB@"}`), uint16(0), []byte(strings.Replace(fuzzInvoiceOpen, "@PR@", pr, 1)))
	}
	f.Add(true, int64(1_000_001), uint16(0), []byte(`{"r_hash":"@HB@"}`), uint16(0), []byte(strings.ReplaceAll(fuzzInvoiceOpen, `"1000000"`, `"1000001"`)))
	f.Add(true, int64(1_000_000), uint16(0), []byte(`{"r_hash":"@HB@"}`), uint16(0), []byte(strings.Replace(fuzzInvoiceOpen, `"expiry":"3600"`, `"expiry":"7200"`, 1)))
	z := newLNDFuzz(f, nil)
	f.Fuzz(func(t *testing.T, create bool, amountMsat int64, addStatus uint16, addBody []byte, lookupStatus uint16, lookupBody []byte) {
		c := newFuzzCase()
		z.start(c, map[string]fuzzAnswer{
			"addinvoice":    {status: fuzzStatus(addStatus), body: addBody},
			"lookupinvoice": {status: fuzzStatus(lookupStatus), body: lookupBody},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		var (
			inv  lightning.Invoice
			err  error
			want = c.hash
		)
		if create {
			inv, err = z.node.CreateInvoice(ctx, lightning.InvoiceRequest{AmountMsat: amountMsat, DescriptionHash: c.descHash, Expiry: time.Hour})
		} else {
			inv, err = z.node.LookupInvoice(ctx, c.hash)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the call took %s (two requests of at most 300 ms)", d)
		}
		z.checkLogs(t)
		if err != nil {
			z.checkError(t, "invoice", err)
			if errors.Is(err, lightning.ErrNotFound) && !lndNotFound(fuzzStatus(lookupStatus), z.sent(c, lookupBody)) {
				t.Fatalf("ErrNotFound (%v) without lnd's NotFound", err)
			}
			return
		}
		if create {
			var added struct {
				RHash string `json:"r_hash"`
			}
			if json.Unmarshal(z.sent(c, addBody), &added) != nil {
				t.Fatalf("CreateInvoice succeeded on an AddInvoice answer that does not decode")
			}
			h, ok := hashOf(added.RHash)
			if !ok {
				t.Fatalf("CreateInvoice succeeded on AddInvoice's r_hash %q", added.RHash)
			}
			want = h
			if inv.AmountMsat != amountMsat || inv.DescriptionHash != c.descHash || inv.State != lightning.InvoiceOpen {
				t.Fatalf("asked for an open invoice of %d msat for description hash %s, got %d msat, %s, %s",
					amountMsat, c.descHash, inv.AmountMsat, inv.DescriptionHash, inv.State)
			}
			// What the payer pays: this node's, as asked.
			dec, err := bolt11.Decode(inv.PaymentRequest, bolt11.Regtest)
			if err != nil || dec.Destination != fuzzPubkey || dec.PaymentHash != h || dec.AmountMsat != amountMsat ||
				dec.DescriptionHash != c.descHash || dec.Expiry != time.Hour {
				t.Fatalf("handed out payment request %.100q: %+v, %v; want this node's for %s, %d msat, %s, an hour",
					inv.PaymentRequest, dec, err, h, amountMsat, c.descHash)
			}
		}
		if inv.PaymentHash != want {
			t.Fatalf("asked for invoice %s, got invoice %s", want, inv.PaymentHash)
		}
		var v wireInvoiceView
		if err := json.Unmarshal(z.sent(c, lookupBody), &v); err != nil {
			t.Fatalf("an invoice from an answer that does not decode (%v)", err)
		}
		checkInvoice(t, inv, v)
	})
}

// checkInvoice holds an invoice the backend returned to lnd's message v.
func checkInvoice(t *testing.T, inv lightning.Invoice, v wireInvoiceView) {
	t.Helper()
	if !inRange(inv.AmountMsat) || !inRange(inv.AmountPaidMsat) {
		t.Fatalf("amounts out of range: %d msat, paid %d msat", inv.AmountMsat, inv.AmountPaidMsat)
	}
	if !sameNumber(inv.AmountMsat, v.ValueMsat) || !sameNumber(inv.AmountPaidMsat, v.AmtPaidMsat) {
		t.Fatalf("lnd said value_msat %q, amt_paid_msat %q; reported %d and %d msat", v.ValueMsat, v.AmtPaidMsat, inv.AmountMsat, inv.AmountPaidMsat)
	}
	want := lightning.InvoiceOpen
	switch v.State {
	case "SETTLED":
		want = lightning.InvoiceSettled
	case "CANCELED":
		want = lightning.InvoiceCanceled
	}
	if inv.State != want {
		t.Fatalf("lnd said state %q; reported %s", v.State, inv.State)
	}
	if inv.State == lightning.InvoiceSettled && inv.AmountPaidMsat <= 0 {
		t.Fatalf("settled for %d msat", inv.AmountPaidMsat)
	}
	if inv.State == lightning.InvoiceOpen && inv.SettleIndex != 0 {
		t.Fatalf("an open invoice with settle index %d", inv.SettleIndex)
	}
	if inv.ExpiresAt.Before(inv.CreatedAt) {
		t.Fatalf("expires at %s, before its creation at %s", inv.ExpiresAt, inv.CreatedAt)
	}
}

// settledEntry is a settled invoice lnd sent: in the backlog (ListInvoices)
// or on the stream (SubscribeInvoices).
type settledEntry struct {
	v    wireInvoiceView
	hash lightning.Hash
	ok   bool   // hash decodes
	idx  uint64 // settle_index, if it parses
	iok  bool
}

func settledEntries(views []wireInvoiceView) []settledEntry {
	var out []settledEntry
	for _, v := range views {
		if v.State != "SETTLED" {
			continue
		}
		e := settledEntry{v: v}
		e.hash, e.ok = hashOf(v.RHash)
		if v.SettleIndex == "" {
			e.iok = true
		} else {
			var err error
			e.idx, err = strconv.ParseUint(v.SettleIndex, 10, 64)
			e.iok = err == nil
		}
		out = append(out, e)
	}
	return out
}

// streamViews reads the invoices of a SubscribeInvoices stream as the
// gateway frames them, up to the first line that is not a message or is
// an error.
func streamViews(body []byte) []wireInvoiceView {
	var out []wireInvoiceView
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 32<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if json.Unmarshal(line, &m) != nil || m.Error != nil {
			break
		}
		if m.Result == nil {
			continue
		}
		var v wireInvoiceView
		if json.Unmarshal(m.Result, &v) != nil {
			break
		}
		out = append(out, v)
	}
	return out
}

// FuzzSubscribeSettled: SubscribeSettled from a cursor with any backlog
// (ListInvoices, for cursor 0) and any stream. The subscription either
// ends (a permanent error) or resubscribes — it never hangs on a broken
// stream. What it delivers is settled, after the cursor, in strictly
// increasing settle-index order, paid above 0, and exactly as lnd wrote
// it. From cursor 0 the stream is asked to replay from the lowest settle
// index in the backlog. A settled invoice it does not deliver is covered
// by the cursor (a replay), logged at ERROR (passed over), in the backlog
// after the settle index the stream replays from (lnd's to replay), or
// was on a stream that broke (the resubscription replays it): never
// dropped in silence.
func FuzzSubscribeSettled(f *testing.F) {
	settled := func(idx int, paid string) string {
		s := strings.Replace(fuzzInvoiceSettled, `"settle_index":"7"`, `"settle_index":"`+strconv.Itoa(idx)+`"`, 1)
		return strings.Replace(s, `"amt_paid_msat":"1000000"`, `"amt_paid_msat":"`+paid+`"`, 1)
	}
	other := func(s string) string { return strings.ReplaceAll(s, "@HB@", "@PB@") } // another hash
	page := func(invoices ...string) []byte {
		return []byte(`{"invoices":[` + strings.Join(invoices, ",") + `],"last_index_offset":"` + strconv.Itoa(len(invoices)) + `","first_index_offset":"1"}`)
	}
	f.Add(uint8(0), uint16(0), page(settled(1, "1000000"), fuzzInvoiceOpen), uint16(0), []byte(streamOf(other(settled(2, "1000000")))))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(streamOf(settled(2, "1000000"), other(settled(4, "1000000")), settled(5, "1000000"))))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(streamOf(settled(4, "-5"), other(settled(5, "1000000")))))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(streamOf(settled(4, "0"), other(settled(5, overMax)))))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(streamOf(settled(4, "1000000"))+"{\"result\":{\"state\":\"SETT"))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(streamOf(`{"r_hash":"@HB@","state":"SETTLED","settle_index":"x","amt_paid_msat":"5"}`)))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(streamOf(strings.Replace(settled(4, "1000000"), `"settle_index":"4"`, `"settle_index":"-4"`, 1),
		other(settled(5, "1000000")))))
	f.Add(uint8(0), uint16(0), page(strings.Replace(settled(1, "1000000"), `"settle_index":"1"`, `"settle_index":"1e3"`, 1), other(settled(2, "1000000"))),
		uint16(0), []byte(streamOf()))
	f.Add(uint8(0), uint16(0), page(settled(2, "1000000"), other(settled(1, "0"))), uint16(0), []byte(streamOf()))
	f.Add(uint8(0), uint16(0), page(fuzzInvoiceOpen, other(settled(3, "1000000")), settled(2, "1000000")), uint16(0),
		[]byte(streamOf(other(settled(3, "1000000"))))) // no settle index 1: searched twice
	f.Add(uint8(0), uint16(0), []byte(`{"invoices":[],"last_index_offset":"-1"}`), uint16(0), []byte(nil))
	f.Add(uint8(3), uint16(0), page(), uint16(203), []byte(`{"code":7,"message":"permission denied"}`))
	f.Add(uint8(3), uint16(0), page(), uint16(0), []byte(`{"error":{"code":2,"message":"line one\nline two @M@"}}`))
	z := newLNDFuzz(f, nil)
	f.Fuzz(func(t *testing.T, cursor uint8, listStatus uint16, listBody []byte, subStatus uint16, subBody []byte) {
		c := newFuzzCase()
		z.start(c, map[string]fuzzAnswer{
			"listinvoices": {status: fuzzStatus(listStatus), body: listBody},
			"subscribe":    {status: fuzzStatus(subStatus), body: subBody},
		}, "listinvoices", "subscribe")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ch, wait, err := z.node.SubscribeSettled(ctx, uint64(cursor))
		if err != nil {
			t.Fatal(err)
		}
		var got []lightning.Invoice
		done := make(chan struct{})
		go func() {
			defer close(done)
			for inv := range ch {
				got = append(got, inv)
			}
		}()
		select {
		case <-z.logs.streamEnded(): // the first stream is over: it resubscribes
		case <-done: // the subscription ended
		case <-time.After(5 * time.Second):
			t.Fatalf("the subscription neither resubscribed nor ended within 5 s")
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the subscription did not end within 5 s of its context")
		}
		subErr := wait()
		z.checkLogs(t)
		if subErr != nil {
			z.checkError(t, "subscription", subErr)
		}

		// What lnd sent: the backlog (if it was read) and the stream.
		var views []wireInvoiceView
		if cursor == 0 && fuzzStatus(listStatus) == 200 {
			var p struct {
				Invoices []wireInvoiceView `json:"invoices"`
			}
			if json.Unmarshal(z.sent(c, listBody), &p) == nil {
				views = p.Invoices
			}
		}
		backlog := settledEntries(views)
		if fuzzStatus(subStatus) == 200 {
			views = append(views, streamViews(z.sent(c, subBody))...)
		}
		entries := settledEntries(views)
		z.mu.Lock()
		subFrom := slices.Clone(z.subFrom)
		z.mu.Unlock()
		// The backlog's first settlement: the stream replays what comes
		// after it.
		replayFrom := uint64(0)
		if cursor == 0 && len(subFrom) > 0 {
			first := uint64(0)
			for _, e := range backlog {
				if e.iok && e.idx > 0 && (first == 0 || e.idx < first) {
					first = e.idx
				}
			}
			if got, err := strconv.ParseUint(subFrom[0], 10, 64); err != nil || got != first {
				t.Fatalf("from cursor 0 the stream replays from settle index %q; the backlog's first settlement is %d", subFrom[0], first)
			}
			replayFrom = first
		}

		last := uint64(cursor)
		for _, inv := range got {
			if inv.State != lightning.InvoiceSettled || inv.SettleIndex <= last {
				t.Fatalf("delivered %s with settle index %d after %d", inv.State, inv.SettleIndex, last)
			}
			last = inv.SettleIndex
			found := false
			for _, e := range entries {
				if e.ok && e.hash == inv.PaymentHash && e.iok && e.idx == inv.SettleIndex {
					checkInvoice(t, inv, e.v)
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("delivered invoice %s (settle index %d) is none lnd sent", inv.PaymentHash, inv.SettleIndex)
			}
		}

		// Nothing settled is dropped in silence.
		covered, broken := uint64(cursor), subErr != nil
		passed := map[string]bool{}
		for _, inv := range got {
			covered = max(covered, inv.SettleIndex)
		}
		for _, e := range z.logs.entries() {
			switch {
			case e["level"] == "ERROR":
				if h, ok := e["payment_hash"].(string); ok {
					passed[h] = true
				}
				if idx, ok := e["settle_index"].(float64); ok {
					covered = max(covered, uint64(idx))
				}
			case e["level"] == "WARN" && strings.Contains(e["msg"].(string), "invoice stream ended"):
				if e["err"] != "EOF" {
					broken = true
				}
			}
		}
		if broken {
			return // the resubscription replays what the broken stream did not deliver
		}
		for _, e := range entries {
			delivered := false
			for _, inv := range got {
				delivered = delivered || (e.ok && inv.PaymentHash == e.hash && e.iok && inv.SettleIndex == e.idx)
			}
			inBacklog := slices.ContainsFunc(backlog, func(b settledEntry) bool { return b.v == e.v })
			switch {
			case delivered, e.iok && e.idx > 0 && e.idx <= covered:
			case inBacklog && replayFrom > 0 && e.iok && e.idx > replayFrom: // lnd's stream replays it
			case e.ok && passed[e.hash.String()], passed[fmt.Sprintf("%.64q", e.v.RHash)]: // an undecodable hash is logged quoted
			default:
				t.Fatalf("settled invoice %q (settle index %q) neither delivered nor logged; log:\n%s", e.v.RHash, e.v.SettleIndex, z.logs.text())
			}
		}
	})
}

// FuzzInfo: Info with any GetInfo answer, for a vaspd configured for
// regtest. The node's key it reports is a compressed public key in hex,
// and is what lnd said; its network is regtest, from an answer naming one
// chain, bitcoin, on regtest; its alias is lnd's, at most 32 bytes of
// UTF-8.
func FuzzInfo(f *testing.F) {
	info := func(chains, alias string) []byte {
		return []byte(`{"identity_pubkey":"02` + strings.Repeat("ab", 32) + `","alias":"` + alias + `","chains":` + chains + `}`)
	}
	f.Add(uint16(0), info(`[{"chain":"bitcoin","network":"regtest"}]`, "fuzz"))
	f.Add(uint16(0), info(`[{"chain":"bitcoin","network":"mainnet"}]`, "fuzz"))
	f.Add(uint16(0), info(`[{"chain":"bitcoin","network":"testnet4"}]`, "fuzz"))
	f.Add(uint16(0), info(`[{"chain":"bitcoin","network":"regtest"},{"chain":"bitcoin","network":"mainnet"}]`, "fuzz"))
	f.Add(uint16(0), info(`[{"chain":"litecoin","network":"regtest"}]`, "fuzz"))
	f.Add(uint16(0), info(`null`, "fuzz"))
	f.Add(uint16(0), info(`[{"chain":"bitcoin","network":"regtest"}]`, strings.Repeat("é", 17)))
	f.Add(uint16(0), info(`[{"chain":"bitcoin","network":"regtest"}]`, `\ud800`))
	f.Add(uint16(0), []byte(`{"identity_pubkey":"02`+strings.Repeat("ab", 31)+`","chains":[]}`))
	f.Add(uint16(0), []byte(`{"identity_pubkey":"`+strings.Repeat("\n", 600)+`"}`))
	f.Add(uint16(313), []byte(`{"code":14,"message":"waiting to start, RPC services not available"}`))
	z := newLNDFuzz(f, nil)
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		c := newFuzzCase()
		z.start(c, map[string]fuzzAnswer{"getinfo": {status: fuzzStatus(status), body: body}})
		o := lnd.Options{RESTURL: z.srv.URL, TLSCertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: z.srv.Certificate().Raw}),
			Macaroon: z.macaroon, DB: z.db, Network: "regtest", RequestTimeout: time.Second}
		n, err := lnd.New(o)
		if err != nil {
			t.Fatal(err)
		}
		info, err := n.Info(context.Background())
		if err != nil {
			z.checkError(t, "Info", err)
			return
		}
		var r struct {
			IdentityPubkey string `json:"identity_pubkey"`
			Alias          string `json:"alias"`
			Chains         []struct {
				Chain   string `json:"chain"`
				Network string `json:"network"`
			} `json:"chains"`
		}
		if json.Unmarshal(z.sent(c, body), &r) != nil || r.IdentityPubkey != info.PubKey {
			t.Fatalf("pubkey %q from answer %q", info.PubKey, z.sent(c, body))
		}
		if b, err := hex.DecodeString(info.PubKey); err != nil || len(b) != 33 || (b[0] != 2 && b[0] != 3) {
			t.Fatalf("pubkey %q is no compressed public key in hex", info.PubKey)
		}
		if info.Network != "regtest" || len(r.Chains) != 1 || r.Chains[0].Chain != "bitcoin" || r.Chains[0].Network != "regtest" {
			t.Fatalf("network %q from chains %+v; want regtest, from one bitcoin chain on regtest", info.Network, r.Chains)
		}
		if info.Alias != r.Alias || len(info.Alias) > 32 || !utf8.ValidString(info.Alias) {
			t.Fatalf("alias %q from lnd's %q: want lnd's, at most 32 bytes of UTF-8", info.Alias, r.Alias)
		}
	})
}
