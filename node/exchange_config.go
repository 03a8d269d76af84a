package node

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"authrim/directory"
	"authrim/http/token"
)

// TokenExchangeConfig is the token exchange grant's node-wide part (RFC
// 8693): the issuers whose JWTs clients may exchange. What each client
// may exchange is its own token_exchange policy (directory).
type TokenExchangeConfig struct {
	// TrustedIssuers are the issuers of JWTs accepted as subject or
	// actor tokens of type urn:ietf:params:oauth:token-type:jwt.
	TrustedIssuers []TrustedIssuerConfig `yaml:"trusted_issuers"`
}

// TrustedIssuerConfig is one issuer whose JWTs the node trusts.
type TrustedIssuerConfig struct {
	// Issuer is the iss the JWTs must carry.
	Issuer string `yaml:"issuer"`
	// JWKSURI is where its keys are published (https), fetched through
	// the guard of requests.fetch and cached as its Cache-Control says.
	JWKSURI string `yaml:"jwks_uri"`
	// Algorithms accepted (JWS); the rest is refused.
	Algorithms []string `yaml:"algorithms"`
	// Audience the JWTs must name in aud (one of its values).
	Audience string `yaml:"audience"`
}

// exchangeAlgs are the JWS algorithms a trusted issuer may use.
var exchangeAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (c Config) exchangeProblems(add func(key, format string, args ...any)) {
	for i, ti := range c.TokenExchange.TrustedIssuers {
		key := fmt.Sprintf("token_exchange.trusted_issuers[%d]", i)
		if ti.Issuer == "" {
			add(key+".issuer", "must be given")
		} else if ti.Issuer == c.Issuer {
			add(key+".issuer", "is this server: its own tokens are exchanged as access_token or id_token")
		}
		for _, o := range c.TokenExchange.TrustedIssuers[:i] {
			if o.Issuer == ti.Issuer && ti.Issuer != "" {
				add(key+".issuer", "%q is listed twice", ti.Issuer)
			}
		}
		if u, err := url.Parse(ti.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			add(key+".jwks_uri", "must be an absolute https URL, got %q", ti.JWKSURI)
		}
		if len(ti.Algorithms) == 0 {
			add(key+".algorithms", "must not be empty (one or more of %s)", strings.Join(exchangeAlgs, ", "))
		}
		for _, a := range ti.Algorithms {
			if !slices.Contains(exchangeAlgs, a) {
				add(key+".algorithms", "%q is not one of %s", a, strings.Join(exchangeAlgs, ", "))
			}
		}
		if ti.Audience == "" {
			add(key+".audience", "must be given (the aud its JWTs carry for this server)")
		} else if msg := directory.AudienceProblem(ti.Audience); msg != "" {
			add(key+".audience", "%s", msg)
		}
	}
}

// trustedIssuers is the token endpoint's view of the config.
func (c Config) trustedIssuers() []token.TrustedIssuer {
	out := make([]token.TrustedIssuer, 0, len(c.TokenExchange.TrustedIssuers))
	for _, ti := range c.TokenExchange.TrustedIssuers {
		out = append(out, token.TrustedIssuer{Issuer: ti.Issuer, JWKSURI: ti.JWKSURI, Algorithms: slices.Clone(ti.Algorithms), Audience: ti.Audience})
	}
	return out
}
