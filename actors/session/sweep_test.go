package session_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

const (
	codeTTL   = time.Minute
	accessTTL = 10 * time.Minute
)

// racing is a store whose List runs afterList once it is done: a write
// that lands between Sweep's listing and its deletes.
type racing struct {
	persistence.Backend
	afterList func()
}

func (r *racing) List(ctx context.Context, bucket persistence.Bucket, prefix string, fn func(string, []byte) error) error {
	err := r.Backend.List(ctx, bucket, prefix, fn)
	if r.afterList != nil {
		r.afterList()
		r.afterList = nil
	}
	return err
}

func encode(t *testing.T, st *messages.SessionState) []byte {
	t.Helper()
	b, err := proto.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	past, future := now.Add(-time.Second).UnixMilli(), now.Add(time.Hour).UnixMilli()
	pending := func(exp int64) map[string]*messages.Pending {
		return map[string]*messages.Pending{"r1": {Request: &messages.AuthRequest{ClientId: "rp"}, ExpiresMs: exp}}
	}
	records := map[string]*messages.SessionState{
		// A cookieless /authorize whose sign-in was never finished.
		"abandoned": {Sid: "abandoned", Pending: pending(past), Consents: map[string]*messages.Consent{"rp": {Scopes: []string{"openid"}}}},
		// Signed in, login over, a redeemed code past its ten lifetimes
		// and a grant nothing issued from can still be valid.
		"over": {Sid: "over", Login: &messages.Login{Subject: "s"}, LoginExpiresMs: past,
			Codes:  []*messages.Code{{Hash: []byte("h"), Redeemed: true, ExpiresMs: now.Add(-10*codeTTL - time.Second).UnixMilli()}},
			Grants: []*messages.Grant{{Id: "g", CreatedMs: now.Add(-accessTTL - time.Second).UnixMilli()}}},
		"signed-in": {Sid: "signed-in", Login: &messages.Login{Subject: "s"}, LoginExpiresMs: future},
		// Expired apart from a redeemed code still kept for replays.
		"replay-window": {Sid: "replay-window", Pending: pending(past),
			Codes: []*messages.Code{{Hash: []byte("h"), Redeemed: true, ExpiresMs: now.Add(-codeTTL).UnixMilli()}}},
		// Expired apart from a grant whose access tokens may still live.
		"grant": {Sid: "grant", LoginExpiresMs: past, Login: &messages.Login{Subject: "s"},
			Grants: []*messages.Grant{{Id: "g", CreatedMs: now.Add(-time.Minute).UnixMilli()}}},
		// Dead when listed, but a grain gives it a new request before the
		// sweep deletes it.
		"raced": {Sid: "raced", Pending: pending(past)},
	}
	stored := map[string][]byte{}
	for sid, st := range records {
		stored[sid] = encode(t, st)
		if err := store.Put(ctx, session.Bucket, sid, stored[sid]); err != nil {
			t.Fatal(err)
		}
	}
	// Not a SessionState: left for the grain to report.
	stored["garbage"] = []byte{0xff, 0xff, 0xff}
	if err := store.Put(ctx, session.Bucket, "garbage", stored["garbage"]); err != nil {
		t.Fatal(err)
	}
	rewritten := encode(t, &messages.SessionState{Sid: "raced", Pending: pending(future)})
	rs := &racing{Backend: store, afterList: func() {
		if err := store.Put(ctx, session.Bucket, "raced", rewritten); err != nil {
			t.Error(err)
		}
	}}
	stored["raced"] = rewritten

	removed, err := session.Sweep(ctx, rs, now, codeTTL, accessTTL)
	if err != nil || removed != 2 {
		t.Fatalf("Sweep = %d, %v; want 2 (abandoned, over)", removed, err)
	}
	for sid, want := range stored {
		got, err := store.Get(ctx, session.Bucket, sid)
		switch sid {
		case "abandoned", "over":
			if !errors.Is(err, persistence.ErrNotFound) {
				t.Errorf("%s: still stored (%v)", sid, err)
			}
		default:
			// Kept exactly as it was: pruning is the grain's job.
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: %x, %v; want it unchanged", sid, got, err)
			}
		}
	}
	if removed, err := session.Sweep(ctx, store, now, codeTTL, accessTTL); err != nil || removed != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0", removed, err)
	}
	// Once the replay window and the grant are over too, they go.
	later := now.Add(10*codeTTL + accessTTL)
	if removed, err := session.Sweep(ctx, store, later, codeTTL, accessTTL); err != nil || removed != 2 {
		t.Fatalf("later Sweep = %d, %v; want 2 (replay-window, grant)", removed, err)
	}
}

// TestSweepBatches: more dead records than one listing pass collects are
// all deleted in one call.
func TestSweepBatches(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	const n = 2500
	var wg sync.WaitGroup
	for i := range n {
		sid := session.NewID(16)
		st := &messages.SessionState{Sid: sid, Pending: map[string]*messages.Pending{"r": {ExpiresMs: now.UnixMilli() - 1}}}
		if i%2 == 0 {
			st.Pending["r"].ExpiresMs = now.Add(time.Hour).UnixMilli()
		}
		b := encode(t, st)
		wg.Go(func() { // concurrent writes share group commits
			if err := store.Put(ctx, session.Bucket, sid, b); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	removed, err := session.Sweep(ctx, store, now, codeTTL, accessTTL)
	if err != nil || removed != n/2 {
		t.Fatalf("Sweep = %d, %v; want %d", removed, err, n/2)
	}
	left := 0
	_ = store.List(ctx, session.Bucket, "", func(string, []byte) error { left++; return nil })
	if left != n/2 {
		t.Fatalf("%d records left, want %d", left, n/2)
	}
}
