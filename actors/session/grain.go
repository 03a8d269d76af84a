package session

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/actors/ownership"
	"authrim/persistence"
	"authrim/telemetry"
)

const (
	// Kind is the cluster kind of Session grains.
	Kind = "Session"
	// Bucket holds one SessionState per session id (declared in
	// persistence/schema.go).
	Bucket = persistence.BucketSessions

	maxPending    = 16
	maxCodes      = 64
	maxGrants     = 64
	maxUsed       = 32
	maxCeremonies = 8
)

// Config is what Session grains need.
type Config struct {
	Store persistence.Backend
	// Owners fences activations across a cluster; nil: one node.
	Owners persistence.Owners
	Now    func() time.Time
	// CodeTTL is an authorization code's lifetime (60 s).
	CodeTTL time.Duration
	// PendingTTL bounds how long a sign-in or consent page stays usable.
	PendingTTL time.Duration
	// LoginTTL is how long a sign-in lasts.
	LoginTTL time.Duration
	// AccessTokenTTL keeps a grant answerable while its access tokens live.
	AccessTokenTTL time.Duration
	// CeremonyTTL bounds a WebAuthn challenge (5 minutes).
	CeremonyTTL time.Duration
	// IdleTimeout passivates an idle grain (its state is on disk).
	IdleTimeout time.Duration
	// StoreTimeout bounds the grain's store calls when the caller set no
	// deadline (default 5 s): a store that does not answer must not hold
	// the mailbox for ever.
	StoreTimeout time.Duration
	// Subjects tells whether a signed-in user may still use what the
	// sign-in gave (nil: always; tests of the grain alone).
	Subjects Subjects
	Logger   *slog.Logger
}

// Subjects is what the grain asks of the user directory before it uses a
// login: to answer with it, issue a code, redeem one or refresh a grant.
type Subjects interface {
	// SubjectActive reports whether a sign-in of subject made at
	// authTime may still be used: the user exists, is enabled, and
	// signed in after their sessions were last ended. An error means the
	// directory could not tell: the grain then fails closed.
	SubjectActive(ctx context.Context, subject string, authTime time.Time) (bool, error)
}

// NewKind returns the cluster kind that activates Session grains.
func NewKind(cfg Config) *cluster.Kind {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor { return &grain{cfg: cfg} }))
}

type grain struct {
	cfg    Config
	own    *ownership.Holder
	store  persistence.Backend // the owned (fenced) store
	sid    string
	st     *messages.SessionState // nil: no such session
	loaded bool
	// gone: a call found no session before the grain took ownership;
	// the grain stops after answering (see peek).
	gone bool
}

func (g *grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.sid = m.Identity.Identity
		g.own = ownership.New(g.cfg.Owners, g.cfg.Store, Kind, g.sid)
		ctx.SetReceiveTimeout(g.cfg.IdleTimeout)
	case *actor.ReceiveTimeout:
		// Passivate: memory follows the active set; the state is on disk.
		ctx.Poison(ctx.Self())
	case *actor.Stopping:
		if g.own != nil {
			g.own.Release()
		}
	case *messages.SessionCall:
		sctx, cancel := telemetry.Context(m, g.cfg.StoreTimeout)
		reply, err := g.handle(sctx, m)
		cancel()
		if err != nil {
			// Another activation owns this session now (or this node
			// was fenced): stop, and let the caller find the live one.
			g.cfg.Logger.Warn("session grain fenced, stopping", "err", err)
			ctx.Respond(ownership.Unavailable(err))
			ctx.Poison(ctx.Self())
			return
		}
		ctx.Respond(reply)
		if g.gone || (g.loaded && g.st == nil) {
			// No such session (any longer): nothing worth keeping in
			// memory, and random cookies must not pile up idle grains.
			ctx.Poison(ctx.Self())
		}
	}
}

// errInvalid builds an "invalid" error reply.
func errInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{messages.ErrInvalid}, args...)...)
}

var (
	errInactive  = errInvalid("the user no longer exists or is disabled")
	errNoSession = fmt.Errorf("%w: no such session", messages.ErrNotFound)
	errSecret    = errInvalid("session secret mismatch")
	errNoLogin   = errInvalid("not signed in")
	errNoRequest = errInvalid("unknown or expired authorization request")
)

