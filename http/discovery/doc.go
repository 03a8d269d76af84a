// Package discovery is the op-discovery front end: the OpenID Provider
// metadata document (OpenID Connect Discovery 1.0 §3), its OAuth 2.0
// Authorization Server view (RFC 8414: the same source, less what only
// OpenID Connect defines) and the JWKS (RFC 7517), all served from
// precomputed bytes.
//
// The metadata lists only what the OP actually supports; it grows as
// capabilities land. This package must not sign or hold private keys: the
// JWKS comes from the node's key cache, which holds public halves ready.
package discovery
