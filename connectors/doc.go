// Package connectors signs users in with identities they already have
// elsewhere: an upstream OpenID Provider (oidc, and the google preset),
// GitHub (OAuth 2.0 and its REST API), and, through the Password
// interface, directories such as LDAP. Each connector turns an upstream
// sign-in into an Identity; what to do with it (find the linked local
// user, create one, ask to link) is the auth front end's business.
//
// Every URL a connector calls goes through the SSRF-safe fetcher
// (http/fetch): upstream endpoints come from configuration and from
// discovery documents, and neither may make the node probe its own
// network unless the operator allows private addresses.
//
// It must not store anything, nor decide who may sign in beyond the
// connector's own rules (allowed domains, required claims, GitHub
// organisations).
package connectors
