package session_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/cluster"
	"authrim/persistence/bbolt"
)

// grains is a one-member actor cluster running Session grains on a bbolt
// store in a temporary directory.
type grains struct {
	store *bbolt.Store
	node  *cluster.Node
}

func startGrains(tb testing.TB, noSync bool) *grains {
	tb.Helper()
	store, err := bbolt.Open(tb.TempDir(), bbolt.Options{NoSync: noSync})
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	kind := session.NewKind(session.Config{
		Store: store, CodeTTL: time.Minute, PendingTTL: 15 * time.Minute, LoginTTL: 24 * time.Hour,
		AccessTokenTTL: 10 * time.Minute, CeremonyTTL: 5 * time.Minute, IdleTimeout: 10 * time.Minute, Logger: logger,
	})
	n, err := cluster.Start(cluster.Config{Name: "seedtest", Listen: "127.0.0.1:0", RequestTimeout: 5 * time.Second,
		Kinds: []*pc.Kind{kind}, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { n.Shutdown(); store.Close() })
	return &grains{store: store, node: n}
}

func testSeed(now time.Time) (session.Seed, session.SeedGrant) {
	sid, secret := session.NewSessionID()
	g := session.SeedGrant{ID: session.NewID(16), RefreshSecret: session.NewID(32), ClientID: "rp",
		Scopes: []string{"openid", "profile"}, Created: now.Add(-time.Hour), RefreshTTL: 720 * time.Hour}
	return session.Seed{Sid: sid, Secret: secret, Subject: "sub-1", Amr: []string{"pwd"}, Acr: "urn:authrim:acr:password",
		AuthTime: now.Add(-time.Hour), LoginTTL: 24 * time.Hour, Consents: map[string][]string{"rp": {"openid", "profile"}},
		Grants: []session.SeedGrant{g}}, g
}

// A seeded record is one the grain takes as its own: the cookie works,
// the refresh token rotates, and reusing the old one revokes the family.
func TestSeededSessionIsLive(t *testing.T) {
	ctx := context.Background()
	g := startGrains(t, true)
	seed, grant := testSeed(time.Now())
	key, value, err := session.Seeded(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.store.Put(ctx, session.Bucket, key, value); err != nil {
		t.Fatal(err)
	}
	sessions := g.node.Sessions()

	r, err := sessions.Get(ctx, seed.Sid, seed.Secret, &messages.GetSession{ClientId: "rp"})
	if err != nil || r.Login.GetSubject() != "sub-1" || len(r.Consented) != 2 {
		t.Fatalf("get: %v %v", r, err)
	}
	_, gid, secret, err := session.SplitRefresh(seed.RefreshToken(grant))
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(secret string) (*messages.SessionReply, error) {
		return sessions.Refresh(ctx, seed.Sid, &messages.RefreshGrant{
			GrantId: gid, TokenSecret: secret, ClientId: "rp"})
	}
	r, err = refresh(secret)
	if err != nil || r.RefreshToken == "" || r.Grant.Login.GetSubject() != "sub-1" {
		t.Fatalf("refresh: %v %v", r, err)
	}
	if _, err := refresh(secret); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("reuse of the seeded token: %v", err)
	}
	r, err = sessions.Check(ctx, seed.Sid, &messages.CheckGrant{GrantId: gid})
	if err != nil || r.Active {
		t.Fatalf("family still active after reuse: %v %v", r, err)
	}
}

func TestSeededRefusesBadSeeds(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name   string
		adjust func(*session.Seed)
	}{
		{"short sid", func(s *session.Seed) { s.Sid = "abc" }},
		{"short secret", func(s *session.Seed) { s.Secret = "abc" }},
		{"no subject", func(s *session.Seed) { s.Subject = "" }},
		{"no login lifetime", func(s *session.Seed) { s.LoginTTL = 0 }},
		{"short refresh secret", func(s *session.Seed) { s.Grants[0].RefreshSecret = "x" }},
		{"grant without client", func(s *session.Seed) { s.Grants[0].ClientID = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testSeed(now)
			tt.adjust(&s)
			if _, _, err := session.Seeded(s); !errors.Is(err, session.ErrSeed) {
				t.Fatalf("accepted: %v", err)
			}
		})
	}
}
