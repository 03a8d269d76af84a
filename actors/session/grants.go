package session

// Grants: redeeming a code, rotating refresh tokens (and telling a
// retried call from a replay), checking and revoking a grant.

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"

	"authrim/actors/messages"
)

// S256 is the PKCE code challenge of a verifier (RFC 7636 §4.2).
func S256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

func (o *op) redeem(m *messages.RedeemCode) error {
	if o.st == nil {
		return errInvalid("unknown code")
	}
	h := hash(m.CodeSecret)
	var code *messages.Code
	for _, c := range o.st.Codes {
		if same(c.Hash, h) {
			code = c
		}
	}
	if code == nil {
		return errInvalid("unknown code")
	}
	if code.Redeemed {
		if gr := o.findGrant(code.GrantId); o.ours(code.RedeemedBy) && gr != nil && !gr.Revoked {
			// The same call again: its first answer was lost after the
			// redemption was stored (a failover). Answer it once more,
			// if its user still may.
			if ok, err := o.active(gr.Login); err != nil || !ok {
				return cmp.Or(err, errInactive)
			}
			return o.answerAgain(gr)
		}
		// RFC 6749 §4.1.2: a code used twice revokes what it produced.
		o.revokeGrant(o.findGrant(code.GrantId), "authorization code reused")
		return errInvalid("code already used")
	}
	if code.ExpiresMs <= o.ms() {
		return errInvalid("code expired")
	}
	req := code.Request
	if req.ClientId != m.ClientId {
		return errInvalid("code was issued to another client")
	}
	if req.RedirectUri != m.RedirectUri {
		return errInvalid("redirect_uri does not match the authorization request")
	}
	switch {
	case req.CodeChallenge != "" && m.CodeVerifier == "":
		return errInvalid("code_verifier required")
	case req.CodeChallenge != "" && !same([]byte(S256(m.CodeVerifier)), []byte(req.CodeChallenge)):
		return errInvalid("code_verifier does not match the code_challenge")
	case req.CodeChallenge == "" && m.CodeVerifier != "":
		// RFC 9700 §2.1.1: a verifier for a code issued without a
		// challenge is a downgrade attempt.
		return errInvalid("code_verifier sent but no code_challenge was")
	}
	if m.Resource != "" && !slices.Contains(req.Resources, m.Resource) {
		// RFC 8707 §2.2: only a resource of the authorization request.
		// The code stays redeemable: the caller proved it is its client.
		return fmt.Errorf("%w: resource was not in the authorization request", messages.ErrInvalidTarget)
	}
	if req.DpopJkt != "" && m.DpopJkt != req.DpopJkt {
		// RFC 9449 §10: the code is bound to the key named at the
		// authorization request. Like a wrong resource, nothing changes.
		o.g.cfg.Logger.Warn("code refused: DPoP key is not the code's", "audit", true,
			"sid", o.g.sid, "client_id", m.ClientId, "with_proof", m.DpopJkt != "")
		return errInvalid("DPoP proof key is not the code's dpop_jkt")
	}
	// No grant (and no ID token) for a user deleted or disabled since the
	// code was issued: the code goes with the rest of theirs.
	if ok, err := o.active(code.Login); err != nil || !ok {
		return cmp.Or(err, errInactive)
	}
	gr := &messages.Grant{
		Id:         NewID(16),
		ClientId:   req.ClientId,
		Scopes:     req.Scopes,
		Nonce:      req.Nonce,
		ClaimsJson: req.ClaimsJson,
		Login:      code.Login,
		CreatedMs:  o.ms(),
		Resources:  req.Resources,
	}
	if m.RefreshTtlMs > 0 {
		secret := NewID(32)
		gr.RefreshHash = hash(secret)
		gr.RefreshExpiresMs = o.ms() + m.RefreshTtlMs
		o.slide(gr, m.RefreshIdleTtlMs)
		gr.RotatedBy = o.callID
		o.reply.RefreshToken = o.g.sid + "." + gr.Id + "." + secret
		if m.BindRefresh {
			// RFC 9449 §5, RFC 8705 §4: a public client's refresh
			// tokens are bound to its DPoP key or its certificate, for
			// the family's life.
			gr.DpopJkt, gr.X5TS256 = m.DpopJkt, m.X5TS256
		}
	}
	// What a replay needs of the code is its hash and what it produced.
	code = o.writableCode(code)
	code.Redeemed, code.GrantId, code.Request, code.Login = true, gr.Id, nil, nil
	code.RedeemedBy = o.callID
	if len(o.st.Grants) >= maxGrants {
		// Bound the state: a revoked grant gives way, else the oldest,
		// and with it its refresh and access tokens.
		i := max(0, slices.IndexFunc(o.st.Grants, func(gr *messages.Grant) bool { return gr.Revoked }))
		old := o.st.Grants[i]
		if !old.Revoked {
			o.g.cfg.Logger.Warn("grant dropped: too many grants in the session", "audit", true,
				"sid", o.g.sid, "grant", old.Id, "client_id", old.ClientId)
		}
		o.st.Grants = slices.Delete(o.st.Grants, i, i+1)
	}
	o.st.Grants = append(o.st.Grants, gr)
	o.changed = true
	o.sawIDToken(gr)
	o.reply.Grant = view(gr)
	return nil
}

