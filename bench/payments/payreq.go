package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd/uma"
)

// sender is a minimal sending VASP: the keys it signs payreqs with,
// published at /.well-known/lnurlpubkey on loopback so that the receiver
// fetches and verifies them as it would any counterparty's.
type sender struct {
	keys   *uma.Keys
	domain string
	srv    *http.Server
}

func newSender() (*sender, error) {
	k, err := uma.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sender{
		keys:   &uma.Keys{Signing: k, Encryption: k},
		domain: fmt.Sprintf("localhost:%d", ln.Addr().(*net.TCPAddr).Port),
	}
	body, err := json.Marshal(s.keys.PubKeyResponse(time.Now().Add(time.Hour)))
	if err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/lnurlpubkey", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sender) close() { _ = s.srv.Close() }

// receiverKeys fetches a VASP's published keys.
func receiverKeys(ctx context.Context, c *http.Client, domain string) (*uma.PublicKeys, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uma.PubKeyURL(domain), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	r, err := uma.ParsePubKeyResponse(b)
	if err != nil {
		return nil, err
	}
	return r.PublicKeys()
}

// payreqs builds n signed payreqs from $alice at the sender to receiver,
// each with its own nonce and travel-rule data encrypted to the receiver:
// what vasp.Service.CreateQuote sends, receiver-locked at €10.00.
func (s *sender) payreqs(n int, receiverEnc *uma.PublicKey, currency string) ([][]byte, error) {
	me := "$alice@" + s.domain
	travel, err := json.Marshal(map[string]any{"originator": map[string]any{"name": "Alice Bench", "address": me}})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	now := time.Now()
	for i := range out {
		enc, err := uma.EncryptTravelRuleInfo(receiverEnc, travel)
		if err != nil {
			return nil, err
		}
		pr := &uma.PayRequest{
			Amount: 10_00, SendingCurrency: currency, ReceivingCurrency: currency,
			Comment: "bench", PayeeData: uma.UMADataOptions("name"),
			PayerData: &uma.PayerData{Identifier: me, Name: "Alice Bench", Compliance: &uma.CompliancePayerData{
				KycStatus: uma.KycVerified, NodePubKey: s.keys.Signing.PublicKey().Hex(), EncryptedTravelRuleInfo: enc,
				UtxoCallback: uma.BaseURL(s.domain) + "/api/uma/utxoCallback?txid=" + url.QueryEscape(fmt.Sprint("bench-", i)),
			}},
		}
		if err := pr.Sign(s.keys.Signing, now); err != nil {
			return nil, err
		}
		if out[i], err = json.Marshal(pr); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// payreqResult is the receiver's throughput under concurrent payreqs.
type payreqResult struct {
	Sent, OK  int
	Seconds   float64
	PerSecond float64 // successful payreqs per second
	Latency   latencies
	FirstErr  string
	Samples   [][]byte // a few answers, verified after the clock stops
}

// loadPayreqs POSTs bodies to callback with c workers until all are sent
// or max passes, and counts the signed invoices that come back.
func loadPayreqs(ctx context.Context, client *http.Client, callback string, bodies [][]byte, c int, max time.Duration) payreqResult {
	var (
		next    atomic.Int64
		ok      atomic.Int64
		mu      sync.Mutex
		res     payreqResult
		wg      sync.WaitGroup
		lat     = make([]time.Duration, len(bodies))
		done    = make([]bool, len(bodies))
		stopped = time.Now().Add(max)
	)
	began := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) || ctx.Err() != nil || time.Now().After(stopped) {
					return
				}
				t0 := time.Now()
				b, err := post(ctx, client, callback, bodies[i])
				lat[i], done[i] = time.Since(t0), true
				if err != nil {
					mu.Lock()
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
				if i < 8 {
					mu.Lock()
					res.Samples = append(res.Samples, b)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(began).Seconds()
	for i := range done {
		if done[i] {
			res.Sent++
			res.Latency = append(res.Latency, lat[i])
		}
	}
	res.OK = int(ok.Load())
	res.PerSecond = float64(res.OK) / res.Seconds
	return res
}

func post(ctx context.Context, client *http.Client, u string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("payreq: HTTP %d: %.300s", resp.StatusCode, b)
	}
	return b, nil
}

// checkAnswers parses and verifies sample payreq answers: each must be a
// signed UMA answer from the receiver with an invoice in it.
func checkAnswers(samples [][]byte, receiverSigning *uma.PublicKey, payer, receiver string) error {
	if len(samples) == 0 {
		return fmt.Errorf("no payreq answer to check")
	}
	for _, b := range samples {
		r, err := uma.ParsePayReqResponse(b)
		if err != nil {
			return fmt.Errorf("payreq answer: %w", err)
		}
		if r.PR == "" || !r.IsUMA() {
			return fmt.Errorf("payreq answer has no invoice or no UMA payee data: %.200s", b)
		}
		if err := r.Verify(receiverSigning, payer, receiver); err != nil {
			return fmt.Errorf("payreq answer does not verify: %w", err)
		}
	}
	return nil
}
