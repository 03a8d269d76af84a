// Package session is the Session grain: one per browser session (identity
// = the session id, also the ID token's "sid"). It owns the login (subject,
// auth_time, amr, acr), remembered consents, pending authorization
// requests, the one-time codes it issued and the grants those produced,
// with their refresh-token families. Its mailbox serialises every use, so
// single-use codes and refresh rotation are atomic without locks; state is
// persisted before any answer.
//
// Tokens route back here by value: a code is "sid.secret" and a refresh
// token "sid.grant.secret". The grain knows no HTTP and signs nothing.
package session
