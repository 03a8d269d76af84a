package directory

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// GrantTypeTokenExchange is the token exchange grant (RFC 8693 §2.1).
const GrantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token type identifiers (RFC 8693 §3).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
)

// ExchangeSubjectTypes are the subject token types the node exchanges:
// its own access and ID tokens, and JWTs of trusted issuers. Refresh
// tokens are not among them: one is bound to the client it was issued
// to (RFC 9700 §4.14), which redeems it at the refresh_token grant.
var ExchangeSubjectTypes = []string{TokenTypeAccessToken, TokenTypeIDToken, TokenTypeJWT}

// Limits of an exchange policy, so a record stays small.
const (
	maxExchangeEntries = 64
	maxExchangeEntry   = 512
)

// TokenExchangePolicy is what a client may do at the token exchange
// grant (RFC 8693): which subject tokens it may present, for which
// audiences (audience or resource) and scopes it may get a token, and
// whether it may impersonate (no actor_token). It is an operator's
// decision: set through config.yaml, the admin API or the CLI, never
// through /register.
type TokenExchangePolicy struct {
	// SubjectTokenTypes are the subject_token_type values accepted
	// (ExchangeSubjectTypes).
	SubjectTokenTypes []string `json:"subject_token_types" yaml:"subject_token_types"`
	// Audiences the issued token may be for (the audience or resource
	// parameter); the first is used when the request names none.
	Audiences []string `json:"audiences" yaml:"audiences"`
	// Scopes the issued token may carry (never more than the subject
	// token's own).
	Scopes []string `json:"scopes,omitempty" yaml:"scopes"`
	// AllowImpersonation lets the client exchange without an
	// actor_token: the issued token then speaks for the subject alone
	// (RFC 8693 §1.1). Otherwise an actor_token is required and the
	// token carries act (delegation).
	AllowImpersonation bool `json:"allow_impersonation,omitempty" yaml:"allow_impersonation"`
}

// IsZero reports whether p is no policy at all (the client does not
// exchange tokens).
func (p TokenExchangePolicy) IsZero() bool {
	return len(p.SubjectTokenTypes) == 0 && len(p.Audiences) == 0 && len(p.Scopes) == 0 && !p.AllowImpersonation
}

func (p TokenExchangePolicy) clone() TokenExchangePolicy {
	p.SubjectTokenTypes = slices.Clone(p.SubjectTokenTypes)
	p.Audiences = slices.Clone(p.Audiences)
	p.Scopes = slices.Clone(p.Scopes)
	return p
}

// exchangeProblems checks the token exchange policy against the grant
// types: a policy without the grant, or the grant without a policy, is a
// mistake the operator should hear of.
func (m ClientMetadata) exchangeProblems() []Problem {
	var p []Problem
	add := func(format string, args ...any) {
		p = append(p, Problem{"token_exchange", fmt.Sprintf(format, args...)})
	}
	has := slices.Contains(m.GrantTypes, GrantTypeTokenExchange)
	x := m.TokenExchange
	if x.IsZero() {
		if has {
			p = append(p, Problem{"grant_types", "the token exchange grant needs a token_exchange policy"})
		}
		return p
	}
	if !has {
		add("is only for a client with the %s grant", GrantTypeTokenExchange)
	}
	if m.AuthMethod == "none" {
		// RFC 8693 §2.1: the exchanging party is a client the AS
		// knows; a public client proves nothing of itself.
		add("is only for a confidential client, not token_endpoint_auth_method none")
	}
	if len(x.SubjectTokenTypes) == 0 {
		add("subject_token_types must not be empty")
	}
	for i, t := range x.SubjectTokenTypes {
		switch {
		case !slices.Contains(ExchangeSubjectTypes, t):
			add("subject_token_types: %q is not one of %s", clip(t), strings.Join(ExchangeSubjectTypes, ", "))
		case slices.Contains(x.SubjectTokenTypes[:i], t):
			add("subject_token_types lists %q twice", t)
		}
	}
	if len(x.Audiences) == 0 {
		add("audiences must not be empty")
	}
	if len(x.Audiences) > maxExchangeEntries || len(x.Scopes) > maxExchangeEntries {
		add("audiences and scopes have at most %d entries each", maxExchangeEntries)
	}
	for i, a := range x.Audiences {
		if msg := AudienceProblem(a); msg != "" {
			add("audiences: %s", msg)
		} else if slices.Contains(x.Audiences[:i], a) {
			add("audiences lists %q twice", clip(a))
		}
	}
	for i, s := range x.Scopes {
		if s == "" || len(s) > maxExchangeEntry || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }) {
			// RFC 6749 §3.3 scope-token syntax.
			add("scopes: %q is not a scope token", clip(s))
		} else if slices.Contains(x.Scopes[:i], s) {
			add("scopes lists %q twice", s)
		}
	}
	return p
}

// AudienceProblem says what is wrong with an audience of a token
// exchange policy, or "": an absolute URI without fragment (the form of
// a resource indicator, RFC 8707 §2) or a plain logical name (RFC 8693
// §2.1), printable and bounded.
func AudienceProblem(a string) string {
	if a == "" || len(a) > maxExchangeEntry || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return fmt.Sprintf("%q must be 1..%d printable ASCII characters without spaces", clip(a), maxExchangeEntry)
	}
	if strings.Contains(a, ":") {
		u, err := url.Parse(a)
		if err != nil || u.Scheme == "" || u.Fragment != "" || strings.Contains(a, "#") {
			return fmt.Sprintf("%q must be an absolute URI without fragment", clip(a))
		}
	}
	return ""
}
