//go:build unix

package regtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// LND is one lnd node of the network.
type LND struct {
	Name          string // "alice" or "bob"
	Dir           string // --lnddir
	RPCAddr       string // gRPC host:port (used by lncli)
	RESTAddr      string // REST host:port
	P2PAddr       string // peer host:port
	TLSCert       string // path of the node's self-signed tls.cert
	AdminMacaroon string // path of admin.macaroon
	PubKey        string // identity public key, hex

	bin  string
	args []string
	proc *process
}

// RESTURL is the base URL of the node's REST API.
func (l *LND) RESTURL() string { return "https://" + l.RESTAddr }

func (l *LND) start() error {
	p, err := startProcess(l.Name, filepath.Join(l.bin, "lnd"), l.args, filepath.Join(l.Dir, "stdout.log"))
	if err != nil {
		return err
	}
	l.proc = p
	return nil
}

// waitRPC waits until lncli can talk to the node (wallet created and
// unlocked; --noseedbackup does both on every start).
func (l *LND) waitRPC(ctx context.Context) error {
	return l.proc.poll(ctx, "RPC", 200*time.Millisecond, func(ctx context.Context) error {
		_, err := l.CLI(ctx, "getinfo")
		return err
	})
}

// waitActive waits until the node is synced to the chain and its server is
// fully started (connect fails with "server is still in the process of
// starting" before that).
func (l *LND) waitActive(ctx context.Context) error {
	if err := l.proc.poll(ctx, "synced_to_chain", 200*time.Millisecond, func(ctx context.Context) error {
		var info struct {
			Synced bool   `json:"synced_to_chain"`
			PubKey string `json:"identity_pubkey"`
		}
		if err := l.CLIJSON(ctx, &info, "getinfo"); err != nil {
			return err
		}
		if !info.Synced {
			return errors.New("not synced")
		}
		l.PubKey = info.PubKey
		return nil
	}); err != nil {
		return err
	}
	return l.proc.poll(ctx, "SERVER_ACTIVE", 200*time.Millisecond, func(ctx context.Context) error {
		var st struct {
			State string `json:"state"`
		}
		if err := l.CLIJSON(ctx, &st, "state"); err != nil {
			return err
		}
		if st.State != "SERVER_ACTIVE" {
			return fmt.Errorf("state %s", st.State)
		}
		return nil
	})
}

// Restart stops the lnd process gracefully and starts it again on the same
// ports and data, waiting until it is active. Its channels come back with it.
func (l *LND) Restart(ctx context.Context) error {
	if err := l.proc.stop(30 * time.Second); err != nil {
		return err
	}
	if err := l.start(); err != nil {
		return err
	}
	if err := l.waitRPC(ctx); err != nil {
		return err
	}
	return l.waitActive(ctx)
}

// CLI runs lncli against this node and returns its standard output. A
// non-zero exit is an error carrying lncli's standard error.
func (l *LND) CLI(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--lnddir=" + l.Dir, "--network=regtest", "--rpcserver=" + l.RPCAddr}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(l.bin, "lncli"), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		msg := bytes.TrimSpace(append(stderr.Bytes(), stdout.Bytes()...))
		if len(msg) > 2000 {
			msg = msg[:2000]
		}
		return nil, fmt.Errorf("lncli %s (%s): %w: %s", first(args), l.Name, err, msg)
	}
	return stdout.Bytes(), nil
}

// CLIJSON runs lncli and decodes its JSON output into out. (lncli's JSON
// whitespace varies between builds; never parse it as text.)
func (l *LND) CLIJSON(ctx context.Context, out any, args ...string) error {
	b, err := l.CLI(ctx, args...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("lncli %s (%s): decode output: %w", first(args), l.Name, err)
	}
	return nil
}

// BakeMacaroon writes a macaroon limited to perms (for example
// "invoices:read") to path.
func (l *LND) BakeMacaroon(ctx context.Context, path string, perms ...string) error {
	args := append([]string{"bakemacaroon", "--save_to=" + path}, perms...)
	_, err := l.CLI(ctx, args...)
	return err
}

// NewAddress returns a new P2WKH address of the node's wallet.
func (l *LND) NewAddress(ctx context.Context) (string, error) {
	var r struct {
		Address string `json:"address"`
	}
	if err := l.CLIJSON(ctx, &r, "newaddress", "p2wkh"); err != nil {
		return "", err
	}
	if r.Address == "" {
		return "", fmt.Errorf("%s: newaddress returned no address", l.Name)
	}
	return r.Address, nil
}

// DecodePayReq runs `lncli decodepayreq` and returns the fields lnd
// recovered from the BOLT11 string (destination, num_msat, description_hash,
// payment_hash, expiry, …) as lnd prints them.
func (l *LND) DecodePayReq(ctx context.Context, bolt11 string) (map[string]any, error) {
	var m map[string]any
	if err := l.CLIJSON(ctx, &m, "decodepayreq", bolt11); err != nil {
		return nil, err
	}
	return m, nil
}

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
