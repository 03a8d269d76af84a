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
	// maxFree bounds the failures allowed without a delay.
	maxFree = 1000
	// maxWindow bounds windows and delays (a week).
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
	case *messages.Attempt:
		ctx.Respond(g.attempt(m))
		g.idle(ctx)
	case *messages.AttemptSucceeded:
		g.st.succeeded()
		ctx.Respond(&messages.AttemptReply{Allowed: true})
	}
}

// idle sets the receive timeout: at least the longest window the grain
// has seen (so a key in steady use is not reactivated for every request),
// and long enough that the state has decayed by then.
func (g *grain) idle(ctx actor.Context) {
	d := max(g.st.window, g.st.quietAt().Sub(g.cfg.Now()))
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

func (g *grain) attempt(m *messages.Attempt) *messages.AttemptReply {
	b := Backoff{
		Free: int(m.Free), Base: time.Duration(m.BaseDelayMs) * time.Millisecond,
		Max: time.Duration(m.MaxDelayMs) * time.Millisecond, Window: time.Duration(m.WindowMs) * time.Millisecond,
	}
	if err := b.Check(); err != nil {
		g.invalid()
		return &messages.AttemptReply{Error: messages.NewError(messages.CodeInvalid, "%s", err)}
	}
	ok, retry, failures := g.st.attempt(g.cfg.Now(), b)
	r := &messages.AttemptReply{Allowed: ok, Failures: int32(min(failures, 1<<30))}
	if !ok {
		r.RetryAfterMs = int64((retry + time.Millisecond - 1) / time.Millisecond)
	}
	return r
}

// invalid logs a malformed request: a caller's bug. Only the key's kind
// (its prefix) is logged: a sign-in key holds what someone typed as a
// username, which is sometimes a password.
func (g *grain) invalid() {
	kind, _, _ := strings.Cut(g.key, ":")
	g.cfg.Logger.Warn("rate limiter: invalid request", "key_kind", kind)
}

// state is a grain's memory: a token bucket and a failure log.
type state struct {
	// tat is the bucket's theoretical arrival time (GCRA): the bucket is
	// full at tat and later; each request moves it one emission interval
	// (window/limit) on.
	tat    time.Time
	window time.Duration

	// Attempts at a secret (see Backoff): consecutive failures, the
	// last one, and when the next attempt is allowed.
	failures    int
	lastFailure time.Time
	nextAttempt time.Time
	failWindow  time.Duration
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

// attempt admits an attempt at now under b, counting it as a failure, or
// refuses it until the delay the failures so far call for has passed.
func (s *state) attempt(now time.Time, b Backoff) (ok bool, retry time.Duration, failures int) {
	s.failWindow = b.Window
	if s.failures > 0 && !now.Before(s.lastFailure.Add(b.Window)) {
		s.succeeded() // quiet for a window: start afresh
	}
	if now.Before(s.nextAttempt) {
		return false, s.nextAttempt.Sub(now), s.failures
	}
	s.failures++
	s.lastFailure = now
	s.nextAttempt = now.Add(b.Delay(s.failures))
	return true, 0, s.failures
}

// succeeded forgets the failures: the attempt that was counted was right.
func (s *state) succeeded() {
	s.failures, s.lastFailure, s.nextAttempt = 0, time.Time{}, time.Time{}
}

// quietAt is when the state will have decayed to nothing: the bucket
// full, the failures forgotten. From then on, dropping the state
// (passivation) changes no answer.
func (s *state) quietAt() time.Time {
	t := s.tat
	if s.failures > 0 {
		if end := s.lastFailure.Add(s.failWindow); end.After(t) {
			t = end
		}
	}
	if s.nextAttempt.After(t) {
		t = s.nextAttempt
	}
	return t
}
