// Package console is the admin console: server-rendered pages under
// /admin/console for operators who are users with the admin role.
//
// It is an OpenID Connect client of the node itself (authorization code
// with PKCE S256, state and nonce; the ID token verified against the
// node's own JWKS), so an admin signs in through the same login page,
// second factors and passkeys as everyone else. Its session is a cookie
// sealed under the node's KEK naming the admin's subject; every request
// reads the user record again, so a disabled, deleted or demoted admin
// is refused at their next request.
//
// It must not change anything itself: every change goes through the
// admin API's operations (http/management), which validate, audit and
// follow up (sessions ended, back-channel logout) exactly as for the
// bearer-token API. The console only adds the actor (audit.WithActor:
// the admin's subject), CSRF tokens and confirmation steps.
package console
