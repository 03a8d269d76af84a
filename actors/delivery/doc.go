// Package delivery is the durable outbox and the Delivery grain that
// empties it: the one mechanism through which the node tells the
// outside world of something (back-channel logout tokens today; emails
// and webhooks are meant to be further kinds).
//
// Whoever has something to deliver writes a Message to the outbox bucket
// (Enqueue, in the same step as the change it reports, before that
// change is stored) and kicks the grain. The grain (kind Delivery,
// identity default: one owner in the cluster, fenced through its
// ownership like the KeyManager) loads the outbox, makes each attempt
// through the Handler registered for the message's kind, and then
// deletes the message (delivered, or given up) or stores its next
// attempt time (retried with capped exponential backoff until
// Retry.GiveUpAfter). Every member pokes the grain periodically, so when
// the owner's member dies the grain comes back on another member and
// picks up where the store says: a message is never lost, and one that
// was delivered (2xx) was deleted before anything else happened to it.
// The one window left is a member dying between a 2xx and the delete:
// the message is sent again with the same id, which receivers use to
// deduplicate (a logout token's jti).
package delivery
