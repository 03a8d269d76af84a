package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"authrim/persistence"
)

// Bucket is the outbox (declared in persistence/schema.go).
const Bucket = persistence.BucketOutbox

// Message is one thing to deliver. Its id is stable across attempts (and
// across the grain's moves between members): receivers deduplicate on it.
type Message struct {
	ID string `json:"id"`
	// Kind names the Handler that delivers it.
	Kind string `json:"kind"`
	// Target says where it goes (a client id, an address), for logs.
	Target string `json:"target,omitempty"`
	// Payload is the kind's own description of the message.
	Payload   json.RawMessage `json:"payload"`
	CreatedMs int64           `json:"created_ms"`
	Attempts  int             `json:"attempts,omitempty"`
	// NextMs is when the next attempt is due.
	NextMs    int64  `json:"next_ms"`
	LastError string `json:"last_error,omitempty"`
}

// Handler makes one delivery attempt of its kind's messages. nil means
// delivered; an error wrapped by Permanent gives up at once (the
// receiver refused the message, or it can no longer be built: a deleted
// client); any other error is retried.
type Handler interface {
	Deliver(ctx context.Context, m *Message) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, m *Message) error

// Deliver calls f.
func (f HandlerFunc) Deliver(ctx context.Context, m *Message) error { return f(ctx, m) }

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanent{err} }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}

// Enqueue writes messages to the outbox. A message whose id is already
// there is the same message (a retried call recording it again) and is
// left as it is, attempts and all.
func Enqueue(ctx context.Context, store persistence.Backend, msgs ...*Message) error {
	for _, m := range msgs {
		if m.ID == "" || m.Kind == "" {
			return fmt.Errorf("delivery: message without id or kind")
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if err := store.Create(ctx, Bucket, m.ID, b); err != nil && !errors.Is(err, persistence.ErrConflict) {
			return fmt.Errorf("delivery: enqueue: %w", err)
		}
	}
	return nil
}

// Retry is the retry policy.
type Retry struct {
	// Initial is the wait after the first failure; it doubles after each
	// further one, up to Max, with ±20% jitter.
	Initial time.Duration
	Max     time.Duration
	// GiveUpAfter bounds the time from a message's creation to its last
	// attempt.
	GiveUpAfter time.Duration
}

// withDefaults fills what is unset.
func (r Retry) withDefaults() Retry {
	if r.Initial <= 0 {
		r.Initial = 2 * time.Second
	}
	if r.Max <= 0 {
		r.Max = 10 * time.Minute
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.GiveUpAfter <= 0 {
		r.GiveUpAfter = 24 * time.Hour
	}
	return r
}

// Backoff is the wait before attempt number failures+1 (failures >= 1).
func (r Retry) Backoff(failures int) time.Duration {
	d := r.Initial
	for i := 1; i < failures && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	// Jitter: members' and receivers' retries do not line up.
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(j, r.Max)
}
