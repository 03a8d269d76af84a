package crypto

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/router"
	"github.com/asynkron/protoactor-go/scheduler"

	"authrim/actors/keymanager"
	"authrim/actors/messages"
)

// PoolName is the well-known name of each node's Crypto pool.
const PoolName = "crypto"

// Options configure a node's Crypto actors.
type Options struct {
	// Size is the number of Crypto actors; 0 means one per core.
	Size int
	// TTL is how often the key cache pulls the key set as a fallback to
	// pushes (a lost push heals within one TTL).
	TTL time.Duration
	// Pull asks the KeyManager for the current key set.
	Pull   func() (*messages.KeySet, error)
	Logger *slog.Logger
	// PropsOptions are added to the workers' props (metrics, tracing).
	PropsOptions []actor.PropsOption
}

// Spawn starts the node's key cache actor (named
// keymanager.CacheActorName, the target of KeyManager pushes) and the pool
// of Crypto actors (named PoolName). It returns the pool's PID.
func Spawn(root *actor.RootContext, cache *Cache, opts Options) (*actor.PID, error) {
	if opts.Size <= 0 {
		opts.Size = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	keys := actor.PropsFromProducer(func() actor.Actor { return &cacheActor{cache: cache, opts: opts} })
	if _, err := root.SpawnNamed(keys, keymanager.CacheActorName); err != nil {
		return nil, err
	}
	// One long-lived goroutine per worker: a worker's drains never
	// overlap, so more would only wait.
	workerOpts := append([]actor.PropsOption{
		actor.WithProducer(func() actor.Actor { return &worker{cache: cache} }),
		actor.WithDispatcher(newPinnedDispatcher(opts.Size, 300)),
	}, opts.PropsOptions...)
	pool := router.NewRoundRobinPool(opts.Size, workerOpts...)
	return root.SpawnNamed(pool, PoolName)
}

type pullTick struct{}
type pulled struct {
	set *messages.KeySet
	err error
}

// cacheActor feeds the Cache: pushes from the KeyManager, and a periodic
// pull so that a missed push heals by itself.
type cacheActor struct {
	cache    *Cache
	opts     Options
	cancel   scheduler.CancelFunc
	inFlight bool
}

func (a *cacheActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Send(ctx.Self(), pullTick{})
		a.cancel = scheduler.NewTimerScheduler(ctx).SendRepeatedly(a.opts.TTL, a.opts.TTL, ctx.Self(), pullTick{})
	case *actor.Stopping:
		if a.cancel != nil {
			a.cancel()
		}
	case *messages.KeySetChanged:
		set, err := a.cache.kek.OpenPush(m)
		if err != nil {
			// Not the KeyManager's (see keymanager.SealPush): a peer
			// with another KEK, or someone forging a key set.
			a.opts.Logger.Warn("key set push refused", "audit", true, "err", err)
			return
		}
		a.apply(set)
	case pullTick:
		if a.inFlight || a.opts.Pull == nil {
			return
		}
		a.inFlight = true
		self, root := ctx.Self(), ctx.ActorSystem().Root
		// The pull is a grain request that may take a while (activation,
		// another node): do it off the mailbox.
		go func() {
			set, err := a.opts.Pull()
			root.Send(self, pulled{set: set, err: err})
		}()
	case pulled:
		a.inFlight = false
		if m.err != nil {
			a.opts.Logger.Warn("key cache pull failed", "err", m.err)
			return
		}
		a.apply(m.set)
	}
}

func (a *cacheActor) apply(set *messages.KeySet) {
	if err := a.cache.Apply(set); err != nil {
		a.opts.Logger.Error("key cache update failed", "err", err)
	}
}

// worker is one Crypto actor.
type worker struct{ cache *Cache }

func (w *worker) Receive(ctx actor.Context) {
	if res := Handle(w.cache, ctx.Message()); res != nil {
		ctx.Respond(res)
	}
}

// Handle answers one Crypto request with cache's keys; nil for a message
// that is not one. Workers call it in their mailbox; a node that signs
// inline (crypto.mode: inline) calls it on the request's goroutine.
func Handle(cache *Cache, msg any) any {
	switch m := msg.(type) {
	case *messages.SignRequest:
		tok, kid, err := cache.Sign(m.Alg, m.Payload, m.Typ)
		return &messages.SignResponse{Token: tok, Kid: kid, Error: messages.ErrorOf(err)}
	case *messages.VerifyRequest:
		p, kid, alg, err := cache.VerifyType(m.Token, m.Typ, m.Algs)
		return &messages.VerifyResponse{Payload: p, Kid: kid, Alg: alg, Error: messages.ErrorOf(err)}
	case *messages.VerifyWithKeysRequest:
		p, kid, alg, err := VerifyWithKeys(m.Token, m.Jwks, m.Algs)
		return &messages.VerifyResponse{Payload: p, Kid: kid, Alg: alg, Error: messages.ErrorOf(err)}
	case *messages.EncryptRequest:
		tok, err := Encrypt(m.Plaintext, m.Jwk, m.Alg, m.Enc, m.Cty)
		return &messages.EncryptResponse{Token: tok, Error: messages.ErrorOf(err)}
	case *messages.DecryptRequest:
		pt, kid, err := cache.Decrypt(m.Token)
		return &messages.DecryptResponse{Plaintext: pt, Kid: kid, Error: messages.ErrorOf(err)}
	}
	return nil
}
