package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/uma"
	"github.com/vaspd/vaspd/vasp"
)

// MountWebhooks registers the webhook management API over svc:
//
//	POST   /webhooks/endpoints                           MANAGE  create (the secret is returned once)
//	GET    /webhooks/endpoints                           VIEW    list (cursor pagination)
//	GET    /webhooks/endpoints/{endpointId}              VIEW
//	PATCH  /webhooks/endpoints/{endpointId}              MANAGE  change url, description, eventTypes, enabled, timeoutMs, signEd25519
//	DELETE /webhooks/endpoints/{endpointId}              MANAGE
//	POST   /webhooks/endpoints/{endpointId}/rotate-secret MANAGE {gracePeriodSeconds?} → {secret, endpoint}; 409 during a grace period unless 0
//	GET    /webhooks/deliveries                          VIEW    ?endpointId&status&type&webhookId&since&until, newest first
//	GET    /webhooks/deliveries/{deliveryId}             VIEW    with payload and attempt log
//	POST   /webhooks/deliveries/{deliveryId}/redeliver   MANAGE
//	POST   /webhooks/replays                             MANAGE  {endpointId, since, until, status?} → background job
//	GET    /webhooks/replays/{jobId}                     VIEW    the job's progress
//	POST   /webhooks/replays/{jobId}/cancel              MANAGE  stop a pending or running job (409 once finished)
//	POST   /webhooks/test                                MANAGE  UMAaaS sendTestWebhook → {url, response_status, response_body} (synchronous)
//	GET    /webhooks/public-key                          VIEW    the ed25519 key verifying v1a signatures
//	GET    /config, PATCH /config                        VIEW / MANAGE  UMAaaS {webhookEndpoint}, the primary endpoint;
//	                                                     with MountPayments, also umaDomain and supportedCurrencies (read only)
func (s *Server) MountWebhooks(svc *delivery.Service) {
	h := &webhookHandlers{svc: svc, srv: s}
	s.Handle("POST /webhooks/endpoints", vaspd.PermManage, h.createEndpoint, Audited)
	s.Handle("GET /webhooks/endpoints", vaspd.PermView, h.listEndpoints)
	s.Handle("GET /webhooks/endpoints/{endpointId}", vaspd.PermView, h.getEndpoint)
	s.Handle("PATCH /webhooks/endpoints/{endpointId}", vaspd.PermManage, h.updateEndpoint, Audited)
	s.Handle("DELETE /webhooks/endpoints/{endpointId}", vaspd.PermManage, h.deleteEndpoint, Audited)
	s.Handle("POST /webhooks/endpoints/{endpointId}/rotate-secret", vaspd.PermManage, h.rotateSecret, Audited)
	s.Handle("GET /webhooks/deliveries", vaspd.PermView, h.listDeliveries)
	s.Handle("GET /webhooks/deliveries/{deliveryId}", vaspd.PermView, h.getDelivery)
	s.Handle("POST /webhooks/deliveries/{deliveryId}/redeliver", vaspd.PermManage, h.redeliver, Audited)
	s.Handle("POST /webhooks/replays", vaspd.PermManage, h.startReplay, Audited)
	s.Handle("GET /webhooks/replays/{jobId}", vaspd.PermView, h.getReplay)
	s.Handle("POST /webhooks/replays/{jobId}/cancel", vaspd.PermManage, h.cancelReplay, Audited)
	s.Handle("POST /webhooks/test", vaspd.PermManage, h.sendTest, Audited)
	s.Handle("GET /webhooks/public-key", vaspd.PermView, h.publicKey)
	s.Handle("GET /config", vaspd.PermView, h.getConfig)
	s.Handle("PATCH /config", vaspd.PermManage, h.patchConfig, Audited)
}

type webhookHandlers struct {
	svc *delivery.Service
	srv *Server // its payments, once mounted, complete GET /config
}

// webhookCreatedEndpoint is an endpoint with its secret, shown once.
type webhookCreatedEndpoint struct {
	delivery.Endpoint
	Secret string `json:"secret"`
}

func webhookEndpointID(r *http.Request) (string, error) {
	return PathID(r, "endpointId", vaspd.IDEndpoint, vaspd.CodeWebhookEndpointNotFound)
}

func (h *webhookHandlers) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in delivery.EndpointInput
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	e, secret, err := h.svc.CreateEndpoint(r.Context(), in)
	if err != nil {
		return err
	}
	noteCreated(r, e.ID)
	WriteJSON(w, http.StatusCreated, webhookCreatedEndpoint{Endpoint: e, Secret: secret})
	return nil
}

func (h *webhookHandlers) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDEndpoint)
	if err != nil {
		return err
	}
	eps, err := h.svc.ListEndpoints(r.Context(), p.After, p.Limit)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewPage(eps, p.Limit, func(e delivery.Endpoint) string { return e.ID }))
	return nil
}

