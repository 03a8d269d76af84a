package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/cluster"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var clusterSeq atomic.Int64

// start runs a one-member cluster with the RateLimiter kind, as a node
// does, and returns its typed client.
func start(t *testing.T) (cluster.RateLimits, *fakeClock) {
	t.Helper()
	rl, clk, _ := startNode(t)
	return rl, clk
}

func startNode(t *testing.T) (cluster.RateLimits, *fakeClock, *cluster.Node) {
	t.Helper()
	// Not parallel: protoactor keeps process-wide state that races
	// between systems started side by side.
	clk := &fakeClock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	n, err := cluster.Start(cluster.Config{
		Name:           fmt.Sprintf("ratelimit-test-%d", clusterSeq.Add(1)),
		Listen:         "127.0.0.1:0",
		RequestTimeout: 5 * time.Second,
		Kinds:          []*pc.Kind{ratelimit.NewKind(ratelimit.Config{Now: clk.Now})},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	return n.RateLimits(), clk, n
}

func TestTakeAllowsLimitThenRefusesThenRecovers(t *testing.T) {
	rl, clk := start(t)
	ctx := context.Background()
	const key, limit, window = "ip:192.0.2.1:strict", 3, time.Minute
	for i := range limit {
		ok, _, err := rl.Take(ctx, key, limit, window)
		if err != nil || !ok {
			t.Fatalf("request %d: allowed=%v err=%v", i+1, ok, err)
		}
	}
	ok, retry, err := rl.Take(ctx, key, limit, window)
	if err != nil || ok {
		t.Fatalf("request over the limit: allowed=%v err=%v", ok, err)
	}
	// One request refills every window/limit.
	if retry <= 0 || retry > window/limit {
		t.Fatalf("retry after %v, want in (0, %v]", retry, window/limit)
	}
	// Other keys are independent.
	if ok, _, err := rl.Take(ctx, "ip:192.0.2.2:strict", limit, window); err != nil || !ok {
		t.Fatalf("another key: allowed=%v err=%v", ok, err)
	}
	// Just before the advertised time: still refused.
	clk.Advance(retry - time.Millisecond)
	if ok, _, _ := rl.Take(ctx, key, limit, window); ok {
		t.Fatal("allowed before retry_after")
	}
	// At it: one request, not more.
	clk.Advance(time.Millisecond)
	if ok, _, _ := rl.Take(ctx, key, limit, window); !ok {
		t.Fatal("refused at retry_after")
	}
	if ok, _, _ := rl.Take(ctx, key, limit, window); ok {
		t.Fatal("two requests allowed after one interval")
	}
	// A whole window later the bucket is full again: limit at once.
	clk.Advance(window)
	for i := range limit {
		if ok, _, err := rl.Take(ctx, key, limit, window); err != nil || !ok {
			t.Fatalf("after the window, request %d: allowed=%v err=%v", i+1, ok, err)
		}
	}
	if ok, _, _ := rl.Take(ctx, key, limit, window); ok {
		t.Fatal("bucket holds more than limit")
	}
}

func TestTakeConcurrentNeverExceedsLimit(t *testing.T) {
	rl, _ := start(t)
	ctx := context.Background()
	const limit = 10
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := rl.Take(ctx, "client:rp:moderate", limit, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Fatalf("allowed %d of 50 concurrent requests, want %d", got, limit)
	}
}

func TestTakeInvalid(t *testing.T) {
	rl, _ := start(t)
	_, _, err := rl.Take(context.Background(), "ip:x:strict", 0, time.Minute)
	if !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("limit 0: err = %v, want ErrInvalid", err)
	}
	_, _, err = rl.RecordFailure(context.Background(), "lockout:x", 3, 0, time.Minute)
	if !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("window 0: err = %v, want ErrInvalid", err)
	}
}

func TestLockoutAfterThresholdExpiresAfterDuration(t *testing.T) {
	rl, clk := start(t)
	ctx := context.Background()
	const key, threshold, window, lock = "lockout:alice", 3, 15 * time.Minute, 10 * time.Minute
	for i := range threshold - 1 {
		until, was, err := rl.RecordFailure(ctx, key, threshold, window, lock)
		if err != nil || !until.IsZero() || was {
			t.Fatalf("failure %d: locked until %v (before: %v), err %v", i+1, until, was, err)
		}
		clk.Advance(time.Second)
	}
	if until, err := rl.CheckLock(ctx, key); err != nil || !until.IsZero() {
		t.Fatalf("below threshold: locked until %v, err %v", until, err)
	}
	until, was, err := rl.RecordFailure(ctx, key, threshold, window, lock)
	if err != nil || was {
		t.Fatalf("the locking failure: before %v, err %v", was, err)
	}
	if want := clk.Now().Add(lock); !until.Equal(want) {
		t.Fatalf("locked until %v, want %v", until, want)
	}
	if got, err := rl.CheckLock(ctx, key); err != nil || !got.Equal(until) {
		t.Fatalf("CheckLock = %v, %v; want %v", got, err, until)
	}
	// Failures during the lock do not extend it.
	clk.Advance(time.Minute)
	if got, was, _ := rl.RecordFailure(ctx, key, threshold, window, lock); !got.Equal(until) || !was {
		t.Fatalf("failure while locked: lock until %v (was %v), locked before: %v", got, until, was)
	}
	// Other usernames are not affected.
	if got, _ := rl.CheckLock(ctx, "lockout:bob"); !got.IsZero() {
		t.Fatalf("another key locked until %v", got)
	}
	// Just before the end: locked; at the end: free, with a fresh count.
	clk.Advance(until.Sub(clk.Now()) - time.Millisecond)
	if got, _ := rl.CheckLock(ctx, key); got.IsZero() {
		t.Fatal("lock lifted early")
	}
	clk.Advance(time.Millisecond)
	if got, _ := rl.CheckLock(ctx, key); !got.IsZero() {
		t.Fatalf("still locked until %v after the lock duration", got)
	}
	if got, was, _ := rl.RecordFailure(ctx, key, threshold, window, lock); !got.IsZero() || was {
		t.Fatal("one failure after a lock locked again")
	}
}

