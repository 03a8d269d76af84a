package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/scheduler"

	"authrim/actors/messages"
	"authrim/actors/ownership"
	"authrim/persistence"
	"authrim/telemetry"
)

const (
	// Kind is the cluster kind of the Delivery grain.
	Kind = "Delivery"
	// Identity is its one identity.
	Identity = "default"
	// maxLoaded bounds the messages held in memory; a larger backlog is
	// read in as it drains (each scan of the store).
	maxLoaded = 10000
	// maxError bounds the last error kept with a message.
	maxError = 200
)

// Metrics are the counters the grain reports to (nil: none).
type Metrics interface {
	// Outcome counts one attempt's outcome: sent, retried, given_up.
	Outcome(kind, outcome string)
	// Delivered observes the time from creation to delivery.
	Delivered(kind string, d time.Duration)
}

// Config is what the grain needs.
type Config struct {
	Store  persistence.Backend
	Owners persistence.Owners
	// Handlers deliver each kind; a message of another kind waits (a
	// member of a newer version may know it) and is given up after
	// Retry.GiveUpAfter.
	Handlers map[string]Handler
	Retry    Retry
	// Concurrency bounds the attempts in flight (default 8).
	Concurrency int
	// AttemptTimeout bounds one attempt (default 15 s).
	AttemptTimeout time.Duration
	// ScanInterval is how often the grain reads the whole outbox, for
	// messages whose kick was lost (default 10 s).
	ScanInterval time.Duration
	StoreTimeout time.Duration
	Now          func() time.Time
	Metrics      Metrics
	Logger       *slog.Logger
}

// NewKind returns the cluster kind that activates the Delivery grain.
func NewKind(cfg Config) *cluster.Kind {
	cfg.Retry = cfg.Retry.withDefaults()
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 8)
	cfg.AttemptTimeout = cmp.Or(cfg.AttemptTimeout, 15*time.Second)
	cfg.ScanInterval = cmp.Or(cfg.ScanInterval, 10*time.Second)
	cfg.StoreTimeout = cmp.Or(cfg.StoreTimeout, 5*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor { return &grain{cfg: cfg} }))
}

// wake is the grain's timer: the next attempt is due, or a scan.
type wake struct{}

// result is an attempt's outcome, sent back to the grain.
type result struct {
	id  string
	err error
}

type grain struct {
	cfg   Config
	own   *ownership.Holder
	store persistence.Backend // owned (fenced)
	// pending holds the loaded messages; inflight those being attempted.
	pending  map[string]*Message
	inflight map[string]bool
	// done remembers messages delivered whose delete failed: never sent
	// again by this activation.
	done     map[string]bool
	lastScan time.Time
	// scanDue is when the timer reads the outbox again: a scan interval
	// after the last attempt, failed or not (a failing store is not
	// asked in a loop).
	scanDue time.Time
	timer   scheduler.CancelFunc
	timerAt time.Time
	sched   *scheduler.TimerScheduler
	selfPID *actor.PID
	base    context.Context
	stop    context.CancelFunc
	lost    error
}

func (g *grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.own = ownership.New(g.cfg.Owners, g.cfg.Store, Kind, m.Identity.Identity)
		g.pending, g.inflight, g.done = map[string]*Message{}, map[string]bool{}, map[string]bool{}
		g.sched = scheduler.NewTimerScheduler(ctx)
		g.selfPID = ctx.Self()
		g.base, g.stop = context.WithCancel(context.Background())
	case *actor.Stopping:
		if g.timer != nil {
			g.timer()
		}
		if g.stop != nil {
			g.stop()
		}
		if g.own != nil {
			g.own.Release()
		}
	case *messages.DeliveryKick:
		sctx, cancel := telemetry.Context(m, g.cfg.StoreTimeout)
		err := g.kick(sctx, m.Ids)
		cancel()
		if err == nil {
			g.dispatch(ctx)
		}
		g.answer(ctx, err)
	case wake:
		g.timer, g.timerAt = nil, time.Time{}
		if now := g.cfg.Now(); !now.Before(g.scanDue) {
			g.scanDue = now.Add(g.cfg.ScanInterval)
			sctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
			err := g.scan(sctx)
			cancel()
			if err != nil && g.fenced(ctx, err) {
				return
			}
		}
		g.dispatch(ctx)
	case result:
		g.finish(ctx, m)
		g.dispatch(ctx)
	}
}

