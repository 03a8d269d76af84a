// Package email sends the node's mails (password reset and address
// verification links) as the "email" kind of the durable outbox
// (actors/delivery): Enqueue seals a Mail under the KEK into an outbox
// message, and Handler renders it (text and HTML, multipart/alternative,
// in the language the Mail records) and submits it over SMTP when the
// Delivery grain attempts it. A temporary refusal (4xx, a dropped
// connection) is retried by the grain; a permanent one (5xx) is given up.
//
// What it must not do: send outside the outbox (a mail for a committed
// change would be lost with its member), keep a link in clear in the
// store (the outbox holds sealed payloads only), or send credentials
// unencrypted to anything but a loopback host (Config.Problems).
package email
