// Package auth is the op-auth front end: /authorize (RFC 6749 §4.1, OIDC
// Core §3.1.2), the sign-in and consent pages, and RP-initiated logout
// (OpenID Connect RP-Initiated Logout 1.0). Pages are server-rendered
// (html/template, assets embedded), work without JavaScript, and every
// form carries a CSRF token bound to the session cookie.
//
// With WithRequests it also takes request objects (OIDC Core §6, RFC 9101)
// by value, by registered https request_uri and pushed to /par (RFC 9126);
// signatures are checked and objects decrypted by the Crypto pool, pushed
// requests and used jtis are kept by the directory.
//
// The browser session lives in its Session grain; this package keeps no
// state, and it never sees a private key: id_token_hint is checked by the
// Crypto pool.
package auth
