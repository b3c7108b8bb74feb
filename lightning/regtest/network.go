//go:build unix

package regtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvBinDir names the directory holding btcd, btcctl, lnd and lncli.
const EnvBinDir = "VASPD_LN_BIN"

// Versions the binaries must be built from (scripts/ci/lnd.sh checks them).
const (
	BTCDVersion = "v0.24.2"
	LNDVersion  = "v0.20.0-beta"
)

// BinDir returns the directory named by VASPD_LN_BIN, or an error saying why
// the regtest binaries are unavailable.
func BinDir() (string, error) {
	dir := os.Getenv(EnvBinDir)
	if dir == "" {
		return "", fmt.Errorf("%s is not set (run scripts/ci/lnd.sh to build btcd %s and lnd %s)", EnvBinDir, BTCDVersion, LNDVersion)
	}
	for _, b := range []string{"btcd", "lnd", "lncli"} {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s has no executable %s (run scripts/ci/lnd.sh)", EnvBinDir, dir, b)
		}
	}
	return dir, nil
}

// Skip skips t with one line when the binaries are unavailable and returns
// their directory otherwise.
func Skip(t testing.TB) string {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		t.Skip("regtest lnd network unavailable: " + err.Error())
	}
	return dir
}

// Options tune Start. The zero value is a usable default.
type Options struct {
	BinDir string // default: BinDir()
	Dir    string // default: a new temporary directory, removed by Close

	// ChannelSat is the capacity of the alice→bob channel (default
	// 10,000,000 sat) and PushSat the part of it given to bob at opening
	// (default half), so that both nodes can pay each other.
	ChannelSat int64
	PushSat    int64

	// RPCTimeout bounds how long a started lnd may take to answer RPC
	// (default 60 s; its wallet is open 10–15 s after start on a 2-core
	// machine), and AttemptTimeout one whole start attempt (default 150 s;
	// a healthy one takes 25–40 s). A stalled attempt is killed and Start
	// begins again on fresh ports, up to three attempts within ctx.
	RPCTimeout     time.Duration
	AttemptTimeout time.Duration
}

// Network is a running btcd + alice + bob.
type Network struct {
	Dir   string
	BTCD  *BTCD
	Alice *LND
	Bob   *LND

	removeDir      bool
	btcdHome       string // ~/.btcd that btcd creates even with -C; removed if we created it
	removeBTCDHome bool
	closeOnce      sync.Once
	closeErr       error
}

