package node

import (
	"context"
	"net/http"
	"time"

	"authrim/audit"
	"authrim/webhooks"
)

// AuditConfig: the audit log kept as data (package audit).
type AuditConfig struct {
	// Retention is how long events are kept; the sweeper prunes older
	// ones.
	Retention Duration `yaml:"retention"`
}

// Bounds of audit.retention.
const (
	MinAuditRetention = time.Hour
	MaxAuditRetention = 10 * 365 * 24 * time.Hour
)

func (c Config) auditProblems(add func(key, format string, args ...any)) {
	if r := c.Audit.Retention.D(); r < MinAuditRetention || r > MaxAuditRetention {
		add("audit.retention", "must be between 1h and 87600h (10 years), got %s", r)
	}
}

// WebhooksConfig: subscriptions to audit events (package webhooks).
type WebhooksConfig struct {
	// DisableAfter failed attempts in a row disable a subscription.
	DisableAfter int `yaml:"disable_after"`
}

func (c Config) webhooksProblems(add func(key, format string, args ...any)) {
	if d := c.Webhooks.DisableAfter; d < 1 || d > 10000 {
		add("webhooks.disable_after", "must be between 1 and 10000, got %d", d)
	}
}

// startAudit starts storing the audit events the node's logger captured
// (from its first line on) now that the store is open, and sending each
// stored event to the webhooks that want it. Closing the node stores
// what is queued before the store closes.
func (n *Node) startAudit(context.Context) error {
	cfg := n.cfg
	n.webhooks = &webhooks.Service{
		Store: n.store, Sealer: n.kek, AllowPrivate: cfg.Requests.Fetch.AllowPrivateAddresses,
		DisableAfter: cfg.Webhooks.DisableAfter,
		// Through the same guard as back-channel logout (set up with the
		// directory, before the Delivery grain makes any attempt).
		Post: func(ctx context.Context, u, ct string, body []byte, h http.Header) (int, error) {
			return n.fetcher.Post(ctx, u, ct, body, h)
		},
		Now: n.now, Logger: n.logger.With("component", "webhooks"),
	}
	dispatch := func(ctx context.Context, ev audit.Event) {
		ids, err := n.webhooks.Dispatch(ctx, ev)
		if err != nil {
			n.logger.Error("webhook messages not written", "event", ev.ID, "type", ev.Type, "err", err)
			return
		}
		if len(ids) > 0 {
			go n.kickDelivery(context.Background(), ids)
		}
	}
	n.audit.Start(n.store, n.logger, dispatch)
	l := n.audit
	n.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			n.logger.Warn("audit events not all stored before stopping", "err", err)
		}
	})
	return nil
}

// AuditOldest is the retention horizon: events before it are pruned.
func (n *Node) auditOldest() time.Time {
	return n.now().Add(-n.cfg.Audit.Retention.D())
}

// QueryAudit answers an audit query (the admin API's).
func (n *Node) QueryAudit(ctx context.Context, f audit.Filter) ([]audit.Event, string, error) {
	return audit.Query(ctx, n.store, f, n.now(), n.auditOldest())
}

// pruneAudit deletes events past the retention (the sweeper's).
func (n *Node) pruneAudit(ctx context.Context) (int, error) {
	return audit.Prune(ctx, n.store, n.auditOldest())
}
