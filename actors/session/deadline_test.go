package session_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/cluster"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// hangingStore never answers a read while hang is set (an etcd outage):
// the call returns only when its context ends.
type hangingStore struct {
	persistence.Backend
	hang *atomic.Bool
}

func (h hangingStore) Get(ctx context.Context, bucket persistence.Bucket, key string) ([]byte, error) {
	if h.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Backend.Get(ctx, bucket, key)
}

// TestGrainStoreCallsEndWithTheRequest: a grain whose store hangs gives
// up when its caller does (the caller's deadline travels with the
// message), so its mailbox is free again: the next call, once the store
// answers, is served. Without the deadline the first call would hold the
// grain for ever and every later call to it would time out.
func TestGrainStoreCallsEndWithTheRequest(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hang := &atomic.Bool{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	// No StoreTimeout fallback: only the caller's deadline can end the
	// hanging read.
	kind := session.NewKind(session.Config{
		Store: hangingStore{Backend: store, hang: hang}, CodeTTL: time.Minute, PendingTTL: time.Minute, LoginTTL: time.Hour,
		AccessTokenTTL: time.Minute, CeremonyTTL: time.Minute, IdleTimeout: time.Minute, StoreTimeout: time.Hour, Logger: logger,
	})
	n, err := cluster.Start(cluster.Config{Name: "deadline-test", Listen: "127.0.0.1:0", RequestTimeout: 30 * time.Second, Kinds: []*pc.Kind{kind}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	sid, secret := session.NewSessionID()
	get := &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Get{Get: &messages.GetSession{}}}

	hang.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	res, err := n.RequestGrain(ctx, session.Kind, sid, get)
	cancel()
	if err == nil {
		// The grain's read ended with the deadline and it answered in
		// time: the store was unavailable.
		err = res.(*messages.SessionReply).Error.Err()
	}
	if !errors.Is(err, messages.ErrUnavailable) {
		t.Fatalf("a call whose store hangs: %v, want unavailable", err)
	}
	hang.Store(false)
	res, err = n.RequestGrain(context.Background(), session.Kind, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Get{Get: &messages.GetSession{}}})
	if err != nil {
		t.Fatalf("the next call, once the store answers: %v", err)
	}
	if r := res.(*messages.SessionReply); !errors.Is(r.Error.Err(), messages.ErrNotFound) {
		t.Fatalf("reply %+v, want no such session", r)
	}
}
