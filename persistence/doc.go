// Package persistence declares what the actors and the directory may ask
// of storage: a small key-value contract (Backend: buckets of opaque
// values, with an atomic read-modify-write Update) that every storage
// engine implements, fenced grain ownership (Owners), and the sentinel
// errors shared by all backends. The values' encodings belong to their
// owners (grain states are protobuf from actors/messages, directory
// records JSON).
//
// schema.go is the map of what is stored: every bucket is declared there
// once (name, owning package, key, value encoding, meaning) as a typed
// Bucket constant that its users reference, and backends refuse any
// other bucket (ErrUnknownBucket). It also holds the schema version and
// the ordered migrations that Migrate (migrate.go) runs when a node
// starts, before anything else reads the store, so that a release can
// change stored shapes without breaking stores written by earlier ones.
//
// Backends (persistence/bbolt, persistence/etcd) must pass the shared
// suite in persistence/conformance. Nothing here knows about HTTP or actors,
// and nothing here decides protocol errors: callers map these errors.
package persistence
