package device

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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
	// Kind is the cluster kind of Device grains.
	Kind = "Device"
	// Bucket holds one DeviceState per device authorization.
	Bucket = persistence.BucketDevices
	// SlowDownStep is what a poll that came too early adds to the
	// interval (RFC 8628 §3.5).
	SlowDownStep = 5 * time.Second
)

// Config is what Device grains need.
type Config struct {
	Store persistence.Backend
	// Owners fences activations across a cluster; nil: one node.
	Owners persistence.Owners
	Now    func() time.Time
	// IdleTimeout passivates an idle grain (its state is on disk).
	IdleTimeout  time.Duration
	StoreTimeout time.Duration
	Logger       *slog.Logger
}

// NewKind returns the cluster kind that activates Device grains.
func NewKind(cfg Config) *cluster.Kind {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor { return &grain{cfg: cfg} }))
}

// Hash is the SHA-256 of a device code's secret, as stored here and in
// the approving session.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

type grain struct {
	cfg    Config
	own    *ownership.Holder
	id     string
	st     *messages.DeviceState // nil: no such device authorization
	loaded bool
	// The last poll and the interval the device must keep: in memory
	// only (a poll writes nothing). A grain that passivates forgets them;
	// its idle timeout is far longer than any interval.
	lastPoll time.Time
	interval time.Duration
}

func (g *grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.id = m.Identity.Identity
		g.own = ownership.New(g.cfg.Owners, g.cfg.Store, Kind, g.id)
		ctx.SetReceiveTimeout(g.cfg.IdleTimeout)
	case *actor.ReceiveTimeout:
		ctx.Poison(ctx.Self())
	case *actor.Stopping:
		if g.own != nil {
			g.own.Release()
		}
	case *messages.DeviceCall:
		sctx, cancel := telemetry.Context(m, g.cfg.StoreTimeout)
		reply, stop, err := g.handle(sctx, m)
		cancel()
		if err != nil {
			g.cfg.Logger.Warn("device grain fenced, stopping", "err", err)
			ctx.Respond(ownership.Unavailable(err))
			ctx.Poison(ctx.Self())
			return
		}
		ctx.Respond(reply)
		if stop {
			// No such device authorization: random device codes must not
			// pile up idle grains.
			ctx.Poison(ctx.Self())
		}
	}
}

var (
	errNotFound = fmt.Errorf("%w: unknown or expired device code", messages.ErrNotFound)
	errSecret   = fmt.Errorf("%w: device code mismatch", messages.ErrInvalid)
)

func invalid(msg string) error { return fmt.Errorf("%w: %s", messages.ErrInvalid, msg) }

// handle runs one call. A call for an authorization that does not exist
// (other than create) is answered from a plain read, before the grain
// takes ownership: a random device code costs one read and writes
// nothing. stop: the grain should stop after answering.
func (g *grain) handle(ctx context.Context, call *messages.DeviceCall) (*messages.DeviceReply, bool, error) {
	_, create := call.Op.(*messages.DeviceCall_Create)
	if !g.loaded && !create {
		if _, err := g.cfg.Store.Get(ctx, Bucket, g.id); errors.Is(err, persistence.ErrNotFound) {
			return &messages.DeviceReply{Error: messages.ErrorOf(errNotFound)}, true, nil
		}
	}
	store, err := g.own.Store(ctx)
	if err != nil {
		return nil, false, err
	}
	if !g.loaded {
		if err := g.load(ctx, store); err != nil {
			if ownership.Fenced(err) {
				return nil, false, err
			}
			g.cfg.Logger.Error("device load failed", "err", err)
			return &messages.DeviceReply{Error: messages.NewError(messages.CodeUnavailable, "device store unavailable")}, false, nil
		}
	}
	now := g.cfg.Now()
	reply := &messages.DeviceReply{}
	next, err := g.run(call, now, reply)
	if err == nil && next != nil {
		b, merr := proto.Marshal(next)
		if merr != nil {
			return nil, false, merr
		}
		if perr := store.Put(ctx, Bucket, g.id, b); perr != nil {
			if ownership.Fenced(perr) {
				return nil, false, perr
			}
			g.cfg.Logger.Error("device persist failed", "err", perr)
			return &messages.DeviceReply{Error: messages.NewError(messages.CodeUnavailable, "device store unavailable")}, false, nil
		}
		g.st = next
	}
	if err != nil {
		reply.Error = messages.ErrorOf(err)
	}
	return reply, g.st == nil, nil
}

func (g *grain) load(ctx context.Context, store persistence.Backend) error {
	b, err := store.Get(ctx, Bucket, g.id)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		g.st = nil
	case err != nil:
		return err
	default:
		st := &messages.DeviceState{}
		if err := proto.Unmarshal(b, st); err != nil {
			return fmt.Errorf("device: decode state: %w", err)
		}
		g.st = st
	}
	g.loaded = true
	return nil
}