func (g *grain) load(ctx context.Context) error {
	b, err := g.store.Get(ctx, Bucket, g.sid)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		g.st = nil
	case err != nil:
		return err
	default:
		st := &messages.SessionState{}
		if err := proto.Unmarshal(b, st); err != nil {
			return fmt.Errorf("session: decode state: %w", err)
		}
		g.st = st
	}
	g.loaded = true
	return nil
}

// handle runs one call on a copy of the state, persists the copy if the
// call changed it, and only then adopts it and answers. An error means the
// grain lost its ownership and must stop.
//
// The copy is shallow (shallowCopy): its own slices and maps, holding the
// adopted state's codes, grants and consents. An op that changes one of
// those replaces it by a clone first (writableGrant, writableCode), so
// the adopted state never changes and a call costs what it touches, not
// the whole record.
func (g *grain) handle(ctx context.Context, call *messages.SessionCall) (*messages.SessionReply, error) {
	if !g.loaded {
		if reply, ok := g.peek(ctx, call); ok {
			return reply, nil
		}
	}
	store, err := g.own.Store(ctx)
	if err != nil {
		return nil, err
	}
	g.store = store
	if !g.loaded {
		if err := g.load(ctx); err != nil {
			if ownership.Fenced(err) {
				return nil, err
			}
			g.cfg.Logger.Error("session load failed", "err", err)
			return &messages.SessionReply{Error: messages.NewError(messages.CodeUnavailable, "session store unavailable")}, nil
		}
	}
	now := g.cfg.Now()
	var next *messages.SessionState
	pruned := false
	switch {
	case g.st == nil:
	case readOnly(call) && !prune(nil, g.st, now, g.cfg.CodeTTL, g.cfg.AccessTokenTTL):
		// A read with nothing expired works on the state itself: adopted
		// states are never modified (every change works on a copy), so
		// the copy would only cost time.
		next = g.st
	default:
		next = shallowCopy(g.st)
		pruned = prune(next, next, now, g.cfg.CodeTTL, g.cfg.AccessTokenTTL)
	}
	if empty(next) {
		// Nothing left: the session is over, exactly as if its record were
		// gone (Sweep may have deleted it already). Otherwise a browser
		// coming back with its cookie would pass Get and then fail Begin.
		next = nil
	}
	op := &op{ctx: ctx, g: g, st: next, now: now, secret: call.Secret, callID: call.CallId, reply: &messages.SessionReply{}}
	err = op.run(call)
	changed := op.changed || pruned
	if changed {
		if perr := g.persist(ctx, op.st); perr != nil {
			if ownership.Fenced(perr) {
				return nil, perr
			}
			g.cfg.Logger.Error("session persist failed", "err", perr)
			return &messages.SessionReply{Error: messages.NewError(messages.CodeUnavailable, "session store unavailable")}, nil
		}
		g.st = op.st
		if empty(g.st) {
			g.st = nil
		}
	}
	if err != nil {
		return &messages.SessionReply{Error: messages.ErrorOf(err)}, nil
	}
	op.reply.Exists = g.st != nil
	return op.reply, nil
}

// peek answers a call for a session that does not exist without taking
// the grain's ownership, which on a cluster store is a replicated write
// (and another to give it back): a random cookie, code or token costs one
// read and leaves nothing behind. ok is false when the session exists,
// when the call would create it (BeginAuth with create), or when the
// store cannot tell: the grain then takes ownership and loads as usual
// (a read made before owning may miss the last write of a previous
// owner, so it never stands in for the load).
func (g *grain) peek(ctx context.Context, call *messages.SessionCall) (*messages.SessionReply, bool) {
	if _, err := g.cfg.Store.Get(ctx, Bucket, g.sid); !errors.Is(err, persistence.ErrNotFound) {
		return nil, false
	}
	o := &op{ctx: ctx, g: g, now: g.cfg.Now(), secret: call.Secret, callID: call.CallId, reply: &messages.SessionReply{}}
	err := o.run(call)
	if o.changed {
		return nil, false
	}
	g.gone = true
	if err != nil {
		return &messages.SessionReply{Error: messages.ErrorOf(err)}, true
	}
	return o.reply, true
}

func empty(st *messages.SessionState) bool {
	return st == nil || (st.Login == nil && len(st.Pending) == 0 && len(st.Codes) == 0 && len(st.Grants) == 0 && len(st.Ceremonies) == 0)
}

