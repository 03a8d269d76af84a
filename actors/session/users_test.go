package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/persistence/bbolt"
)

// recordingGrains stands in for the Session grains of sessions that do
// not run here: it records what it is asked and answers each sid as
// listed in live (a subject, or not found).
type recordingGrains struct {
	mu    sync.Mutex
	live  map[string]string
	asked []string
}

func (r *recordingGrains) answer(sid, subject string) (*messages.SessionReply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, sid)
	if r.live[sid] != subject {
		return nil, messages.ErrNotFound
	}
	return &messages.SessionReply{Login: &messages.Login{Subject: subject}, Clients: []string{"rp"}}, nil
}

func (r *recordingGrains) Describe(_ context.Context, sid, subject string) (*messages.SessionReply, error) {
	return r.answer(sid, subject)
}

func (r *recordingGrains) End(_ context.Context, sid, subject, _ string) (*messages.SessionReply, error) {
	rep, err := r.answer(sid, subject)
	if err == nil {
		r.mu.Lock()
		delete(r.live, sid)
		r.mu.Unlock()
	}
	return rep, err
}

// UserSessions reads only the user's own index: a session id of someone
// else's is refused before any grain is asked, and an entry whose grain
// no longer knows the login is dropped from the index.
func TestUserSessions(t *testing.T) {
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	for _, e := range []struct{ sub, sid string }{{"alice", "a1"}, {"alice", "a2"}, {"alice", "stale"}, {"bob", "b1"}} {
		if err := store.Put(ctx, session.IndexBucket, e.sub+"\x00"+e.sid, []byte(`{"sid":"`+e.sid+`","signed_in_ms":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	g := &recordingGrains{live: map[string]string{"a1": "alice", "a2": "alice", "b1": "bob"}}
	us := &session.UserSessions{Store: store, Grains: g}

	list, err := us.List(ctx, "alice")
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", list, err)
	}
	if ok, _ := us.Indexed(ctx, "alice", "stale"); ok {
		t.Fatal("the stale entry was not dropped")
	}

	g.asked = nil
	tests := []struct {
		name, subject, sid string
		want               error
		asks               bool
	}{
		{name: "another user's session", subject: "alice", sid: "b1", want: session.ErrNotUsers},
		{name: "a prefix of another's key", subject: "alice\x00b", sid: "1", want: session.ErrNotUsers},
		{name: "empty sid", subject: "alice", sid: "", want: session.ErrNotUsers},
		{name: "a NUL in the sid", subject: "alice", sid: "a1\x00", want: session.ErrNotUsers},
		{name: "an oversized sid", subject: "alice", sid: strings.Repeat("a", 10000), want: session.ErrNotUsers},
		{name: "own session", subject: "alice", sid: "a1", asks: true},
		// (The fake leaves the index entry, as a failed removal would:
		// the grain says it is over and the entry goes.)
		{name: "own session again", subject: "alice", sid: "a1", want: session.ErrNotUsers, asks: true},
		{name: "own session a third time", subject: "alice", sid: "a1", want: session.ErrNotUsers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(g.asked)
			if err := us.End(ctx, tt.subject, tt.sid, "test"); !errors.Is(err, tt.want) {
				t.Fatalf("End: %v, want %v", err, tt.want)
			}
			if asked := len(g.asked) > before; asked != tt.asks {
				t.Fatalf("grain asked: %v, want %v", asked, tt.asks)
			}
		})
	}
	if g.live["b1"] != "bob" {
		t.Fatal("bob's session was ended")
	}
	ended, err := us.EndAll(ctx, "alice", "", "test")
	if err != nil || len(ended) != 1 || ended[0] != "a2" {
		t.Fatalf("EndAll: %v %v", ended, err)
	}
}
