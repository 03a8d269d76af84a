package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// Ended durably records relying-party sessions a call ended (the
	// back-channel logout outbox), through the grain's fenced store,
	// before the call's state is stored; an error fails the call and
	// stores nothing. It must be idempotent: a call run again after a
	// failure passes the same endings. nil: nobody is told.
	Ended  func(ctx context.Context, store persistence.Backend, sid string, ended []*messages.EndedClient) error
	Logger *slog.Logger
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
		perr := op.record(ctx, g.store)
		if perr == nil {
			// A sign-in's index entry is written alongside the state: on
			// bbolt the two share one group commit (a sign-in costs one
			// commit, not two); see indexConcurrently.
			index := op.indexConcurrently(ctx, g.store)
			perr = g.persist(ctx, op.st)
			if ierr := index(); ierr != nil && perr == nil {
				g.cfg.Logger.Warn("session index entry not written; the session is not listed until it ends", "err", ierr)
			}
		}
		if perr != nil {
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
		op.unrecord(ctx, g.store)
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
