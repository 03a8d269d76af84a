// Package token is the op-token front end: POST /token for the
// authorization_code, refresh_token and client_credentials grants
// (RFC 6749 §4.1.3, §6, §4.4). It authenticates the client, asks the
// Session grain that owns the code or refresh token to redeem or rotate
// it, and asks the Crypto pool to sign the ID token (OIDC Core §2) and the
// JWT access token (RFC 9068). It holds no state and no keys.
package token
