// Package directory holds who may sign in and who may ask for tokens: the
// OP's users (subject, username, argon2id password hash, OIDC standard
// claims) and its clients (relying parties: redirect URIs, authentication
// method, grant types), and users' passkeys (WebAuthn credentials with
// their sign counters and clone flags; a credential id belongs to one user
// only). Records are JSON values in a persistence.Backend;
// static clients from config.yaml are kept in memory next to them.
//
// Why it exists: every front end that authenticates someone (the login
// page, the token endpoint, the admin API) needs the same rules, applied in
// one place: username uniqueness that holds under concurrent creates (the
// usernames index is claimed with Backend.Create before the user record is
// written), password verification that takes the same time whether or not
// the username exists, client registration rules (RFC 6749, RFC 7591,
// RFC 8252, RFC 9700) and single use of private_key_jwt assertion ids
// (RFC 7523 §3).
//
// What it must not do: store or log a password or a client secret in
// clear, nor put one (or a hash of one) into an error message; import
// node, HTTP or actor packages (node imports this package, and protocol
// errors are mapped by the callers through the sentinels below); panic on
// bad input; trust the stored argon2 parameters blindly (they are bounded
// when read back).
package directory
