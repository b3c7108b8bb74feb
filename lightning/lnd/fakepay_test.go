package lnd_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaspd/vaspd/lightning"
)

// The fake lnd's outgoing payments: SendPaymentV2 and the payments it
// holds.

func (f *fakeLND) send(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		grpcError(w, 400, 3, err.Error())
		return
	}
	f.mu.Lock()
	f.sends = append(f.sends, req)
	pr, _ := req["payment_request"].(string)
	dec, ok := f.payReqs[pr]
	if !ok {
		f.mu.Unlock()
		grpcError(w, 500, 2, "invalid payment request")
		return
	}
	hash := dec["payment_hash"].(string)
	if amt, ok := req["amt_msat"].(string); ok {
		// A zero-amount invoice: lnd pays, and reports, the amount sent.
		dec = maps.Clone(dec)
		dec["num_msat"], dec["num_satoshis"] = amt, strconv.Itoa(atoi(amt)/1000)
	}
	if pay, ok := f.payments[hash]; ok && pay["status"] != "FAILED" {
		f.mu.Unlock()
		// lnd refuses a second payment to a hash it is paying or paid.
		writeJSON(w, 500, map[string]any{"error": map[string]any{"code": 6, "message": "invoice is already paid"}})
		return
	}
	onSend, refuse, refuseHTTP, refuseCode := f.onSend, f.refuse, f.refuseHTTP, f.refuseCode
	f.mu.Unlock()
	if refuse != "" {
		if refuseHTTP == 0 {
			refuseHTTP, refuseCode = 500, 2
		}
		if refuseCode < 0 {
			w.WriteHeader(refuseHTTP)
			fmt.Fprint(w, refuse)
			return
		}
		// lnd's router refusing to start the payment: the stream's only
		// line is the error.
		writeJSON(w, refuseHTTP, map[string]any{"error": map[string]any{"code": refuseCode, "message": refuse}})
		return
	}
	updates, hold := []map[string]any{{"status": "IN_FLIGHT"}, {"status": "SUCCEEDED"}}, false
	if onSend != nil {
		updates, hold = onSend(hash)
	}
	w.WriteHeader(200)
	for _, u := range updates {
		if e, ok := u["error"]; ok {
			json.NewEncoder(w).Encode(map[string]any{"error": e})
			return
		}
		pay := f.payment(hash, dec, u)
		json.NewEncoder(w).Encode(map[string]any{"result": pay})
		w.(http.Flusher).Flush()
	}
	if hold {
		<-r.Context().Done()
	}
}

// payment merges an update into the stored Payment message for hash.
func (f *fakeLND) payment(hash string, dec map[string]any, update map[string]any) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	pay := map[string]any{
		"payment_hash": hash, "value": dec["num_satoshis"], "value_msat": dec["num_msat"],
		"value_sat": dec["num_satoshis"], "payment_request": "", "status": "IN_FLIGHT", "fee_msat": "0",
		"payment_preimage": strings.Repeat("0", 64), "failure_reason": "FAILURE_REASON_NONE",
		"creation_time_ns": strconv.FormatInt(time.Now().UnixNano(), 10), "htlcs": []any{},
	}
	for k, v := range update {
		pay[k] = v
	}
	if pay["status"] == "SUCCEEDED" {
		pay["payment_preimage"], pay["fee_msat"] = dec["preimage"], "1000"
		pay["htlcs"] = []any{map[string]any{"status": "SUCCEEDED",
			"resolve_time_ns": strconv.FormatInt(time.Now().UnixNano(), 10),
			"route":           map[string]any{"total_amt_msat": dec["num_msat"], "hops": []any{map[string]any{"chan_id": "123"}}}}}
	}
	for k, v := range f.paymentExtra {
		pay[k] = v
	}
	f.payments[hash] = pay
	f.notify()
	return maps.Clone(pay) // sent unlocked, while the test may change the stored one
}

// resolvePayment makes lnd finish a payment it holds in flight.
func (f *fakeLND) resolvePayment(hash lightning.Hash, status, reason string) {
	f.mu.Lock()
	var dec map[string]any
	for _, d := range f.payReqs {
		if d["payment_hash"] == hash.String() {
			dec = d
		}
	}
	f.mu.Unlock()
	f.payment(hash.String(), dec, map[string]any{"status": status, "failure_reason": reason})
}

func (f *fakeLND) sendCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sends)
}
