// Package totp computes and checks time-based one-time passwords
// (RFC 6238, built on HOTP, RFC 4226) as authenticator apps make them:
// HMAC-SHA1, 6 digits, 30-second steps. It holds no state and stores
// nothing: which step a user last used (so a code works once) is the
// caller's to keep, and secrets are the caller's to seal.
package totp