func (h *webhookHandlers) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookEndpointID(r)
	if err != nil {
		return err
	}
	e, err := h.svc.GetEndpoint(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

func (h *webhookHandlers) updateEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookEndpointID(r)
	if err != nil {
		return err
	}
	var in delivery.EndpointInput
	if err := DecodeJSON(r, &in); err != nil {
		return err
	}
	e, err := h.svc.UpdateEndpoint(r.Context(), id, in)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, e)
	return nil
}

func (h *webhookHandlers) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookEndpointID(r)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteEndpoint(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type webhookRotateRequest struct {
	// GracePeriodSeconds is how long the old secret keeps signing beside
	// the new one; absent = the server's default (24 h), 0 = stop at once.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds"`
}

type webhookRotateResponse struct {
	Secret   string            `json:"secret"`
	Endpoint delivery.Endpoint `json:"endpoint"`
}

func (h *webhookHandlers) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	id, err := webhookEndpointID(r)
	if err != nil {
		return err
	}
	var req webhookRotateRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	var grace time.Duration // 0 = the service's default
	if g := req.GracePeriodSeconds; g != nil {
		if *g < 0 || *g > 7*24*3600 {
			return vaspd.InvalidInput("gracePeriodSeconds must be from 0 to 604800 (7 days)")
		}
		grace = time.Duration(*g) * time.Second
		if grace == 0 {
			grace = -1 // the old secret stops signing now
		}
	}
	secret, e, err := h.svc.RotateSecret(r.Context(), id, grace)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, webhookRotateResponse{Secret: secret, Endpoint: e})
	return nil
}

func (h *webhookHandlers) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	p, err := ParseListParams(r, vaspd.IDDelivery)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := delivery.DeliveryFilter{
		EndpointID: q.Get("endpointId"),
		Status:     q.Get("status"),
		Type:       q.Get("type"),
		WebhookID:  q.Get("webhookId"),
	}
	if f.EndpointID != "" {
		if f.EndpointID, err = vaspd.CanonicalID(vaspd.IDEndpoint, f.EndpointID); err != nil {
			return vaspd.InvalidInput("endpointId: %v", err)
		}
	}
	if f.WebhookID != "" {
		if f.WebhookID, err = vaspd.CanonicalID(vaspd.IDWebhook, f.WebhookID); err != nil {
			return vaspd.InvalidInput("webhookId: %v", err)
		}
	}
	if f.Type, err = QueryText(r, "type", 64); err != nil {
		return err
	}
	if f.Since, f.Until, err = QueryTimeRange(r, "since", "until"); err != nil {
		return err
	}
	ds, err := h.svc.ListDeliveries(r.Context(), f, p.After, p.Limit)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, NewPage(ds, p.Limit, func(d delivery.Delivery) string { return d.ID }))
	return nil
}

// webhookDeliveryDetail is a delivery with the exact body it sends.
type webhookDeliveryDetail struct {
	delivery.Delivery
	Payload json.RawMessage `json:"payload"`
}

func (h *webhookHandlers) getDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "deliveryId", vaspd.IDDelivery, vaspd.CodeWebhookDeliveryNotFound)
	if err != nil {
		return err
	}
	d, err := h.svc.GetDelivery(r.Context(), id)
	if err != nil {
		return err
	}
	out := webhookDeliveryDetail{Delivery: d, Payload: d.Payload}
	if !json.Valid(out.Payload) {
		out.Payload = nil
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *webhookHandlers) redeliver(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "deliveryId", vaspd.IDDelivery, vaspd.CodeWebhookDeliveryNotFound)
	if err != nil {
		return err
	}
	d, err := h.svc.Redeliver(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusAccepted, d)
	return nil
}

type webhookReplayRequest struct {
	EndpointID string `json:"endpointId"`
	Since      string `json:"since"`
	Until      string `json:"until"`
	Status     string `json:"status"`
}

func (h *webhookHandlers) startReplay(w http.ResponseWriter, r *http.Request) error {
	var req webhookReplayRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	var err error
	if req.EndpointID, err = vaspd.CanonicalID(vaspd.IDEndpoint, req.EndpointID); err != nil {
		return vaspd.InvalidInput("endpointId: %v", err)
	}
	p := delivery.ReplayParams{EndpointID: req.EndpointID, Status: req.Status}
	for _, f := range []struct {
		name string
		v    string
		t    *time.Time
	}{{"since", req.Since, &p.Since}, {"until", req.Until, &p.Until}} {
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			return vaspd.InvalidInput("%s must be an RFC 3339 time such as 2025-01-02T15:04:05Z", f.name)
		}
		*f.t = t
	}
	job, err := h.svc.StartReplay(r.Context(), p)
	if err != nil {
		return err
	}
	noteCreated(r, job.ID)
	WriteJSON(w, http.StatusAccepted, job)
	return nil
}

