package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"authrim/actors/crypto"
	"authrim/actors/keymanager"
	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/actors/session"
)

// KeyManager is the typed client of the KeyManager grain.
type KeyManager struct {
	node     *Node
	identity string
}

// KeyManager returns the client of the default KeyManager grain.
func (n *Node) KeyManager() KeyManager {
	return KeyManager{node: n, identity: keymanager.DefaultIdentity}
}

func (k KeyManager) call(ctx context.Context, msg any) (*messages.KeySet, error) {
	res, err := k.node.RequestGrain(ctx, keymanager.Kind, k.identity, msg)
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.KeySetResponse)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected reply %T", messages.ErrInternal, res)
	}
	if err := r.Error.Err(); err != nil {
		return nil, err
	}
	return r.Set, nil
}

// List returns the key set, brought up to date.
func (k KeyManager) List(ctx context.Context) (*messages.KeySet, error) {
	return k.call(ctx, &messages.ListKeys{})
}

// Rotate brings the next key of alg (all algs when empty) forward to the
// earliest moment it may sign.
func (k KeyManager) Rotate(ctx context.Context, alg string) (*messages.KeySet, error) {
	return k.call(ctx, &messages.RotateKeys{Alg: alg})
}

// Revoke takes kid out of the JWKS at once.
func (k KeyManager) Revoke(ctx context.Context, kid, reason string) (*messages.KeySet, error) {
	return k.call(ctx, &messages.RevokeKey{Kid: kid, Reason: reason})
}

// Crypto is the typed client of a Crypto pool: this node's, another
// node's (pid on that node), or none at all (inline: the caller's
// goroutine does the work with the node's key cache). The three are the
// seed's topologies; callers cannot tell them apart.
type Crypto struct {
	node   *Node
	pid    *actor.PID
	inline *crypto.Cache
	// observe wraps inline work with the metrics and span an actor's
	// middleware would give it (nil: none).
	observe func(ctx context.Context, msg any, work func())
}

// Crypto returns the client of the Crypto pool at pid (on this node or
// another).
func (n *Node) Crypto(pid *actor.PID) Crypto { return Crypto{node: n, pid: pid} }

// InlineCrypto returns a client that signs and verifies with cache on the
// calling goroutine, with no actor hop; observe (optional) instruments
// each call as the pool's middleware would.
func (n *Node) InlineCrypto(cache *crypto.Cache, observe func(ctx context.Context, msg any, work func())) Crypto {
	return Crypto{node: n, inline: cache, observe: observe}
}

func cryptoCall[R interface{ GetError() *messages.Error }](ctx context.Context, c Crypto, msg any) (R, error) {
	var zero R
	var res any
	var err error
	if c.inline != nil {
		if err = ctx.Err(); err == nil {
			if c.observe != nil {
				c.observe(ctx, msg, func() { res = crypto.Handle(c.inline, msg) })
			} else {
				res = crypto.Handle(c.inline, msg)
			}
		}
	} else {
		res, err = c.node.RequestLocal(ctx, c.pid, msg)
	}
	if err != nil {
		return zero, err
	}
	r, ok := res.(R)
	if !ok {
		return zero, fmt.Errorf("%w: unexpected reply %T", messages.ErrInternal, res)
	}
	if err := r.GetError().Err(); err != nil {
		return zero, err
	}
	return r, nil
}

// Sign makes a compact JWS of payload with the active key of alg.
func (c Crypto) Sign(ctx context.Context, alg string, payload []byte, typ string) (token, kid string, err error) {
	r, err := cryptoCall[*messages.SignResponse](ctx, c, &messages.SignRequest{Alg: alg, Payload: payload, Typ: typ})
	if err != nil {
		return "", "", err
	}
	return r.Token, r.Kid, nil
}

// Verify checks a compact JWS against our published keys and returns its
// payload. algs narrows the accepted algorithms when given.
func (c Crypto) Verify(ctx context.Context, token string, algs ...string) (payload []byte, kid string, err error) {
	r, err := cryptoCall[*messages.VerifyResponse](ctx, c, &messages.VerifyRequest{Token: token, Algs: algs})
	if err != nil {
		return nil, "", err
	}
	return r.Payload, r.Kid, nil
}

// VerifyType is Verify that also requires the token's "typ" header.
func (c Crypto) VerifyType(ctx context.Context, token, typ string, algs ...string) (payload []byte, kid string, err error) {
	r, err := cryptoCall[*messages.VerifyResponse](ctx, c, &messages.VerifyRequest{Token: token, Algs: algs, Typ: typ})
	if err != nil {
		return nil, "", err
	}
	return r.Payload, r.Kid, nil
}

