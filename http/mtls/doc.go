// Package mtls is OAuth 2.0 Mutual-TLS (RFC 8705) below the endpoints:
// where a request's client certificate comes from (the node's own TLS
// handshake, or a header set by a trusted reverse proxy), its
// thumbprint for certificate-bound tokens (cnf x5t#S256), and the
// matching rules of tls_client_auth (chain to a configured CA, then one
// registered subject DN or SAN) and self_signed_tls_client_auth (the
// public key is one of the client's registered keys).
//
// It must not decide who a client is by itself, nor trust a header from
// anyone but a listed proxy: Source is the one place that reads a
// certificate off a request.
package mtls
