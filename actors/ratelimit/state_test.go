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
	s.fail(now, 3, 15*time.Minute, time.Hour)
	if want := now.Add(15 * time.Minute); !s.quietAt().Equal(want) {
		t.Fatalf("quietAt = %v, want %v", s.quietAt(), want)
	}
	s.fail(now, 3, 15*time.Minute, time.Hour)
	s.fail(now, 3, 15*time.Minute, time.Hour)
	if want := now.Add(time.Hour); !s.quietAt().Equal(want) {
		t.Fatalf("locked: quietAt = %v, want %v", s.quietAt(), want)
	}
}

func TestMsRoundsUp(t *testing.T) {
	if got := ms(time.UnixMilli(5).Add(1)); got != 6 {
		t.Fatalf("ms = %d, want 6", got)
	}
	if got := ms(time.UnixMilli(5)); got != 5 {
		t.Fatalf("ms = %d, want 5", got)
	}
	if ms(time.Time{}) != 0 {
		t.Fatal("zero time is not 0")
	}
}
