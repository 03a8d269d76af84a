package session

// The browser flow: the session as the sign-in pages see it, pending
// authorization requests, sign-in, consent, code issuance and logout.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
)

// subjectTimeout bounds one directory read inside the grain's mailbox.
const subjectTimeout = 5 * time.Second

// browser checks the cookie secret of browser-side operations.
func (o *op) browser() error {
	if o.st == nil {
		return errNoSession
	}
	if !same(hash(o.secret), o.st.SecretHash) {
		return errSecret
	}
	o.touch()
	return nil
}

// touch records that the browser used its login, for session.idle_ttl:
// at most once per tenth of the idle limit, so that reads (most browser
// calls) seldom write; the login may so end up to a tenth early.
func (o *op) touch() {
	idle := o.st.LoginIdleTtlMs
	if o.st.Login == nil || idle <= 0 || o.ms()-o.st.LastUsedMs < idle/10 {
		return
	}
	o.writable()
	o.st.LastUsedMs = o.ms()
	o.changed = true
}

// active asks the directory whether login may still be used. When it may
// not (the user was deleted or disabled, or signed in before their
// sessions were ended), everything of that user in this session ends
// (endSubject) and active reports false. An error: the directory could
// not tell, and the op fails (closed).
func (o *op) active(l *messages.Login) (bool, error) {
	if l == nil || o.g.cfg.Subjects == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(o.ctx, subjectTimeout)
	defer cancel()
	ok, err := o.g.cfg.Subjects.SubjectActive(ctx, l.Subject, time.UnixMilli(l.AuthTimeMs))
	if err != nil {
		o.g.cfg.Logger.Warn("session: user directory unavailable", "err", err)
		return false, fmt.Errorf("%w: user directory unavailable", messages.ErrUnavailable)
	}
	if !ok {
		o.endSubject(l.Subject)
	}
	return ok, nil
}

// liveLogin checks the session's own login with active: afterwards the
// session has no login if its user may no longer use it.
func (o *op) liveLogin() error {
	_, err := o.active(o.st.Login)
	return err
}

// endSubject ends what the session holds for subject, a user who was
// deleted or disabled: the login (with its consents, pending requests
// and ceremonies) if it is theirs, their codes not yet redeemed, and
// every grant of theirs, offline_access ones too.
func (o *op) endSubject(subject string) {
	o.writable()
	o.endFor(subject)
	if o.st.Login != nil && o.st.Login.Subject == subject {
		o.st.Login, o.st.LoginExpiresMs, o.st.LastUsedMs, o.st.LoginIdleTtlMs = nil, 0, 0, 0
		o.st.Consents, o.st.Pending, o.st.Ceremonies = nil, nil, nil
	}
	o.st.Codes = slices.DeleteFunc(o.st.Codes, func(c *messages.Code) bool {
		return !c.Redeemed && c.Login.GetSubject() == subject
	})
	for _, gr := range o.st.Grants {
		if gr.Login.GetSubject() == subject {
			o.revokeGrant(gr, "user deleted or disabled")
		}
	}
	o.changed = true
	o.g.cfg.Logger.Warn("session ended: user deleted or disabled", "audit", true, "sid", o.g.sid, "sub", subject)
}

func (o *op) consented(clientID string) []string {
	if c := o.st.Consents[clientID]; c != nil {
		return c.Scopes
	}
	return nil
}

func (o *op) get(m *messages.GetSession) error {
	if err := o.browser(); err != nil {
		return err
	}
	if err := o.liveLogin(); err != nil {
		return err
	}
	o.reply.Login = o.st.Login
	if m.ClientId != "" {
		o.reply.Consented = o.consented(m.ClientId)
	}
	if m.Rid != "" {
		p := o.st.Pending[m.Rid]
		if p == nil {
			return errNoRequest
		}
		o.reply.Rid, o.reply.Request = m.Rid, p.Request
		o.reply.Consented = o.consented(p.Request.ClientId)
	}
	return nil
}

