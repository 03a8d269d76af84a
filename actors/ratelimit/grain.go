package ratelimit

import (
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
)

// Kind is the cluster kind of RateLimiter grains.
const Kind = "RateLimiter"

const (
	// defaultIdle passivates a grain that was activated but never asked
	// anything it understood.
	defaultIdle = time.Minute
	// maxLimit bounds a bucket.
	maxLimit = 1_000_000
	// maxThreshold bounds a lockout threshold, so the failure log stays
	// small.
	maxThreshold = 1000
	// maxWindow bounds windows and lock durations (a week).
	maxWindow = 7 * 24 * time.Hour
)

// Config is what RateLimiter grains need.
type Config struct {
	// Now is the clock (tests inject one).
	Now    func() time.Time
	Logger *slog.Logger
}

// NewKind returns the cluster kind that activates RateLimiter grains.
func NewKind(cfg Config) *cluster.Kind {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cluster.NewKind(Kind, actor.PropsFromProducer(func() actor.Actor { return &grain{cfg: cfg} }))
}

type grain struct {
	cfg Config
	key string
	st  state
}

func (g *grain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.key = m.Identity.Identity
		ctx.SetReceiveTimeout(defaultIdle)
	case *actor.ReceiveTimeout:
		// Passivate only once the state has decayed to nothing, so that
		// dropping it changes no answer; until then wait for that moment.
		if left := g.st.quietAt().Sub(g.cfg.Now()); left > 0 {
			ctx.SetReceiveTimeout(max(left, time.Millisecond))
			return
		}
		ctx.Poison(ctx.Self())
	case *messages.RateLimitTake:
		ctx.Respond(g.take(m))
		g.idle(ctx)
	case *messages.RecordFailure:
		ctx.Respond(g.recordFailure(m))
		g.idle(ctx)
	case *messages.CheckLock:
		ctx.Respond(&messages.LockReply{LockedUntilMs: ms(g.st.lockedAt(g.cfg.Now()))})
	case *messages.ResetLock:
		g.st.reset()
		ctx.Respond(&messages.LockReply{})
	}
}

// idle sets the receive timeout: at least the longest window the grain
// has seen (so a key in steady use is not reactivated for every request),
// and long enough that the state has decayed by then.
func (g *grain) idle(ctx actor.Context) {
	d := max(g.st.window, g.st.failWindow, g.st.quietAt().Sub(g.cfg.Now()))
	if d <= 0 {
		d = defaultIdle
	}
	ctx.SetReceiveTimeout(d)
}

func (g *grain) take(m *messages.RateLimitTake) *messages.RateLimitTakeReply {
	window := time.Duration(m.WindowMs) * time.Millisecond
	if m.Limit < 1 || m.Limit > maxLimit || window <= 0 || window > maxWindow {
		g.invalid()
		return &messages.RateLimitTakeReply{Error: messages.NewError(messages.CodeInvalid, "rate limit: limit must be 1..%d and window 1ms..%s", maxLimit, maxWindow)}
	}
	ok, retry, remaining := g.st.take(g.cfg.Now(), int(m.Limit), window)
	r := &messages.RateLimitTakeReply{Allowed: ok, Remaining: int32(remaining)}
	if !ok {
		// Rounded up: retrying after the advertised time must succeed.
		r.RetryAfterMs = int64((retry + time.Millisecond - 1) / time.Millisecond)
	}
	return r
}

func (g *grain) recordFailure(m *messages.RecordFailure) *messages.LockReply {
	window := time.Duration(m.WindowMs) * time.Millisecond
	lock := time.Duration(m.LockMs) * time.Millisecond
	if m.Threshold < 1 || m.Threshold > maxThreshold || window <= 0 || window > maxWindow || lock <= 0 || lock > maxWindow {
		g.invalid()
		return &messages.LockReply{Error: messages.NewError(messages.CodeInvalid, "lockout: threshold must be 1..%d, window and lock 1ms..%s", maxThreshold, maxWindow)}
	}
	now := g.cfg.Now()
	wasLocked := !g.st.lockedAt(now).IsZero()
	until, _ := g.st.fail(now, int(m.Threshold), window, lock)
	return &messages.LockReply{LockedUntilMs: ms(until), WasLocked: wasLocked}
}

