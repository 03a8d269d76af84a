package session_test

import (
	"context"
	"errors"
	"testing"

	"authrim/actors/messages"
	"authrim/actors/session"
)

// send delivers call as RequestGrain's retries do: the same message,
// call_id included (Sessions.Call would give it a new one).
func send(t *testing.T, g *grains, sid string, call *messages.SessionCall) (*messages.SessionReply, error) {
	t.Helper()
	res, err := g.node.RequestGrain(context.Background(), session.Kind, sid, call)
	if err != nil {
		t.Fatal(err)
	}
	r := res.(*messages.SessionReply)
	return r, r.Error.Err()
}

// A redemption or rotation whose answer was lost after its effect was
// stored (the grain's node stopped) is sent again with the same call_id:
// it is answered again, with a fresh refresh token. The same code or
// token under any other call id is a replay and revokes the grant.
func TestRetriedCallIsAnsweredAgain(t *testing.T) {
	g := startGrains(t, true)
	seed := seeded(t, g)
	secret := issue(t, g, seed)
	redeem := &messages.SessionCall{CallId: "call-1", Op: &messages.SessionCall_Redeem{Redeem: &messages.RedeemCode{
		CodeSecret: secret, ClientId: "rp", RedirectUri: "https://rp.example/cb", CodeVerifier: "verifier", RefreshTtlMs: 3600_000}}}
	first, err := send(t, g, seed.Sid, redeem)
	if err != nil {
		t.Fatal(err)
	}
	again, err := send(t, g, seed.Sid, redeem)
	if err != nil {
		t.Fatalf("the retried redemption was refused: %v", err)
	}
	if again.Grant.GetId() != first.Grant.GetId() || again.RefreshToken == "" || again.RefreshToken == first.RefreshToken {
		t.Fatalf("retry answered %v, first %v", again, first)
	}

	refresh := func(callID, token string) (*messages.SessionReply, error) {
		_, gid, s, err := session.SplitRefresh(token)
		if err != nil {
			t.Fatal(err)
		}
		return send(t, g, seed.Sid, &messages.SessionCall{CallId: callID, Op: &messages.SessionCall_Refresh{Refresh: &messages.RefreshGrant{
			GrantId: gid, TokenSecret: s, ClientId: "rp"}}})
	}
	rotated, err := refresh("call-2", again.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// call-2 again, with the token it rotated away.
	rotatedAgain, err := refresh("call-2", again.RefreshToken)
	if err != nil {
		t.Fatalf("the retried rotation was refused: %v", err)
	}
	if rotatedAgain.RefreshToken == "" || rotatedAgain.RefreshToken == rotated.RefreshToken {
		t.Fatalf("retried rotation answered %v", rotatedAgain)
	}
	if _, err := refresh("call-3", rotatedAgain.RefreshToken); err != nil {
		t.Fatalf("the token of the retried rotation does not work: %v", err)
	}

	// Replays: the code, then a rotated token, under new call ids.
	if _, err := send(t, g, seed.Sid, &messages.SessionCall{CallId: "call-4", Op: redeem.Op}); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("replayed code: %v", err)
	}
	for _, gr := range stored(t, g, seed.Sid).Grants {
		if gr.Id == first.Grant.GetId() && !gr.Revoked {
			t.Fatal("a replayed code left its grant alive")
		}
	}
}

// A rotated refresh token presented again under another call id revokes
// the family even though a retry of the rotating call would be answered.
func TestRotatedTokenUnderAnotherCallIsReuse(t *testing.T) {
	g := startGrains(t, true)
	seed := seeded(t, g)
	secret := issue(t, g, seed)
	r, err := send(t, g, seed.Sid, &messages.SessionCall{CallId: "a", Op: &messages.SessionCall_Redeem{Redeem: &messages.RedeemCode{
		CodeSecret: secret, ClientId: "rp", RedirectUri: "https://rp.example/cb", CodeVerifier: "verifier", RefreshTtlMs: 3600_000}}})
	if err != nil {
		t.Fatal(err)
	}
	_, gid, s, _ := session.SplitRefresh(r.RefreshToken)
	rot := func(callID string) error {
		_, err := send(t, g, seed.Sid, &messages.SessionCall{CallId: callID, Op: &messages.SessionCall_Refresh{Refresh: &messages.RefreshGrant{
			GrantId: gid, TokenSecret: s, ClientId: "rp"}}})
		return err
	}
	if err := rot("b"); err != nil {
		t.Fatal(err)
	}
	if err := rot("c"); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("reuse under another call: %v", err)
	}
	for _, gr := range stored(t, g, seed.Sid).Grants {
		if gr.Id == gid && !gr.Revoked {
			t.Fatal("reuse left the family alive")
		}
	}
}
