package session_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"authrim/actors/device"
	"authrim/actors/messages"
)

// TestApproveDevice: a device approval needs the cookie secret and a
// login; it leaves a code the device code's secret redeems once, with a
// grant of the approving login, and a replay revokes that grant.
func TestApproveDevice(t *testing.T) {
	g := startGrains(t, true)
	seed := seeded(t, g)
	ctx := context.Background()
	secret := "device-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	approve := &messages.ApproveDevice{DeviceHash: device.Hash(secret), ClientId: "tv", Scopes: []string{"openid"},
		ExpiresMs: time.Now().Add(time.Minute).UnixMilli()}
	if _, err := g.node.Sessions().ApproveDevice(ctx, seed.Sid, "wrong-cookie-secret", approve); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("approval without the cookie secret: %v", err)
	}
	if _, err := g.node.Sessions().ApproveDevice(ctx, seed.Sid, seed.Secret, approve); err != nil {
		t.Fatal(err)
	}
	if _, err := g.node.Sessions().ApproveDevice(ctx, seed.Sid, seed.Secret, approve); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("the same device approved twice in one session: %v", err)
	}
	redeem := &messages.RedeemCode{CodeSecret: secret, ClientId: "other"}
	if _, err := g.node.Sessions().Redeem(ctx, seed.Sid, redeem); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("redeemed by another client: %v", err)
	}
	redeem.ClientId = "tv"
	r, err := g.node.Sessions().Redeem(ctx, seed.Sid, redeem)
	if err != nil {
		t.Fatal(err)
	}
	if r.Grant.Login.GetSubject() != seed.Subject || r.Grant.ClientId != "tv" {
		t.Fatalf("grant %v", r.Grant)
	}
	if _, err := g.node.Sessions().Redeem(ctx, seed.Sid, redeem); !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("second redemption: %v", err)
	}
	c, err := g.node.Sessions().Check(ctx, seed.Sid, &messages.CheckGrant{GrantId: r.Grant.Id})
	if err != nil || c.Active {
		t.Fatalf("the grant survived the replay: active %v, %v", c.GetActive(), err)
	}
}