// answer replies to a kick (GrainUnavailable once fenced: the caller
// finds the live activation).
func (g *grain) answer(ctx actor.Context, err error) {
	if err != nil && g.fenced(ctx, err) {
		ctx.Respond(ownership.Unavailable(g.lost))
		return
	}
	if err != nil {
		ctx.Respond(&messages.DeliveryAck{Error: messages.NewError(messages.CodeUnavailable, "outbox unavailable")})
		return
	}
	ctx.Respond(&messages.DeliveryAck{Pending: int32(len(g.pending))})
}

// fenced stops the grain when err says another activation owns the
// outbox now, or that the store was closed (the node is stopping: its
// timer would otherwise retry, and log, until the process ends).
func (g *grain) fenced(ctx actor.Context, err error) bool {
	if errors.Is(err, persistence.ErrClosed) {
		if g.lost == nil {
			g.lost = err
			g.cfg.Logger.Info("delivery grain stopping: the store is closed")
			ctx.Poison(ctx.Self())
		}
		return true
	}
	if !ownership.Fenced(err) {
		g.cfg.Logger.Warn("outbox store call failed", "err", err)
		return false
	}
	if g.lost == nil {
		g.lost = err
		g.cfg.Logger.Warn("delivery grain fenced, stopping", "err", err)
		ctx.Poison(ctx.Self())
	}
	return true
}

