package persistence

import "context"

// Owners hands out exclusive ownership of a named record set (a grain
// identity such as "Session/abc"): across a cluster at most one holder is
// live at a time. A holder's writes go through Owned.Store, which refuses
// them with ErrFenced once the ownership is lost (its node's lease ran out
// or was revoked), so a stale activation can never overwrite the live one.
type Owners interface {
	// Acquire takes ownership of name, waiting (bounded by ctx) while a
	// live holder on another node still has it.
	Acquire(ctx context.Context, name string) (Owned, error)
}

// Owned is one held ownership.
type Owned interface {
	// Store is the backend whose writes are conditional on still owning.
	Store() Backend
	// Valid reports whether the ownership is still held as far as this
	// node knows (its lease is fresh). A grain checks it before serving
	// and stops when it turns false.
	Valid() bool
	// Release gives the ownership up (best effort; it lapses with the
	// node's lease anyway).
	Release(ctx context.Context) error
}

// LocalOwners is ownership on one node: the store's own lock (bbolt's
// file lock) already keeps other processes out, and one node activates a
// grain once, so every Acquire succeeds and writes go straight through.
func LocalOwners(b Backend) Owners { return localOwners{b} }

type localOwners struct{ b Backend }

func (l localOwners) Acquire(context.Context, string) (Owned, error) { return localOwned(l), nil }

type localOwned struct{ b Backend }

func (l localOwned) Store() Backend                { return l.b }
func (l localOwned) Valid() bool                   { return true }
func (l localOwned) Release(context.Context) error { return nil }
