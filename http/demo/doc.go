// Package demo is a tiny relying party served by the node itself at
// /demo, for a newcomer's first sign-in (`authrim serve --demo`, `make
// demo`): a page with a sign-in button that runs a real authorization
// code flow with PKCE against the node's own public endpoints, then shows
// the verified ID token's claims and the userinfo answer.
//
// It is a client like any other: it discovers the node through its
// issuer URL, exchanges the code at /token over HTTP with its client
// secret, verifies the ID token with go-oidc (signature against the JWKS,
// issuer, audience, expiry, nonce) and calls /userinfo. It reaches into
// nothing of the node, so what it shows is what an application would get.
//
// It must never be mounted outside demo mode: node mounts it only with
// Options.Demo, which refuses any address but loopback. Its state (the
// sign-ins in progress and their results) is in memory, bounded, and
// lost on restart. It logs no code, token or secret.
package demo
