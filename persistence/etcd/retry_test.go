package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// TestRetryingIsBounded: a cluster without a leader is asked again with
// growing pauses, not in a tight loop, and a caller without a deadline
// gets a bounded number of attempts (an outage must not hold a grain's
// mailbox for ever); a reason a retry cannot fix ends it at once.
func TestRetryingIsBounded(t *testing.T) {
	var calls []time.Time
	err := retrying(context.Background(), func(context.Context) error {
		calls = append(calls, time.Now())
		return rpctypes.ErrNoLeader
	})
	if !errors.Is(err, rpctypes.ErrNoLeader) || len(calls) != maxAttempts {
		t.Fatalf("%d attempts, err %v; want %d and the last error", len(calls), err, maxAttempts)
	}
	for i := 2; i < len(calls); i++ {
		// Each pause is at least half of a doubling step (jitter), never
		// nothing: no busy loop.
		if calls[i].Sub(calls[i-1]) < firstPause/2 {
			t.Fatalf("attempt %d came %v after the one before", i, calls[i].Sub(calls[i-1]))
		}
	}

	n := 0
	err = retrying(context.Background(), func(context.Context) error { n++; return errors.New("permission denied") })
	if n != 1 || err == nil {
		t.Fatalf("a permanent error was retried %d times", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	err = retrying(ctx, func(context.Context) error {
		if n++; n == 3 {
			cancel()
		}
		return rpctypes.ErrNoLeader
	})
	if n != 3 || err == nil {
		t.Fatalf("retries went on after the caller gave up: %d attempts", n)
	}
}
