package ratelimit

import (
	"testing"
	"time"
)

func TestBucketSteadyRate(t *testing.T) {
	var s state
	now := time.Unix(1000, 0)
	const limit, window = 6, time.Minute
	for i := range limit {
		ok, _, remaining := s.take(now, limit, window)
		if !ok || remaining != limit-1-i {
			t.Fatalf("take %d: ok=%v remaining=%d", i+1, ok, remaining)
		}
	}
	// Then one per window/limit, exactly.
	for i := range 20 {
		ok, retry, _ := s.take(now, limit, window)
		if ok || retry <= 0 {
			t.Fatalf("step %d: ok=%v retry=%v", i, ok, retry)
		}
		now = now.Add(retry)
		if ok, _, _ := s.take(now, limit, window); !ok {
			t.Fatalf("step %d: refused after retry", i)
		}
	}
}

func TestQuietAt(t *testing.T) {
	var s state
	now := time.Unix(1000, 0)
	if !s.quietAt().IsZero() {
		t.Fatal("fresh state is not quiet")
	}
	s.take(now, 10, time.Minute)
	if want := now.Add(6 * time.Second); !s.quietAt().Equal(want) {
		t.Fatalf("quietAt = %v, want %v", s.quietAt(), want)
	}
	b := Backoff{Free: 1, Base: time.Minute, Max: time.Hour, Window: 2 * time.Hour}
	s.attempt(now, b)
	if want := now.Add(2 * time.Hour); !s.quietAt().Equal(want) {
		t.Fatalf("after a failure: quietAt = %v, want %v (its window)", s.quietAt(), want)
	}
	s.succeeded()
	if want := now.Add(6 * time.Second); !s.quietAt().Equal(want) {
		t.Fatalf("after a success: quietAt = %v, want %v", s.quietAt(), want)
	}
}

func TestBackoffDelays(t *testing.T) {
	b := Backoff{Free: 3, Base: time.Second, Max: 10 * time.Second, Window: time.Hour}
	for failures, want := range []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		if got := b.Delay(failures); got != want {
			t.Errorf("Delay(%d) = %v, want %v", failures, got, want)
		}
	}
	if got := b.Delay(1 << 30); got != 10*time.Second {
		t.Errorf("Delay(huge) = %v, want the cap", got)
	}
	for _, bad := range []Backoff{
		{Free: -1, Base: time.Second, Max: time.Second, Window: time.Hour},
		{Free: 1, Base: 0, Max: time.Second, Window: time.Hour},
		{Free: 1, Base: 2 * time.Second, Max: time.Second, Window: time.Hour},
		{Free: 1, Base: time.Second, Max: time.Hour, Window: time.Minute},
		{Free: 1, Base: time.Second, Max: time.Second, Window: 8 * 24 * time.Hour},
	} {
		if bad.Check() == nil {
			t.Errorf("%+v passed Check", bad)
		}
	}
}

func TestAttemptsBackOffAndForget(t *testing.T) {
	var s state
	now := time.Unix(1000, 0)
	b := Backoff{Free: 2, Base: time.Second, Max: 4 * time.Second, Window: time.Minute}
	for i := range 2 {
		if ok, _, n := s.attempt(now, b); !ok || n != i+1 {
			t.Fatalf("free attempt %d: ok=%v failures=%d", i+1, ok, n)
		}
	}
	// The second failure calls for a 1 s wait; a refused attempt is not
	// counted and does not move the wait.
	for range 3 {
		if ok, retry, n := s.attempt(now.Add(500*time.Millisecond), b); ok || retry != 500*time.Millisecond || n != 2 {
			t.Fatalf("within the delay: ok=%v retry=%v failures=%d", ok, retry, n)
		}
	}
	now = now.Add(time.Second)
	if ok, _, _ := s.attempt(now, b); !ok {
		t.Fatal("refused once the delay passed")
	}
	if _, retry, _ := s.attempt(now, b); retry != 2*time.Second {
		t.Fatalf("next delay %v, want 2s", retry)
	}
	// A minute without failures: forgotten, the free attempts are back.
	now = now.Add(time.Minute)
	if ok, _, n := s.attempt(now, b); !ok || n != 1 {
		t.Fatalf("after the window: ok=%v failures=%d", ok, n)
	}
}
