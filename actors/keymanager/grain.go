package keymanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/scheduler"
	"google.golang.org/protobuf/proto"

	"authrim/actors/messages"
	"authrim/actors/ownership"
	"authrim/persistence"
	"authrim/telemetry"
)

// Kind is the cluster kind of the KeyManager grain; DefaultIdentity is the
// one identity a node uses (one key set per issuer).
const (
	Kind            = "KeyManager"
	DefaultIdentity = "default"
	// CacheActorName is the well-known name of each node's key cache actor
	// (in package crypto), the target of KeySetChanged pushes.
	CacheActorName = "crypto-keys"
	// Bucket holds one KeySet per KeyManager identity (declared in
	// persistence/schema.go).
	Bucket = persistence.BucketKeys
)

// Config is what a KeyManager grain needs.
type Config struct {
	Policy Policy
	Store  persistence.Backend
	// Owners fences activations across a cluster (the key set rotates
	// exactly once cluster-wide); nil: one node.
	Owners        persistence.Owners
	KEK           *KEK
	CheckInterval time.Duration
	// Now is the clock; tests inject one. Defaults to time.Now.
	Now func() time.Time
	// StoreTimeout bounds the grain's store calls when no caller's
	// deadline does (timers, callers without one); default 5 s.
	StoreTimeout time.Duration
	Logger       *slog.Logger
}

// NewKind returns the cluster kind that activates KeyManager grains.
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
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor {
		return &grain{cfg: cfg}
	}))
}

type tick struct{}

type grain struct {
	cfg      Config
	own      *ownership.Holder
	store    persistence.Backend // the owned (fenced) store
	lost     error               // set once fenced: answer Unavailable, stop
	identity string
	set      *messages.KeySet // nil until loaded
	cancel   scheduler.CancelFunc
}

func (g *grain) Receive(ctx actor.Context) {
	// Store calls end with the caller's request (or StoreTimeout): a
	// store that does not answer must not hold the mailbox for ever.
	sctx, cancel := telemetry.Context(ctx.Message(), g.cfg.StoreTimeout)
	defer cancel()
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.identity = m.Identity.Identity
		g.own = ownership.New(g.cfg.Owners, g.cfg.Store, Kind, g.identity)
		if err := g.load(ctx, sctx); err != nil {
			g.cfg.Logger.Error("keymanager load failed", "identity", g.identity, "err", err)
			g.stopIfFenced(ctx, err)
		}
		g.cancel = scheduler.NewTimerScheduler(ctx).SendRepeatedly(g.cfg.CheckInterval, g.cfg.CheckInterval, ctx.Self(), tick{})
	case *actor.Stopping:
		if g.cancel != nil {
			g.cancel()
		}
		if g.own != nil {
			g.own.Release()
		}
	case tick:
		if err := g.change(ctx, sctx, func(*messages.KeySet, time.Time) (bool, error) { return false, nil }); err != nil && !g.stopIfFenced(ctx, err) {
			g.cfg.Logger.Error("keymanager timer failed", "identity", g.identity, "err", err)
		}
	case *messages.ListKeys:
		err := g.change(ctx, sctx, func(*messages.KeySet, time.Time) (bool, error) { return false, nil })
		g.reply(ctx, err)
	case *messages.RotateKeys:
		err := g.change(ctx, sctx, func(s *messages.KeySet, now time.Time) (bool, error) {
			return rotate(s, g.cfg.Policy, m.Alg, now)
		})
		if err == nil {
			g.cfg.Logger.Info("keys rotation requested", "audit", true, "alg", m.Alg)
		}
		g.reply(ctx, err)
	case *messages.RevokeKey:
		err := g.change(ctx, sctx, func(s *messages.KeySet, now time.Time) (bool, error) {
			return revoke(s, m.Kid, m.Reason, now)
		})
		if err == nil {
			g.cfg.Logger.Warn("key revoked", "audit", true, "kid", m.Kid, "reason", m.Reason)
		}
		g.reply(ctx, err)
	}
}

// stopIfFenced stops the grain when err says another activation owns the
// key set now; it reports whether it did.
func (g *grain) stopIfFenced(ctx actor.Context, err error) bool {
	if !ownership.Fenced(err) {
		return false
	}
	if g.lost == nil {
		g.lost = err
		g.cfg.Logger.Warn("keymanager fenced, stopping", "identity", g.identity, "err", err)
		ctx.Poison(ctx.Self())
	}
	return true
}

