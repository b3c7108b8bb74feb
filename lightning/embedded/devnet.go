package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/vaspd/vaspd/lightning"
	"github.com/vaspd/vaspd/lightning/bolt11"
)

// DevnetPrefix is where DevnetHandler expects to be mounted on vaspd's HTTP
// server; peers are called at <base URL>DevnetPrefix.
const DevnetPrefix = "/devnet/v1/"

// maxDevnetBody bounds devnet request and response bodies.
const maxDevnetBody = 64 << 10

type devnetInfo struct {
	PubKey  string `json:"pubkey"`
	Network string `json:"network"`
	Alias   string `json:"alias"`
}

type devnetPayRequest struct {
	PaymentRequest string `json:"payment_request"`
	AmountMsat     int64  `json:"amount_msat"`
	Payer          string `json:"payer"` // payer node pubkey, hex
}

type devnetPayResponse struct {
	Result        string `json:"result"`             // "SETTLED" or "FAILED"
	Preimage      string `json:"preimage,omitempty"` // hex, when SETTLED
	FailureReason string `json:"failure_reason,omitempty"`
	Message       string `json:"message,omitempty"`
	// Payee is the answering node's pubkey: a refusal counts only from
	// the invoice's payee (peerBook.pay). Absent from older peers.
	Payee string `json:"payee,omitempty"`
}

// DevnetHandler serves the devnet API under DevnetPrefix:
//
//	GET  /devnet/v1/info  → {"pubkey","network","alias"}
//	POST /devnet/v1/pay   {"payment_request","amount_msat","payer"}
//	     → {"result":"SETTLED","preimage","payee"} | {"result":"FAILED","failure_reason","message","payee"}
//
// Every call must carry "Authorization: Bearer <DevnetSecret>"; without a
// configured secret the devnet is off and every call gets 404. A 200 answer
// is final. A 400, 401, 404 or 405, given before any payment is looked at,
// tells the payer its request settled nothing (see notDelivered); anything
// else leaves the payer's payment in flight, to be asked again.
func (n *Node) DevnetHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+DevnetPrefix+"info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, devnetInfo{PubKey: n.pubkey, Network: n.opts.Network, Alias: n.opts.Alias})
	})
	mux.HandleFunc("POST "+DevnetPrefix+"pay", n.handleDevnetPay)
	secret := sha256.Sum256([]byte(n.opts.DevnetSecret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.opts.DevnetSecret == "" {
			http.NotFound(w, r)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(token)) // equal lengths: the compare leaks nothing
		if !ok || subtle.ConstantTimeCompare(got[:], secret[:]) != 1 {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "devnet: bad or missing credentials"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (n *Node) handleDevnetPay(w http.ResponseWriter, r *http.Request) {
	var req devnetPayRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxDevnetBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "devnet: malformed request"})
		return
	}
	if !validPubKey(req.Payer) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "devnet: bad payer"})
		return
	}
	failed := func(ref *refusal) {
		writeJSON(w, http.StatusOK, devnetPayResponse{Result: "FAILED", FailureReason: string(ref.reason), Message: ref.message, Payee: n.pubkey})
	}
	inv, err := bolt11.Decode(req.PaymentRequest, n.opts.Network)
	if err != nil {
		failed(refuse("invalid invoice"))
		return
	}
	if inv.Destination != n.pubkey {
		failed(&refusal{reason: lightning.FailureNoRoute, message: "invoice is not for this node"})
		return
	}
	pre, ref, err := n.settleIncoming(r.Context(), inv.PaymentHash, req.AmountMsat, req.Payer)
	if err != nil {
		n.log.Error("devnet settle", "payment_hash", inv.PaymentHash.String(), "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "devnet: try again"})
		return
	}
	if ref != nil {
		failed(ref)
		return
	}
	writeJSON(w, http.StatusOK, devnetPayResponse{Result: "SETTLED", Preimage: hexHash(pre), Payee: n.pubkey})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func validPubKey(s string) bool {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 33 {
		return false
	}
	_, err = secp256k1.ParsePubKey(b)
	return err == nil
}

// peerBook maps payee pubkeys to devnet peers' base URLs.
type peerBook struct {
	secret  string
	client  *http.Client
	network string

	pinned   map[string]string // pubkey → base URL, from configuration; read only
	unpinned []string          // base URLs whose pubkey is learned; read only

	mu          sync.Mutex
	learned     map[string]string
	lastRefresh time.Time
	refreshing  chan struct{} // while a refresh runs; closed when it ends
}

func newPeerBook(peers []string, secret string, client *http.Client, network string) (*peerBook, error) {
	b := &peerBook{secret: secret, client: client, network: network, pinned: map[string]string{}, learned: map[string]string{}}
	for _, p := range peers {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		pub, base, pinned := strings.Cut(p, "@")
		if !pinned {
			base = p
		}
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("peer %q: want http(s)://host[:port] or <pubkey>@http(s)://host[:port]", p)
		}
		base = strings.TrimRight(u.String(), "/")
		if pinned {
			pub = strings.ToLower(pub)
			if !validPubKey(pub) {
				return nil, fmt.Errorf("peer %q: bad pubkey", p)
			}
			b.pinned[pub] = base
		} else {
			b.unpinned = append(b.unpinned, base)
		}
	}
	if len(b.pinned)+len(b.unpinned) > 0 && secret == "" {
		return nil, errors.New("devnet peers configured without a devnet secret")
	}
	return b, nil
}

