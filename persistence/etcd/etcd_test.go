package etcd_test

import (
	"authrim/internal/freeport"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"authrim/cluster/pki"
	"authrim/persistence"
	"authrim/persistence/conformance"
	"authrim/persistence/etcd"
)

// freeAddr returns a loopback host:port nobody listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startMember runs a one-member etcd with its data in dir; reopening the
// same dir brings the data back.
func startMember(t *testing.T, dir string) *etcd.Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := etcd.StartMember(ctx, etcd.MemberConfig{
		Name: "m1", Dir: filepath.Join(dir, "etcd"), PeerListen: freeAddr(t), ClientListen: freeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func openStore(t *testing.T, dir string) *etcd.Store {
	t.Helper()
	m := startMember(t, dir)
	cli, err := etcd.Dial(context.Background(), []string{m.Endpoint()}, nil, 5*time.Second)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	s := etcd.New(cli, "authrim", func() error {
		err := cli.Close()
		m.Close()
		return err
	})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T, dir string) persistence.Backend {
		return openStore(t, dir)
	})
}

func grant(t *testing.T, s *etcd.Store, node string, dead func(string, int64) bool, lost chan error) *etcd.Lease {
	t.Helper()
	return grantTTL(t, s, node, 2*time.Second, dead, lost)
}

