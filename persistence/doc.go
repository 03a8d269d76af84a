// Package persistence declares what the actors may ask of storage: a small
// key-value contract (Backend) that every storage engine implements, the
// typed stores built on it (keys today; sessions, users and clients later),
// and the sentinel errors shared by all backends.
//
// Backends (persistence/bbolt, later persistence/etcd) must pass the shared
// suite in persistence/conformance. Nothing here knows about HTTP or actors,
// and nothing here decides protocol errors: callers map these errors.
package persistence