func (h *webhookHandlers) getReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "jobId", vaspd.IDJob, vaspd.CodeNotFound)
	if err != nil {
		return err
	}
	job, err := h.svc.GetJob(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, job)
	return nil
}

func (h *webhookHandlers) cancelReplay(w http.ResponseWriter, r *http.Request) error {
	id, err := PathID(r, "jobId", vaspd.IDJob, vaspd.CodeNotFound)
	if err != nil {
		return err
	}
	job, err := h.svc.CancelJob(r.Context(), id)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, job)
	return nil
}

type webhookTestRequest struct {
	// EndpointID picks the endpoint; absent = the primary one (UMAaaS).
	EndpointID string `json:"endpointId"`
}

func (h *webhookHandlers) sendTest(w http.ResponseWriter, r *http.Request) error {
	var req webhookTestRequest
	if err := decodeOptionalJSON(r, &req); err != nil {
		return err
	}
	if req.EndpointID != "" {
		var err error
		if req.EndpointID, err = vaspd.CanonicalID(vaspd.IDEndpoint, req.EndpointID); err != nil {
			return vaspd.InvalidInput("endpointId: %v", err)
		}
	}
	// The receiver's answer is awaited up to the endpoint's timeout, which
	// may be a minute (the write timeout). Any endpoint's is at most
	// MaxAttemptTimeout: waiting that long needs no read of the endpoint,
	// which a PATCH of its timeout could change before the send.
	answerWithin(w, h.svc.MaxAttemptTimeout())
	res, err := h.svc.SendTest(r.Context(), req.EndpointID)
	if res.DeliveryID != "" {
		// Made and listed (failed) even when the receiver refused it.
		noteCreated(r, res.DeliveryID)
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, res)
	return nil
}

func (h *webhookHandlers) publicKey(w http.ResponseWriter, r *http.Request) error {
	k, err := h.svc.PublicKey(r.Context())
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, map[string]string{"publicKey": k, "signatureScheme": "v1a (ed25519, Standard Webhooks)"})
	return nil
}

// webhookConfig is the part of the UMAaaS PlatformConfig this package
// serves: the webhookEndpoint, mapped onto the primary endpoint.
type webhookConfig struct {
	// UmaDomain and SupportedCurrencies are UMAaaS's, from the settings
	// and the rates file (vasp.Service.PlatformConfig); left out when the
	// server serves no payments.
	UmaDomain           string                   `json:"umaDomain,omitempty"`
	WebhookEndpoint     *string                  `json:"webhookEndpoint"`
	WebhookEndpointID   string                   `json:"webhookEndpointId,omitempty"`
	SupportedCurrencies []platformCurrencyConfig `json:"supportedCurrencies,omitempty"`
	// WebhookSecret is the primary endpoint's signing secret, returned only
	// by the PATCH that created the endpoint.
	WebhookSecret string `json:"webhookSecret,omitempty"`
}

// platformCurrencyConfig is UMAaaS's PlatformCurrencyConfig.
type platformCurrencyConfig struct {
	CurrencyCode               string            `json:"currencyCode"`
	MinAmount                  int64             `json:"minAmount"`
	MaxAmount                  int64             `json:"maxAmount"`
	RequiredCounterpartyFields []fieldDefinition `json:"requiredCounterpartyFields"`
	EnabledTransactionTypes    []string          `json:"enabledTransactionTypes"`
}

// platformConfig fills out's UMAaaS platform fields, when the server
// serves payments.
func (h *webhookHandlers) platformConfig(r *http.Request, out *webhookConfig) error {
	if h.srv == nil || h.srv.payments == nil {
		return nil
	}
	pc, err := h.srv.payments.PlatformConfig(r.Context())
	if err != nil {
		return err
	}
	out.UmaDomain = pc.UMADomain
	out.SupportedCurrencies = make([]platformCurrencyConfig, 0, len(pc.Currencies))
	for _, c := range pc.Currencies {
		fields := make([]fieldDefinition, 0, len(c.RequiredCounterpartyFields))
		for _, f := range c.RequiredCounterpartyFields {
			fields = append(fields, fieldDefinition{Name: f.Name, Mandatory: f.Mandatory})
		}
		// Both ways for every currency: vaspd has no per-currency switch.
		out.SupportedCurrencies = append(out.SupportedCurrencies, platformCurrencyConfig{CurrencyCode: c.Code, MinAmount: c.Min, MaxAmount: c.Max,
			RequiredCounterpartyFields: fields, EnabledTransactionTypes: []string{vasp.Outgoing, vasp.Incoming}})
	}
	return nil
}