// VerifyWithKeys checks a compact JWS against the signer's JWK set (JSON:
// a client's request object or assertion); algs lists the accepted
// algorithms. It runs where crypto.mode says, like every other call.
func (c Crypto) VerifyWithKeys(ctx context.Context, token string, jwks []byte, algs []string) (payload []byte, kid, alg string, err error) {
	r, err := cryptoCall[*messages.VerifyResponse](ctx, c, &messages.VerifyWithKeysRequest{Token: token, Jwks: jwks, Algs: algs})
	if err != nil {
		return nil, "", "", err
	}
	return r.Payload, r.Kid, r.Alg, nil
}

// Encrypt makes a compact JWE to the recipient's public JWK (JSON).
func (c Crypto) Encrypt(ctx context.Context, plaintext, jwk []byte, alg, enc, cty string) (string, error) {
	r, err := cryptoCall[*messages.EncryptResponse](ctx, c, &messages.EncryptRequest{Plaintext: plaintext, Jwk: jwk, Alg: alg, Enc: enc, Cty: cty})
	if err != nil {
		return "", err
	}
	return r.Token, nil
}

// Decrypt opens a compact JWE addressed to one of our encryption keys.
func (c Crypto) Decrypt(ctx context.Context, token string) ([]byte, string, error) {
	r, err := cryptoCall[*messages.DecryptResponse](ctx, c, &messages.DecryptRequest{Token: token})
	if err != nil {
		return nil, "", err
	}
	return r.Plaintext, r.Kid, nil
}

// Sessions is the typed client of Session grains.
type Sessions struct{ node *Node }

// Sessions returns the client of the Session grains.
func (n *Node) Sessions() Sessions { return Sessions{node: n} }

// call sends one operation to the Session grain sid. An error in the
// reply comes back as a Go error wrapping a messages sentinel (with the
// reply, whose fields some callers still read).
//
// Each call gets a new call_id, which RequestGrain's retries carry
// unchanged: when a grain's node stops after storing the effect of a
// redemption or rotation but before its answer arrived, the next
// activation answers the retry instead of taking it for a replay. The
// envelope is built here: the caller's operation is not modified.
func (s Sessions) call(ctx context.Context, sid string, call *messages.SessionCall) (*messages.SessionReply, error) {
	call.CallId = session.NewID(12)
	res, err := s.node.RequestGrain(ctx, session.Kind, sid, call)
	if err != nil {
		return nil, err
	}
	r, ok := res.(*messages.SessionReply)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected reply %T", messages.ErrInternal, res)
	}
	if err := r.Error.Err(); err != nil {
		return r, err
	}
	return r, nil
}

// Browser operations: they carry the session cookie's secret.

// Get reads the session (and a pending request, when m names one).
func (s Sessions) Get(ctx context.Context, sid, secret string, m *messages.GetSession) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Get{Get: m}})
}

// Begin records an authorization request that needs a page (sign-in or
// consent), creating the session when the secret is new.
func (s Sessions) Begin(ctx context.Context, sid, secret string, m *messages.BeginAuth) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Begin{Begin: m}})
}

// Login records a sign-in; the reply carries the rotated cookie secret.
func (s Sessions) Login(ctx context.Context, sid, secret string, m *messages.CompleteLogin) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Login{Login: m}})
}

// Consent records the user's consent to a pending request.
func (s Sessions) Consent(ctx context.Context, sid, secret string, m *messages.GiveConsent) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Consent{Consent: m}})
}

// Issue issues an authorization code (if the login satisfies what m asks).
func (s Sessions) Issue(ctx context.Context, sid, secret string, m *messages.IssueCode) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Issue{Issue: m}})
}

// Logout ends the session's login and its grants (offline_access ones
// excepted).
func (s Sessions) Logout(ctx context.Context, sid, secret string) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Logout{Logout: &messages.EndSession{}}})
}

// End ends subject's login in session sid without the browser's cookie
// (the user's account page for another of their sessions, an operator):
// nothing happens unless the login is subject's. reason is audited.
func (s Sessions) End(ctx context.Context, sid, subject, reason string) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Logout{Logout: &messages.EndSession{Subject: subject, Reason: reason}}})
}

