package lnd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/lnd/internal/rest"
)

// SubscribeSettled streams settled invoices with a settle index above
// afterSettleIndex, in settle-index order, until ctx ends.
//
// It holds one SubscribeInvoices stream (settle_index = the last index
// delivered, so lnd replays everything settled since) and reconnects with
// capped exponential back-off whenever the stream breaks, resuming from the
// last invoice actually handed to the caller: nothing is skipped and nothing
// is delivered twice. As a safety net against a stream that is up but
// silently missed an event, the open invoices this process created are
// looked up every PollInterval; a settlement the stream has not delivered
// forces a resubscription, which replays it in order.
//
// Cursor 0 means "from the beginning": lnd's stream cannot replay from
// index 0, so the first settlement is first looked for with ListInvoices
// (listBacklog), a page at a time, and the stream resumes after it.
//
// A settled invoice whose amounts fail the boundary checks (wire.go), or
// that comes without a settle index or with one that does not parse, is
// logged at ERROR and passed over, not delivered, so it neither reaches
// the ledger nor holds up the settlements after it (passOver).
//
// The subscription ends with an error only when retrying cannot help
// (rejected macaroon, certificate mismatch).
func (n *Node) SubscribeSettled(ctx context.Context, afterSettleIndex uint64) (<-chan lightning.Invoice, func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s := &subscription{n: n, out: make(chan lightning.Invoice)}
	s.cursor.Store(afterSettleIndex)
	go func() {
		err := s.run(ctx)
		s.mu.Lock()
		s.err = n.rest.Safe(err)
		s.mu.Unlock()
		close(s.out)
	}()
	return s.out, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.err
	}, nil
}

type subscription struct {
	n      *Node
	out    chan lightning.Invoice
	cursor atomic.Uint64 // settle index of the last invoice delivered

	mu           sync.Mutex
	err          error
	cancelStream context.CancelFunc // the live stream, for the poller to break
}

