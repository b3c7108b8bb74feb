package paycrash

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// platformHooks is both platforms' webhook endpoint (/sender, /receiver):
// it records every payment webhook and approves every incoming payment the
// receiver's platform is asked about, so a payment's end reaches its
// platforms as the state change's own commit (the webhook is enqueued in
// it): the check wants each final payment announced once, by webhookId,
// whatever the kills cut (a delivery cut by a kill is retried with the
// same webhookId).
type platformHooks struct {
	srv  *http.Server
	base string

	mu  sync.Mutex
	got map[hookKey]map[string]bool // → webhookIds
	n   int
}

// hookKey is one webhook's subject: the platform it went to ("sender" or
// "receiver"), its type, its transaction and the status it announced.
type hookKey struct {
	To, Type, TxID, Status string
}

func newPlatformHooks() (*platformHooks, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &platformHooks{base: "http://" + ln.Addr().String(), got: map[hookKey]map[string]bool{}}
	mux := http.NewServeMux()
	for _, to := range []string{"sender", "receiver"} {
		mux.HandleFunc("POST /"+to, func(w http.ResponseWriter, r *http.Request) { h.receive(to, w, r) })
	}
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *platformHooks) close() { h.srv.Close() }

func (h *platformHooks) receive(to string, w http.ResponseWriter, r *http.Request) {
	var m struct {
		Type        string `json:"type"`
		WebhookID   string `json:"webhookId"`
		Transaction struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"transaction"`
		UmaRequest struct {
			ID string `json:"id"`
		} `json:"umaRequest"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &m) != nil {
		http.Error(w, "not a webhook", http.StatusBadRequest)
		return
	}
	if m.Transaction.ID != "" || m.UmaRequest.ID != "" {
		k := hookKey{To: to, Type: m.Type, TxID: m.Transaction.ID, Status: m.Transaction.Status}
		if m.Transaction.ID == "" {
			k.TxID = m.UmaRequest.ID // an UMA_REQUEST: by request
		}
		h.mu.Lock()
		if h.got[k] == nil {
			h.got[k] = map[string]bool{}
		}
		h.got[k][m.WebhookID] = true
		h.n++
		h.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	if m.Type == "INCOMING_PAYMENT" && m.Transaction.Status == "PENDING" {
		// The receiver's platform approves, naming its user.
		_, _ = w.Write([]byte(`{"receiverUserInfo":{"FULL_NAME":"Bob"}}`))
		return
	}
	_, _ = w.Write([]byte(`{}`))
}

// snapshot returns what arrived so far: webhookIds by subject.
func (h *platformHooks) snapshot() map[hookKey]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[hookKey]int, len(h.got))
	for k, ids := range h.got {
		out[k] = len(ids)
	}
	return out
}