// invalid logs a malformed request: a caller's bug. Only the key's kind
// (its prefix) is logged: a lockout key holds what someone typed as a
// username, which is sometimes a password.
func (g *grain) invalid() {
	kind, _, _ := strings.Cut(g.key, ":")
	g.cfg.Logger.Warn("rate limiter: invalid request", "key_kind", kind)
}

// ms is t in Unix milliseconds, rounded up (0 for the zero time), so a
// caller that waits until then finds the lock gone.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	m := t.UnixMilli()
	if t.After(time.UnixMilli(m)) {
		m++
	}
	return m
}

// state is a grain's memory: a token bucket and a failure log.
type state struct {
	// tat is the bucket's theoretical arrival time (GCRA): the bucket is
	// full at tat and later; each request moves it one emission interval
	// (window/limit) on.
	tat    time.Time
	window time.Duration

	// failures are the recent failed sign-ins, oldest first, at most
	// the threshold.
	failures    []time.Time
	failWindow  time.Duration
	lockedUntil time.Time
}

// take takes one request from a bucket of limit per window.
func (s *state) take(now time.Time, limit int, window time.Duration) (ok bool, retry time.Duration, remaining int) {
	s.window = window
	interval := window / time.Duration(limit)
	if interval <= 0 {
		interval = 1
	}
	tat := s.tat
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(interval)
	// The bucket holds window's worth of intervals: a request is allowed
	// while what it would owe stays within one window.
	if owed := next.Sub(now); owed > window {
		return false, owed - window, 0
	}
	s.tat = next
	return true, 0, int((window - next.Sub(now)) / interval)
}

// fail records a failed sign-in and returns when the key is locked until
// (zero: not locked); locked reports that this very failure set it. A
// key already locked stays locked until the same moment: failures during
// a lock do not extend it.
func (s *state) fail(now time.Time, threshold int, window, lock time.Duration) (until time.Time, locked bool) {
	if until := s.lockedAt(now); !until.IsZero() {
		return until, false
	}
	s.failWindow = window
	s.expire(now)
	s.failures = append(s.failures, now)
	if n := len(s.failures); n > threshold {
		s.failures = append(s.failures[:0], s.failures[n-threshold:]...)
	}
	if len(s.failures) >= threshold {
		// Locked: start counting afresh once the lock is over.
		s.lockedUntil = now.Add(lock)
		s.failures = nil
		return s.lockedUntil, true
	}
	return time.Time{}, false
}

// expire drops failures older than the window.
func (s *state) expire(now time.Time) {
	i := 0
	for i < len(s.failures) && !s.failures[i].Add(s.failWindow).After(now) {
		i++
	}
	s.failures = s.failures[i:]
	if len(s.failures) == 0 {
		s.failures = nil
	}
}

// lockedAt is the end of a lock in force at now (zero: none).
func (s *state) lockedAt(now time.Time) time.Time {
	if s.lockedUntil.After(now) {
		return s.lockedUntil
	}
	return time.Time{}
}

func (s *state) reset() {
	s.failures, s.lockedUntil = nil, time.Time{}
}

// quietAt is when the state will have decayed to nothing: the bucket
// full, every failure out of its window, no lock. From then on, dropping
// the state (passivation) changes no answer.
func (s *state) quietAt() time.Time {
	t := s.tat
	if n := len(s.failures); n > 0 {
		if end := s.failures[n-1].Add(s.failWindow); end.After(t) {
			t = end
		}
	}
	if s.lockedUntil.After(t) {
		t = s.lockedUntil
	}
	return t
}
