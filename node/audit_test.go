package node_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"authrim/audit"
	"authrim/http/management"
	"authrim/internal/docexample"
	"authrim/internal/eventually"
	"authrim/node"
)

func auditPage(t *testing.T, n *node.Node, q url.Values) management.AuditPage {
	t.Helper()
	status, body := admin(t, n, http.MethodGet, management.AuditPath+"?"+q.Encode(), adminToken, "")
	if status != http.StatusOK {
		t.Fatalf("audit query %s: %d %s", q.Encode(), status, body)
	}
	var p management.AuditPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Audited actions are stored as events, queryable by type, user and
// cursor through the admin API; the sweeper prunes them after
// audit.retention.
func TestAuditLogAsData(t *testing.T) {
	clk := &clock{t: time.Now()}
	cfg := testConfig(t, t.TempDir())
	n := startNode(t, cfg, clk)

	status, body := admin(t, n, http.MethodPost, "/admin/users", adminToken, `{"username":"rosa","password":"a long enough password"}`)
	if status != http.StatusCreated {
		t.Fatalf("create user: %d %s", status, body)
	}
	var u struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(body, &u)
	// The attacker's move: guessing the admin token. Refused and kept.
	if status, _ := admin(t, n, http.MethodGet, "/admin/users", "guessed-token", ""); status != http.StatusUnauthorized {
		t.Fatalf("wrong admin token: %d", status)
	}

	var created, failed []audit.Event
	eventually.True(t, "the events are stored", func() bool {
		created = auditPage(t, n, url.Values{"type": {"admin_user_created"}}).Events
		failed = auditPage(t, n, url.Values{"type": {"admin_authentication_*"}}).Events
		return len(created) == 1 && len(failed) == 1
	})
	if e := created[0]; e.Subject != u.Sub || e.Attrs["username"] != "rosa" || e.Member != cfg.Cluster.NodeName {
		t.Errorf("user created event: %+v", e)
	}
	if e := failed[0]; e.ClientIP != "127.0.0.1" || e.Level != "WARN" {
		t.Errorf("admin authentication failed event: %+v", e)
	}
	if evs := auditPage(t, n, url.Values{"sub": {u.Sub}}).Events; len(evs) != 1 {
		t.Errorf("events of the user: %d, want 1", len(evs))
	}
	// Paging: after the last one there is nothing yet, and the cursor
	// stays put for polling.
	all := auditPage(t, n, url.Values{})
	if len(all.Events) < 3 { // schema stamped, user created, authentication failed
		t.Fatalf("all events: %+v", all.Events)
	}
	if p := auditPage(t, n, url.Values{"after": {all.Next}}); len(p.Events) != 0 || p.Next != all.Next {
		t.Errorf("after the last: %+v", p)
	}
	for i := 1; i < len(all.Events); i++ {
		if all.Events[i].ID <= all.Events[i-1].ID || all.Events[i].Time.Before(all.Events[i-1].Time) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	// Bad queries change nothing and say why.
	for _, q := range []string{"limit=0", "limit=100000", "since=yesterday", "after=../../etc", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z"} {
		if status, body := admin(t, n, http.MethodGet, management.AuditPath+"?"+q, adminToken, ""); status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", q, status, body)
		}
	}
	// Without the admin token, nothing.
	if status, _ := admin(t, n, http.MethodGet, management.AuditPath, "", ""); status != http.StatusUnauthorized {
		t.Errorf("audit without a token: %d", status)
	}

	// Past the retention the sweeper prunes them.
	clk.Add(cfg.Audit.Retention.D() + time.Hour)
	if _, err := n.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if evs := auditPage(t, n, url.Values{"type": {"admin_user_created"}}).Events; len(evs) != 0 {
		t.Errorf("after the retention: %d user created events left", len(evs))
	}
}

func TestAuditConfigValidation(t *testing.T) {
	checkValidation(t, []validationCase{
		{"default 30 days", func(*node.Config) {}, ""},
		{"a year", func(c *node.Config) { c.Audit.Retention = node.Duration(365 * 24 * time.Hour) }, ""},
		{"minutes", func(c *node.Config) { c.Audit.Retention = node.Duration(10 * time.Minute) }, "audit.retention"},
		{"zero", func(c *node.Config) { c.Audit.Retention = 0 }, "audit.retention"},
	})
}

// TestAuditReadmeExample: the README's polling example works against a
// node.
func TestAuditReadmeExample(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()), nil)
	if status, body := admin(t, n, http.MethodPost, "/admin/users", adminToken, `{"username":"tomas","password":"a long enough password"}`); status != http.StatusCreated {
		t.Fatalf("create user: %d %s", status, body)
	}
	eventually.True(t, "the creation is stored", func() bool {
		return len(auditPage(t, n, url.Values{"type": {"admin_user_created"}}).Events) == 1
	})
	out := docexample.Run(t, "../README.md", "audit-poll", "ISSUER="+n.URL(), "ADMIN_TOKEN="+adminToken)
	if out != "tomas\n0\n" {
		t.Fatalf("README example printed %q", out)
	}
}
