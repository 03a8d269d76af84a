package node

// The node-wide FAPI 2.0 Security Profile (profile: fapi2): what the
// node's own settings must be for every client to be held to it. The
// per-client rules are directory.FAPI2Problems and the checks at the
// endpoints (docs/REQUESTS.md "FAPI 2.0").

import (
	"slices"
	"strings"
	"time"

	"authrim/directory"
)

func (c Config) profileProblems(add func(key, format string, args ...any)) {
	switch c.Profile {
	case "":
		return
	case directory.ProfileFAPI2:
	default:
		add("profile", "must be empty or %s, got %q", directory.ProfileFAPI2, c.Profile)
		return
	}
	if !slices.Contains(directory.FAPI2Algs, c.Tokens.AccessTokenAlg) {
		// FAPI 2.0 §5.4: the access tokens the node signs too.
		add("tokens.access_token_alg", "must be one of %s under profile fapi2, got %q", strings.Join(directory.FAPI2Algs, ", "), c.Tokens.AccessTokenAlg)
	}
	if c.Requests.PushedTTL >= Duration(10*time.Minute) {
		// FAPI 2.0 §5.3.1.2: request_uri expires_in under 600 seconds.
		add("requests.pushed_request_ttl", "must be under 600s under profile fapi2, got %s", c.Requests.PushedTTL.D())
	}
}
