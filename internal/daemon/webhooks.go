package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/vaspd/vaspd"
	"github.com/vaspd/vaspd/delivery"
	"github.com/vaspd/vaspd/internal/config"
	"github.com/vaspd/vaspd/internal/ssrf"
	"github.com/vaspd/vaspd/store"
	"github.com/vaspd/vaspd/users"
	"github.com/vaspd/vaspd/webhook"
)

// The least webhook-retention and webhook-retry-window (but for 0, the
// default): see WebhookConfig.resolve.
const (
	MinWebhookRetention   = time.Hour
	MinWebhookRetryWindow = time.Minute
)

// WebhookConfig tunes the durable webhook sender.
type WebhookConfig struct {
	AllowNets      string // comma-separated CIDRs or host names exempt from the SSRF guard
	Retention      time.Duration
	AttemptTimeout time.Duration
	RetryWindow    time.Duration
	PerEndpoint    int
	MaxEndpoints   int

	allowList []string
}

func (c *WebhookConfig) declare(s *config.Set) {
	s.String(&c.AllowNets, "webhook-allow-nets", "", "comma-separated CIDRs or hosts that webhooks may be sent to although private or loopback (e.g. 127.0.0.0/8 for local development)")
	s.Duration(&c.Retention, "webhook-retention", 30*24*time.Hour, "how long delivered webhooks and their attempts are kept")
	s.Duration(&c.AttemptTimeout, "webhook-timeout", 10*time.Second, "default timeout of one webhook attempt (per endpoint configurable)")
	s.Duration(&c.RetryWindow, "webhook-retry-window", 72*time.Hour, "how long a failing webhook is retried (10s doubling, capped at 1h) before it is dead-lettered")
	s.Int(&c.PerEndpoint, "webhook-endpoint-concurrency", 16, "at most this many attempts in flight per endpoint")
	s.Int(&c.MaxEndpoints, "webhook-max-endpoints", delivery.DefaultMaxEndpoints, "at most this many live webhook endpoints (each receives its own copy of every event it matches)")
}

func (c *WebhookConfig) resolve() error {
	c.allowList = nil
	for _, n := range strings.Split(c.AllowNets, ",") {
		if n = strings.TrimSpace(n); n != "" {
			c.allowList = append(c.allowList, n)
		}
	}
	// The delivery service's own check (ssrf.New), made here to stop
	// before the database is opened.
	if _, err := ssrf.New(c.allowList); err != nil {
		return fmt.Errorf("setting webhook-allow-nets: %w", err)
	}
	// Zero values take the defaults; negative ones are mistakes, and so
	// are ones too short for the setting to do its work.
	//
	// A retention under an hour deletes dead-lettered deliveries at the
	// next hourly prune, before anyone can replay them.
	if c.Retention < 0 || (c.Retention != 0 && c.Retention < MinWebhookRetention) {
		return fmt.Errorf("setting webhook-retention: want 0 (the default, 720h) or at least %s, got %s", MinWebhookRetention, c.Retention)
	}
	// delivery's bounds on an endpoint's timeoutMs: below the floor every
	// attempt times out, and is retried for the whole retry window.
	if lo, hi := delivery.DefaultMinAttemptTimeout, delivery.DefaultMaxAttemptTimeout; c.AttemptTimeout < 0 ||
		(c.AttemptTimeout != 0 && (c.AttemptTimeout < lo || c.AttemptTimeout > hi)) {
		return fmt.Errorf("setting webhook-timeout: want 0 (the default, 10s) or from %s to %s, got %s", lo, hi, c.AttemptTimeout)
	}
	// A window shorter than a minute gives a failing webhook two retries
	// at most (10 s, then 20 s), so a receiver down for a minute loses
	// every webhook to the dead letters.
	if err := c.retryPolicy().Validate(); err != nil || (c.RetryWindow != 0 && c.RetryWindow < MinWebhookRetryWindow) {
		// The window is the policy's only configurable field.
		return fmt.Errorf("setting webhook-retry-window: want 0 (the default, 72h) or at least %s, got %s", MinWebhookRetryWindow, c.RetryWindow)
	}
	if c.PerEndpoint < 0 {
		return fmt.Errorf("setting webhook-endpoint-concurrency: must be positive")
	}
	if c.MaxEndpoints < 0 {
		return fmt.Errorf("setting webhook-max-endpoints: want 0 (the default, %d) or a positive count, got %d", delivery.DefaultMaxEndpoints, c.MaxEndpoints)
	}
	return nil
}

// retryPolicy is the webhooks' retry schedule: the defaults, but for the
// window.
func (c *WebhookConfig) retryPolicy() delivery.RetryPolicy {
	return delivery.RetryPolicy{Window: c.RetryWindow}
}

func openDelivery(db *store.DB, c WebhookConfig, clock vaspd.Clock, log *slog.Logger, reg prometheus.Registerer, tracer trace.Tracer) (*delivery.Service, error) {
	// resolve has checked it; should it not have, name the right setting
	// (New's other error is the allow-list's).
	if err := c.retryPolicy().Validate(); err != nil {
		return nil, fmt.Errorf("setting webhook-retry-window: %w", err)
	}
	svc, err := delivery.New(db, delivery.Options{
		Clock:          clock,
		Log:            log.With("component", "webhooks"),
		Retry:          c.retryPolicy(),
		EventTypes:     EventTypes,
		AllowNets:      c.allowList,
		AttemptTimeout: c.AttemptTimeout,
		PerEndpoint:    c.PerEndpoint,
		MaxEndpoints:   c.MaxEndpoints,
		Retention:      c.Retention,
		Registerer:     reg,
		Tracer:         tracer,
	})
	if err != nil {
		return nil, fmt.Errorf("setting webhook-allow-nets: %w", err)
	}
	return svc, nil
}

// EventTypes are the webhook types vaspd sends, the ones an endpoint's
// eventTypes filter may name.
var EventTypes = []string{
	delivery.TypeIncomingPayment, delivery.TypeOutgoingPayment, delivery.TypeTest,
	delivery.TypeBulkUpload, delivery.TypeInvitationClaimed, string(webhook.TypeUmaRequest),
}

// importAnnouncer sends the BULK_UPLOAD webhook of a finished bulk user
// import through the durable sender, in the transaction that finishes it.
type importAnnouncer struct{ webhooks *delivery.Service }

func (a importAnnouncer) AnnounceImport(ctx context.Context, tx *store.Tx, j users.ImportJob) error {
	_, err := a.webhooks.Enqueue(ctx, tx, delivery.Event{
		Type: delivery.TypeBulkUpload,
		Time: j.CompletedAt,
		Data: &webhook.BulkUploadWebhook{BulkUserImportJob: j.Webhook()},
	})
	return err
}

// claimAnnouncer sends the INVITATION_CLAIMED webhook through the durable
// sender, in the transaction that claims the invitation.
type claimAnnouncer struct{ webhooks *delivery.Service }

func (a claimAnnouncer) AnnounceClaim(ctx context.Context, tx *store.Tx, inv webhook.UmaInvitation) error {
	_, err := a.webhooks.Enqueue(ctx, tx, delivery.Event{
		Type: delivery.TypeInvitationClaimed,
		Time: inv.ClaimedAt,
		Data: &webhook.InvitationClaimedWebhook{Invitation: inv},
	})
	return err
}