// kick takes the ownership (and scans) on first use, then reads the
// messages named, or scans when none is named and the last scan is old.
func (g *grain) kick(ctx context.Context, ids []string) error {
	if g.lost != nil {
		return g.lost
	}
	if g.store == nil {
		store, err := g.own.Store(ctx)
		if err != nil {
			return err
		}
		g.store = store
		// Taking the ownership may have waited for a dead member's lease
		// to go: the first read gets its own time.
		sctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
		defer cancel()
		return g.scan(sctx)
	}
	if len(ids) == 0 {
		if g.cfg.Now().Sub(g.lastScan) >= g.cfg.ScanInterval/2 {
			return g.scan(ctx)
		}
		return nil
	}
	for _, id := range ids {
		if g.pending[id] != nil || g.done[id] || len(g.pending) >= maxLoaded {
			continue
		}
		b, err := g.store.Get(ctx, Bucket, id)
		if errors.Is(err, persistence.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		g.adopt(id, b)
	}
	return nil
}

// scan reads the outbox: messages not yet held are added (up to
// maxLoaded).
func (g *grain) scan(ctx context.Context) error {
	if g.store == nil {
		return nil
	}
	started := g.cfg.Now()
	full := errors.New("full")
	err := g.store.List(ctx, Bucket, "", func(key string, v []byte) error {
		if g.pending[key] == nil && !g.done[key] {
			if len(g.pending) >= maxLoaded {
				return full
			}
			g.adopt(key, v)
		}
		return nil
	})
	if err != nil && !errors.Is(err, full) {
		return err
	}
	// Only a scan that read the outbox counts: after a failed one the
	// next kick or wake-up reads it again.
	g.lastScan = started
	return nil
}

func (g *grain) adopt(id string, b []byte) {
	m := &Message{}
	if err := json.Unmarshal(b, m); err != nil || m.ID != id {
		g.cfg.Logger.Error("outbox record does not decode; left in the store", "id", id, "err", err)
		g.done[id] = true
		return
	}
	g.pending[id] = m
}

// dispatch starts the attempts that are due (up to Concurrency) and sets
// the timer for the next one.
func (g *grain) dispatch(ctx actor.Context) {
	if g.lost != nil || g.store == nil {
		return
	}
	now := g.cfg.Now()
	next := g.lastScan.Add(g.cfg.ScanInterval)
	if g.scanDue.After(next) {
		next = g.scanDue // the last scan failed: wait for the next one
	}
	for id, m := range g.pending {
		if g.inflight[id] {
			continue
		}
		due := time.UnixMilli(m.NextMs)
		if due.After(now) || len(g.inflight) >= g.cfg.Concurrency {
			if due.Before(next) {
				next = due
			}
			continue
		}
		g.attempt(ctx, m)
	}
	g.setTimer(now, next)
}

func (g *grain) setTimer(now, at time.Time) {
	if g.timer != nil && !g.timerAt.After(at) {
		return // an earlier or equal wake-up is set
	}
	if g.timer != nil {
		g.timer()
	}
	g.timer, g.timerAt = g.sched.SendOnce(max(at.Sub(now), time.Millisecond), g.selfPID, wake{}), at
}

// attempt runs one delivery on its own goroutine; the result comes back
// as a message, so the grain's state is only touched in Receive.
func (g *grain) attempt(ctx actor.Context, m *Message) {
	h := g.cfg.Handlers[m.Kind]
	g.inflight[m.ID] = true
	root, self := ctx.ActorSystem().Root, ctx.Self()
	msg := *m
	go func() {
		var err error
		if h == nil {
			err = errors.New("no handler for this kind on this member")
		} else {
			actx, cancel := context.WithTimeout(g.base, g.cfg.AttemptTimeout)
			err = h.Deliver(actx, &msg)
			cancel()
		}
		root.Send(self, result{id: msg.ID, err: err})
	}()
}

// finish records an attempt's outcome: a delivered or given-up message
// is deleted before anything else; a failed one gets its next time.
func (g *grain) finish(ctx actor.Context, r result) {
	delete(g.inflight, r.id)
	m := g.pending[r.id]
	if m == nil || g.lost != nil {
		return
	}
	now := g.cfg.Now()
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
	defer cancel()
	created := time.UnixMilli(m.CreatedMs)
	m.Attempts++
	log := g.cfg.Logger.With("audit", true, "kind", m.Kind, "id", m.ID, "target", m.Target, "attempts", m.Attempts)
	if r.err == nil {
		delete(g.pending, r.id)
		if err := g.store.Delete(sctx, Bucket, r.id); err != nil && !errors.Is(err, persistence.ErrNotFound) {
			// Never again from this activation; a next one may send it
			// once more (same id: the receiver deduplicates).
			g.done[r.id] = true
			if g.fenced(ctx, err) {
				return
			}
		}
		g.outcome(m.Kind, "sent")
		if g.cfg.Metrics != nil {
			g.cfg.Metrics.Delivered(m.Kind, now.Sub(created))
		}
		log.Info("message delivered", "latency_ms", now.Sub(created).Milliseconds())
		return
	}
	m.LastError = r.err.Error()
	if len(m.LastError) > maxError {
		m.LastError = m.LastError[:maxError]
	}
	wait := g.cfg.Retry.Backoff(m.Attempts)
	if IsPermanent(r.err) || now.Add(wait).After(created.Add(g.cfg.Retry.GiveUpAfter)) {
		delete(g.pending, r.id)
		if err := g.store.Delete(sctx, Bucket, r.id); err != nil && !errors.Is(err, persistence.ErrNotFound) {
			g.done[r.id] = true
			if g.fenced(ctx, err) {
				return
			}
		}
		g.outcome(m.Kind, "given_up")
		log.Warn("message given up", "err", m.LastError, "permanent", IsPermanent(r.err))
		return
	}
	m.NextMs = now.Add(wait).UnixMilli()
	b, err := json.Marshal(m)
	if err == nil {
		err = g.store.Put(sctx, Bucket, r.id, b)
	}
	if err != nil && g.fenced(ctx, err) {
		return
	}
	g.outcome(m.Kind, "retried")
	log.Info("message not delivered; will retry", "err", m.LastError, "retry_in_ms", wait.Milliseconds())
}

func (g *grain) outcome(kind, outcome string) {
	if g.cfg.Metrics != nil {
		g.cfg.Metrics.Outcome(kind, outcome)
	}
}
