// Package dpop checks DPoP proofs (RFC 9449): a JWT the client signs
// with a key it holds, sent in the DPoP header with each request, so an
// access or refresh token bound to that key (its JWK SHA-256 thumbprint,
// cnf.jkt) is useless to whoever copies it without the key.
//
// It parses and verifies a proof (typ, alg, embedded public jwk,
// signature), then checks it against the request (htm, htu normalised
// per RFC 9449 §4.3 and built from the issuer, never from Host headers),
// its age (iat within the proof lifetime), ath at resources, and records
// its jti so a proof is used once, cluster-wide (through the store).
//
// It does not decide what a proof is for: the token endpoint binds tokens
// to Proof.JKT, resources compare it with the token's cnf.jkt. It turns
// no error into an HTTP answer: callers map ErrInvalidProof (and
// ErrUseNonce) to invalid_dpop_proof (use_dpop_nonce) through http/oauth2.
package dpop