func (o *op) begin(m *messages.BeginAuth) error {
	if o.st == nil {
		if !m.Create {
			return errNoSession
		}
		o.st = &messages.SessionState{Sid: o.g.sid, SecretHash: hash(o.secret), CreatedMs: o.ms()}
	} else if err := o.browser(); err != nil {
		return err
	}
	if o.st.Pending == nil {
		o.st.Pending = map[string]*messages.Pending{}
	}
	if len(o.st.Pending) >= maxPending {
		// Bound the state: the oldest request gives way.
		var oldest string
		for rid, p := range o.st.Pending {
			if oldest == "" || p.ExpiresMs < o.st.Pending[oldest].ExpiresMs {
				oldest = rid
			}
		}
		delete(o.st.Pending, oldest)
	}
	rid := NewID(16)
	pending := &messages.Pending{Request: m.Request, ExpiresMs: o.now.Add(o.g.cfg.PendingTTL).UnixMilli(),
		RequiredAcr: m.RequiredAcr, RequiredSubject: m.RequiredSubject}
	if m.NeedsLogin {
		pending.LoginAfterMs = o.ms()
	}
	o.st.Pending[rid] = pending
	o.changed = true
	o.reply.Rid, o.reply.Request, o.reply.Login = rid, m.Request, o.st.Login
	o.reply.Consented = o.consented(m.Request.GetClientId())
	return nil
}

func (o *op) login(m *messages.CompleteLogin) error {
	if err := o.browser(); err != nil {
		return err
	}
	p := o.st.Pending[m.Rid]
	if p == nil {
		return errNoRequest
	}
	if m.Login.GetSubject() == "" {
		return errInvalid("login without subject")
	}
	// Deleted or disabled since the front end checked the password.
	if ok, err := o.active(&messages.Login{Subject: m.Login.Subject, AuthTimeMs: o.ms()}); err != nil {
		return err
	} else if !ok {
		return errInactive
	}
	if o.st.Login != nil && o.st.Login.Subject != m.Login.Subject {
		// Another user on this browser: what the last one consented to is
		// not theirs, and their sign-in ends here (their relying parties
		// are told).
		o.st.Consents = nil
		o.endFor(o.st.Login.Subject)
	}
	l := proto.Clone(m.Login).(*messages.Login)
	l.AuthTimeMs = o.ms()
	o.st.Login = l
	o.st.LoginExpiresMs = o.now.Add(o.g.cfg.LoginTTL).UnixMilli()
	o.st.LastUsedMs, o.st.LoginIdleTtlMs = o.ms(), max(0, m.IdleTtlMs)
	o.index = newIndexWrite(o.g.sid, l, m)
	// A new secret at sign-in: a cookie planted before it (session
	// fixation) is worthless after it.
	secret := NewID(32)
	o.st.SecretHash = hash(secret)
	o.changed = true
	o.reply.NewSecret, o.reply.Login, o.reply.Rid, o.reply.Request = secret, l, m.Rid, p.Request
	o.reply.Consented = o.consented(p.Request.ClientId)
	return nil
}

// The acr values the grain compares (http/auth defines and documents
// them): a request that requires two factors (ACRMFA) is met by a
// password and a code, or by a passkey.
const (
	acrMFA     = "urn:authrim:acr:mfa"
	acrPasskey = "phr"
)

// acrMeets tells whether a login of acr have meets a required acr want
// ("" requires nothing).
func acrMeets(have, want string) bool {
	return want == "" || have == want || want == acrMFA && have == acrPasskey
}

// signedInFor checks that the session's login is the one the pending
// request asked for: a sign-in made after the request when it demanded
// one (prompt=login, max_age), with the required acr and subject. Without
// this, posting the consent form of a request that showed the login page
// would skip the re-authentication.
func (o *op) signedInFor(p *messages.Pending) error {
	l := o.st.Login
	switch {
	case l == nil:
		return errNoLogin
	case p.LoginAfterMs > 0 && l.AuthTimeMs < p.LoginAfterMs:
		return errInvalid("a new sign-in is required for this request")
	case !acrMeets(l.Acr, p.RequiredAcr):
		return errInvalid("this request needs another kind of sign-in")
	case p.RequiredSubject != "" && l.Subject != p.RequiredSubject:
		return errInvalid("signed in as another user than the request names")
	}
	return nil
}

func (o *op) consent(m *messages.GiveConsent) error {
	if err := o.browser(); err != nil {
		return err
	}
	if err := o.liveLogin(); err != nil {
		return err
	}
	if o.st.Login == nil {
		return errNoLogin
	}
	p := o.st.Pending[m.Rid]
	if p == nil {
		return errNoRequest
	}
	if err := o.signedInFor(p); err != nil {
		return err
	}
	if o.st.Consents == nil {
		o.st.Consents = map[string]*messages.Consent{}
	}
	c := o.st.Consents[p.Request.ClientId]
	if c == nil {
		c = &messages.Consent{}
	} else {
		c = proto.Clone(c).(*messages.Consent) // the adopted state's
	}
	o.st.Consents[p.Request.ClientId] = c
	items := p.Request.ConsentItems
	if len(items) == 0 {
		items = p.Request.Scopes
	}
	for _, s := range items {
		if !slices.Contains(c.Scopes, s) {
			c.Scopes = append(c.Scopes, s)
		}
	}
	o.changed = true
	o.reply.Rid, o.reply.Request, o.reply.Login, o.reply.Consented = m.Rid, p.Request, o.st.Login, c.Scopes
	return nil
}

