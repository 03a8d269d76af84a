// Package keymanager is the KeyManager grain: the one owner of the OP's
// signing keys (the seed's KeyManager Durable Object). It keeps the key set
// as its state, runs each key through next -> active -> retiring -> removed
// (or revoked), persists every change before it answers, and pushes the new
// set to every node's Crypto key cache.
//
// Private keys leave this package only sealed under the key-encryption key
// (KEK): in the store, and in the pushes. It must not know HTTP, and it
// must not sign anything itself: that is the Crypto actors' work.
package keymanager
