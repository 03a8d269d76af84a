package node_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"authrim/internal/freeport"
	"authrim/node"
)

// TestAdminTokenGuessingIsThrottled: wrong admin tokens from one address
// meet a 429 after five (well before the sixtieth), even when sent all at
// once; while the address waits, the right token is refused too (so the
// wait slows guessing), other addresses are served, and every failure is
// audited with the client address.
func TestAdminTokenGuessingIsThrottled(t *testing.T) {
	logs := &syncBuffer{}
	o := startOPFull(t, func(c *node.Config) {
		c.Admin.Token = adminToken
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
	}, func(opts *node.Options) { opts.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
	call := func(token, from string) int {
		req, _ := http.NewRequest("GET", o.issuer+"/admin/keys", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Forwarded-For", from)
		return do(t, http.DefaultClient, req).status
	}
	const guesser = "198.51.100.7"
	codes := make([]int, 60)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = call("guess-"+strings.Repeat("x", i), guesser) })
	}
	wg.Wait()
	unauthorized, limited := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			unauthorized++
		case http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("a wrong token got %d", c)
		}
	}
	if unauthorized != 5 || limited != 55 {
		t.Fatalf("%d answered 401 and %d 429, want 5 and 55", unauthorized, limited)
	}
	if c := call(adminToken, guesser); c != http.StatusTooManyRequests {
		t.Fatalf("the right token from the waiting address: %d", c)
	}
	if c := call(adminToken, "203.0.113.9"); c != http.StatusOK {
		t.Fatalf("the right token from another address: %d", c)
	}
	if !logged(logs.String(), map[string]any{"msg": "admin authentication failed", "audit": true, "client_ip": guesser}) ||
		!logged(logs.String(), map[string]any{"msg": "admin authentication throttled", "audit": true, "client_ip": guesser}) {
		t.Fatalf("failures not audited:\n%s", logs)
	}
	if strings.Contains(logs.String(), "guess-") || strings.Contains(logs.String(), adminToken) {
		t.Fatal("a token reached the log")
	}
}

// TestAdminListener: with admin.listen set, the admin API and backups are
// served there and not on the public listener.
func TestAdminListener(t *testing.T) {
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	o := startOPWith(t, func(c *node.Config) {
		c.Admin.Token = adminToken
		c.Admin.Listen = addr
	})
	get := func(base, path string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		return do(t, http.DefaultClient, req).status
	}
	for _, path := range []string{"/admin/keys", "/admin/backup", "/admin/users"} {
		if c := get(o.issuer, path); c != http.StatusNotFound {
			t.Fatalf("public listener serves %s: %d", path, c)
		}
		if c := get("http://"+addr, path); c != http.StatusOK {
			t.Fatalf("admin listener, %s: %d", path, c)
		}
	}
	// The protocol stays on the public listener only.
	if c := get(o.issuer, "/.well-known/openid-configuration"); c != http.StatusOK {
		t.Fatalf("public discovery: %d", c)
	}
	if c := get("http://"+addr, "/.well-known/openid-configuration"); c != http.StatusNotFound {
		t.Fatalf("admin listener serves discovery: %d", c)
	}
}

// TestFailedStartReleasesItsListeners: a start that fails after opening
// the operator listeners (here: the public port is taken) closes them
// again; nothing stays bound, and the store is free for the next start.
func TestFailedStartReleasesItsListeners(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	metrics, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	adminAddr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.HTTP.Listen = taken.Addr().String()
	cfg.Metrics.Listen, cfg.Admin.Listen = metrics, adminAddr
	if _, err := node.Start(context.Background(), cfg, node.Options{}); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("start on a taken port: %v", err)
	}
	for _, a := range []string{metrics, adminAddr} {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s still bound after the failed start: %v", a, err)
		}
		l.Close()
	}
	cfg.HTTP.Listen = "127.0.0.1:0"
	startNode(t, cfg, nil) // the store and the KEK are free again
}