// StartT starts a network for a test and registers its Close with
// t.Cleanup; it skips the test (one line) when the binaries are missing and
// fails it, with the daemons' log tails, when the network does not come up.
func StartT(t testing.TB, opts Options) *Network {
	t.Helper()
	if opts.BinDir == "" {
		opts.BinDir = Skip(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	n, err := Start(ctx, opts)
	if n != nil {
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("regtest logs:\n%s", n.LogTail(40))
			}
			if err := n.Close(); err != nil {
				t.Errorf("regtest close: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("regtest start: %v", err)
	}
	return n
}

// Start brings up btcd, alice and bob, funds alice and opens an active
// alice→bob channel with PushSat on bob's side. On error the returned
// Network (if non-nil) still has to be closed; its logs explain the failure.
// ctx bounds the whole start-up (4 minutes if it has no deadline).
func Start(ctx context.Context, opts Options) (*Network, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 4*time.Minute)
		defer cancel()
	}
	if opts.BinDir == "" {
		dir, err := BinDir()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	if opts.ChannelSat == 0 {
		opts.ChannelSat = 10_000_000
	}
	if opts.PushSat == 0 {
		opts.PushSat = opts.ChannelSat / 2
	}
	if opts.RPCTimeout <= 0 {
		opts.RPCTimeout = 60 * time.Second
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 150 * time.Second
	}
	if opts.PushSat < 0 || opts.PushSat >= opts.ChannelSat {
		return nil, fmt.Errorf("regtest: PushSat %d outside [0, ChannelSat %d)", opts.PushSat, opts.ChannelSat)
	}
	for attempt := 1; ; attempt++ {
		n := &Network{Dir: opts.Dir}
		if n.Dir == "" {
			d, err := os.MkdirTemp("", "vaspd-regtest-")
			if err != nil {
				return nil, err
			}
			n.Dir, n.removeDir = d, true
		}
		if u, err := user.Current(); err == nil && u.HomeDir != "" {
			n.btcdHome = filepath.Join(u.HomeDir, ".btcd")
			if _, err := os.Stat(n.btcdHome); errors.Is(err, os.ErrNotExist) {
				n.removeBTCDHome = true
			}
		}
		actx, cancel := context.WithTimeout(ctx, opts.AttemptTimeout)
		err := n.start(actx, opts)
		stalled := errors.Is(err, errStalled) || actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return n, nil
		}
		// Start again on fresh ports and a fresh directory (only in a
		// directory of our own: a caller's Dir now holds a half-started
		// network) when the failure is the machine's, not the code's:
		//   - the ports are chosen free, then released for the daemons to
		//     bind; another process may take one in between;
		//   - an lnd can stall in start-up and never answer (seen once in
		//     CI: alice silent for three minutes while bob was ready, and
		//     deaf to SIGTERM). A node past RPCTimeout, or an attempt
		//     past AttemptTimeout, is killed and its logs kept.
		if attempt < maxAttempts && n.removeDir && ctx.Err() == nil {
			switch {
			case n.portTaken():
				tail := n.LogTail(5)
				if cerr := n.Close(); cerr == nil {
					fmt.Fprintf(os.Stderr, "regtest: a daemon's port was taken (%v); starting again on new ports\n%s", err, tail)
					continue
				}
			case stalled:
				tail := n.LogTail(40)
				// Nothing of a stalled attempt is worth a graceful
				// stop: kill it, and start again once every process
				// is gone.
				if cerr := n.close(0, 0); !errors.Is(cerr, errSurvivedKill) {
					fmt.Fprintf(os.Stderr, "regtest: attempt %d stalled (%v); starting again\n%s", attempt, err, tail)
					continue
				}
			}
		}
		return n, err
	}
}

// maxAttempts bounds the fresh starts Start makes.
const maxAttempts = 3

// errStalled marks an lnd that did not answer RPC within RPCTimeout.
var errStalled = errors.New("stalled")

// portTaken reports whether a daemon's output says it could not bind a
// listen address.
func (n *Network) portTaken() bool {
	for _, p := range n.logPaths() {
		if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), "address already in use") {
			return true
		}
	}
	return false
}