// run applies call to the adopted state; next, when not nil, is the new
// state to persist and adopt (the adopted one is never modified).
func (g *grain) run(call *messages.DeviceCall, now time.Time, reply *messages.DeviceReply) (next *messages.DeviceState, err error) {
	ms := now.UnixMilli()
	if m, ok := call.Op.(*messages.DeviceCall_Create); ok {
		if g.st != nil {
			return nil, invalid("device authorization exists")
		}
		st := proto.Clone(m.Create.State).(*messages.DeviceState)
		st.Id, st.Status, st.CreatedMs = g.id, messages.DeviceStatus_DEVICE_PENDING, ms
		if len(st.SecretHash) != sha256.Size || st.ClientId == "" || st.ExpiresMs <= ms {
			return nil, invalid("incomplete device authorization")
		}
		g.interval = time.Duration(st.IntervalMs) * time.Millisecond
		return st, nil
	}
	if g.st == nil {
		return nil, errNotFound
	}
	expired := g.st.ExpiresMs <= ms
	switch m := call.Op.(type) {
	case *messages.DeviceCall_Describe:
		if expired {
			return nil, errNotFound
		}
		// With the secret's hash: the verification page records it in
		// the approving session before it decides.
		reply.State = g.st
		return nil, nil
	case *messages.DeviceCall_Decide:
		switch {
		case expired:
			return nil, errNotFound
		case g.st.Status != messages.DeviceStatus_DEVICE_PENDING:
			// RFC 8628 §5.4: one decision; a second approval (another
			// user, a replayed form) changes nothing.
			return nil, invalid("device code already decided")
		case m.Decide.Sid == "" || m.Decide.Subject == "":
			return nil, invalid("decision without a session")
		}
		st := proto.Clone(g.st).(*messages.DeviceState)
		st.Sid, st.Subject = m.Decide.Sid, m.Decide.Subject
		st.Status = messages.DeviceStatus_DEVICE_DENIED
		if m.Decide.Approve {
			st.Status = messages.DeviceStatus_DEVICE_APPROVED
		}
		reply.State = st
		return st, nil
	case *messages.DeviceCall_Poll:
		if subtle.ConstantTimeCompare(Hash(m.Poll.Secret), g.st.SecretHash) != 1 {
			return nil, errSecret
		}
		if m.Poll.ClientId != g.st.ClientId {
			// RFC 8628 §3.4: the device code is bound to its client.
			return nil, invalid("device code was issued to another client")
		}
		reply.State = &messages.DeviceState{Sid: g.st.Sid, Subject: g.st.Subject, Scopes: g.st.Scopes, IntervalMs: g.st.IntervalMs}
		switch {
		case g.st.Status == messages.DeviceStatus_DEVICE_REDEEMED:
			return nil, invalid("device code already used")
		case expired:
			reply.Poll = messages.DevicePoll_POLL_EXPIRED
		case g.st.Status == messages.DeviceStatus_DEVICE_DENIED:
			reply.Poll = messages.DevicePoll_POLL_DENIED
		case g.st.Status == messages.DeviceStatus_DEVICE_APPROVED:
			// This poll claims the one redemption (RFC 8628 §3.5: the
			// device code is used once): it is recorded before the answer,
			// so a concurrent or retried poll on any node finds the code
			// used and never reaches the session, whose code reuse
			// detection would revoke the tokens just issued.
			reply.Poll = messages.DevicePoll_POLL_APPROVED
			reply.State.IntervalMs = g.interval.Milliseconds()
			st := proto.Clone(g.st).(*messages.DeviceState)
			st.Status = messages.DeviceStatus_DEVICE_REDEEMED
			return st, nil
		default:
			reply.Poll = g.pace(now)
		}
		reply.State.IntervalMs = g.interval.Milliseconds()
		return nil, nil
	}
	return nil, invalid("unknown device operation")
}

// pace answers a pending poll: slow_down when it came sooner than the
// interval after the last one, and the interval grows by SlowDownStep for
// this and every later poll (RFC 8628 §3.5). A tenth of the interval is
// forgiven: a client that waits the interval between its requests sees
// their arrivals vary by the requests' own latencies.
func (g *grain) pace(now time.Time) messages.DevicePoll {
	if g.interval <= 0 {
		g.interval = time.Duration(g.st.IntervalMs) * time.Millisecond
	}
	last := g.lastPoll
	g.lastPoll = now
	if !last.IsZero() && now.Sub(last) < g.interval-g.interval/10 {
		g.interval += SlowDownStep
		return messages.DevicePoll_POLL_SLOW_DOWN
	}
	return messages.DevicePoll_POLL_PENDING
}
