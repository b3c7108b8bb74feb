//go:build unix

package regtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// BTCD is the regtest chain backend.
type BTCD struct {
	Dir      string // data, logs, rpc.cert
	RPCAddr  string // host:port of the JSON-RPC server (TLS, cert in RPCCert)
	P2PAddr  string
	RPCCert  string
	RPCUser  string
	RPCPass  string
	bin      string
	proc     *process
	client   *http.Client
	miningTo string
}

func (b *BTCD) start(ctx context.Context, miningAddr string) error {
	args := []string{
		"--regtest",
		"-C", filepath.Join(b.Dir, "btcd.conf"), // empty: never read ~/.btcd/btcd.conf
		"--datadir=" + filepath.Join(b.Dir, "data"),
		"--logdir=" + filepath.Join(b.Dir, "logs"),
		"--rpccert=" + b.RPCCert,
		"--rpckey=" + filepath.Join(b.Dir, "rpc.key"),
		"--rpcuser=" + b.RPCUser, "--rpcpass=" + b.RPCPass,
		"--rpclisten=" + b.RPCAddr,
		"--listen=" + b.P2PAddr,
		"--nodnsseed", "--txindex", "--debuglevel=info",
	}
	if miningAddr != "" {
		args = append(args, "--miningaddr="+miningAddr)
	}
	p, err := startProcess("btcd", filepath.Join(b.bin, "btcd"), args, filepath.Join(b.Dir, "stdout.log"))
	if err != nil {
		return err
	}
	b.proc, b.miningTo, b.client = p, miningAddr, nil
	return p.poll(ctx, "RPC", 100*time.Millisecond, func(ctx context.Context) error {
		_, err := b.BlockCount(ctx)
		return err
	})
}

// restartMining restarts btcd so that generated blocks pay miningAddr: btcd
// v0.24 answers generatetoaddress with "Method not found".
func (b *BTCD) restartMining(ctx context.Context, miningAddr string) error {
	if err := b.proc.stop(10 * time.Second); err != nil {
		return err
	}
	return b.start(ctx, miningAddr)
}

// BlockCount returns the chain height.
func (b *BTCD) BlockCount(ctx context.Context) (int64, error) {
	var n int64
	err := b.call(ctx, "getblockcount", nil, &n)
	return n, err
}

// Generate mines n blocks to the mining address (alice's wallet).
func (b *BTCD) Generate(ctx context.Context, n int) error {
	if b.miningTo == "" {
		return fmt.Errorf("btcd: no mining address configured")
	}
	return b.call(ctx, "generate", []any{n}, nil)
}

// call makes one JSON-RPC 1.0 request over TLS, trusting only btcd's
// self-signed certificate.
func (b *BTCD) call(ctx context.Context, method string, params []any, out any) error {
	if b.client == nil {
		pem, err := os.ReadFile(b.RPCCert)
		if err != nil {
			return err // not written yet: btcd still starting
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("btcd: bad rpc cert %s", b.RPCCert)
		}
		b.client = &http.Client{
			Timeout:   60 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		}
	}
	if params == nil {
		params = []any{}
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+b.RPCAddr, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(b.RPCUser, b.RPCPass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("btcd %s: HTTP %d: %w", method, resp.StatusCode, err)
	}
	if r.Error != nil {
		return fmt.Errorf("btcd %s: %d %s", method, r.Error.Code, r.Error.Message)
	}
	if out != nil {
		return json.Unmarshal(r.Result, out)
	}
	return nil
}
