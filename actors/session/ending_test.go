package session_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

// SweepIndex drops the index entries of sign-ins that are over (the
// session is gone, expired, or signed in as someone else now) and keeps
// live ones and those of sign-ins still being stored.
func TestSweepIndex(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	old, future := now.Add(-time.Hour).UnixMilli(), now.Add(time.Hour).UnixMilli()
	login := func(sub string, exp int64) []byte {
		return encode(t, &messages.SessionState{Sid: "x", Login: &messages.Login{Subject: sub, AuthTimeMs: old}, LoginExpiresMs: exp})
	}
	for sid, st := range map[string][]byte{
		"live": login("u", future), "other": login("v", future), "expired": login("u", now.Add(-time.Second).UnixMilli()),
	} {
		if err := store.Put(ctx, persistence.BucketSessions, sid, st); err != nil {
			t.Fatal(err)
		}
	}
	entries := map[string]int64{"live": old, "other": old, "expired": old, "gone": old, "signing-in": now.UnixMilli()}
	for sid, at := range entries {
		b, _ := json.Marshal(session.IndexEntry{Sid: sid, SignedInMs: at})
		if err := store.Put(ctx, persistence.BucketUserSessions, "u\x00"+sid, b); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := session.SweepIndex(ctx, store, now)
	if err != nil || removed != 3 {
		t.Fatalf("removed %d, %v; want 3", removed, err)
	}
	list, err := session.ListIndex(ctx, store, "u")
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, e := range list {
		sids = append(sids, e.Sid)
	}
	slices.Sort(sids)
	if !slices.Equal(sids, []string{"live", "signing-in"}) {
		t.Fatalf("kept %v", sids)
	}
	// Another subject's prefix is not this one's.
	if l, _ := session.ListIndex(ctx, store, ""); len(l) != 0 {
		t.Fatalf("empty subject listed %v", l)
	}
}