func (g *grain) reply(ctx actor.Context, err error) {
	if err != nil {
		g.stopIfFenced(ctx, err)
	}
	if ctx.Sender() == nil {
		return
	}
	if g.lost != nil {
		ctx.Respond(ownership.Unavailable(g.lost))
		return
	}
	if err != nil {
		if !errors.Is(err, messages.ErrNotFound) && !errors.Is(err, messages.ErrInvalid) {
			// The key set could not be read or written (the store):
			// the caller may retry.
			err = fmt.Errorf("%w: %w", messages.ErrUnavailable, err)
		}
		ctx.Respond(&messages.KeySetResponse{Error: messages.ErrorOf(err)})
		return
	}
	ctx.Respond(&messages.KeySetResponse{Set: g.set})
}

// load reads the persisted set (a restart comes back with the same keys)
// and brings it up to date.
func (g *grain) load(ctx actor.Context, goctx context.Context) error {
	store, err := g.own.Store(goctx)
	if err != nil {
		return err
	}
	g.store = store
	b, err := g.store.Get(goctx, Bucket, g.identity)
	set := &messages.KeySet{}
	switch {
	case errors.Is(err, persistence.ErrNotFound):
	case err != nil:
		return err
	default:
		if err := proto.Unmarshal(b, set); err != nil {
			return fmt.Errorf("keymanager: decode key set: %w", err)
		}
	}
	g.set = set
	g.cfg.Logger.Info("keymanager loaded", "identity", g.identity, "keys", len(set.Keys), "version", set.Version)
	return g.change(ctx, goctx, func(*messages.KeySet, time.Time) (bool, error) { return false, nil })
}

// change applies op and the timers to a copy of the set, persists the copy
// when anything changed, and only then adopts it and pushes it to every
// node. If persisting fails the grain keeps its old state and the caller
// gets the error: nothing is answered that is not on disk.
func (g *grain) change(ctx actor.Context, goctx context.Context, op func(*messages.KeySet, time.Time) (bool, error)) error {
	if g.lost != nil {
		return g.lost
	}
	if g.set != nil {
		// Still the owner? (A paused node's lease may have lapsed.)
		if _, err := g.own.Store(goctx); err != nil {
			return err
		}
	}
	if g.set == nil {
		if err := g.load(ctx, goctx); err != nil {
			return err
		}
	}
	now := g.cfg.Now()
	next := proto.Clone(g.set).(*messages.KeySet)
	changedOp, err := op(next, now)
	if err != nil {
		return err
	}
	changedTime, err := advance(next, g.cfg.Policy, now, g.newKey)
	if err != nil {
		return err
	}
	if !changedOp && !changedTime {
		return nil
	}
	next.Version = g.set.Version + 1
	if err := g.persist(goctx, next); err != nil {
		return err
	}
	g.set = next
	g.push(ctx)
	return nil
}

func (g *grain) persist(goctx context.Context, set *messages.KeySet) error {
	b, err := proto.Marshal(set)
	if err != nil {
		return err
	}
	return g.store.Update(goctx, Bucket, g.identity, func(old []byte, exists bool) ([]byte, error) {
		// Optimistic check: the stored set must be the one this activation
		// started from, or another writer got in between.
		if exists {
			var cur messages.KeySet
			if err := proto.Unmarshal(old, &cur); err != nil {
				return nil, fmt.Errorf("keymanager: decode stored key set: %w", err)
			}
			if cur.Version == set.Version && bytes.Equal(old, b) {
				return b, nil // this very write, applied by an attempt that timed out
			}
			if cur.Version != set.Version-1 {
				return nil, fmt.Errorf("%w: stored key set is version %d, expected %d", persistence.ErrConflict, cur.Version, set.Version-1)
			}
		}
		return b, nil
	})
}

// push sends the set to the key cache of every cluster member.
func (g *grain) push(ctx actor.Context) {
	msg, err := g.cfg.KEK.SealPush(g.set)
	if err != nil {
		g.cfg.Logger.Error("key set push not sent", "err", err)
		return
	}
	c := cluster.GetCluster(ctx.ActorSystem())
	members := c.MemberList.Members().Members()
	if len(members) == 0 {
		ctx.Send(actor.NewPID(ctx.ActorSystem().Address(), CacheActorName), msg)
		return
	}
	for _, m := range members {
		ctx.Send(actor.NewPID(m.Address(), CacheActorName), msg)
	}
}

func (g *grain) newKey(alg string, now time.Time) (*messages.Key, error) {
	k, err := generateKey(alg)
	if err != nil {
		return nil, err
	}
	sealed, err := g.cfg.KEK.Wrap(k.kid, k.pkcs8)
	if err != nil {
		return nil, err
	}
	use, _ := UseOf(alg)
	return &messages.Key{
		Kid:            k.kid,
		Alg:            alg,
		Use:            use,
		CreatedMs:      ms(now),
		PublicJwk:      k.publicJWK,
		WrappedPrivate: sealed,
	}, nil
}
