package node

import (
	"context"
	"time"

	"authrim/audit"
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

// startAudit starts storing the audit events the node's logger captured
// (from its first line on) now that the store is open. Closing the node
// stores what is queued before the store closes.
func (n *Node) startAudit(context.Context) error {
	n.audit.Start(n.store, n.logger, nil)
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
