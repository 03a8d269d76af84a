package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Backoff is how attempts at a guess-prone secret are slowed (NIST SP
// 800-63B §5.2.2): Free consecutive failures cost nothing; after that the
// next attempt waits Base, doubling with each further failure, at most
// Max. Failures are forgotten Window after the last one, or at a success.
// A delay slows a guesser without locking the owner out: unlike a lock,
// it ends by itself, and it is at most Max.
type Backoff struct {
	Free   int
	Base   time.Duration
	Max    time.Duration
	Window time.Duration
}

// Delay is the wait before the attempt that follows the failures-th
// consecutive failure.
func (b Backoff) Delay(failures int) time.Duration {
	if failures < b.Free {
		return 0
	}
	d := b.Base
	for i := b.Free; i < failures && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// Check reports a policy the grain would refuse.
func (b Backoff) Check() error {
	switch {
	case b.Free < 0 || b.Free > maxFree:
		return fmt.Errorf("ratelimit: free failures must be 0..%d", maxFree)
	case b.Base <= 0 || b.Max < b.Base || b.Max > maxWindow:
		return fmt.Errorf("ratelimit: delays must be positive, base at most max, max at most %s", maxWindow)
	case b.Window < b.Max || b.Window > maxWindow:
		return errors.New("ratelimit: window must be at least the max delay and at most a week")
	}
	return nil
}
