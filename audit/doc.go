// Package audit keeps security events as data: stored durably, ordered,
// queryable by time, type, user and client, and pruned after a
// retention.
//
// The events are the node's audit log lines. Code that changes state or
// refuses an attacker logs with "audit", true (see the call sites); the
// Log's slog handler captures each such record, whatever the log level,
// and a writer goroutine stores it in the audit bucket. One mechanism,
// so nothing audited is left out of the stored log and no call site
// says the same thing twice.
//
// An event's type is its message as a slug ("passkey registered" →
// passkey_registered) unless the record carries an explicit "event"
// attribute; "sub", "client_id" and "client_ip" become the event's
// user, client and address, the other attributes its details.
//
// Order: an event's key is its time (nanoseconds, UTC, made strictly
// increasing per member), then the member's name, then a per-member
// sequence. Keys sort in that order, so the bucket read in key order is
// one log merged from every member of a cluster, and a key is a cursor:
// "the events after this one".
package audit