func (g *grain) persist(ctx context.Context, st *messages.SessionState) error {
	if empty(st) {
		err := g.store.Delete(ctx, Bucket, g.sid)
		if errors.Is(err, persistence.ErrNotFound) {
			return nil
		}
		return err
	}
	b, err := proto.Marshal(st)
	if err != nil {
		return err
	}
	return g.store.Put(ctx, Bucket, g.sid, b)
}

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
	loginGone := st.Login != nil && st.LoginExpiresMs <= n
	pendingGone := func(p *messages.Pending) bool { return p.ExpiresMs <= n }
	ceremonyGone := func(c *messages.Ceremony) bool { return c.ExpiresMs <= n }
	codeGone := func(c *messages.Code) bool {
		if c.Redeemed {
			return c.ExpiresMs+keep <= n
		}
		return c.ExpiresMs <= n
	}
	grantGone := func(gr *messages.Grant) bool { return grantEnd(gr, accessTTL) <= n }
	if dst == nil {
		for _, p := range st.Pending {
			if pendingGone(p) {
				return true
			}
		}
		return loginGone || slices.ContainsFunc(st.Ceremonies, ceremonyGone) ||
			slices.ContainsFunc(st.Codes, codeGone) || slices.ContainsFunc(st.Grants, grantGone)
	}
	changed := false
	if loginGone {
		dst.Login, dst.LoginExpiresMs = nil, 0
		changed = true
	}
	for rid, p := range dst.Pending {
		if pendingGone(p) {
			delete(dst.Pending, rid)
			changed = true
		}
	}
	before := len(dst.Ceremonies) + len(dst.Codes) + len(dst.Grants)
	dst.Ceremonies = slices.DeleteFunc(dst.Ceremonies, ceremonyGone)
	dst.Codes = slices.DeleteFunc(dst.Codes, codeGone)
	dst.Grants = slices.DeleteFunc(dst.Grants, grantGone)
	return changed || len(dst.Ceremonies)+len(dst.Codes)+len(dst.Grants) != before
}

// shallowCopy returns a state whose slices and maps are its own and whose
// elements are st's: what an op replaces, adds or removes does not reach
// st; an element it changes must be cloned first.
func shallowCopy(st *messages.SessionState) *messages.SessionState {
	return &messages.SessionState{
		Sid: st.Sid, SecretHash: st.SecretHash, CreatedMs: st.CreatedMs, Login: st.Login, LoginExpiresMs: st.LoginExpiresMs,
		Consents: maps.Clone(st.Consents), Pending: maps.Clone(st.Pending),
		Codes: slices.Clone(st.Codes), Grants: slices.Clone(st.Grants), Ceremonies: slices.Clone(st.Ceremonies),
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
		Login: gr.Login, CreatedMs: gr.CreatedMs, RefreshExpiresMs: gr.RefreshExpiresMs,
		Revoked: gr.Revoked, RevokeReason: gr.RevokeReason, RefreshHash: gr.RefreshHash,
		UsedRefreshHashes: slices.Clone(gr.UsedRefreshHashes), RotatedBy: gr.RotatedBy,
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
	case *messages.SessionCall_Get, *messages.SessionCall_Check:
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
		return o.logout()
	case *messages.SessionCall_Start:
		return o.startCeremony(m.Start)
	case *messages.SessionCall_Take:
		return o.takeCeremony(m.Take)
	}
	return errInvalid("unknown session operation")
}

