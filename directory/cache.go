package directory

import (
	"bytes"
	"sync"
)

// decoded keeps records decoded from the store, keyed by id together
// with the exact bytes they were decoded from: a lookup still reads the
// store (so a change made by another node or another process is seen at
// once), and decodes only when the bytes differ from the cached ones.
// It saves the JSON decoding on every client authentication and every
// userinfo, which costs more than the store read.
// decodedMax bounds each cache: the records in use at once.
const decodedMax = 8192

type decoded[T any] struct {
	mu      sync.Mutex
	entries map[string]decodedEntry[T]
	max     int
}

type decodedEntry[T any] struct {
	raw []byte
	val T
}

func newDecoded[T any](max int) *decoded[T] {
	return &decoded[T]{entries: make(map[string]decodedEntry[T]), max: max}
}

// get returns the value decoded from raw, decoding it (and keeping the
// result) when id's cached bytes are not raw. The caller gets its own copy
// through clone.
func (c *decoded[T]) get(id string, raw []byte, decode func([]byte) (T, error), clone func(T) T) (T, error) {
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return clone(e.val), nil
	}
	v, err := decode(raw)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		// Full: forget an arbitrary entry (map order is random).
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[id] = decodedEntry[T]{raw: raw, val: clone(v)}
	c.mu.Unlock()
	return v, nil
}