// lookup finds the peer serving pubkey, asking unpinned peers who they are
// (at most once a second) when it is not known yet.
//
// The lock guards the maps and the refresh's schedule, never a call: a
// refresh asks the peers without it, so a slow or hanging peer delays only
// the lookups that wait for that refresh's answer (those of pubkeys not
// known yet), not the payments to peers already known. At most one refresh
// runs at a time; a lookup that finds one running waits for it instead of
// repeating the same calls.
func (b *peerBook) lookup(ctx context.Context, pubkey string) (string, bool) {
	b.mu.Lock()
	if u, ok := b.known(pubkey); ok || len(b.unpinned) == 0 {
		b.mu.Unlock()
		return u, ok
	}
	if running := b.refreshing; running != nil {
		b.mu.Unlock()
		select {
		case <-running:
		case <-ctx.Done():
			return "", false
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.known(pubkey)
	}
	if time.Since(b.lastRefresh) < time.Second {
		b.mu.Unlock()
		return "", false
	}
	b.lastRefresh = time.Now()
	done := make(chan struct{})
	b.refreshing = done
	unpinned := b.unpinned
	b.mu.Unlock()

	learned := b.ask(ctx, unpinned)

	b.mu.Lock()
	defer b.mu.Unlock()
	for pub, base := range learned {
		b.learned[pub] = base
	}
	b.refreshing = nil
	close(done)
	return b.known(pubkey)
}

// known is the peer serving pubkey, if it is pinned or learned. b.mu is held.
func (b *peerBook) known(pubkey string) (string, bool) {
	if u, ok := b.pinned[pubkey]; ok {
		return u, true
	}
	u, ok := b.learned[pubkey]
	return u, ok
}

// ask asks every peer in bases at once who it is, and returns the pubkeys
// of those on the node's network that answered.
func (b *peerBook) ask(ctx context.Context, bases []string) map[string]string {
	type answer struct{ pub, base string }
	answers := make(chan answer, len(bases))
	var wg sync.WaitGroup
	for _, base := range bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			var info devnetInfo
			if err := b.call(ctx, http.MethodGet, base+DevnetPrefix+"info", nil, &info); err == nil &&
				validPubKey(info.PubKey) && info.Network == b.network {
				answers <- answer{strings.ToLower(info.PubKey), base}
			}
		}()
	}
	wg.Wait()
	close(answers)
	learned := map[string]string{}
	for a := range answers {
		learned[a.pub] = a.base
	}
	return learned
}

// pay asks the peer at base to settle a payment to payee; ref is the
// payee's refusal. A non-nil error means the outcome is unknown, unless
// notDelivered says it settled nothing.
func (b *peerBook) pay(ctx context.Context, base, payee string, req devnetPayRequest) (lightning.Hash, *refusal, error) {
	var resp devnetPayResponse
	if err := b.call(ctx, http.MethodPost, base+DevnetPrefix+"pay", req, &resp); err != nil {
		return lightning.Hash{}, nil, err
	}
	if resp.Result == "FAILED" && resp.Payee != "" && !strings.EqualFold(resp.Payee, payee) {
		// Another node answers at the payee's address: its "no" tells
		// nothing of what the payee did with an earlier delivery. The
		// address is learned again at the next lookup.
		b.mu.Lock()
		if b.learned[payee] == base {
			delete(b.learned, payee)
		}
		b.mu.Unlock()
		return lightning.Hash{}, nil, wrongPeerError{base: base}
	}
	switch resp.Result {
	case "SETTLED":
		pre, err := parseHash(resp.Preimage)
		if err != nil {
			return lightning.Hash{}, nil, fmt.Errorf("devnet: bad preimage in answer")
		}
		return pre, nil, nil
	case "FAILED":
		reason := lightning.FailureReason(resp.FailureReason)
		switch reason {
		case lightning.FailureIncorrectDetails, lightning.FailureNoRoute, lightning.FailureError:
		default:
			reason = lightning.FailureError
		}
		return lightning.Hash{}, &refusal{reason: reason, message: resp.Message}, nil
	}
	return lightning.Hash{}, nil, fmt.Errorf("devnet: unexpected answer %q", resp.Result)
}

// wrongPeerError: the peer asked to pay is not the invoice's payee.
type wrongPeerError struct{ base string }

func (e wrongPeerError) Error() string {
	return fmt.Sprintf("devnet: %s is not the payee's node (any more)", e.base)
}

// httpStatusError is a non-200 answer.
type httpStatusError struct{ status int }

func (e httpStatusError) Error() string { return fmt.Sprintf("devnet: HTTP %d", e.status) }

func (b *peerBook) call(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// Never asked for; its body is the raw connection, which no client
		// timeout or context bounds, so it is not drained.
		return httpStatusError{resp.StatusCode}
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDevnetBody))
		return httpStatusError{resp.StatusCode}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDevnetBody)).Decode(out); err != nil {
		return fmt.Errorf("devnet: decode answer: %w", err)
	}
	return nil
}

// notDelivered reports whether a failed call certainly settled nothing:
// another node than the payee answered (wrongPeerError); the connection was
// never made, so no request bytes were sent (net/http
// does not silently resend a POST on another connection); or the answer
// is one the devnet handler gives before it looks at a payment — 400 (the
// request unread), 401 (another secret), 404 and 405 (no devnet served
// there: a payee process restarted without it, or no vaspd at all).
// Anything else (a timeout, a 5xx, a broken answer) may come after the
// payee settled.
func notDelivered(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	if errors.As(err, new(wrongPeerError)) {
		return true // answered by a node that is not the payee
	}
	var status httpStatusError
	if errors.As(err, &status) {
		switch status.status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed:
			return true
		}
	}
	return false
}
