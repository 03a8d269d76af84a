package node_test

import (
	"authrim/internal/eventually"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"authrim/node"
)

// sessionCookie is the browser's session cookie for the OP ("" if none).
func (o *op) sessionCookie(t *testing.T, b *http.Client) string {
	t.Helper()
	u, _ := url.Parse(o.issuer)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == node.Default().Session.CookieName {
			return c.Value
		}
	}
	return ""
}

// TestSweepRemovesAbandonedSessions: the session a cookieless /authorize
// creates is deleted by a sweep once its request has expired, not before;
// the browser that comes back with its cookie starts afresh.
func TestSweepRemovesAbandonedSessions(t *testing.T) {
	// The background sweeper stays out of the way; the test sweeps itself.
	o := startOPFull(t, nil, func(opts *node.Options) { opts.SweepInterval = time.Hour })
	ctx := context.Background()
	b := browser(t)
	if p := get(t, b, o.authorizeURL(baseParams())); !p.isLogin() {
		t.Fatalf("expected the login page, got %d %s", p.status, p.body)
	}
	cookie := o.sessionCookie(t, b)
	if cookie == "" {
		t.Fatal("no session cookie")
	}
	if n, err := o.n.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("Sweep while the request is pending = %d, %v; want 0", n, err)
	}
	o.clock.Advance(16 * time.Minute) // past the pending request's 15 minutes
	if n, err := o.n.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("Sweep after expiry = %d, %v; want 1", n, err)
	}
	if n, err := o.n.Sweep(ctx); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0", n, err)
	}
	p := get(t, b, o.authorizeURL(baseParams()))
	if !p.isLogin() {
		t.Fatalf("coming back: expected the login page, got %d %v %s", p.status, p.loc, p.body)
	}
	if got := o.sessionCookie(t, b); got == "" || got == cookie {
		t.Fatalf("coming back: cookie %q, want a new session", got)
	}
	// And the new session signs in as usual.
	p = o.login(t, b, p, userPassword)
	if p.isConsent() {
		p = o.consent(t, b, p, "allow")
	}
	if p.status != http.StatusFound || !strings.HasPrefix(p.loc.String(), rpRedirect) || p.loc.Query().Get("code") == "" {
		t.Fatalf("sign-in after the sweep: %d %v %s", p.status, p.loc, p.body)
	}
}

// logRecorder keeps the records whose message contains match.
type logRecorder struct {
	match string
	mu    *sync.Mutex
	got   *[]slog.Record
}

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, l.match) {
		l.mu.Lock()
		*l.got = append(*l.got, r.Clone())
		l.mu.Unlock()
	}
	return nil
}
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logRecorder) WithGroup(string) slog.Handler      { return l }

// TestSweeperRuns: the node sweeps by itself every SweepInterval, and
// Shutdown stops it before the store closes.
func TestSweeperRuns(t *testing.T) {
	var mu sync.Mutex
	var records []slog.Record
	logger := slog.New(logRecorder{match: "expired records", mu: &mu, got: &records})
	o := startOPFull(t, nil, func(opts *node.Options) {
		opts.SweepInterval = 20 * time.Millisecond
		opts.Logger = logger
	})
	if p := get(t, browser(t), o.authorizeURL(baseParams())); !p.isLogin() {
		t.Fatalf("expected the login page, got %d %s", p.status, p.body)
	}
	o.clock.Advance(16 * time.Minute)
	// sweeps counts the sweeper's runs and the sessions it removed.
	sweeps := func() (runs int, swept int64) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range records {
			if r.Level != slog.LevelDebug {
				t.Fatalf("sweeper: %s %s", r.Level, r.Message)
			}
			runs++
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "sessions" {
					swept += a.Value.Int64()
				}
				return true
			})
		}
		return runs, swept
	}
	eventually.True(t, "the sweeper to remove the session", func() bool {
		_, swept := sweeps()
		if swept > 1 {
			t.Fatalf("the sweeper removed %d sessions, want 1", swept)
		}
		return swept == 1
	})
	if err := o.n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := sweeps()
	time.Sleep(100 * time.Millisecond)
	if after, _ := sweeps(); after != before {
		t.Fatalf("the sweeper ran %d times after Shutdown", after-before)
	}
}

// TestExpiredSessionStartsAfresh: a browser that comes back after
// everything in its session has expired (the grain still active, the
// record not swept) gets the login page of a new session, not an error
// at the client.
func TestExpiredSessionStartsAfresh(t *testing.T) {
	o := startOPFull(t, nil, func(opts *node.Options) { opts.SweepInterval = time.Hour })
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	cookie := o.sessionCookie(t, b)
	o.clock.Advance(30 * 24 * time.Hour) // login, codes and grants all over
	p := get(t, b, o.authorizeURL(baseParams()))
	if !p.isLogin() {
		t.Fatalf("expected the login page, got %d %v %s", p.status, p.loc, p.body)
	}
	if got := o.sessionCookie(t, b); got == "" || got == cookie {
		t.Fatalf("cookie %q, want a new session", got)
	}
}