// sameCurrencies reports whether raw, a PATCH's supportedCurrencies, is
// what GET /config answers, in any order (currencies, fields, types).
func (h *webhookHandlers) sameCurrencies(r *http.Request, raw json.RawMessage) (bool, error) {
	var now webhookConfig
	if err := h.platformConfig(r, &now); err != nil || now.SupportedCurrencies == nil {
		return false, err
	}
	var asked []platformCurrencyConfig
	if json.Unmarshal(raw, &asked) != nil || asked == nil {
		return false, nil
	}
	normal := func(cs []platformCurrencyConfig) []platformCurrencyConfig {
		out := make([]platformCurrencyConfig, len(cs))
		for i, c := range cs {
			c.RequiredCounterpartyFields = slices.Clone(c.RequiredCounterpartyFields)
			slices.SortFunc(c.RequiredCounterpartyFields, func(a, b fieldDefinition) int { return strings.Compare(a.Name, b.Name) })
			c.EnabledTransactionTypes = slices.Sorted(slices.Values(c.EnabledTransactionTypes))
			if c.RequiredCounterpartyFields == nil {
				c.RequiredCounterpartyFields = []fieldDefinition{}
			}
			out[i] = c
		}
		slices.SortFunc(out, func(a, b platformCurrencyConfig) int { return strings.Compare(a.CurrencyCode, b.CurrencyCode) })
		return out
	}
	return reflect.DeepEqual(normal(asked), normal(now.SupportedCurrencies)), nil
}

func (h *webhookHandlers) getConfig(w http.ResponseWriter, r *http.Request) error {
	var out webhookConfig
	e, err := h.svc.PrimaryEndpoint(r.Context())
	switch {
	case errors.Is(err, delivery.ErrNoEndpoint):
	case err != nil:
		return err
	default:
		out.WebhookEndpoint, out.WebhookEndpointID = &e.URL, e.ID
	}
	if err := h.platformConfig(r, &out); err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, out)
	return nil
}

type webhookConfigPatch struct {
	// WebhookEndpoint: a URL sets the primary endpoint (a TEST webhook is
	// sent when it changes); "" or null removes it; absent leaves it.
	WebhookEndpoint json.RawMessage `json:"webhookEndpoint"`
	// UMAaaS's other fields are vaspd's settings and rates file: refused
	// with a message saying so, not as unknown fields.
	UmaDomain           json.RawMessage `json:"umaDomain"`
	SupportedCurrencies json.RawMessage `json:"supportedCurrencies"`
}

func (h *webhookHandlers) patchConfig(w http.ResponseWriter, r *http.Request) error {
	var req webhookConfigPatch
	// As every PATCH: a body of null, which would replace the whole
	// config as a merge patch, is refused, not read as {}.
	if _, err := decodeJSONPatch(r, &req); err != nil {
		return err
	}
	if req.UmaDomain != nil {
		// The domain it has is accepted: a client that PATCHes the whole
		// of what GET /config answered changes nothing by it.
		var d string
		if json.Unmarshal(req.UmaDomain, &d) != nil || h.srv == nil || h.srv.payments == nil || !uma.SameDomain(d, h.srv.payments.Domain()) {
			return vaspd.InvalidInput("umaDomain is vaspd's domain setting, changed where vaspd is configured, not through the API")
		}
	}
	if req.SupportedCurrencies != nil {
		// As for umaDomain, what it is now is accepted (a client PATCHing
		// back what GET /config answered); a change is not.
		same, err := h.sameCurrencies(r, req.SupportedCurrencies)
		if err != nil {
			return err
		}
		if !same {
			return vaspd.InvalidInput("supportedCurrencies come from vaspd's rates file (currencies, min, max) and its required-counterparty-fields setting, changed there, not through the API")
		}
	}
	if len(req.WebhookEndpoint) > 0 {
		var url *string
		if err := json.Unmarshal(req.WebhookEndpoint, &url); err != nil {
			return vaspd.InvalidInput("webhookEndpoint must be a URL string or null")
		}
		if url == nil {
			url = new(string)
		}
		e, secret, changed, err := h.svc.ConfigurePrimary(r.Context(), *url)
		if err != nil {
			return err
		}
		switch {
		case secret != "": // created, not re-pointed
			noteCreated(r, e.ID)
		case changed: // re-pointed or deleted (e is the endpoint that went)
			noteSubject(r, e.ID)
		}
		out := webhookConfig{WebhookSecret: secret}
		if *url != "" && e.ID != "" {
			out.WebhookEndpoint, out.WebhookEndpointID = &e.URL, e.ID
		}
		if err := h.platformConfig(r, &out); err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, out)
		return nil
	}
	return h.getConfig(w, r)
}
