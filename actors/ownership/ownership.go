// Package ownership is how a grain makes sure it is the one live
// activation of its identity before it loads or writes state: it takes
// the identity's ownership (persistence.Owners) on first use, writes only
// through the fenced store that ownership gives, and stops as soon as the
// ownership is lost.
package ownership

import (
	"context"
	"errors"
	"fmt"
	"time"

	"authrim/actors/messages"
	"authrim/persistence"
)

// acquireTimeout bounds the wait for a previous holder to let go.
const acquireTimeout = 3 * time.Second

// ErrLost: the grain does not (or no longer) own its identity; it must
// answer GrainUnavailable and stop.
var ErrLost = errors.New("ownership: lost")

// Holder is one grain's ownership of its identity.
type Holder struct {
	owners persistence.Owners
	name   string
	owned  persistence.Owned
}

// New returns the holder of kind/identity; owners nil means one node
// (persistence.LocalOwners of store).
func New(owners persistence.Owners, store persistence.Backend, kind, identity string) *Holder {
	if owners == nil {
		owners = persistence.LocalOwners(store)
	}
	return &Holder{owners: owners, name: kind + "/" + identity}
}

// Store returns the store to read and write this grain's state with,
// taking the ownership first if the grain does not hold it yet. It fails
// with ErrLost when the ownership cannot be taken or was lost.
func (h *Holder) Store(ctx context.Context) (persistence.Backend, error) {
	if h.owned != nil {
		if !h.owned.Valid() {
			return nil, fmt.Errorf("%w: %s: this node's lease lapsed", ErrLost, h.name)
		}
		return h.owned.Store(), nil
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), acquireTimeout)
	defer cancel()
	o, err := h.owners.Acquire(actx, h.name)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLost, h.name, err)
	}
	h.owned = o
	return o.Store(), nil
}

// Fenced reports whether err means the grain must stop (its write was
// refused because another activation owns the identity now).
func Fenced(err error) bool {
	return errors.Is(err, ErrLost) || errors.Is(err, persistence.ErrFenced)
}

// Release gives the ownership up (the grain is stopping).
func (h *Holder) Release() {
	if h.owned == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = h.owned.Release(ctx)
	h.owned = nil
}

// Unavailable is the answer of a grain that cannot serve here: the caller
// looks the grain up again and retries.
func Unavailable(err error) *messages.GrainUnavailable {
	return &messages.GrainUnavailable{Reason: err.Error()}
}
