// Package oauth2 holds what every protocol front end shares: the one table
// that turns domain errors into OAuth 2.0 error responses (RFC 6749 §5.2,
// always Cache-Control: no-store; causes go to the log, never the body),
// and the OpenID Connect claim rules (scopes to claims, the "claims"
// request parameter).
package oauth2
