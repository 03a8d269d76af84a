package etcd

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// attemptTimeout bounds one attempt of a call that is safe to repeat.
// While the members elect a new leader (about a second after the leader
// dies), etcd drops proposals and even linearizable reads wait; a single
// call would sit out its whole deadline although the cluster is back a
// moment later.
const attemptTimeout = 700 * time.Millisecond

// Pauses between attempts: doubling from the first to the cap, so a
// cluster without a leader is asked a few times a second, not in a loop.
const (
	firstPause = 10 * time.Millisecond
	maxPause   = 250 * time.Millisecond
)

// retrying runs f with short attempts, pausing between them, until it
// succeeds, fails for a reason a retry cannot fix, or ctx ends (a caller
// without a deadline gets at most maxAttempts). Only for calls whose
// repetition is harmless (reads, lease revocation, put-if-absent of a
// unique token).
func retrying(ctx context.Context, f func(ctx context.Context) error) error {
	pause := firstPause
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		if _, bounded := ctx.Deadline(); !bounded && attempt >= maxAttempts {
			return err
		}
		t := time.NewTimer(jitter(pause))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(2*pause, maxPause)
	}
}

// maxAttempts caps the retries of a caller that set no deadline.
const maxAttempts = 20

// jitter spreads d over [d/2, d): members retrying together do not all
// knock at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// transient reports whether err says "not now" rather than "no".
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpctypes.ErrNoLeader) ||
		errors.Is(err, rpctypes.ErrLeaderChanged) || errors.Is(err, rpctypes.ErrTimeout) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) || errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}
