// Package oauth2 turns domain errors into HTTP error responses, through
// one table: the OAuth 2.0 error body (RFC 6749 §5.2) for protocol
// endpoints and the admin API alike, always with Cache-Control: no-store.
// Causes go to the log, never into the body.
package oauth2
