// Package memo keeps the results of pure functions of a byte string (a
// parsed key set, a parsed key) so that hot paths do not parse the same
// bytes on every request.
package memo

import "sync"

// Bounded maps an input string to what a pure function made of it. It
// holds at most max entries: when full it starts over, which keeps the
// memory bounded however many distinct inputs arrive (a client that
// rotates its keys often) without bookkeeping on the hit path.
// Errors are not kept. The zero value is not usable; use New.
type Bounded[V any] struct {
	mu  sync.RWMutex
	m   map[string]V
	max int
}

// New returns a memo of at most max entries.
func New[V any](max int) *Bounded[V] {
	return &Bounded[V]{m: map[string]V{}, max: max}
}

// Get returns make(key)'s value, from memory when key was seen before.
// make must be a pure function of key, and its value must not be changed
// by callers: it is shared.
func (b *Bounded[V]) Get(key string, make func() (V, error)) (V, error) {
	b.mu.RLock()
	v, ok := b.m[key]
	b.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := make()
	if err != nil {
		return v, err
	}
	b.mu.Lock()
	if len(b.m) >= b.max {
		clear(b.m)
	}
	b.m[key] = v
	b.mu.Unlock()
	return v, nil
}

// Len is the number of entries held.
func (b *Bounded[V]) Len() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.m)
}
