// Package webhooks sends audit events to the operator's systems: signed
// HTTP POSTs per the Standard Webhooks specification, at least once,
// through the durable outbox (actors/delivery, the mechanism back-channel
// logout uses) and the SSRF-safe fetcher.
//
// A Subscription names a URL, the event types it wants (a type, a prefix
// ending in *, or * for all) and a signing secret (whsec_..., shown once
// at creation or rotation, stored sealed under the KEK). When the audit
// log stores an event, Dispatch writes one outbox message per enabled
// subscription that wants it; the message's id is stable (subscription
// and event), is sent as webhook-id, and is what receivers deduplicate
// on. The Delivery grain makes the attempts through Handler, retrying
// with the outbox's capped exponential backoff. Each attempt is recorded
// (the last 50 per subscription); disable_after failed attempts in a
// row disable the subscription (audited), and its waiting messages are
// dropped. A successful attempt resets the count.
//
// Signature (Standard Webhooks): webhook-signature is "v1," followed by
// base64(HMAC-SHA256(secret, webhook-id "." webhook-timestamp "." body)),
// where secret is the bytes after whsec_ base64-decoded and
// webhook-timestamp is the attempt's Unix time in seconds.
package webhooks