// TestLockoutConcurrentAttempts: of attempts sent all at once, exactly
// threshold find the key not yet locked (the sign-in page checks only
// those passwords).
func TestLockoutConcurrentAttempts(t *testing.T) {
	rl, _ := start(t)
	ctx := context.Background()
	const key, threshold, window, lock = "lockout:erin", 5, time.Minute, time.Hour
	var open, locked atomic.Int64
	var wg sync.WaitGroup
	for range threshold + 20 {
		wg.Go(func() {
			until, was, err := rl.RecordFailure(ctx, key, threshold, window, lock)
			switch {
			case err != nil:
				t.Error(err)
			case was:
				locked.Add(1)
			default:
				open.Add(1)
			}
			if err == nil && was && until.IsZero() {
				t.Error("locked before, but no lock end")
			}
		})
	}
	wg.Wait()
	if open.Load() != threshold || locked.Load() != 20 {
		t.Fatalf("%d attempts found the key open and %d locked, want %d and 20", open.Load(), locked.Load(), threshold)
	}
}

func TestLockoutFailuresOutsideWindowDoNotCount(t *testing.T) {
	rl, clk := start(t)
	ctx := context.Background()
	const key, threshold, window, lock = "lockout:carol", 3, time.Minute, time.Hour
	for range 10 {
		if got, _, _ := rl.RecordFailure(ctx, key, threshold, window, lock); !got.IsZero() {
			t.Fatal("locked by failures spread over more than the window")
		}
		clk.Advance(window/2 + time.Second)
	}
}

func TestLockoutResetOnSuccess(t *testing.T) {
	rl, _ := start(t)
	ctx := context.Background()
	const key, threshold, window, lock = "lockout:dave", 3, time.Minute, time.Hour
	for range threshold - 1 {
		rl.RecordFailure(ctx, key, threshold, window, lock)
	}
	if err := rl.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := range threshold - 1 {
		if got, _, _ := rl.RecordFailure(ctx, key, threshold, window, lock); !got.IsZero() {
			t.Fatalf("failure %d after reset locked", i+1)
		}
	}
	if got, _, _ := rl.RecordFailure(ctx, key, threshold, window, lock); got.IsZero() {
		t.Fatal("threshold failures after reset did not lock")
	}
	// Reset also lifts a lock (an operator's unlock).
	if err := rl.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got, _ := rl.CheckLock(ctx, key); !got.IsZero() {
		t.Fatal("reset did not lift the lock")
	}
}

func TestPassivatesOnlyOnceQuiet(t *testing.T) {
	rl, clk, n := startNode(t)
	ctx := context.Background()
	const key, window = "ip:192.0.2.1:lenient", 100 * time.Millisecond
	if ok, _, _ := rl.Take(ctx, key, 1, window); !ok {
		t.Fatal("first request refused")
	}
	pid := func() string {
		p := n.Cluster.Get(key, ratelimit.Kind)
		if p == nil {
			t.Fatal("no activation")
		}
		return p.Id
	}
	first := pid()
	// Idle for several windows of real time, but the (fake) clock has not
	// moved: the bucket is still empty, so the grain must keep it.
	time.Sleep(4 * window)
	if got := pid(); got != first {
		t.Fatal("passivated while its state still mattered")
	}
	if ok, _, _ := rl.Take(ctx, key, 1, window); ok {
		t.Fatal("state lost while idle")
	}
	// Once the state has decayed, the idle grain goes away.
	clk.Advance(window)
	deadline := time.Now().Add(5 * time.Second)
	for pid() == first {
		if time.Now().After(deadline) {
			t.Fatal("idle grain did not passivate")
		}
		time.Sleep(window / 2)
	}
	if ok, _, _ := rl.Take(ctx, key, 1, window); !ok {
		t.Fatal("refused after the window")
	}
}