func (o *op) refresh(m *messages.RefreshGrant) error {
	gr := o.findGrant(m.GrantId)
	if gr == nil || gr.Revoked || gr.RefreshExpiresMs == 0 {
		return errInvalid("unknown or revoked refresh token")
	}
	h := hash(m.TokenSecret)
	if !same(h, gr.RefreshHash) && !o.rotatedByUs(gr, h) {
		for _, u := range gr.UsedRefreshHashes {
			if same(h, u) {
				// Reuse of a rotated token: someone holds a copy. End the
				// whole family (RFC 9700 §4.14.2).
				o.revokeGrant(gr, "refresh token reused")
				return errInvalid("refresh token reused; the grant is revoked")
			}
		}
		return errInvalid("unknown refresh token")
	}
	if gr.RefreshExpiresMs <= o.ms() {
		return errInvalid("refresh token expired")
	}
	if gr.ClientId != m.ClientId {
		return errInvalid("refresh token was issued to another client")
	}
	if gr.DpopJkt != "" && m.DpopJkt != gr.DpopJkt {
		// RFC 9449 §5: only a proof by the bound key refreshes; the token
		// does not rotate (a thief without the key changes nothing).
		o.g.cfg.Logger.Warn("refresh refused: DPoP key is not the family's", "audit", true,
			"sid", o.g.sid, "grant", gr.Id, "client_id", gr.ClientId, "with_proof", m.DpopJkt != "")
		return errInvalid("refresh token is bound to another DPoP key")
	}
	if gr.X5TS256 != "" && !same([]byte(m.X5TS256), []byte(gr.X5TS256)) {
		// RFC 8705 §4: only the bound certificate refreshes; nothing
		// rotates for anyone else.
		o.g.cfg.Logger.Warn("refresh refused: client certificate is not the family's", "audit", true,
			"sid", o.g.sid, "grant", gr.Id, "client_id", gr.ClientId, "with_certificate", m.X5TS256 != "")
		return errInvalid("refresh token is bound to another client certificate")
	}
	// RFC 9700 §4.14: a user deleted or disabled since the sign-in gets
	// no more tokens, and the grant ends.
	if ok, err := o.active(gr.Login); err != nil || !ok {
		return cmp.Or(err, errInactive)
	}
	for _, s := range m.Scopes {
		if !slices.Contains(gr.Scopes, s) {
			// RFC 6749 §6: never wider than what was granted.
			return fmt.Errorf("%w: scope %q was not granted", messages.ErrInvalidScope, s)
		}
	}
	if m.Resource != "" && !slices.Contains(gr.Resources, m.Resource) {
		// RFC 8707 §2.2: a resource the grant covers, else nothing
		// changes (the refresh token does not rotate).
		return fmt.Errorf("%w: the grant does not cover this resource", messages.ErrInvalidTarget)
	}
	gr = o.writableGrant(gr)
	if m.KeepToken {
		o.changed = true // the idle end slides
	} else {
		o.rotate(gr)
	}
	o.slide(gr, m.RefreshIdleTtlMs)
	// A refresh issues an ID token too (token endpoint).
	o.sawIDToken(gr)
	o.reply.Grant = view(gr)
	if len(m.Scopes) > 0 {
		o.reply.Grant.Scopes = m.Scopes
	}
	return nil
}

