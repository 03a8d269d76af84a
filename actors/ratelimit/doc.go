// Package ratelimit is the RateLimiter grain: one grain per limited key
// (identity = the key), for example "ip:203.0.113.7:strict",
// "client:rp:moderate" or "lockout:alice".
//
// A key is either a request budget or a sign-in lockout (one grain can
// serve both message sets, but callers keep them apart by key prefix):
//
//   - RateLimitTake takes one request from a token bucket that holds
//     `limit` requests and refills evenly over `window` (implemented as
//     GCRA: a single "theoretical arrival time" per key). A burst of
//     `limit` is allowed; after that one request per window/limit. A
//     refusal says how long until the next request would be allowed.
//   - RecordFailure counts sign-in attempts in a sliding window; the
//     threshold-th attempt within the window locks the key for the lock
//     duration. The sign-in page sends it before checking the password
//     and checks it only when the reply says the key was not locked
//     already (was_locked): one message both counts and decides, so
//     parallel guesses cannot all slip past a separate check. CheckLock
//     reads the lock, ResetLock forgets attempts and lock (a successful
//     sign-in, or an operator's unlock).
//
// Because a grain is activated once in the whole cluster, every node that
// asks about a key asks the same grain: limits and lockouts hold
// cluster-wide, not per node.
//
// State lives in memory only. Limits and lockouts do not survive a restart
// of the member that hosts the grain (nor a grain moving to another member
// when membership changes): that resets a bucket to full and forgets a
// lock, which is acceptable for throttling. An idle grain passivates once
// its state has decayed back to nothing (bucket full, no recent failure,
// no lock) and at the earliest one window after its last message, so
// memory follows the keys in active use and passivating loses nothing.
//
// The clock is injectable (Config.Now) so tests can move time.
package ratelimit