func (n *Network) start(ctx context.Context, opts Options) error {
	ports, err := freePorts(8)
	if err != nil {
		return err
	}
	n.BTCD = &BTCD{
		Dir: filepath.Join(n.Dir, "btcd"), RPCAddr: ports[0], P2PAddr: ports[1],
		RPCUser: "regtest", RPCPass: "regtest", bin: opts.BinDir,
	}
	n.BTCD.RPCCert = filepath.Join(n.BTCD.Dir, "rpc.cert")
	n.Alice = n.newLND("alice", opts.BinDir, ports[2], ports[3], ports[4])
	n.Bob = n.newLND("bob", opts.BinDir, ports[5], ports[6], ports[7])
	for _, d := range []string{n.BTCD.Dir, n.Alice.Dir, n.Bob.Dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(n.BTCD.Dir, "btcd.conf"), nil, 0o600); err != nil {
		return err
	}
	if err := n.BTCD.start(ctx, ""); err != nil {
		return err
	}
	if err := both(n.Alice, n.Bob, func(l *LND) error {
		if err := l.start(); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, opts.RPCTimeout)
		defer cancel()
		if err := l.waitRPC(rctx); err != nil {
			if rctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("%w: %w", errStalled, err)
			}
			return err
		}
		return nil
	}); err != nil {
		return err
	}

	addr, err := n.Alice.NewAddress(ctx)
	if err != nil {
		return err
	}
	if err := n.BTCD.restartMining(ctx, addr); err != nil {
		return err
	}
	// btcd's regtest activates segwit (BIP9) at height 432; lnd's funding
	// transaction is rejected before that.
	if err := n.BTCD.Generate(ctx, 500); err != nil {
		return err
	}
	if err := both(n.Alice, n.Bob, func(l *LND) error { return l.waitActive(ctx) }); err != nil {
		return err
	}
	if err := n.Alice.proc.poll(ctx, "confirmed wallet balance", 200*time.Millisecond, func(ctx context.Context) error {
		var wb struct {
			Confirmed string `json:"confirmed_balance"`
		}
		if err := n.Alice.CLIJSON(ctx, &wb, "walletbalance"); err != nil {
			return err
		}
		if wb.Confirmed == "" || wb.Confirmed == "0" {
			return errors.New("no confirmed balance yet")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := n.OpenChannel(ctx, n.Alice, n.Bob, opts.ChannelSat, opts.PushSat); err != nil {
		return err
	}
	// "active" in listchannels can precede the payment link being up
	// (payments then fail with INSUFFICIENT_BALANCE): a 1-sat payment each
	// way is the only reliable readiness signal.
	if err := n.Alice.proc.poll(ctx, "alice→bob probe payment", 300*time.Millisecond, func(ctx context.Context) error {
		return probe(ctx, n.Alice, n.Bob)
	}); err != nil {
		return err
	}
	return n.Bob.proc.poll(ctx, "bob→alice probe payment", 300*time.Millisecond, func(ctx context.Context) error {
		return probe(ctx, n.Bob, n.Alice)
	})
}

// probe makes payee issue a 1-sat invoice and payer pay it.
func probe(ctx context.Context, payer, payee *LND) error {
	var inv struct {
		PaymentRequest string `json:"payment_request"`
	}
	if err := payee.CLIJSON(ctx, &inv, "addinvoice", "--amt=1", "--memo=regtest readiness probe"); err != nil {
		return err
	}
	var pay struct {
		Status string `json:"status"`
	}
	return payer.CLIJSON(ctx, &pay, "payinvoice", "--force", "--json", "--timeout=10s", inv.PaymentRequest)
}

// OpenChannel connects from to to, opens a channel of capacitySat pushing
// pushSat to the peer, mines it and waits until both sides see it active.
func (n *Network) OpenChannel(ctx context.Context, from, to *LND, capacitySat, pushSat int64) error {
	if _, err := from.CLI(ctx, "connect", to.PubKey+"@"+to.P2PAddr); err != nil && !strings.Contains(err.Error(), "already connected") {
		return err
	}
	// The peer may need a moment after connecting before it accepts a
	// funding flow; retry briefly.
	if err := from.proc.poll(ctx, "openchannel", 300*time.Millisecond, func(ctx context.Context) error {
		_, err := from.CLI(ctx, "openchannel", "--node_key="+to.PubKey,
			fmt.Sprintf("--local_amt=%d", capacitySat), fmt.Sprintf("--push_amt=%d", pushSat))
		return err
	}); err != nil {
		return err
	}
	if err := n.BTCD.Generate(ctx, 6); err != nil {
		return err
	}
	return both(from, to, func(l *LND) error {
		return l.proc.poll(ctx, "active channel", 200*time.Millisecond, func(ctx context.Context) error {
			var lc struct {
				Channels []struct {
					Active    bool   `json:"active"`
					RemotePub string `json:"remote_pubkey"`
					ChanPoint string `json:"channel_point"`
					LocalBal  string `json:"local_balance"`
					RemoteBal string `json:"remote_balance"`
				} `json:"channels"`
			}
			if err := l.CLIJSON(ctx, &lc, "listchannels"); err != nil {
				return err
			}
			peer := to.PubKey
			if l == to {
				peer = from.PubKey
			}
			for _, c := range lc.Channels {
				if c.Active && c.RemotePub == peer {
					return nil
				}
			}
			return errors.New("no active channel yet")
		})
	})
}

// Mine mines blocks (paying alice) and waits until both nodes are synced.
func (n *Network) Mine(ctx context.Context, blocks int) error {
	if err := n.BTCD.Generate(ctx, blocks); err != nil {
		return err
	}
	return both(n.Alice, n.Bob, func(l *LND) error { return l.waitActive(ctx) })
}

// Close stops alice and bob (gracefully, then by force), then btcd, and
// removes the temporary directory. Safe to call more than once.
func (n *Network) Close() error { return n.close(20*time.Second, 10*time.Second) }

// close stops the daemons, giving lnd lndGrace and btcd btcdGrace after
// SIGTERM before SIGKILL.
func (n *Network) close(lndGrace, btcdGrace time.Duration) error {
	n.closeOnce.Do(func() {
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, l := range []*LND{n.Alice, n.Bob} {
			if l == nil || l.proc == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := l.proc.stop(lndGrace); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if n.BTCD != nil && n.BTCD.proc != nil {
			errs = append(errs, n.BTCD.proc.stop(btcdGrace))
		}
		if n.removeDir {
			errs = append(errs, os.RemoveAll(n.Dir))
		}
		if n.removeBTCDHome {
			_ = os.Remove(n.btcdHome) // only if still empty
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// LogTail returns the last lines of every daemon's output, for failure
// reports.
func (n *Network) LogTail(lines int) string {
	var b strings.Builder
	for _, p := range n.logPaths() {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(ls) > lines {
			ls = ls[len(ls)-lines:]
		}
		fmt.Fprintf(&b, "==> %s <==\n%s\n", p, strings.Join(ls, "\n"))
	}
	return b.String()
}

// logPaths are the daemons' output files.
func (n *Network) logPaths() []string {
	var paths []string
	if n.BTCD != nil {
		paths = append(paths, filepath.Join(n.BTCD.Dir, "stdout.log"))
	}
	for _, l := range []*LND{n.Alice, n.Bob} {
		if l != nil {
			paths = append(paths, filepath.Join(l.Dir, "stdout.log"))
		}
	}
	return paths
}

func (n *Network) newLND(name, bin, rpc, rest, p2p string) *LND {
	dir := filepath.Join(n.Dir, name)
	l := &LND{
		Name: name, Dir: dir, RPCAddr: rpc, RESTAddr: rest, P2PAddr: p2p,
		TLSCert:       filepath.Join(dir, "tls.cert"),
		AdminMacaroon: filepath.Join(dir, "data", "chain", "bitcoin", "regtest", "admin.macaroon"),
		bin:           bin,
	}
	l.args = []string{
		"--lnddir=" + dir,
		"--bitcoin.regtest", "--bitcoin.node=btcd",
		"--btcd.rpchost=" + n.BTCD.RPCAddr,
		"--btcd.rpcuser=" + n.BTCD.RPCUser, "--btcd.rpcpass=" + n.BTCD.RPCPass,
		"--btcd.rpccert=" + n.BTCD.RPCCert,
		"--noseedbackup", "--nobootstrap",
		"--rpclisten=" + rpc, "--restlisten=" + rest, "--listen=" + p2p,
		"--bitcoin.defaultchanconfs=1", "--trickledelay=50", "--debuglevel=info",
		"--tlsextradomain=localhost",
	}
	return l
}

// freePorts reserves n distinct loopback ports by binding them all at once,
// then releases them for the daemons to take.
func freePorts(n int) ([]string, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("regtest: reserve port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// both runs fn for a and b concurrently and joins their errors.
func both(a, b *LND, fn func(*LND) error) error {
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errA = fn(a) }()
	go func() { defer wg.Done(); errB = fn(b) }()
	wg.Wait()
	return errors.Join(errA, errB)
}
