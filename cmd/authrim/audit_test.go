package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/audit"
	"authrim/directory"
	"authrim/http/management"
	"authrim/http/router"
	"authrim/internal/eventually"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

type storeAudit struct{ store persistence.Backend }

func (s storeAudit) QueryAudit(ctx context.Context, f audit.Filter) ([]audit.Event, string, error) {
	return audit.Query(ctx, s.store, f, time.Now(), time.Now().Add(-time.Hour))
}

// lockedBuffer is a bytes.Buffer the tail goroutine writes while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuditCmd: audit list and audit tail read the real admin API over
// an audit log whose events are the admin API's own audit lines.
func TestAuditCmd(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	dir, err := directory.New(store, directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	log := audit.NewLog("node1", nil)
	log.Start(store, nil, nil)
	t.Cleanup(func() { _ = log.Close(context.Background()) })
	logger := slog.New(log.Handler(slog.NewTextHandler(io.Discard, nil)))
	e := echo.New()
	router.Mount(e, management.NewAdmin(cliToken, nil, logger).WithDirectory(dir, dir).WithAudit(storeAudit{store}))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	conn := []string{"--server", srv.URL, "--admin-token", cliToken}
	ctx := context.Background()
	run := func(out io.Writer, args ...string) error {
		return cmdLine(ctx, strings.NewReader("a long enough password\n"), out, append(args, conn...)...)
	}
	if err := run(io.Discard, "users", "add", "--username", "ines", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	eventually.True(t, "the user's creation is listed", func() bool {
		out.Reset()
		return run(&out, "audit", "list", "--type", "admin_user_*", "--since", "1h") == nil && strings.Contains(out.String(), "admin_user_created")
	})
	if !strings.Contains(out.String(), "username=ines") || !strings.Contains(out.String(), "node1") {
		t.Errorf("list:\n%s", out.String())
	}
	out.Reset()
	if err := run(&out, "audit", "list", "--json", "--limit", "5"); err != nil {
		t.Fatal(err)
	}
	var ev audit.Event
	if err := json.Unmarshal([]byte(strings.SplitN(out.String(), "\n", 2)[0]), &ev); err != nil || ev.Type == "" {
		t.Fatalf("--json line: %v %q", err, out.String())
	}

	// tail --since prints what is there, then what happens, and stops
	// after --count.
	var tail lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(&tail, "audit", "tail", "--since", "1h", "--type", "admin_user_created", "--interval", "100ms", "--count", "2")
	}()
	eventually.True(t, "tail prints the event that was there", func() bool { return strings.Contains(tail.String(), "username=ines") })
	if err := run(io.Discard, "users", "add", "--username", "jonas", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("tail: %v", err)
	}
	if s := tail.String(); !strings.Contains(s, "username=jonas") || strings.Count(s, "admin_user_created") != 2 {
		t.Errorf("tail printed:\n%s", s)
	}

	// --before pages back from the latest: jonas, then ines before him.
	latest := func(args ...string) audit.Event {
		t.Helper()
		var out bytes.Buffer
		if err := run(&out, append([]string{"audit", "list", "--type", "admin_user_created", "--json", "--limit", "1"}, args...)...); err != nil {
			t.Fatal(err)
		}
		var ev audit.Event
		if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
			t.Fatalf("%v: %q", err, out.String())
		}
		return ev
	}
	jonas := latest()
	if ines := latest("--before", jonas.ID); jonas.Attrs["username"] != "jonas" || ines.Attrs["username"] != "ines" {
		t.Errorf("latest %+v, the one before %+v", jonas, ines)
	}

	for _, bad := range [][]string{
		{"audit", "list", "--since", "yesterday"},
		{"audit", "list", "--limit", "0"},
		{"audit", "list", "extra"},
		{"audit", "tail", "--interval", "1ms"},
	} {
		if err := run(io.Discard, bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
