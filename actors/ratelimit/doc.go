// Package ratelimit is the RateLimiter grain: one grain per limited key
// (identity = the key), for example "ip:203.0.113.7:moderate:/token",
// "client:rp:moderate:/token", "signin:alice" or
// "admin-token:203.0.113.7".
//
// A key is either a request budget or the attempts at a secret (one grain
// can serve both message sets, but callers keep them apart by key
// prefix):
//
//   - RateLimitTake takes one request from a token bucket that holds
//     `limit` requests and refills evenly over `window` (implemented as
//     GCRA: a single "theoretical arrival time" per key). A burst of
//     `limit` is allowed; after that one request per window/limit. A
//     refusal says how long until the next request would be allowed.
//   - Attempt asks for one attempt at a password or token and counts it
//     as a failure at once (see Backoff): past the free failures each
//     next attempt must wait, the wait doubling up to a cap. The caller
//     sends it before checking the secret and checks only when it was
//     allowed: one message both counts and decides, so parallel guesses
//     cannot all slip past a separate check. AttemptSucceeded forgets the
//     failures. A delay ends by itself: nobody can lock an account out.
//
// Because a grain is activated once in the whole cluster, every node that
// asks about a key asks the same grain: limits and delays hold
// cluster-wide, not per node.
//
// State lives in memory only. Limits and delays do not survive a restart
// of the member that hosts the grain (nor a grain moving to another member
// when membership changes): that resets a bucket to full and forgets
// failures, which is acceptable for throttling. An idle grain passivates
// once its state has decayed back to nothing (bucket full, failures
// forgotten) and at the earliest one window after its last message, so
// memory follows the keys in active use and passivating loses nothing.
//
// The clock is injectable (Config.Now) so tests can move time.
package ratelimit
