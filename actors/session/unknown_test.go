package session_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/cluster"
	"authrim/internal/freeport"
	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/etcd"
)

// countingOwners counts ownerships taken.
type countingOwners struct {
	persistence.Owners
	acquired atomic.Int64
}

func (c *countingOwners) Acquire(ctx context.Context, name string) (persistence.Owned, error) {
	c.acquired.Add(1)
	return c.Owners.Acquire(ctx, name)
}

// countingStore counts writes (through the store itself or an owned view
// of it).
type countingStore struct {
	persistence.Backend
	writes *atomic.Int64
}

func (c countingStore) Create(ctx context.Context, b persistence.Bucket, k string, v []byte) error {
	c.writes.Add(1)
	return c.Backend.Create(ctx, b, k, v)
}

func (c countingStore) Put(ctx context.Context, b persistence.Bucket, k string, v []byte) error {
	c.writes.Add(1)
	return c.Backend.Put(ctx, b, k, v)
}

func (c countingStore) Delete(ctx context.Context, b persistence.Bucket, k string) error {
	c.writes.Add(1)
	return c.Backend.Delete(ctx, b, k)
}

func (c countingStore) Update(ctx context.Context, b persistence.Bucket, k string, fn func([]byte, bool) ([]byte, error)) error {
	c.writes.Add(1)
	return c.Backend.Update(ctx, b, k, fn)
}

type countingOwned struct {
	persistence.Owned
	writes *atomic.Int64
}

func (c countingOwned) Store() persistence.Backend {
	return countingStore{Backend: c.Owned.Store(), writes: c.writes}
}

// writeCounting wraps owners so that writes through owned views count too.
type writeCounting struct {
	*countingOwners
	writes *atomic.Int64
}

func (w writeCounting) Acquire(ctx context.Context, name string) (persistence.Owned, error) {
	o, err := w.countingOwners.Acquire(ctx, name)
	if err != nil {
		return nil, err
	}
	return countingOwned{Owned: o, writes: w.writes}, nil
}

func startGrainsOn(tb testing.TB, store persistence.Backend, owners persistence.Owners) *cluster.Node {
	return startGrainsFull(tb, store, owners, nil)
}

// startGrainsWith runs the grains with a user directory to check logins.
func startGrainsWith(tb testing.TB, store persistence.Backend, subjects session.Subjects) *cluster.Node {
	return startGrainsFull(tb, store, nil, subjects)
}

