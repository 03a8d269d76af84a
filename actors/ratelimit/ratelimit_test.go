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
	"authrim/internal/eventually"
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
	_, _, err = rl.Attempt(context.Background(), "signin:x", ratelimit.Backoff{Free: 3, Base: time.Second, Max: time.Minute})
	if !errors.Is(err, messages.ErrInvalid) {
		t.Fatalf("window 0: err = %v, want ErrInvalid", err)
	}
}

var signIn = ratelimit.Backoff{Free: 3, Base: time.Second, Max: time.Minute, Window: time.Hour}

// TestAttemptsSlowDownThenRecover: past the free failures each attempt
// waits longer, the wait ends by itself, and another key is untouched.
func TestAttemptsSlowDownThenRecover(t *testing.T) {
	rl, clk := start(t)
	ctx := context.Background()
	const key = "signin:alice"
	for i := range signIn.Free {
		if ok, _, err := rl.Attempt(ctx, key, signIn); err != nil || !ok {
			t.Fatalf("attempt %d refused (err %v)", i+1, err)
		}
	}
	ok, retry, err := rl.Attempt(ctx, key, signIn)
	if err != nil || ok || retry != time.Second {
		t.Fatalf("past the free failures: ok=%v retry=%v err=%v, want a 1s wait", ok, retry, err)
	}
	if ok, _, _ := rl.Attempt(ctx, "signin:bob", signIn); !ok {
		t.Fatal("another key was slowed")
	}
	clk.Advance(time.Second)
	if ok, _, _ := rl.Attempt(ctx, key, signIn); !ok {
		t.Fatal("still refused once the delay passed")
	}
	if _, retry, _ := rl.Attempt(ctx, key, signIn); retry != 2*time.Second {
		t.Fatalf("the next wait is %v, want 2s", retry)
	}
}

// TestConcurrentAttempts: of attempts sent all at once, exactly the free
// ones are admitted (the sign-in page checks only those passwords).
func TestConcurrentAttempts(t *testing.T) {
	rl, _ := start(t)
	ctx := context.Background()
	var admitted, refused atomic.Int64
	var wg sync.WaitGroup
	for range signIn.Free + 20 {
		wg.Go(func() {
			ok, retry, err := rl.Attempt(ctx, "signin:erin", signIn)
			switch {
			case err != nil:
				t.Error(err)
			case ok:
				admitted.Add(1)
			case retry <= 0:
				t.Error("refused without a wait")
			default:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != int64(signIn.Free) || refused.Load() != 20 {
		t.Fatalf("%d admitted and %d refused, want %d and 20", admitted.Load(), refused.Load(), signIn.Free)
	}
}

func TestAttemptSucceededForgetsFailures(t *testing.T) {
	rl, _ := start(t)
	ctx := context.Background()
	const key = "signin:dave"
	for range signIn.Free {
		rl.Attempt(ctx, key, signIn)
	}
	if err := rl.Succeeded(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := range signIn.Free {
		if ok, _, _ := rl.Attempt(ctx, key, signIn); !ok {
			t.Fatalf("attempt %d after a success refused", i+1)
		}
	}
	if ok, _, _ := rl.Attempt(ctx, key, signIn); ok {
		t.Fatal("free failures after a success did not slow the next")
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
	eventually.True(t, "the idle grain to passivate", func() bool { return pid() != first })
	if ok, _, _ := rl.Take(ctx, key, 1, window); !ok {
		t.Fatal("refused after the window")
	}
}
