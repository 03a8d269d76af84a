// Package bbolt is the single-node storage engine: it implements
// persistence.Backend on one bbolt file (authrim.db) so that a self-hosted
// provider needs no external database.
//
// Why it looks the way it does:
//   - One file, one process. bbolt takes an exclusive file lock; Open waits
//     at most Options.Timeout for it and then fails, so a second process
//     started on the same directory reports the problem instead of hanging.
//   - Writes go through bolt's Batch: concurrent writers share one
//     transaction and one fsync (group commit), which is what keeps write
//     throughput up under load while every acknowledged write stays durable.
//     The price is that a transaction function can run more than once, so
//     the functions given to Update must be pure.
//   - Values are copied out of bolt's memory map before they leave the
//     package: the map is read-only and is reused once the transaction ends.
//   - persistence/schema.go is the map of what is stored: Open creates
//     exactly the buckets declared there, and every call refuses any other
//     bucket (persistence.ErrUnknownBucket), so a bucket used but not
//     declared fails its first test.
//
// What it must not do: know about HTTP, actors, OIDC or the shape of the
// values (they are opaque bytes; the typed stores in package persistence
// encode them); panic on I/O errors or bad input; put keys in error
// messages (keys can be secrets such as authorization codes, and errors end
// up in logs); hold a bolt transaction open while calling back into the
// caller (List pages its results so callbacks may use the store).
//
// It must keep passing persistence/conformance, the suite shared by all
// backends.
package bbolt