// slide moves the idle end of gr's refresh family (the op's own copy)
// to idle milliseconds from now (tokens.refresh_token_idle_ttl), never
// past the family's absolute end, which never moves. With idle 0 the
// family lasts to its absolute end (idle expiry off, or turned off since
// the last use).
func (o *op) slide(gr *messages.Grant, idle int64) {
	abs := cmp.Or(gr.RefreshAbsoluteMs, gr.RefreshExpiresMs)
	if idle <= 0 {
		gr.RefreshExpiresMs = abs
		return
	}
	gr.RefreshAbsoluteMs = abs
	gr.RefreshExpiresMs = min(o.ms()+idle, abs)
}

// ours reports whether by, the call id stored with an effect, is this
// call's: the call is a retry of the one that had that effect.
func (o *op) ours(by string) bool { return o.callID != "" && by == o.callID }

// rotatedByUs reports whether h, a refresh token this call presents,
// is the one this same call rotated away before (its answer was lost).
func (o *op) rotatedByUs(gr *messages.Grant, h []byte) bool {
	n := len(gr.UsedRefreshHashes)
	return o.ours(gr.RotatedBy) && n > 0 && same(h, gr.UsedRefreshHashes[n-1])
}

// answerAgain answers a redemption retried by its own caller: the grant
// as it is, with a new refresh token (the one made the first time never
// left this grain's node, and is retired as used).
func (o *op) answerAgain(gr *messages.Grant) error {
	gr = o.writableGrant(gr)
	if gr.RefreshExpiresMs > 0 && gr.RefreshHash != nil {
		o.rotate(gr)
	}
	o.changed = true
	o.reply.Grant = view(gr)
	return nil
}

// rotate gives gr (the op's own copy) a new refresh token for the reply:
// the current one joins the used ones (a bounded list), and this call is
// recorded as the one that made the new token.
func (o *op) rotate(gr *messages.Grant) {
	secret := NewID(32)
	gr.UsedRefreshHashes = append(gr.UsedRefreshHashes, gr.RefreshHash)
	if len(gr.UsedRefreshHashes) > maxUsed {
		gr.UsedRefreshHashes = gr.UsedRefreshHashes[1:]
	}
	gr.RefreshHash = hash(secret)
	gr.RotatedBy = o.callID
	o.changed = true
	o.reply.RefreshToken = o.g.sid + "." + gr.Id + "." + secret
}

func (o *op) check(m *messages.CheckGrant) error {
	gr := o.findGrant(m.GrantId)
	if gr == nil {
		return nil // inactive
	}
	active := !gr.Revoked
	if m.TokenSecret != "" {
		active = active && same(hash(m.TokenSecret), gr.RefreshHash) && gr.RefreshExpiresMs > o.ms()
	}
	o.reply.Active = active
	o.reply.Grant = view(gr)
	return nil
}

func (o *op) revoke(m *messages.RevokeGrant) error {
	gr := o.findGrant(m.GrantId)
	// RFC 7009 §2.2: a token of another client, or an unknown one, is
	// not an error, and changes nothing.
	if gr == nil || gr.ClientId != m.ClientId {
		return nil
	}
	// The session and grant ids are in every access token and ID token:
	// they prove nothing. A refresh token revokes only with its current
	// secret (what introspection checks too); a rotated one is already
	// dead, and presenting it here is not the reuse /token punishes.
	if !m.AccessToken && (m.TokenSecret == "" || gr.RefreshHash == nil || !same(hash(m.TokenSecret), gr.RefreshHash)) {
		return nil
	}
	o.revokeGrant(gr, "revoked by client")
	return nil
}
