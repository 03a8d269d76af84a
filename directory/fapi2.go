package directory

// The FAPI 2.0 Security Profile (OpenID FAPI 2.0 Security Profile,
// final, February 2025): a client under it (its own profile, or the
// node's) must be registered so that the profile's rules can hold.
// What happens at run time (PAR, sender-constrained tokens, no refresh
// rotation) is enforced where it happens; this file is the registration
// side, used by validation and again whenever such a client
// authenticates (a node-wide profile may be switched on after a client
// was stored).

import (
	"fmt"
	"slices"
	"strings"
)

// ProfileFAPI2 is the profile value of FAPI 2.0 Security Profile.
const ProfileFAPI2 = "fapi2"

// FAPI2Algs are the JWS algorithms FAPI 2.0 allows (§5.4: PS256, ES256,
// EdDSA with Ed25519).
var FAPI2Algs = []string{"PS256", "ES256", "EdDSA"}

// FAPI2AuthMethods are the client authentication methods FAPI 2.0
// allows (§5.3.1.1: private_key_jwt or mutual TLS; only confidential
// clients).
var FAPI2AuthMethods = []string{"private_key_jwt", AuthTLSClient, AuthSelfSignedTLSClient}

// FAPI2 reports whether the client is under the FAPI 2.0 Security
// Profile.
func (m ClientMetadata) FAPI2() bool { return m.Profile == ProfileFAPI2 }

// FAPI2Problems are what in m the FAPI 2.0 Security Profile forbids
// (whatever m's own profile says).
func FAPI2Problems(m ClientMetadata) []Problem {
	var p []Problem
	add := func(field, format string, args ...any) {
		p = append(p, Problem{field, "FAPI 2.0: " + fmt.Sprintf(format, args...)})
	}
	if !slices.Contains(FAPI2AuthMethods, m.AuthMethod) {
		// §5.3.1.1: confidential clients, authenticated by
		// private_key_jwt or mutual TLS.
		add("token_endpoint_auth_method", "must be one of %s, got %q", strings.Join(FAPI2AuthMethods, ", "), clip(m.AuthMethod))
	}
	if m.RequirePKCE != nil && !*m.RequirePKCE {
		// §5.3.1.2: PKCE with S256, always.
		add("require_pkce", "PKCE cannot be turned off")
	}
	for _, f := range []struct{ field, alg string }{
		{"id_token_signed_response_alg", m.IDTokenSignedResponseAlg},
		{"token_endpoint_auth_signing_alg", m.TokenEndpointAuthSigningAlg},
		{"request_object_signing_alg", m.RequestObjectSigningAlg},
		{"userinfo_signed_response_alg", m.UserinfoSignedResponseAlg},
		{"authorization_signed_response_alg", m.AuthorizationSignedResponseAlg},
	} {
		if f.alg == "" && f.field != "id_token_signed_response_alg" {
			continue
		}
		if !slices.Contains(FAPI2Algs, f.alg) {
			// §5.4: PS256, ES256 or EdDSA, never RS256 or none. The ID
			// token's default (RS256) must be replaced explicitly.
			add(f.field, "must be one of %s, got %q", strings.Join(FAPI2Algs, ", "), clip(cmpOr(f.alg, DefaultIDTokenAlg)))
		}
	}
	return p
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
