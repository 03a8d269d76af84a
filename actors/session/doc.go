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
//
// Files by flow: grain.go (lifecycle: activation, ownership, load, the
// call loop, persist), state.go (expiry rules, copy-on-write, the op a
// call runs), browser.go (sign-in pages: pending requests, login,
// consent, codes, logout), grants.go (redemption, refresh rotation,
// check, revoke), ceremonies.go (WebAuthn challenges), tokens.go (the
// formats of ids, cookies and tokens), seed.go and sweep.go (tools).
package session