func (o *op) issue(m *messages.IssueCode) error {
	if err := o.browser(); err != nil {
		return err
	}
	// No code for a user who was deleted or disabled: the login is gone,
	// and the request is answered as if nobody were signed in.
	if err := o.liveLogin(); err != nil {
		return err
	}
	req := m.Request
	if m.When != nil && m.Rid == "" && !o.satisfies(req, m.When) {
		// Not issued: answer as Get does, and change nothing.
		o.reply.Login = o.st.Login
		o.reply.Consented = o.consented(req.GetClientId())
		return nil
	}
	if o.st.Login == nil {
		return errNoLogin
	}
	if m.Rid != "" {
		p := o.st.Pending[m.Rid]
		if p == nil {
			return errNoRequest
		}
		if err := o.signedInFor(p); err != nil {
			return err
		}
		req = p.Request
		delete(o.st.Pending, m.Rid)
	}
	if req == nil {
		return errInvalid("no request to issue a code for")
	}
	secret := NewID(32)
	if len(o.st.Codes) >= maxCodes {
		o.st.Codes = o.st.Codes[1:]
	}
	o.st.Codes = append(o.st.Codes, &messages.Code{
		Hash:      hash(secret),
		Request:   forRedemption(req),
		Login:     o.st.Login,
		ExpiresMs: o.now.Add(o.g.cfg.CodeTTL).UnixMilli(),
	})
	o.changed = true
	o.reply.Code, o.reply.Request, o.reply.Login = o.g.sid+"."+secret, req, o.st.Login
	return nil
}

// satisfies tells whether the login may answer req without any page:
// recent enough for its max_age, of the required subject and acr, and
// with every needed scope consented to.
func (o *op) satisfies(req *messages.AuthRequest, w *messages.IssueWhen) bool {
	l := o.st.Login
	if l == nil || req == nil {
		return false
	}
	if req.MaxAge >= 0 && o.now.Sub(time.UnixMilli(l.AuthTimeMs)) > time.Duration(req.MaxAge)*time.Second {
		return false
	}
	if (w.RequiredSubject != "" && w.RequiredSubject != l.Subject) || !acrMeets(l.Acr, w.RequiredAcr) {
		return false
	}
	consented := o.consented(req.ClientId)
	for _, s := range w.Consent {
		if !slices.Contains(consented, s) {
			return false
		}
	}
	return true
}

// forRedemption is the part of an authorization request its code needs
// at the token endpoint; the rest (state, prompt, display names...) was
// for the authorization response and would only grow the record.
func forRedemption(req *messages.AuthRequest) *messages.AuthRequest {
	return &messages.AuthRequest{
		ClientId: req.ClientId, RedirectUri: req.RedirectUri, Scopes: req.Scopes, Nonce: req.Nonce,
		CodeChallenge: req.CodeChallenge, ClaimsJson: req.ClaimsJson, Resources: req.Resources,
		DpopJkt: req.DpopJkt, // RFC 9449 §10: the code is bound to it
	}
}

func (o *op) logout(m *messages.EndSession) error {
	if m.GetSubject() != "" {
		return o.endByOperator(m)
	}
	if err := o.browser(); err != nil {
		return err
	}
	o.endLogin()
	return nil
}

// endLogin ends the session's login: its relying-party sessions are told
// (endFor), unredeemed codes die, grants are revoked except offline ones.
func (o *op) endLogin() {
	o.writable()
	if o.st.Login != nil {
		o.endFor(o.st.Login.Subject)
	}
	o.st.Login, o.st.LoginExpiresMs, o.st.LastUsedMs, o.st.LoginIdleTtlMs = nil, 0, 0, 0
	o.st.Consents = nil
	o.st.Pending = nil
	// Codes not yet redeemed die with the session; redeemed ones stay so
	// a replay still finds them.
	o.st.Codes = slices.DeleteFunc(o.st.Codes, func(c *messages.Code) bool { return !c.Redeemed })
	o.st.Ceremonies = nil
	for _, gr := range o.st.Grants {
		// Tokens asked for offline use outlive the browser session.
		if !slices.Contains(gr.Scopes, "offline_access") {
			o.revokeGrant(gr, "session ended")
		}
	}
	o.changed = true
}
