package audit_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"authrim/audit"
	"authrim/internal/eventually"
	"authrim/persistence/bbolt"
)

func openStore(t *testing.T) *bbolt.Store {
	t.Helper()
	s, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// lines collects what reaches the wrapped handler.
type lines struct {
	mu   sync.Mutex
	msgs []string
	min  slog.Level
}

func (l *lines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= l.min }
func (l *lines) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *lines) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *lines) WithGroup(string) slog.Handler      { return l }

func all(t *testing.T, ctx context.Context, s *bbolt.Store, f audit.Filter) []audit.Event {
	t.Helper()
	evs, _, err := audit.Query(ctx, s, f, time.Now().Add(time.Hour), time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestTypeOf(t *testing.T) {
	for in, want := range map[string]string{
		"passkey registered":                       "passkey_registered",
		"account: session signed out":              "account_session_signed_out",
		"Sign-in failed!":                          "sign_in_failed",
		"  second factor throttled  ":              "second_factor_throttled",
		"code refused: DPoP key is not the code's": "code_refused_dpop_key_is_not_the_code_s",
		"": "",
	} {
		if got := audit.TypeOf(in); got != want {
			t.Errorf("TypeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

// Records logged with "audit", true are stored, whatever the log level;
// other records are not; the wrapped handler still sees what its level
// takes.
func TestLogCapturesAuditRecords(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	l := audit.NewLog("node1", nil)
	next := &lines{min: slog.LevelWarn}
	logger := slog.New(l.Handler(next))
	l.Start(s, nil, nil)
	t.Cleanup(func() { _ = l.Close(ctx) })

	logger.Info("passkey registered", "audit", true, "sub", "u1", "backup_eligible", true)
	logger.Info("just chatter", "sub", "u1")
	logger.With("audit", true, "client_id", "c1").Warn("grant revoked", "sub", "u2", "reason", "reuse")
	logger.WithGroup("req").Info("sign-in failed", "audit", true, "client_ip", "192.0.2.1", "username", "mallory")
	logger.Info("renamed on purpose", "audit", true, "event", "user.created", "sub", "u3")
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs := all(t, ctx, s, audit.Filter{})
	types := make([]string, len(evs))
	for i, e := range evs {
		types[i] = e.Type
	}
	if got := strings.Join(types, ","); got != "passkey_registered,grant_revoked,sign_in_failed,user_created" {
		t.Fatalf("stored types %s", got)
	}
	if e := evs[0]; e.Subject != "u1" || e.Attrs["backup_eligible"] != "true" || e.Member != "node1" || e.Level != "INFO" {
		t.Errorf("first event %+v", e)
	}
	if e := evs[1]; e.Subject != "u2" || e.ClientID != "c1" || e.Attrs["reason"] != "reuse" {
		t.Errorf("With attrs not kept: %+v", e)
	}
	if e := evs[2]; e.Attrs["req.username"] != "mallory" {
		t.Errorf("grouped attrs: %+v", e)
	}
	if _, ok := evs[0].Attrs["audit"]; ok {
		t.Error("the audit marker is stored as a detail")
	}
	next.mu.Lock()
	defer next.mu.Unlock()
	if strings.Join(next.msgs, ",") != "grant revoked" {
		t.Errorf("wrapped handler saw %v, want only the warning", next.msgs)
	}
}

// Keys sort in log order even when the clock goes back, and each is a
// cursor.
func TestLogOrderAndCursor(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	l := audit.NewLog("m", now)
	logger := slog.New(l.Handler(&lines{min: slog.LevelError}))
	l.Start(s, nil, nil)
	for i := range 5 {
		if i == 3 {
			mu.Lock()
			clock = clock.Add(-time.Minute) // a clock step back
			mu.Unlock()
		}
		r := slog.NewRecord(now(), slog.LevelInfo, "step", 0)
		r.AddAttrs(slog.Bool("audit", true), slog.Int("n", i))
		_ = logger.Handler().Handle(ctx, r)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs := all(t, ctx, s, audit.Filter{})
	if len(evs) != 5 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if e.Attrs["n"] != string(rune('0'+i)) {
			t.Fatalf("event %d is step %s: order lost", i, e.Attrs["n"])
		}
	}
	page, next, err := audit.Query(ctx, s, audit.Filter{After: evs[1].ID, Limit: 2}, time.Now().Add(time.Hour), time.Now().Add(-time.Hour))
	if err != nil || len(page) != 2 || page[0].ID != evs[2].ID || next != evs[3].ID {
		t.Fatalf("page after the second: %v %v next %s", page, err, next)
	}
	latest, _, _ := audit.Query(ctx, s, audit.Filter{Limit: 2}, time.Now().Add(time.Hour), time.Now().Add(-time.Hour))
	if len(latest) != 2 || latest[1].ID != evs[4].ID || latest[0].ID != evs[3].ID {
		t.Fatalf("latest two: %v", latest)
	}
	// The page before the latest (the console's "older events").
	older, _, err := audit.Query(ctx, s, audit.Filter{Before: latest[0].ID, Limit: 2}, time.Now().Add(time.Hour), time.Now().Add(-time.Hour))
	if err != nil || len(older) != 2 || older[0].ID != evs[1].ID || older[1].ID != evs[2].ID {
		t.Fatalf("the two before the latest two: %v %v", older, err)
	}
	// Latest with Since: a window's newest, not its first.
	window, _, err := audit.Query(ctx, s, audit.Filter{Since: time.Now().Add(-time.Hour), Latest: true, Limit: 2}, time.Now().Add(time.Hour), time.Now().Add(-time.Hour))
	if err != nil || len(window) != 2 || window[1].ID != evs[4].ID {
		t.Fatalf("the window's latest two: %v %v", window, err)
	}
}

func TestQueryFilters(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	l := audit.NewLog("m", nil)
	logger := slog.New(l.Handler(&lines{min: slog.LevelError}))
	l.Start(s, nil, nil)
	logger.Info("second factor failed", "audit", true, "sub", "alice", "client_id", "app")
	logger.Info("second factor throttled", "audit", true, "sub", "alice", "client_id", "other")
	logger.Info("passkey registered", "audit", true, "sub", "bob", "client_id", "app")
	_ = l.Close(ctx)
	for _, tc := range []struct {
		f    audit.Filter
		want int
	}{
		{audit.Filter{Type: "second_factor_failed"}, 1},
		{audit.Filter{Type: "second_factor_*"}, 2},
		{audit.Filter{Subject: "alice"}, 2},
		{audit.Filter{ClientID: "app"}, 2},
		{audit.Filter{Subject: "alice", ClientID: "app"}, 1},
		{audit.Filter{Since: time.Now().Add(time.Minute)}, 0},
		{audit.Filter{Until: time.Now().Add(-time.Minute)}, 0},
		{audit.Filter{Limit: 1}, 1},
	} {
		if got := all(t, ctx, s, tc.f); len(got) != tc.want {
			t.Errorf("%+v: %d events, want %d", tc.f, len(got), tc.want)
		}
	}
	for _, bad := range []audit.Filter{{Limit: -1}, {Limit: audit.MaxLimit + 1}, {After: "not a cursor"}, {Before: "not a cursor"},
		{After: strings.Repeat("9", 300)}, {Since: time.Now(), Until: time.Now().Add(-time.Hour)}} {
		if _, _, err := audit.Query(ctx, s, bad, time.Now(), time.Now().Add(-time.Hour)); err == nil {
			t.Errorf("filter %+v accepted", bad)
		}
	}
}

func TestPrune(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var mu sync.Mutex
	clock := time.Now().Add(-72 * time.Hour)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	l := audit.NewLog("m", now)
	logger := slog.New(l.Handler(&lines{min: slog.LevelError}))
	l.Start(s, nil, nil)
	emit := func(msg string) {
		r := slog.NewRecord(now(), slog.LevelInfo, msg, 0)
		r.AddAttrs(slog.Bool("audit", true))
		_ = logger.Handler().Handle(ctx, r)
	}
	emit("old")
	mu.Lock()
	clock = time.Now()
	mu.Unlock()
	emit("new")
	_ = l.Close(ctx)
	n, err := audit.Prune(ctx, s, time.Now().Add(-24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	evs, _, _ := audit.Query(ctx, s, audit.Filter{}, time.Now().Add(time.Hour), time.Now().Add(-96*time.Hour))
	if len(evs) != 1 || evs[0].Type != "new" {
		t.Fatalf("left %v", evs)
	}
}

// A full queue drops events (and counts them) instead of blocking the
// code that logs.
func TestFullQueueDropsNotBlocks(t *testing.T) {
	l := audit.NewLog("m", nil) // never started: nothing drains the queue
	logger := slog.New(l.Handler(&lines{min: slog.LevelError}))
	done := make(chan struct{})
	go func() {
		for range 5000 {
			logger.Info("burst", "audit", true)
		}
		close(done)
	}()
	eventually.True(t, "logging went on past a full audit queue", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if l.Dropped() == 0 {
		t.Fatal("nothing counted as dropped")
	}
}

func FuzzFilterCheck(f *testing.F) {
	f.Add("20261204T161900.123456789Z-node1-00000001", "second_factor_*")
	f.Add("", "")
	f.Add("x-", "*")
	f.Fuzz(func(t *testing.T, after, typ string) {
		flt := audit.Filter{After: after, Type: typ}
		_ = flt.Check()
		_ = audit.TypeOf(typ)
	})
}

// The actor a request put in its context names who acted, on every audit
// line logged with that context; a line naming its own actor keeps it,
// and lines that are not audited are left alone.
func TestActorFromContext(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	l := audit.NewLog("node1", nil)
	logger := slog.New(l.Handler(&lines{min: slog.LevelError}))
	l.Start(s, nil, nil)
	t.Cleanup(func() { _ = l.Close(ctx) })

	actx := audit.WithActor(ctx, "admin-sub")
	logger.InfoContext(actx, "admin: user disabled", "audit", true, "sub", "u1")
	logger.InfoContext(actx, "admin: own actor", "audit", true, audit.ActorAttr, "someone")
	logger.InfoContext(ctx, "admin: no actor", "audit", true)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs := all(t, ctx, s, audit.Filter{})
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	if got := evs[0].Attrs[audit.ActorAttr]; got != "admin-sub" {
		t.Errorf("actor %q, want admin-sub", got)
	}
	if got := evs[1].Attrs[audit.ActorAttr]; got != "someone" {
		t.Errorf("actor %q, want the line's own", got)
	}
	if _, ok := evs[2].Attrs[audit.ActorAttr]; ok {
		t.Error("an actor without WithActor")
	}
	if audit.ActorFrom(ctx) != "" || audit.ActorFrom(actx) != "admin-sub" {
		t.Error("ActorFrom")
	}
}
