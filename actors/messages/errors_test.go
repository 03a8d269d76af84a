package messages

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestErrorOfRoundTrips: an actor's error crosses the wire as a code and
// comes back matching the same sentinel; a deadline is unavailable (the
// caller may retry), anything unknown internal.
func TestErrorOfRoundTrips(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("%w: no such session", ErrNotFound), ErrNotFound},
		{fmt.Errorf("%w: too wide", ErrInvalidScope), ErrInvalidScope},
		{fmt.Errorf("%w: bad alg", ErrInvalid), ErrInvalid},
		{fmt.Errorf("etcd: %w", context.DeadlineExceeded), ErrUnavailable},
		{ErrUnavailable, ErrUnavailable},
		{errors.New("boom"), ErrInternal},
	} {
		got := ErrorOf(tt.err).Err()
		if !errors.Is(got, tt.want) {
			t.Errorf("%v came back as %v, want %v", tt.err, got, tt.want)
		}
	}
	if ErrorOf(nil) != nil {
		t.Error("nil error made an Error field")
	}
	if !errors.Is(ErrorOf(ErrInvalidScope).Err(), ErrInvalid) {
		t.Error("invalid_scope is no longer a kind of invalid")
	}
}
