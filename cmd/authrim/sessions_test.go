package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"
	"github.com/labstack/echo/v4"

	"authrim/actors/session"
	"authrim/cluster"
	"authrim/directory"
	"authrim/http/management"
	"authrim/http/router"
	"authrim/persistence/bbolt"
)

// TestUsersSessionsCmd runs `users sessions` against the real admin API,
// Session grains and store: sessions signed in (seeded, with their index
// entries) are listed as a table and as JSON, --revoke ends one and
// --revoke-all the rest.
func TestUsersSessionsCmd(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	dir, err := directory.New(store, directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	u, err := dir.CreateUser(ctx, directory.NewUser{Username: "alice", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	kind := session.NewKind(session.Config{Store: store, CodeTTL: time.Minute, PendingTTL: time.Minute, LoginTTL: time.Hour,
		AccessTokenTTL: time.Minute, CeremonyTTL: time.Minute, IdleTimeout: time.Minute, Subjects: dir, Logger: logger})
	n, err := cluster.Start(cluster.Config{Name: "clitest", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{kind}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)

	var sids []string
	for _, ua := range []string{"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/133.0", "curl/8.5.0"} {
		sid, secret := session.NewSessionID()
		now := time.Now()
		key, value, err := session.Seeded(session.Seed{Sid: sid, Secret: secret, Subject: u.Subject, Amr: []string{"pwd"},
			AuthTime: now, LoginTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		entry, _ := json.Marshal(session.IndexEntry{Sid: sid, SignedInMs: now.UnixMilli(), UserAgent: ua, Address: "192.0.2.7", Methods: []string{"pwd"}})
		if err := store.Put(ctx, session.Bucket, key, value); err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, session.IndexBucket, u.Subject+"\x00"+sid, entry); err != nil {
			t.Fatal(err)
		}
		sids = append(sids, sid)
	}

	e := echo.New()
	router.Mount(e, management.NewAdmin(cliToken, nil, logger).WithDirectory(dir, dir).
		WithSessions(&session.UserSessions{Store: store, Grains: n.Sessions()}))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := usersRun(ctx, append(args, "--server", srv.URL, "--admin-token", cliToken), strings.NewReader(""), &out)
		return out.String(), err
	}

	out, err := run("sessions", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SID", sids[0], sids[1], "Firefox on Linux", "curl", "192.0.2.7", "pwd"} {
		if !strings.Contains(out, want) {
			t.Fatalf("table lacks %q:\n%s", want, out)
		}
	}
	out, err = run("sessions", "alice", "--json")
	var v management.SessionsView
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || len(v.Sessions) != 2 || v.Subject != u.Subject {
		t.Fatalf("--json: %v %s", err, out)
	}
	if out, err := run("sessions", "alice", "--revoke", sids[0]); err != nil || !strings.Contains(out, "ended session "+sids[0]) {
		t.Fatalf("--revoke: %v %s", err, out)
	}
	if _, err := run("sessions", "alice", "--revoke", sids[0]); err == nil || !strings.Contains(err.Error(), "no such session") {
		t.Fatalf("--revoke of an ended session: %v", err)
	}
	if out, _ := run("sessions", "alice"); strings.Contains(out, sids[0]) || !strings.Contains(out, sids[1]) {
		t.Fatalf("after --revoke:\n%s", out)
	}
	if out, err := run("sessions", "alice", "--revoke-all"); err != nil || !strings.Contains(out, "ended 1 session of") {
		t.Fatalf("--revoke-all: %v %s", err, out)
	}
	if out, _ := run("sessions", "alice"); !strings.Contains(out, "no active sessions") {
		t.Fatalf("after --revoke-all:\n%s", out)
	}
	for _, bad := range [][]string{
		{"sessions"},
		{"sessions", "alice", "--revoke", sids[1], "--revoke-all"},
		{"sessions", "alice", "--revoke", ""},
	} {
		if _, err := run(bad...); err == nil {
			t.Fatalf("%v: no usage error", bad)
		}
	}
}