// browser checks the cookie secret of browser-side operations.
func (o *op) browser() error {
	if o.st == nil {
		return errNoSession
	}
	if !same(hash(o.secret), o.st.SecretHash) {
		return errSecret
	}
	return nil
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

// subjectTimeout bounds one directory read inside the grain's mailbox.
const subjectTimeout = 5 * time.Second

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
	if o.st.Login != nil && o.st.Login.Subject == subject {
		o.st.Login, o.st.LoginExpiresMs = nil, 0
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

// writable makes the op's state its own copy when it is still the
// adopted one (reads work on the adopted state, see handle).
func (o *op) writable() {
	if o.st != nil && o.st == o.g.st {
		o.st = shallowCopy(o.st)
	}
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
		// not theirs.
		o.st.Consents = nil
	}
	l := proto.Clone(m.Login).(*messages.Login)
	l.AuthTimeMs = o.ms()
	o.st.Login = l
	o.st.LoginExpiresMs = o.now.Add(o.g.cfg.LoginTTL).UnixMilli()
	// A new secret at sign-in: a cookie planted before it (session
	// fixation) is worthless after it.
	secret := NewID(32)
	o.st.SecretHash = hash(secret)
	o.changed = true
	o.reply.NewSecret, o.reply.Login, o.reply.Rid, o.reply.Request = secret, l, m.Rid, p.Request
	o.reply.Consented = o.consented(p.Request.ClientId)
	return nil
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
	case p.RequiredAcr != "" && l.Acr != p.RequiredAcr:
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
	if (w.RequiredSubject != "" && w.RequiredSubject != l.Subject) || (w.RequiredAcr != "" && w.RequiredAcr != l.Acr) {
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
		CodeChallenge: req.CodeChallenge, ClaimsJson: req.ClaimsJson,
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
	o.g.cfg.Logger.Warn("grant revoked", "audit", true, "sid", o.g.sid, "grant", gr.Id, "client_id", gr.ClientId, "reason", reason)
}

// view is a grant without its secrets, for replies. It shares the
// grant's slices and Login: adopted states are never modified in place.
// (A proto.Clone would copy the used-token hashes only to drop them.)
func view(gr *messages.Grant) *messages.Grant {
	return &messages.Grant{
		Id: gr.Id, ClientId: gr.ClientId, Scopes: gr.Scopes, Nonce: gr.Nonce, ClaimsJson: gr.ClaimsJson,
		Login: gr.Login, CreatedMs: gr.CreatedMs, RefreshExpiresMs: gr.RefreshExpiresMs,
		Revoked: gr.Revoked, RevokeReason: gr.RevokeReason,
	}
}

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
	}
	if m.RefreshTtlMs > 0 {
		secret := NewID(32)
		gr.RefreshHash = hash(secret)
		gr.RefreshExpiresMs = o.ms() + m.RefreshTtlMs
		gr.RotatedBy = o.callID
		o.reply.RefreshToken = o.g.sid + "." + gr.Id + "." + secret
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
	gr = o.writableGrant(gr)
	o.rotate(gr)
	o.reply.Grant = view(gr)
	if len(m.Scopes) > 0 {
		o.reply.Grant.Scopes = m.Scopes
	}
	return nil
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

func (o *op) logout() error {
	if err := o.browser(); err != nil {
		return err
	}
	o.st.Login, o.st.LoginExpiresMs = nil, 0
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
	return nil
}

func (o *op) startCeremony(m *messages.StartCeremony) error {
	if err := o.browser(); err != nil {
		return err
	}
	if err := o.liveLogin(); err != nil {
		return err
	}
	c := m.Ceremony
	switch {
	case c == nil || c.Challenge == "":
		return errInvalid("ceremony without challenge")
	case c.Kind == "register" && o.st.Login == nil:
		return errNoLogin
	case c.Kind != "register" && c.Kind != "login":
		return errInvalid("unknown ceremony kind")
	}
	if len(o.st.Ceremonies) >= maxCeremonies {
		o.st.Ceremonies = o.st.Ceremonies[1:]
	}
	c = proto.Clone(c).(*messages.Ceremony)
	c.ExpiresMs = o.now.Add(o.g.cfg.CeremonyTTL).UnixMilli()
	o.st.Ceremonies = append(o.st.Ceremonies, c)
	o.changed = true
	o.reply.Login = o.st.Login
	return nil
}

func (o *op) takeCeremony(m *messages.TakeCeremony) error {
	if err := o.browser(); err != nil {
		return err
	}
	if m.Kind == "register" {
		// The passkey would be added for the login's user.
		if err := o.liveLogin(); err != nil {
			return err
		}
	}
	for i, c := range o.st.Ceremonies {
		if c.Kind == m.Kind && same([]byte(c.Challenge), []byte(m.Challenge)) {
			// One-time: gone whether or not the answer verifies.
			o.st.Ceremonies = slices.Delete(o.st.Ceremonies, i, i+1)
			o.changed = true
			o.reply.Ceremony, o.reply.Login = c, o.st.Login
			return nil
		}
	}
	return errInvalid("unknown, used or expired challenge")
}
