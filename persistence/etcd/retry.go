package etcd

import (
	"context"
	"errors"
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

// retrying runs f with short attempts until it succeeds, fails for a
// reason a retry cannot fix, or ctx ends. Only for calls whose repetition
// is harmless (reads, lease revocation, put-if-absent of a unique token).
func retrying(ctx context.Context, f func(ctx context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
	}
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
