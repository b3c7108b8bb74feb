package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaspd/vaspd/internal/cputime"
	"github.com/vaspd/vaspd/uma"
)

// bound is the secp256k1 ceiling of a receiver on this machine: how many
// times per second it can verify one payreq signature and sign one payreq
// response, with the uma package's own primitives (decred secp256k1,
// SHA-256, DER) over payloads of the real shapes, and nothing else.
type bound struct {
	PerSecondOneCore float64 // one goroutine
	PerSecond        float64 // one goroutine per CPU: the receiver's ceiling
	Cores            int
	CPUPerOp         time.Duration // process CPU time per verify+sign, one goroutine
}

// measureBound runs verify+sign for d on one core, then for d on all.
func measureBound(d time.Duration, payer, payee string) (bound, error) {
	sender, err := uma.GeneratePrivateKey()
	if err != nil {
		return bound{}, err
	}
	receiver, err := uma.GeneratePrivateKey()
	if err != nil {
		return bound{}, err
	}
	pub := sender.PublicKey()
	ts := fmt.Sprint(time.Now().Unix())
	// The payreq signs "payer|nonce|ts"; the response "payer|payee|nonce|ts".
	const sigs = 64
	reqs := make([][]byte, sigs)
	ders := make([][]byte, sigs)
	for i := range reqs {
		reqs[i] = []byte(payer + "|" + uma.NewNonce() + "|" + ts)
		ders[i] = uma.SignPayload(sender, reqs[i])
	}
	op := func(i int) error {
		if err := uma.VerifyPayload(pub, reqs[i%sigs], ders[i%sigs]); err != nil {
			return err
		}
		resp := payer + "|" + payee + "|" + uma.NewNonce() + "|" + ts
		if len(uma.SignPayload(receiver, []byte(resp))) == 0 {
			return fmt.Errorf("empty signature")
		}
		return nil
	}
	run := func(workers int) (float64, time.Duration, error) {
		var (
			n     atomic.Int64
			wg    sync.WaitGroup
			mu    sync.Mutex
			first error
		)
		stop := time.Now().Add(d)
		began, cpu := time.Now(), cputime.Process()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					if i%16 == 0 && time.Now().After(stop) {
						return
					}
					if err := op(i); err != nil {
						mu.Lock()
						first = err
						mu.Unlock()
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return 0, 0, first
		}
		ops := max(n.Load(), 1)
		return float64(ops) / time.Since(began).Seconds(), (cputime.Process() - cpu) / time.Duration(ops), nil
	}
	b := bound{Cores: runtime.GOMAXPROCS(0)}
	if b.PerSecondOneCore, b.CPUPerOp, err = run(1); err != nil {
		return b, err
	}
	if b.PerSecond, _, err = run(b.Cores); err != nil {
		return b, err
	}
	return b, nil
}