// Describe returns subject's login in session sid and the clients it has
// tokens for; ErrNotFound when the session holds no login of subject.
func (s Sessions) Describe(ctx context.Context, sid, subject string) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Describe{Describe: &messages.DescribeSession{Subject: subject}}})
}

// StartCeremony keeps a WebAuthn challenge for the ceremony's finish.
func (s Sessions) StartCeremony(ctx context.Context, sid, secret string, m *messages.StartCeremony) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Start{Start: m}})
}

// TakeCeremony takes (once) the challenge a ceremony began with.
func (s Sessions) TakeCeremony(ctx context.Context, sid, secret string, m *messages.TakeCeremony) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Take{Take: m}})
}

// ApproveDevice records the signed-in user's approval of a device
// authorization as a code in this session (RFC 8628).
func (s Sessions) ApproveDevice(ctx context.Context, sid, secret string, m *messages.ApproveDevice) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_ApproveDevice{ApproveDevice: m}})
}

// Token operations: the code or token secret is the credential.

// Redeem redeems an authorization code (once; a replay revokes its grant).
func (s Sessions) Redeem(ctx context.Context, sid string, m *messages.RedeemCode) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Redeem{Redeem: m}})
}

// Refresh rotates a refresh token (a reused one revokes the family).
func (s Sessions) Refresh(ctx context.Context, sid string, m *messages.RefreshGrant) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Refresh{Refresh: m}})
}

// Check reports whether a grant still stands (userinfo, introspection).
func (s Sessions) Check(ctx context.Context, sid string, m *messages.CheckGrant) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Check{Check: m}})
}

// Revoke revokes a grant, for the token that proves it (RFC 7009).
func (s Sessions) Revoke(ctx context.Context, sid string, m *messages.RevokeGrant) (*messages.SessionReply, error) {
	return s.call(ctx, sid, &messages.SessionCall{Op: &messages.SessionCall_Revoke{Revoke: m}})
}

// RateLimits is the typed client of RateLimiter grains (one per key; see
// actors/ratelimit). Its methods match what the HTTP rate-limit middleware
// and the throttles of sign-in and the admin token need.
type RateLimits struct{ node *Node }

// RateLimits returns the client of the RateLimiter grains.
func (n *Node) RateLimits() RateLimits { return RateLimits{node: n} }

func rateLimitCall[R interface{ GetError() *messages.Error }](ctx context.Context, r RateLimits, key string, msg any) (R, error) {
	var zero R
	res, err := r.node.RequestGrain(ctx, ratelimit.Kind, key, msg)
	if err != nil {
		return zero, err
	}
	rep, ok := res.(R)
	if !ok {
		return zero, fmt.Errorf("%w: unexpected reply %T", messages.ErrInternal, res)
	}
	if err := rep.GetError().Err(); err != nil {
		return zero, err
	}
	return rep, nil
}

// Take takes one request from key's budget of limit per window. When it
// is refused, retryAfter is how long until a request would be allowed.
func (r RateLimits) Take(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, retryAfter time.Duration, err error) {
	rep, err := rateLimitCall[*messages.RateLimitTakeReply](ctx, r, key, &messages.RateLimitTake{Limit: int32(min(limit, 1<<30)), WindowMs: window.Milliseconds()})
	if err != nil {
		return false, 0, err
	}
	return rep.Allowed, time.Duration(rep.RetryAfterMs) * time.Millisecond, nil
}

// Attempt asks for one attempt at a secret under key, counted as a
// failure before the secret is checked (see ratelimit.Backoff). When it is
// refused, retryAfter is how long until the next one is allowed.
func (r RateLimits) Attempt(ctx context.Context, key string, b ratelimit.Backoff) (allowed bool, retryAfter time.Duration, err error) {
	rep, err := rateLimitCall[*messages.AttemptReply](ctx, r, key, &messages.Attempt{
		Free: int32(min(b.Free, 1<<30)), BaseDelayMs: b.Base.Milliseconds(), MaxDelayMs: b.Max.Milliseconds(), WindowMs: b.Window.Milliseconds(),
	})
	if err != nil {
		return false, 0, err
	}
	return rep.Allowed, time.Duration(rep.RetryAfterMs) * time.Millisecond, nil
}

// Succeeded forgets key's failures: the attempt it admitted was right.
func (r RateLimits) Succeeded(ctx context.Context, key string) error {
	_, err := rateLimitCall[*messages.AttemptReply](ctx, r, key, &messages.AttemptSucceeded{})
	return err
}
