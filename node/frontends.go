package node

import (
	"strings"
	"time"

	"authrim/http/auth"
	"authrim/http/clientauth"
	"authrim/http/discovery"
	"authrim/http/management"
	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/http/token"
	"authrim/http/userinfo"
)

// frontEnds builds the front ends of the node's roles.
func (n *Node) frontEnds(now func() time.Time) ([]router.FrontEnd, error) {
	cfg, logger := n.cfg, n.logger
	base := strings.TrimSuffix(cfg.Issuer, "/")
	sessions := n.actors.Sessions()
	cryptoPool := n.Crypto()
	clients := &clientauth.Authenticator{Dir: n.dir, Audiences: []string{cfg.Issuer, base + token.Path}, Now: now}
	checker := &userinfo.Checker{Issuer: cfg.Issuer, Alg: cfg.Tokens.AccessTokenAlg, Verifier: cryptoPool, Sessions: sessions, Now: now}
	var fronts []router.FrontEnd
	for _, role := range cfg.Roles {
		switch role {
		case RoleDiscovery:
			d, err := discovery.New(discovery.Config{Issuer: cfg.Issuer, JWKSMaxAge: cfg.Keys.JWKSMaxAge.D(), Metadata: metadata(cfg)}, n.cache)
			if err != nil {
				return nil, err
			}
			fronts = append(fronts, d)
		case RoleAuth:
			a, err := auth.New(auth.Config{
				Issuer: cfg.Issuer, CookieName: cfg.Session.CookieName, SessionTTL: cfg.Session.TTL.D(), Now: now,
				Passkeys: auth.PasskeyConfig{RPID: cfg.RPID(), RPName: cfg.WebAuthn.RPName, Origins: cfg.RPOrigins()},
				Lockout:  auth.LockoutPolicy{Threshold: cfg.RateLimit.LockoutThreshold, Window: cfg.RateLimit.LockoutWindow.D(), Duration: cfg.RateLimit.LockoutDuration.D()},
			}, n.dir, n.dir, n.dir, sessions, cryptoPool, n.lockouts(), logger.With("front", RoleAuth))
			if err != nil {
				return nil, err
			}
			fronts = append(fronts, a)
		case RoleToken:
			fronts = append(fronts, token.New(token.Config{
				Issuer: cfg.Issuer, AccessTokenTTL: cfg.Tokens.AccessTokenTTL.D(), IDTokenTTL: cfg.Tokens.IDTokenTTL.D(),
				RefreshTTL: cfg.Tokens.RefreshTokenTTL.D(), AccessTokenAlg: cfg.Tokens.AccessTokenAlg, Now: now,
			}, clients, sessions, cryptoPool, n.dir, logger.With("front", RoleToken)))
		case RoleUserinfo:
			fronts = append(fronts, userinfo.New(checker, n.dir, logger.With("front", RoleUserinfo)))
		case RoleManagement:
			fronts = append(fronts, management.NewTokens(clients, checker, sessions, logger.With("front", RoleManagement)))
			if cfg.Admin.Token != "" {
				fronts = append(fronts, management.NewAdmin(cfg.Admin.Token, localKeys{n.actors.KeyManager(), n.cache}, logger).WithDirectory(n.dir, n.dir).WithBackup(n.bolt))
			}
		}
	}
	return fronts, nil
}

// metadata is the discovery document: what the deployment supports,
// whichever roles this node serves.
func metadata(cfg Config) discovery.Metadata {
	base := strings.TrimSuffix(cfg.Issuer, "/")
	return discovery.Metadata{
		AuthorizationEndpoint:             base + auth.AuthorizePath,
		TokenEndpoint:                     base + token.Path,
		UserinfoEndpoint:                  base + userinfo.Path,
		EndSessionEndpoint:                base + auth.LogoutPath,
		RevocationEndpoint:                base + management.RevokePath,
		IntrospectionEndpoint:             base + management.IntrospectPath,
		ScopesSupported:                   oauth2.SupportedScopes,
		ResponseTypesSupported:            auth.ResponseTypes,
		ResponseModesSupported:            auth.ResponseModes,
		GrantTypesSupported:               token.GrantTypes,
		ACRValuesSupported:                auth.ACRValues,
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  cfg.Keys.Algorithms,
		TokenEndpointAuthMethodsSupported: clientauth.Methods,
		TokenEndpointAuthSigningAlgs:      []string{"RS256", "PS256", "ES256", "EdDSA"},
		RevocationEndpointAuthMethods:     clientauth.Methods,
		IntrospectionEndpointAuthMethods:  clientauth.Methods,
		ClaimsSupported:                   oauth2.SupportedClaims(),
		ClaimsParameterSupported:          true,
		RequestParameterSupported:         false,
		RequestURIParameterSupported:      false,
		CodeChallengeMethodsSupported:     []string{"S256"},
		PromptValuesSupported:             auth.PromptValues,
		ClaimTypesSupported:               []string{"normal"},
		AuthorizationResponseIss:          true,
	}
}
