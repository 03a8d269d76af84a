package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/actors/session"
)

// stored reads a session's record as the grain persisted it.
func stored(t *testing.T, g *grains, sid string) *messages.SessionState {
	t.Helper()
	b, err := g.store.Get(context.Background(), session.Bucket, sid)
	if err != nil {
		t.Fatal(err)
	}
	st := &messages.SessionState{}
	if err := proto.Unmarshal(b, st); err != nil {
		t.Fatal(err)
	}
	return st
}

func seeded(t *testing.T, g *grains) session.Seed {
	t.Helper()
	seed, _ := testSeed(time.Now())
	key, value, err := session.Seeded(seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.store.Put(context.Background(), session.Bucket, key, value); err != nil {
		t.Fatal(err)
	}
	return seed
}

var fullRequest = &messages.AuthRequest{
	ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid", "profile"}, Nonce: "n",
	State: "some-state", ResponseMode: "query", LoginHint: "alice", ClientName: "The RP", Prompt: []string{"none"},
	ResponseType: "code", ConsentItems: []string{"openid", "profile"}, CodeChallenge: session.S256("verifier"),
}

func issue(t *testing.T, g *grains, seed session.Seed) string {
	t.Helper()
	r, err := g.node.Sessions().Issue(context.Background(), seed.Sid, seed.Secret, &messages.IssueCode{Request: fullRequest})
	if err != nil {
		t.Fatal(err)
	}
	// The authorization response still gets the whole request.
	if r.Request.GetState() != "some-state" {
		t.Fatalf("issue replied %v", r.Request)
	}
	_, secret, err := session.SplitCode(r.Code)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func redeemCode(g *grains, sid, secret string) (*messages.SessionReply, error) {
	return g.node.Sessions().Redeem(context.Background(), sid, &messages.RedeemCode{
		CodeSecret: secret, ClientId: "rp", RedirectUri: "https://rp.example/cb", CodeVerifier: "verifier",
		RefreshTtlMs: time.Hour.Milliseconds()})
}

// A code keeps what its redemption checks and nothing of the response
// (state, prompt, names); once redeemed, only what a replay needs: the
// replay still revokes the grant it produced.
func TestCodesKeepOnlyWhatRedemptionNeeds(t *testing.T) {
	g := startGrains(t, true)
	seed := seeded(t, g)
	secret := issue(t, g, seed)

	c := stored(t, g, seed.Sid).Codes[0]
	want := &messages.AuthRequest{ClientId: "rp", RedirectUri: "https://rp.example/cb", Scopes: []string{"openid", "profile"},
		Nonce: "n", CodeChallenge: session.S256("verifier")}
	if !proto.Equal(c.Request, want) || c.Login.GetSubject() != "sub-1" {
		t.Fatalf("stored code: %v", c)
	}

	r, err := redeemCode(g, seed.Sid, secret)
	if err != nil || r.Grant.GetNonce() != "n" || r.Grant.Login.GetSubject() != "sub-1" || len(r.Grant.Scopes) != 2 {
		t.Fatalf("redeem: %v %v", r, err)
	}
	c = stored(t, g, seed.Sid).Codes[0]
	if !c.Redeemed || c.GrantId != r.Grant.Id || c.Request != nil || c.Login != nil || len(c.Hash) == 0 {
		t.Fatalf("redeemed code: %v", c)
	}
	if _, err := redeemCode(g, seed.Sid, secret); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("replay: %v", err)
	}
	chk, err := g.node.Sessions().Check(context.Background(), seed.Sid, &messages.CheckGrant{GrantId: r.Grant.Id})
	if err != nil || chk.Active {
		t.Fatalf("grant still active after the code's replay: %v %v", chk, err)
	}
}

// A session holds at most 64 grants: the 65th redemption drops the
// oldest grant (its refresh token stops working), not the new one.
func TestGrantsPerSessionAreBounded(t *testing.T) {
	g := startGrains(t, true)
	seed := seeded(t, g) // one seeded grant
	var first, last *messages.SessionReply
	for i := 0; i < 64; i++ {
		r, err := redeemCode(g, seed.Sid, issue(t, g, seed))
		if err != nil {
			t.Fatalf("redemption %d: %v", i, err)
		}
		if i == 0 {
			first = r
		}
		last = r
	}
	st := stored(t, g, seed.Sid)
	if len(st.Grants) != 64 {
		t.Fatalf("%d grants stored", len(st.Grants))
	}
	if st.Grants[0].Id != first.Grant.Id {
		t.Fatal("the seeded (oldest) grant should have given way first")
	}
	refresh := func(tok string) (string, error) {
		sid, gid, secret, _ := session.SplitRefresh(tok)
		r, err := g.node.Sessions().Refresh(context.Background(), sid, &messages.RefreshGrant{
			GrantId: gid, TokenSecret: secret, ClientId: "rp"})
		return r.GetRefreshToken(), err
	}
	tok, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("the 1st redeemed grant is among the 64 kept: %v", err)
	}
	if _, err := redeemCode(g, seed.Sid, issue(t, g, seed)); err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(tok); err == nil {
		t.Fatal("the oldest grant survived past the bound")
	}
	if _, err := refresh(last.RefreshToken); err != nil {
		t.Fatalf("a recent grant was dropped: %v", err)
	}
	if n := len(stored(t, g, seed.Sid).Grants); n != 64 {
		t.Fatalf("%d grants stored", n)
	}
}
