// Package crypto is the node-local pool of Crypto actors (the seed's
// crypto-service with its key cache). A Cache holds the unwrapped keys of
// the current key set, refreshed by KeyManager pushes (KeySetChanged) and,
// as a fallback, by a periodic pull; the pool's actors sign, verify,
// encrypt and decrypt with it.
//
// Front ends talk to the pool through messages and never see a private
// key. This package must not persist anything or decide key lifecycles:
// that is the KeyManager's job.
package crypto