func (s *subscription) run(ctx context.Context) error {
	pollDone := make(chan struct{})
	pctx, stopPoll := context.WithCancel(ctx)
	go func() { defer close(pollDone); s.poll(pctx) }()
	defer func() { stopPoll(); <-pollDone }()

	backoff := 100 * time.Millisecond
	for {
		sctx, cancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.cancelStream = cancel
		s.mu.Unlock()
		before := s.cursor.Load()
		err := s.streamOnce(sctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if rest.IsPermanent(err) {
			return s.n.wrap("subscribeinvoices", err)
		}
		if s.cursor.Load() != before {
			backoff = 100 * time.Millisecond // it worked for a while
		}
		s.n.log.Warn("lnd: invoice stream ended; resubscribing", "err", s.n.rest.Safe(err),
			"settle_index", s.cursor.Load(), "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.n.opts.ReconnectMax)
	}
}

// streamOnce delivers the backlog and live settlements of one stream.
func (s *subscription) streamOnce(ctx context.Context) error {
	if s.cursor.Load() == 0 {
		if err := s.listBacklog(ctx); err != nil {
			return err
		}
	}
	path := "/v1/invoices/subscribe?settle_index=" + strconv.FormatUint(s.cursor.Load(), 10)
	return s.n.rest.Stream(ctx, http.MethodGet, path, nil, func(raw json.RawMessage) (bool, error) {
		var w wireInvoice
		if err := json.Unmarshal(raw, &w); err != nil {
			return true, err
		}
		if w.State != "SETTLED" {
			return false, nil // additions, cancellations, accepted HTLCs
		}
		inv, err := w.toInvoice()
		if err == nil && inv.SettleIndex == 0 {
			err = errNoSettleIndex
		}
		if err != nil {
			s.passOver(&w, err)
			return false, nil
		}
		return false, s.deliver(ctx, inv)
	})
}

// errNoSettleIndex: lnd reported an invoice settled without its settle
// index, so it has no place in the order of settlements (deliver would
// take it for a replay and drop it).
var errNoSettleIndex = errors.New("lnd: field settle_index: a settled invoice without one")

// passOver handles a settled invoice that fails toInvoice's checks (an
// amount out of range, a malformed field). It is not delivered: an amount
// we cannot trust must not reach the ledger. Neither may it end the stream
// or break it for a resubscription: lnd would replay it every time, and
// every settlement after it would wait for good. So it is logged at ERROR
// (payment hash, settle index, what is wrong; one line, lnd's text
// bounded) and the cursor moves past it; the caller still has the payment
// as unsettled, and its sweep (LookupInvoice by hash, which fails the same
// way) credits it once lnd answers sanely — once: the stream never
// delivered it. One whose settle index is 0 (errNoSettleIndex) or does not
// parse has no place in the order: it is logged and passed over the same
// way, the cursor where it was (a resubscription from before it replays
// it, and it is logged again).
func (s *subscription) passOver(w *wireInvoice, cause error) {
	var index any
	idx, ierr := unum("settle_index", w.SettleIndex)
	switch {
	case ierr != nil:
		index = fmt.Sprintf("%.40q", w.SettleIndex) // lnd's, as it wrote it: bounded
	case idx != 0 && idx <= s.cursor.Load():
		return // replayed by a resubscription: passed over already
	default:
		index = idx
	}
	hash := fmt.Sprintf("%.64q", w.RHash) // lnd's, as it wrote it: bounded
	if h, herr := b64Hash("r_hash", w.RHash); herr == nil && !h.IsZero() {
		hash = h.String()
		s.n.mu.Lock()
		delete(s.n.open, h) // the poll would find the same fault
		s.n.mu.Unlock()
	}
	s.n.log.Error("lnd: settled invoice not delivered: lnd's answer fails its checks; the payment is left to the caller's lookups",
		"payment_hash", hash, "settle_index", index, "err", s.n.rest.Safe(cause))
	if ierr == nil && idx != 0 {
		s.cursor.Store(idx)
	}
}

// listBacklog starts a subscription from cursor 0. lnd's stream cannot
// replay from settle index 0, so the first settlement — the settled
// invoice with the lowest settle index — is looked for with ListInvoices
// (firstSettled) and delivered, or passed over; the stream then resumes
// from its settle index, and lnd replays every settlement after it in
// order. Nothing of the node's invoices is kept but the first settlement
// found: a node's invoices are not all held in memory, however many.
func (s *subscription) listBacklog(ctx context.Context) error {
	first, err := s.firstSettled(ctx)
	if err != nil || first == nil {
		return err // nothing settled yet: the stream delivers what comes
	}
	if first.index > 1 {
		// A search sees every invoice settled before it began, and the
		// lowest settle index among those is the first; but not one
		// settled while it ran on a page it had read. Were none settled
		// as it began, the one it found may not be the first, and the
		// stream, resuming after it, would never replay the one missed.
		// A second search begins after the one found was settled, so it
		// misses nothing. (Settle index 1, the first there can be, needs
		// none; lnd has none when the invoice that had it was settled
		// again, as AMP invoices are.)
		if first, err = s.firstSettled(ctx); err != nil || first == nil {
			return err
		}
	}
	if first.err != nil {
		s.passOver(&first.w, first.err)
		return nil
	}
	return s.deliver(ctx, first.inv)
}

// backlogPage is how many invoices one ListInvoices call asks for.
const backlogPage = 1000

// maxBacklogPages bounds one search of the invoices (firstSettled):
// 10 000 pages of backlogPage, ten million invoices, more than any node
// vaspd is likely to follow holds. An lnd whose pages never end (a bug, a
// hostile proxy) fails the search there, and it is tried again later;
// nothing is delivered from a search that did not end.
const maxBacklogPages = 10_000

// settledFirst is the settled invoice with the lowest settle index found
// so far: as toInvoice made it, or lnd's message and toInvoice's error.
type settledFirst struct {
	inv   lightning.Invoice
	w     wireInvoice
	index uint64
	err   error
}

// firstSettled reads ListInvoices a page at a time, in add order, for the
// settled invoice with the lowest settle index (nil if none is settled).
// It stops at the page holding settle index 1, the lowest there can be.
// Settled invoices without a settle index, or with one that does not
// parse, have no place in the order: they are passed over (passOver) as
// they are read.
func (s *subscription) firstSettled(ctx context.Context) (*settledFirst, error) {
	var first *settledFirst
	var offset uint64
	for pages := 0; ; pages++ {
		if pages == maxBacklogPages {
			return nil, fmt.Errorf("lnd listinvoices: no end after %d pages of %d invoices: the first settlement is not found", maxBacklogPages, backlogPage)
		}
		var page struct {
			Invoices        []wireInvoice `json:"invoices"`
			LastIndexOffset string        `json:"last_index_offset"`
		}
		path := "/v1/invoices?num_max_invoices=" + strconv.Itoa(backlogPage) + "&index_offset=" + strconv.FormatUint(offset, 10)
		if err := s.n.rest.Do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		for i := range page.Invoices {
			w := &page.Invoices[i]
			if w.State != "SETTLED" {
				continue
			}
			inv, err := w.toInvoice()
			if err == nil && inv.SettleIndex == 0 {
				err = errNoSettleIndex
			}
			idx, ierr := unum("settle_index", w.SettleIndex)
			if ierr != nil || idx == 0 {
				s.passOver(w, err)
				continue
			}
			if first == nil || idx < first.index {
				first = &settledFirst{inv: inv, w: *w, index: idx, err: err}
			}
		}
		next, err := unum("last_index_offset", page.LastIndexOffset)
		if err != nil {
			return nil, err
		}
		if (first != nil && first.index == 1) || len(page.Invoices) == 0 || next <= offset {
			return first, nil
		}
		offset = next
	}
}

// deliver hands one invoice to the caller if it is past the cursor.
func (s *subscription) deliver(ctx context.Context, inv lightning.Invoice) error {
	if inv.SettleIndex <= s.cursor.Load() {
		return nil // replayed by a resubscription: already delivered
	}
	select {
	case s.out <- inv:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.cursor.Store(inv.SettleIndex)
	s.n.mu.Lock()
	delete(s.n.open, inv.PaymentHash)
	s.n.mu.Unlock()
	return nil
}

// maxPolledInvoices bounds the lookups of one poll round.
const maxPolledInvoices = 500

// poll is the safety net: it looks up this process's open invoices and
// breaks the stream when one is settled beyond what was delivered.
func (s *subscription) poll(ctx context.Context) {
	// A settlement seen by one round may just be on its way through the
	// stream (or waiting for a slow consumer); only one still undelivered a
	// whole round later means the stream missed it.
	suspects := map[lightning.Hash]bool{}
	t := time.NewTicker(s.n.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.n.clock.Now()
		s.n.mu.Lock()
		hashes := make([]lightning.Hash, 0, min(len(s.n.open), maxPolledInvoices))
		for h, exp := range s.n.open {
			if now.After(exp.Add(time.Minute)) {
				delete(s.n.open, h) // expired unpaid: nothing will settle it
				continue
			}
			if len(hashes) < maxPolledInvoices {
				hashes = append(hashes, h)
			}
		}
		s.n.mu.Unlock()
		next := map[lightning.Hash]bool{}
		for _, h := range hashes {
			inv, err := s.n.LookupInvoice(ctx, h)
			if err != nil {
				if errors.Is(err, lightning.ErrNotFound) {
					s.forget(h)
				}
				continue // lnd unreachable: the stream is reconnecting anyway
			}
			switch {
			case inv.State == lightning.InvoiceCanceled:
				s.forget(h)
			case inv.State == lightning.InvoiceSettled && inv.SettleIndex > s.cursor.Load() && !suspects[h]:
				next[h] = true
			case inv.State == lightning.InvoiceSettled && inv.SettleIndex > s.cursor.Load():
				s.n.log.Warn("lnd: poll found a settlement the stream has not delivered; resubscribing",
					"payment_hash", h.String(), "settle_index", inv.SettleIndex)
				s.mu.Lock()
				if s.cancelStream != nil {
					s.cancelStream()
				}
				s.mu.Unlock()
			case inv.State == lightning.InvoiceSettled:
				s.forget(h)
			}
		}
		suspects = next
	}
}

func (s *subscription) forget(h lightning.Hash) {
	s.n.mu.Lock()
	delete(s.n.open, h)
	s.n.mu.Unlock()
}