func grantTTL(t *testing.T, s *etcd.Store, node string, ttl time.Duration, dead func(string, int64) bool, lost chan error) *etcd.Lease {
	t.Helper()
	l, err := etcd.Grant(context.Background(), s, etcd.LeaseConfig{
		Node: node, TTL: ttl, IsDead: dead,
		OnLost: func(err error) { lost <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Two nodes' leases on one store: a live holder keeps an ownership; once
// the membership drops it, the other node revokes its lease, takes over,
// and every write of the stale holder is fenced.
func TestOwnershipFencing(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	var aDead atomic.Bool
	lostA, lostB := make(chan error, 1), make(chan error, 1)
	a := grant(t, s, "a", func(string, int64) bool { return false }, lostA)
	b := grant(t, s, "b", func(n string, _ int64) bool { return n == "a" && aDead.Load() }, lostB)

	oa, err := a.Acquire(ctx, "Session/x")
	if err != nil {
		t.Fatal(err)
	}
	if err := oa.Store().Put(ctx, "sessions", "x", []byte("from a")); err != nil {
		t.Fatalf("owner's write: %v", err)
	}
	if h, _ := b.Holder(ctx, "Session/x"); h != "a" {
		t.Fatalf("holder = %q, want a", h)
	}
	// a is alive: b waits and gives up.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(short, "Session/x"); !errors.Is(err, persistence.ErrConflict) {
		t.Fatalf("Acquire while a live node holds it = %v, want ErrConflict", err)
	}
	// The membership drops a: b takes over.
	aDead.Store(true)
	ob, err := b.Acquire(ctx, "Session/x")
	if err != nil {
		t.Fatalf("Acquire after a was dropped: %v", err)
	}
	if err := ob.Store().Put(ctx, "sessions", "x", []byte("from b")); err != nil {
		t.Fatalf("new owner's write: %v", err)
	}
	// Every kind of write from the stale owner is fenced and changes nothing.
	stale := oa.Store()
	writes := map[string]func() error{
		"Put":    func() error { return stale.Put(ctx, "sessions", "x", []byte("stale")) },
		"Create": func() error { return stale.Create(ctx, "sessions", "y", []byte("stale")) },
		"Delete": func() error { return stale.Delete(ctx, "sessions", "x") },
		"Update": func() error {
			return stale.Update(ctx, "sessions", "x", func([]byte, bool) ([]byte, error) { return []byte("stale"), nil })
		},
	}
	for name, w := range writes {
		if err := w(); !errors.Is(err, persistence.ErrFenced) {
			t.Errorf("stale %s = %v, want ErrFenced", name, err)
		}
	}
	if v, err := s.Get(ctx, "sessions", "x"); err != nil || string(v) != "from b" {
		t.Fatalf("value = %q, %v; want from b", v, err)
	}
	if _, err := s.Get(ctx, "sessions", "y"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("stale Create left a record: %v", err)
	}
	// a learns its lease is gone and reports it.
	select {
	case err := <-lostA:
		if !errors.Is(err, etcd.ErrLeaseLost) {
			t.Fatalf("lost = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a never noticed its revoked lease")
	}
	if a.Valid() || oa.Valid() {
		t.Fatal("a still valid after losing its lease")
	}
	if _, err := a.Acquire(ctx, "Session/z"); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("Acquire on a lost lease = %v, want ErrFenced", err)
	}
	// Release frees it for the next owner at once.
	if err := ob.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.Holder(ctx, "Session/x"); h != "" {
		t.Fatalf("holder after release = %q", h)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lostB:
		t.Fatalf("Close reported a lost lease: %v", err)
	default:
	}
}

// A lease that is not renewed lapses on its own: its holder's ownerships
// become free after the TTL even if nobody revokes it.
func TestOwnershipLapses(t *testing.T) {
	s := openStore(t, t.TempDir())
	ctx := context.Background()
	a := grant(t, s, "a", nil, make(chan error, 1))
	if _, err := a.Acquire(ctx, "KeyManager/default"); err != nil {
		t.Fatal(err)
	}
	// Simulate a dead process: stop renewing without revoking.
	a.StopRenewing()
	// b's own lease is long: on a busy machine a 2 s lease of the waiting
	// node could lapse too (its renewals starved), which is not what
	// this test is about.
	b := grantTTL(t, s, "b", 30*time.Second, nil, make(chan error, 1))
	// The lapse takes the lease's TTL; the wait only bounds a broken run.
	wait, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := b.Acquire(wait, "KeyManager/default"); err != nil {
		t.Fatalf("Acquire after the lease lapsed: %v", err)
	}
}

// getOverTLS GETs url trusting f's CA, showing f's certificate only when
// withCert.
func getOverTLS(t *testing.T, url string, f *etcd.TLSFiles, withCert bool) error {
	t.Helper()
	tc, err := f.ClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	if !withCert {
		tc.Certificates = nil
		tc.GetClientCertificate = nil
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// An etcd member with cluster TLS serves clients whose certificate comes
// from the cluster CA, and refuses one from another CA (or none).
func TestMemberRequiresClusterCertificates(t *testing.T) {
	ours, theirs := t.TempDir(), t.TempDir()
	if err := pki.WriteBundle(ours, 2, nil); err != nil {
		t.Fatal(err)
	}
	if err := pki.WriteBundle(theirs, 1, nil); err != nil {
		t.Fatal(err)
	}
	files := func(dir, node string) *etcd.TLSFiles {
		return &etcd.TLSFiles{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, node+".pem"), Key: filepath.Join(dir, node+"-key.pem")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	peerAddr, clientAddr := freeAddr(t), freeAddr(t)
	m, err := etcd.StartMember(ctx, etcd.MemberConfig{
		Name: "node1", Dir: filepath.Join(t.TempDir(), "etcd"), PeerListen: peerAddr, ClientListen: clientAddr,
		TLS: files(ours, "node1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Both ports want a client certificate: a TLS client that trusts the
	// CA but shows none is refused (the peer port serves raft's HTTP
	// API, the client port etcd's /version), one with a node's is served.
	for _, addr := range []string{peerAddr, clientAddr} {
		if err := getOverTLS(t, "https://"+addr+"/version", files(ours, "node2"), false); err == nil {
			t.Fatalf("%s served a client without a certificate", addr)
		}
		if err := getOverTLS(t, "https://"+addr+"/version", files(ours, "node2"), true); err != nil {
			t.Fatalf("%s refused a cluster certificate: %v", addr, err)
		}
	}
	cli, err := etcd.Dial(ctx, []string{m.Endpoint()}, files(ours, "node2"), 5*time.Second)
	if err != nil {
		t.Fatalf("a cluster certificate was refused: %v", err)
	}
	cli.Close()
	if cli, err := etcd.Dial(ctx, []string{m.Endpoint()}, files(theirs, "node1"), 2*time.Second); err == nil {
		cli.Close()
		t.Fatal("a certificate from another CA was accepted")
	}
	if cli, err := etcd.Dial(ctx, []string{"http://" + strings.TrimPrefix(m.Endpoint(), "https://")}, nil, 2*time.Second); err == nil {
		cli.Close()
		t.Fatal("a plaintext client was accepted")
	}
}

// signalHandler is a slog handler that closes ready once want records
// with message msg were logged.
type signalHandler struct {
	msg   string
	want  int64
	seen  *atomic.Int64
	ready chan struct{}
}

func (h signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalHandler) WithGroup(string) slog.Handler            { return h }
func (h signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg && h.seen.Add(1) == h.want {
		close(h.ready)
	}
	return nil
}

// Two nodes of a cluster start at once on a store that needs migrating:
// each migration step runs exactly once, in order, and both starts
// succeed. The first step holds on until both nodes have read the old
// version, so without the migration ownership the second node would run
// the same step again alongside.
func TestMigrationRunsOnceInACluster(t *testing.T) {
	dir := t.TempDir()
	m := startMember(t, dir)
	t.Cleanup(m.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := func() *etcd.Store {
		cli, err := etcd.Dial(ctx, []string{m.Endpoint()}, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s := etcd.New(cli, "authrim", cli.Close)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	sa, sb := store(), store()
	// Records from before the version record: version 1, two steps to go.
	if err := sa.Put(ctx, persistence.BucketSessions, "sid", []byte("state")); err != nil {
		t.Fatal(err)
	}
	la := grant(t, sa, "a", nil, make(chan error, 1))
	lb := grant(t, sb, "b", nil, make(chan error, 1))

	bothWaiting := make(chan struct{})
	logger := slog.New(signalHandler{msg: "store schema migration needed", want: 2, seen: new(atomic.Int64), ready: bothWaiting})
	var runs [2]atomic.Int64
	var order []int
	var orderMu sync.Mutex
	step := func(i int) persistence.Migration {
		return persistence.Migration{Name: fmt.Sprintf("step %d", i+1), Run: func(ctx context.Context, b persistence.Backend) error {
			if runs[i].Add(1) == 1 && i == 0 {
				select {
				case <-bothWaiting:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			orderMu.Lock()
			order = append(order, i+1)
			orderMu.Unlock()
			return nil
		}}
	}
	mig := persistence.Migrator{Steps: []persistence.Migration{step(0), step(1)}, Logger: logger}

	errs := make(chan error, 2)
	go func() { errs <- mig.Run(ctx, sa, la) }()
	go func() { errs <- mig.Run(ctx, sb, lb) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	for i := range runs {
		if n := runs[i].Load(); n != 1 {
			t.Errorf("step %d ran %d times, want once", i+1, n)
		}
	}
	if fmt.Sprint(order) != "[1 2]" {
		t.Errorf("steps ran in order %v, want [1 2]", order)
	}
	v, err := sb.Get(ctx, persistence.BucketMeta, persistence.KeySchemaVersion)
	if err != nil || string(v) != "3" {
		t.Errorf("version = %q, %v; want 3", v, err)
	}
	// The ownership was given back.
	if h, err := la.Holder(ctx, persistence.MigrationOwnership); err != nil || h != "" {
		t.Errorf("migration ownership held by %q (%v) after the run", h, err)
	}
}
