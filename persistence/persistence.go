package persistence

import (
	"context"
	"errors"
)

// Sentinel errors. Compare with errors.Is; backends wrap them with %w.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("persistence: not found")
	// ErrConflict: a create found the key already present, or a conditional
	// write lost a race it could not retry.
	ErrConflict = errors.New("persistence: conflict")
	// ErrFenced: the writer no longer owns the record (a stale grain
	// activation in a cluster); the caller must stop, not retry.
	ErrFenced = errors.New("persistence: fenced")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("persistence: closed")
	// ErrUnknownBucket: the bucket is not declared in schema.go. It is a
	// caller bug, never an answer about the data, and nothing is written.
	ErrUnknownBucket = errors.New("persistence: unknown bucket")
	// ErrSchemaTooNew: the store was written by a newer binary (its schema
	// version is above SchemaVersion); this one must not touch it.
	ErrSchemaTooNew = errors.New("persistence: store schema is newer than this binary")
)

// Backend is the contract every storage engine implements. Keys live in
// buckets declared in schema.go (any other bucket is refused with
// ErrUnknownBucket); values are opaque bytes (the typed stores encode
// them).
// Every write is durable when the call returns: an acknowledged write
// survives a crash of the process.
type Backend interface {
	// Get returns the value stored under bucket/key, or ErrNotFound.
	Get(ctx context.Context, bucket Bucket, key string) ([]byte, error)
	// Create stores value under bucket/key if the key is absent, else
	// returns ErrConflict and changes nothing.
	Create(ctx context.Context, bucket Bucket, key string, value []byte) error
	// Put stores value under bucket/key, replacing what was there.
	Put(ctx context.Context, bucket Bucket, key string, value []byte) error
	// Delete removes bucket/key, or returns ErrNotFound.
	Delete(ctx context.Context, bucket Bucket, key string) error
	// Update is an atomic read-modify-write: fn receives the current value
	// (nil and exists=false when absent) and returns the value to store.
	// Returning a nil slice deletes the key. An error from fn aborts and
	// changes nothing; it is returned as is (wrapped at most). fn may be
	// called more than once (retries under contention), so it must not
	// have side effects.
	Update(ctx context.Context, bucket Bucket, key string, fn func(old []byte, exists bool) ([]byte, error)) error
	// List calls fn for each key in bucket that starts with prefix, in key
	// order. The value slice is only valid during the call.
	List(ctx context.Context, bucket Bucket, prefix string, fn func(key string, value []byte) error) error
	// Ping reports whether the backend can serve requests.
	Ping(ctx context.Context) error
	// Close releases the backend. Later calls return ErrClosed.
	Close() error
}
