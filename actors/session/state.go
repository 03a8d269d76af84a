package session

// The state a call works on: the expiry rules (prune), copy-on-write of
// the adopted state, and the op that runs one call on a copy.

import (
	"context"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

// prune drops what has expired at now; it reports whether anything went.
// codeTTL and accessTTL are the grain's Config.CodeTTL and AccessTokenTTL.
// It is the one place for the expiry rules: the grain applies it on every
// call, Sweep to records no grain has touched for a while.
//
// With dst nil it only reports whether anything in st has expired,
// changing nothing; otherwise it removes the expired parts from dst
// (st itself or a copy of it: the caller passes the same state twice).
func prune(dst, st *messages.SessionState, now time.Time, codeTTL, accessTTL time.Duration) bool {
	if st == nil {
		return false
	}
	n := now.UnixMilli()
	// A redeemed code is kept ten lifetimes so that a replay still finds
	// it and revokes what it produced (RFC 6749 §4.1.2). One never
	// redeemed produced nothing: it goes when it expires.
	keep := 10 * codeTTL.Milliseconds()
	loginGone := st.Login != nil && (st.LoginExpiresMs <= n || idleSince(st, n))
	pendingGone := func(p *messages.Pending) bool { return p.ExpiresMs <= n }
	ceremonyGone := func(c *messages.Ceremony) bool { return c.ExpiresMs <= n }
	codeGone := func(c *messages.Code) bool {
		if c.Redeemed {
			return c.ExpiresMs+keep <= n
		}
		return c.ExpiresMs <= n
	}
	grantGone := func(gr *messages.Grant) bool { return grantEnd(gr, accessTTL) <= n }
	rpGone := func(rp *messages.RPSession) bool { return rp.ExpiresMs <= n }
	if dst == nil {
		for _, p := range st.Pending {
			if pendingGone(p) {
				return true
			}
		}
		return loginGone || slices.ContainsFunc(st.Ceremonies, ceremonyGone) ||
			slices.ContainsFunc(st.Codes, codeGone) || slices.ContainsFunc(st.Grants, grantGone) ||
			slices.ContainsFunc(st.RpSessions, rpGone)
	}
	changed := false
	if loginGone {
		dst.Login, dst.LoginExpiresMs, dst.LastUsedMs, dst.LoginIdleTtlMs = nil, 0, 0, 0
		changed = true
	}
	for rid, p := range dst.Pending {
		if pendingGone(p) {
			delete(dst.Pending, rid)
			changed = true
		}
	}
	before := len(dst.Ceremonies) + len(dst.Codes) + len(dst.Grants) + len(dst.RpSessions)
	dst.Ceremonies = slices.DeleteFunc(dst.Ceremonies, ceremonyGone)
	dst.Codes = slices.DeleteFunc(dst.Codes, codeGone)
	dst.Grants = slices.DeleteFunc(dst.Grants, grantGone)
	// A relying-party session past its end is forgotten without a
	// logout: session expiry sends none (docs/LOGOUT.md).
	dst.RpSessions = slices.DeleteFunc(dst.RpSessions, rpGone)
	return changed || len(dst.Ceremonies)+len(dst.Codes)+len(dst.Grants)+len(dst.RpSessions) != before
}

// idleSince reports whether st's login went unused for its idle limit
// (session.idle_ttl) by n.
func idleSince(st *messages.SessionState, n int64) bool {
	return st.LoginIdleTtlMs > 0 && st.LastUsedMs+st.LoginIdleTtlMs <= n
}

// shallowCopy returns a state whose slices and maps are its own and whose
// elements are st's: what an op replaces, adds or removes does not reach
// st; an element it changes must be cloned first.
func shallowCopy(st *messages.SessionState) *messages.SessionState {
	return &messages.SessionState{
		Sid: st.Sid, SecretHash: st.SecretHash, CreatedMs: st.CreatedMs, Login: st.Login, LoginExpiresMs: st.LoginExpiresMs,
		Consents: maps.Clone(st.Consents), Pending: maps.Clone(st.Pending),
		Codes: slices.Clone(st.Codes), Grants: slices.Clone(st.Grants), Ceremonies: slices.Clone(st.Ceremonies),
		RpSessions: slices.Clone(st.RpSessions), LastUsedMs: st.LastUsedMs, LoginIdleTtlMs: st.LoginIdleTtlMs,
	}
}

// writableGrant replaces gr (an element of the op's state) by a clone the
// op may change, and returns the clone.
func (o *op) writableGrant(gr *messages.Grant) *messages.Grant {
	i := slices.Index(o.st.Grants, gr)
	if i < 0 {
		return gr // already the op's own
	}
	c := copyGrant(gr)
	o.st.Grants[i] = c
	return c
}

// copyGrant is a copy of gr that an op may change: its own struct and
// list of used hashes; the hashes, scopes and login are shared (never
// changed in place). proto.Clone would copy each of up to 32 hashes.
func copyGrant(gr *messages.Grant) *messages.Grant {
	return &messages.Grant{
		Id: gr.Id, ClientId: gr.ClientId, Scopes: gr.Scopes, Nonce: gr.Nonce, ClaimsJson: gr.ClaimsJson,
		Login: gr.Login, CreatedMs: gr.CreatedMs, RefreshExpiresMs: gr.RefreshExpiresMs, RefreshAbsoluteMs: gr.RefreshAbsoluteMs,
		Revoked: gr.Revoked, RevokeReason: gr.RevokeReason, RefreshHash: gr.RefreshHash,
		UsedRefreshHashes: slices.Clone(gr.UsedRefreshHashes), RotatedBy: gr.RotatedBy, Resources: gr.Resources,
		DpopJkt: gr.DpopJkt, X5TS256: gr.X5TS256,
	}
}

// writableCode is writableGrant for a code.
func (o *op) writableCode(c *messages.Code) *messages.Code {
	i := slices.Index(o.st.Codes, c)
	if i < 0 {
		return c
	}
	w := proto.Clone(c).(*messages.Code)
	o.st.Codes[i] = w
	return w
}

// readOnly reports whether call only reads the session (Get, Check).
func readOnly(call *messages.SessionCall) bool {
	switch call.Op.(type) {
	case *messages.SessionCall_Get, *messages.SessionCall_Check, *messages.SessionCall_Describe:
		return true
	}
	return false
}

// grantEnd is when nothing issued from the grant can still be valid.
func grantEnd(gr *messages.Grant, accessTTL time.Duration) int64 {
	end := gr.CreatedMs
	if gr.RefreshExpiresMs > end {
		end = gr.RefreshExpiresMs
	}
	return end + accessTTL.Milliseconds()
}

// op is one call being applied to a state copy.
type op struct {
	ctx     context.Context
	g       *grain
	st      *messages.SessionState
	now     time.Time
	secret  string
	callID  string // see SessionCall.call_id
	reply   *messages.SessionReply
	changed bool
	// What the call ended and began, for record/unrecord (ending.go).
	ended   []*messages.EndedClient
	unindex []string
	index   *indexWrite
}

func (o *op) ms() int64 { return o.now.UnixMilli() }

func (o *op) run(call *messages.SessionCall) error {
	switch m := call.Op.(type) {
	case *messages.SessionCall_Get:
		return o.get(m.Get)
	case *messages.SessionCall_Begin:
		return o.begin(m.Begin)
	case *messages.SessionCall_Login:
		return o.login(m.Login)
	case *messages.SessionCall_Consent:
		return o.consent(m.Consent)
	case *messages.SessionCall_Issue:
		return o.issue(m.Issue)
	case *messages.SessionCall_Redeem:
		return o.redeem(m.Redeem)
	case *messages.SessionCall_Refresh:
		return o.refresh(m.Refresh)
	case *messages.SessionCall_Check:
		return o.check(m.Check)
	case *messages.SessionCall_Revoke:
		return o.revoke(m.Revoke)
	case *messages.SessionCall_Logout:
		return o.logout(m.Logout)
	case *messages.SessionCall_Describe:
		return o.describe(m.Describe)
	case *messages.SessionCall_Start:
		return o.startCeremony(m.Start)
	case *messages.SessionCall_Take:
		return o.takeCeremony(m.Take)
	case *messages.SessionCall_ApproveDevice:
		return o.approveDevice(m.ApproveDevice)
	}
	return errInvalid("unknown session operation")
}

// writable makes the op's state its own copy when it is still the
// adopted one (reads work on the adopted state, see handle).
func (o *op) writable() {
	if o.st != nil && o.st == o.g.st {
		o.st = shallowCopy(o.st)
	}
}

func (o *op) findGrant(id string) *messages.Grant {
	if o.st == nil {
		return nil
	}
	for _, gr := range o.st.Grants {
		if gr.Id == id {
			return gr
		}
	}
	return nil
}

func (o *op) revokeGrant(gr *messages.Grant, reason string) {
	if gr == nil || gr.Revoked {
		return
	}
	gr = o.writableGrant(gr)
	gr.Revoked, gr.RevokeReason = true, reason
	gr.RefreshHash = nil
	o.changed = true
	o.g.cfg.Logger.Warn("grant revoked", "audit", true, "sid", o.g.sid, "grant", gr.Id, "client_id", gr.ClientId,
		"sub", gr.GetLogin().GetSubject(), "reason", reason)
}

// view is a grant without its secrets, for replies. It shares the
// grant's slices and Login: adopted states are never modified in place.
// (A proto.Clone would copy the used-token hashes only to drop them.)
func view(gr *messages.Grant) *messages.Grant {
	return &messages.Grant{
		Id: gr.Id, ClientId: gr.ClientId, Scopes: gr.Scopes, Nonce: gr.Nonce, ClaimsJson: gr.ClaimsJson,
		Login: gr.Login, CreatedMs: gr.CreatedMs, RefreshExpiresMs: gr.RefreshExpiresMs, RefreshAbsoluteMs: gr.RefreshAbsoluteMs,
		Revoked: gr.Revoked, RevokeReason: gr.RevokeReason, Resources: gr.Resources, DpopJkt: gr.DpopJkt,
		X5TS256: gr.X5TS256,
	}
}