func startGrainsFull(tb testing.TB, store persistence.Backend, owners persistence.Owners, subjects session.Subjects) *cluster.Node {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	kind := session.NewKind(session.Config{
		Store: store, Owners: owners, Subjects: subjects, CodeTTL: time.Minute, PendingTTL: 15 * time.Minute, LoginTTL: 24 * time.Hour,
		AccessTokenTTL: 10 * time.Minute, CeremonyTTL: 5 * time.Minute, IdleTimeout: 10 * time.Minute, Logger: logger,
	})
	n, err := cluster.Start(cluster.Config{Name: "unknowntest", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{kind}, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Shutdown)
	return n
}

// unknownCalls is what random cookies, codes and tokens send to the
// grains of sessions that do not exist: each call to its own session.
func unknownCalls() []*messages.SessionCall {
	secret := strings.Repeat("s", 43)
	req := &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid"}, MaxAge: -1}
	return []*messages.SessionCall{
		{Secret: secret, Op: &messages.SessionCall_Get{Get: &messages.GetSession{ClientId: "rp"}}},
		{Secret: secret, Op: &messages.SessionCall_Issue{Issue: &messages.IssueCode{Request: req, When: &messages.IssueWhen{}}}},
		{Secret: secret, Op: &messages.SessionCall_Begin{Begin: &messages.BeginAuth{Request: req}}},
		{Secret: secret, Op: &messages.SessionCall_Logout{Logout: &messages.EndSession{}}},
		{Op: &messages.SessionCall_Redeem{Redeem: &messages.RedeemCode{CodeSecret: secret, ClientId: "rp", RedirectUri: req.RedirectUri}}},
		{Op: &messages.SessionCall_Refresh{Refresh: &messages.RefreshGrant{GrantId: "g", TokenSecret: secret, ClientId: "rp"}}},
		{Op: &messages.SessionCall_Check{Check: &messages.CheckGrant{GrantId: "g"}}},
		{Op: &messages.SessionCall_Revoke{Revoke: &messages.RevokeGrant{GrantId: "g", ClientId: "rp", TokenSecret: secret}}},
	}
}

// sendUnknown sends 30 calls to sessions that do not exist; each must be
// answered as such.
func sendUnknown(t *testing.T, n *cluster.Node) {
	t.Helper()
	calls := unknownCalls()
	for i := range 30 {
		sid, _ := session.NewSessionID()
		res, err := n.RequestGrain(t.Context(), session.Kind, sid, proto.Clone(calls[i%len(calls)]))
		r, _ := res.(*messages.SessionReply)
		if r == nil || r.Exists || r.Code != "" {
			t.Fatalf("call %d to an unknown session: %v %v", i, r, err)
		}
	}
}

// beginSession creates a session (a write), to show the counts measure.
func beginSession(t *testing.T, n *cluster.Node) {
	t.Helper()
	sid, secret := session.NewSessionID()
	req := &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid"}, MaxAge: -1}
	if _, err := n.Sessions().Begin(t.Context(), sid, secret, &messages.BeginAuth{Request: req, Create: true}); err != nil {
		t.Fatal(err)
	}
}

// lateEtcd is the store and owners of grains started before the etcd
// member they use (set before the first call).
type lateEtcd struct {
	persistence.Backend
	owners persistence.Owners
}

func (l *lateEtcd) Acquire(ctx context.Context, name string) (persistence.Owned, error) {
	return l.owners.Acquire(ctx, name)
}

// A session id that does not exist is answered without taking the
// grain's ownership and without writing: random cookies and tokens cost
// reads only.
func TestUnknownSessionTakesNoOwnershipAndWritesNothing(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var writes atomic.Int64
	owners := writeCounting{countingOwners: &countingOwners{Owners: persistence.LocalOwners(store)}, writes: &writes}
	n := startGrainsOn(t, countingStore{Backend: store, writes: &writes}, owners)
	sendUnknown(t, n)
	if a, w := owners.acquired.Load(), writes.Load(); a != 0 || w != 0 {
		t.Fatalf("30 calls to unknown sessions took %d ownerships and wrote %d times", a, w)
	}
	beginSession(t, n)
	if a, w := owners.acquired.Load(), writes.Load(); a != 1 || w != 1 {
		t.Fatalf("creating a session took %d ownerships and wrote %d times, want 1 and 1", a, w)
	}
}

// The same on etcd, where an ownership is a replicated write to take and
// another to give back: the store's revision (one per write) must not
// move.
func TestUnknownSessionOnEtcdWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an etcd member")
	}
	ctx := t.Context()
	// The actor system first: starting it sets gRPC's global logger,
	// which the etcd member and client use from their own goroutines.
	late := &lateEtcd{}
	n := startGrainsOn(t, late, late)
	addr := func() string {
		a, err := freeport.Addr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	m, err := etcd.StartMember(ctx, etcd.MemberConfig{Name: "m1", Dir: filepath.Join(t.TempDir(), "etcd"), PeerListen: addr(), ClientListen: addr()})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := etcd.Dial(ctx, []string{m.Endpoint()}, nil, 5*time.Second)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	store := etcd.New(cli, "authrim", func() error { err := cli.Close(); m.Close(); return err })
	t.Cleanup(func() { _ = store.Close() })
	lease, err := etcd.Grant(ctx, store, etcd.LeaseConfig{Node: "n1", TTL: 10 * time.Second,
		IsDead: func(string, int64) bool { return false }, OnLost: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lease.Close(context.Background()) })
	late.Backend, late.owners = store, lease
	revision := func() int64 {
		r, err := cli.Get(ctx, "authrim/")
		if err != nil {
			t.Fatal(err)
		}
		return r.Header.Revision
	}
	before := revision()
	sendUnknown(t, n)
	if after := revision(); after != before {
		t.Fatalf("30 calls to unknown sessions made %d etcd writes", after-before)
	}
	beginSession(t, n)
	if after := revision(); after == before {
		t.Fatal("creating a session wrote nothing: the revision measures nothing")
	}
}
