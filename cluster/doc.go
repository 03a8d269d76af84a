// Package cluster runs the node's actor system and gives front ends typed
// clients for the actors (KeyManager, Crypto, Session, RateLimiter). A
// member of a node set joins a protoactor cluster over mutual TLS, with
// our own membership (static peers, heartbeats) and identity lookup
// (rendezvous placement). A node alone runs the same grains through the
// same lookup with no actor transport at all: nothing listens, so no
// local process can message its actors.
//
// It is the one place where a context deadline becomes an actor request
// timeout. It must not hold protocol logic or touch storage.
package cluster
