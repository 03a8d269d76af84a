// Package eventually is the tests' one way to wait for something: poll a
// condition until it holds. The deadline only ends a run that is broken;
// it is generous on purpose, so that a slow or busy machine never fails a
// test that would pass on a fast one. Speed is measured in benchmarks,
// never asserted here.
package eventually

import (
	"testing"
	"time"
)

// Deadline is how long True and OK wait before failing the test.
const Deadline = 30 * time.Second

// poll is the pause between two looks at the condition.
const poll = 10 * time.Millisecond

// OK polls f until it returns nil and returns how long that took; the
// test fails with f's last error after d (Deadline when d is 0).
func OK(t testing.TB, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	if d <= 0 {
		d = Deadline
	}
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not after %s: %v", what, d, err)
		}
		time.Sleep(poll)
	}
}

// True polls cond until it holds (within Deadline).
func True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	OK(t, 0, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

type notYet struct{}

func (notYet) Error() string { return "condition not met" }

var errNotYet error = notYet{}
