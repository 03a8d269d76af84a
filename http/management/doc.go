// Package management is the op-management front end: the admin API for
// operators (keys, users, clients), guarded by a bearer token compared in
// constant time, and token revocation (RFC 7009) and introspection
// (RFC 7662) for clients, and dynamic client registration (RFC 7591,
// RFC 7592) guarded by initial access tokens. Key calls are messages to the KeyManager; token
// calls ask the Session grain that owns the grant. This package holds no
// state and never sees private keys or stored secrets.
package management
