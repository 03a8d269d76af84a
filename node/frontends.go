package node

import (
	"authrim/connectors/registry"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"authrim/actors/session"
	"authrim/connectors"
	"authrim/directory"
	"authrim/http/auth"
	"authrim/http/clientauth"
	"authrim/http/discovery"
	"authrim/http/dpop"
	"authrim/http/fetch"
	"authrim/http/management"
	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/http/token"
	"authrim/http/userinfo"
	"authrim/internal/i18n"
)

// frontEnds builds the front ends of the node's roles.
func (n *Node) frontEnds(now func() time.Time) ([]router.FrontEnd, error) {
	cfg, logger := n.cfg, n.logger
	base := strings.TrimSuffix(cfg.Issuer, "/")
	sessions := n.actors.Sessions()
	// The per-user index of sessions, each confirmed by its grain: the
	// account page and the admin API list and end a user's sessions.
	userSessions := &session.UserSessions{Store: n.store, Grains: sessions}
	cryptoPool := n.Crypto()
	fetcher := n.fetcher
	// Client assertions name the issuer, at every endpoint
	// (draft-ietf-oauth-rfc7523bis); the token endpoint only if allowed.
	clients := &clientauth.Authenticator{Dir: n.dir, Issuer: cfg.Issuer, Now: now, Keys: fetcher.ClientSigningKeys}
	if cfg.ClientAuth.AcceptTokenEndpointAudience {
		clients.TokenEndpoint = base + token.Path
	}
	if cfg.RateLimit.Enabled {
		clients.Limit = router.TakeClient
	}
	certs := cfg.certSource()
	if certs != nil {
		clients.Certs, clients.ClientCAs = certs.Chain, n.clientCAs
	}
	checker := &userinfo.Checker{Issuer: cfg.Issuer, Alg: cfg.Tokens.AccessTokenAlg, Verifier: cryptoPool, Sessions: sessions, Users: n.dir, Now: now, Logins: sessions}
	proofs := n.dpopChecker(now)
	// Connectors added through the admin API, read at each sign-in.
	stored := &registry.Service{Store: n.store, Sealer: n.kek, Static: cfg.Connectors, Fetcher: fetcher, Now: now}
	var fronts []router.FrontEnd
	for _, role := range cfg.Roles {
		switch role {
		case RoleDiscovery:
			d, err := discovery.New(discovery.Config{
				Issuer: cfg.Issuer, JWKSMaxAge: cfg.Keys.JWKSMaxAge.D(), Metadata: metadata(cfg),
				ProtectedResources: newResourceList(n.dir).IDs,
			}, n.cache)
			if err != nil {
				return nil, err
			}
			fronts = append(fronts, d)
		case RoleAuth:
			a, err := auth.New(auth.Config{
				Issuer: cfg.Issuer, CookieName: cfg.Session.CookieName, SessionTTL: cfg.Session.TTL.D(), Now: now,
				SessionIdleTTL: cfg.Session.IdleTTL.D(),
				Theme:          auth.Theme{Dir: cfg.UI.ThemeDir, ProductName: cfg.UI.ProductName, Logo: cfg.UI.Logo},
				Passkeys:       auth.PasskeyConfig{RPID: cfg.RPID(), RPName: cfg.WebAuthn.RPName, Origins: cfg.RPOrigins()},
				SignIn: auth.SignInThrottle{
					PerAddress: cfg.RateLimit.SignIn.PerAddress.Backoff(), PerUsername: cfg.RateLimit.SignIn.PerUsername.Backoff(),
				},
			}, n.dir, n.dir, n.dir, sessions, cryptoPool, n.actors.RateLimits(), logger.With("front", RoleAuth))
			if err != nil {
				return nil, err
			}
			a.WithRequests(&auth.Requests{
				Crypto: cryptoPool, Store: n.dir, Keys: fetcher.ClientSigningKeys, Fetch: fetcher.Get, ClientAuth: clients,
				RequirePAR: cfg.Requests.RequirePAR, PushedTTL: cfg.Requests.PushedTTL.D(),
				RequireSigned: cfg.Requests.RequireSigned,
			})
			a.WithUserSessions(userSessions)
			a.WithResources(n.dir)
			a.WithResponses(&auth.Responses{Signer: cryptoPool, Encrypter: cryptoPool, Keys: fetcher.ClientKeys})
			a.WithDPoP(proofs)
			a.WithDevices(n.devices(), sessions, n.actors.RateLimits(), auth.DeviceEntry{})
			a.WithMFA(n.dir, n.kek, cfg.WebAuthn.RPName, cfg.MFA.Policy)
			var mail auth.Mailer
			if cfg.MailEnabled() {
				mail = mailer{n}
			}
			a.WithAccounts(n.dir, mail, n.actors.RateLimits(), auth.AccountOptions{
				ResetTTL: cfg.Accounts.ResetLinkTTL.D(), ResetsPerHour: cfg.Accounts.ResetMailsPerHour,
				Invitations: cfg.invitations(), SignUp: cfg.Registration.Users == UsersOpen,
			})
			if cfg.MailEnabled() {
				a.WithEmailVerification(verifier{n})
			}
			// Upstream calls go through the guarded fetcher of
			// requests.fetch (allow_private_addresses, ca_file).
			conns, err := connectors.Build(cfg.Connectors, fetcher)
			if err != nil {
				return nil, fmt.Errorf("node: %w", err)
			}
			a.WithUpstream(conns, n.dir, n.kek).WithUpstreamSource(stored.Connectors, n.dir, n.kek)
			fronts = append(fronts, a)
		case RoleToken:
			fronts = append(fronts, token.New(token.Config{
				Issuer: cfg.Issuer, AccessTokenTTL: cfg.Tokens.AccessTokenTTL.D(), IDTokenTTL: cfg.Tokens.IDTokenTTL.D(),
				RefreshTTL: cfg.Tokens.RefreshTokenTTL.D(), AccessTokenAlg: cfg.Tokens.AccessTokenAlg, Now: now,
				RefreshIdleTTL: cfg.Tokens.RefreshTokenIdleTTL.D(),
			}, clients, sessions, cryptoPool, n.dir, logger.With("front", RoleToken)).WithEncryption(cryptoPool, fetcher.ClientKeys).WithResources(n.dir).
				WithExchange(&token.Exchange{
					AccessTokens: checker, Verifier: cryptoPool, Logins: sessions, Keys: fetcher.KeySet,
					Issuers: cfg.trustedIssuers(),
				}).
				WithDevices(n.devices(), token.DeviceConfig{
					VerificationURI: base + auth.DevicePath, CodeTTL: cfg.Tokens.DeviceCodeTTL.D(), Interval: cfg.Tokens.DevicePollInterval.D(),
				}).WithDPoP(proofs))
		case RoleUserinfo:
			fronts = append(fronts, userinfo.New(checker, logger.With("front", RoleUserinfo)).WithResponses(&userinfo.Responses{
				Issuer: cfg.Issuer, Clients: n.dir, Signer: cryptoPool, Encrypter: cryptoPool, Keys: fetcher.ClientKeys,
			}).WithDPoP(proofs, base+userinfo.Path).WithMTLS(clients.Certs))
		case RoleManagement:
			fronts = append(fronts, management.NewTokens(clients, checker, sessions, logger.With("front", RoleManagement)).WithResources(n.dir))
			if cfg.RegistrationEnabled() {
				fronts = append(fronts, management.NewRegistration(management.RegistrationConfig{
					Issuer: cfg.Issuer, Open: cfg.Registration.Open, InitialAccessToken: cfg.Registration.InitialAccessToken,
				}, n.dir, logger.With("front", RoleManagement)))
			}
			if cfg.Admin.Token != "" {
				admin := management.NewAdmin(cfg.Admin.Token, localKeys{n.actors.KeyManager(), n.cache}, logger).
					WithDirectory(n.dir, n.dir).WithResources(n.dir).WithInitialTokens(n.dir).WithThrottle(n.actors.RateLimits()).WithCluster(clusterOps{n}).
					WithSessions(userSessions).WithAudit(n).WithWebhooks(n.webhooks).WithConnectors(stored)
				if cfg.MailEnabled() {
					admin = admin.WithEmailVerification(verifier{n})
				}
				if cfg.invitations() {
					admin = admin.WithInvitations(inviter{n})
				}
				if snap := n.snapshotter(); snap != nil {
					// bbolt: the node's file; etcd: every record at one
					// revision, in the same file format (persistence/snapshot).
					admin = admin.WithBackup(snap)
				}
				fronts = append(fronts, admin)
				if n.console {
					con, err := n.newConsole(admin)
					if err != nil {
						return nil, err
					}
					fronts = append(fronts, con)
				}
			}
		}
	}
	return fronts, nil
}

// newFetcher builds the guarded fetcher of requests.fetch; its cache
// ages by now, the node's clock.
func newFetcher(fc FetchConfig, now func() time.Time) (*fetch.Fetcher, error) {
	var roots *x509.CertPool
	if fc.CAFile != "" {
		pem, err := os.ReadFile(fc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("node: requests.fetch.ca_file: %w", err)
		}
		if roots, err = x509.SystemCertPool(); err != nil || roots == nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("node: requests.fetch.ca_file %s holds no PEM certificate", fc.CAFile)
		}
	}
	return fetch.New(fetch.Config{
		AllowPrivate: fc.AllowPrivateAddresses, Timeout: fc.Timeout.D(), MaxBytes: int64(fc.MaxBytes), RootCAs: roots,
		Now: now,
	}), nil
}

// metadata is the discovery document: what the deployment supports,
// whichever roles this node serves.
func metadata(cfg Config) discovery.Metadata {
	base := strings.TrimSuffix(cfg.Issuer, "/")
	var registration string
	if cfg.RegistrationEnabled() {
		registration = base + management.RegisterPath
	}
	objSignAlgs := directory.RequestObjectSigningAlgs
	if cfg.Requests.RequireSigned {
		// RFC 9101 §10.5: say so, and do not offer none.
		objSignAlgs = slices.DeleteFunc(slices.Clone(objSignAlgs), func(a string) bool { return a == "none" })
	}
	var objEncAlgs, objEncEncs []string
	if encAlgs := cfg.Keys.EncryptionAlgs(); len(encAlgs) > 0 {
		objEncAlgs, objEncEncs = encAlgs, directory.EncryptionEncs
	}
	authMethods := clientauth.Methods
	var aliases *discovery.MTLSEndpointAliases
	if !cfg.HTTP.MTLSEnabled() {
		// Nothing sees a certificate: the mutual-TLS methods cannot work.
		authMethods = slices.DeleteFunc(slices.Clone(authMethods), func(m string) bool {
			return m == directory.AuthTLSClient || m == directory.AuthSelfSignedTLSClient
		})
	} else if u := strings.TrimSuffix(cfg.HTTP.MTLS.URL, "/"); u != "" {
		// RFC 8705 §5: the endpoints a client authenticates or presents
		// bound tokens at, on the host that asks for certificates.
		aliases = &discovery.MTLSEndpointAliases{
			TokenEndpoint: u + token.Path, RevocationEndpoint: u + management.RevokePath,
			IntrospectionEndpoint: u + management.IntrospectPath, UserinfoEndpoint: u + userinfo.Path,
			PushedAuthorizationRequestEndpoint: u + auth.PARPath, DeviceAuthorizationEndpoint: u + token.DeviceAuthorizationPath,
		}
	}
	requirePAR := cfg.Requests.RequirePAR
	if cfg.Profile == directory.ProfileFAPI2 {
		// FAPI 2.0 §5.3.1.1, §5.3.1.2: say what every client is held to.
		requirePAR = true
		authMethods = slices.DeleteFunc(slices.Clone(authMethods), func(m string) bool { return !slices.Contains(directory.FAPI2AuthMethods, m) })
	}
	return discovery.Metadata{
		TLSClientCertificateBoundAccessTokens: cfg.HTTP.MTLSEnabled(),
		MTLSEndpointAliases:                   aliases,
		PushedAuthorizationRequestEndpoint:    base + auth.PARPath,
		DeviceAuthorizationEndpoint:           base + token.DeviceAuthorizationPath,
		RequirePushedAuthorizationRequests:    requirePAR,
		RegistrationEndpoint:                  registration,
		RequestObjectSigningAlgs:              objSignAlgs,
		RequireSignedRequestObject:            cfg.Requests.RequireSigned,
		RequestObjectEncryptionAlgs:           objEncAlgs,
		RequestObjectEncryptionEncs:           objEncEncs,
		IDTokenEncryptionAlgs:                 directory.EncryptionAlgs,
		IDTokenEncryptionEncs:                 directory.EncryptionEncs,
		UserinfoSigningAlgValuesSupported:     cfg.Keys.SigningAlgs(),
		UserinfoEncryptionAlgs:                directory.EncryptionAlgs,
		UserinfoEncryptionEncs:                directory.EncryptionEncs,
		AuthorizationEndpoint:                 base + auth.AuthorizePath,
		TokenEndpoint:                         base + token.Path,
		UserinfoEndpoint:                      base + userinfo.Path,
		EndSessionEndpoint:                    base + auth.LogoutPath,
		RevocationEndpoint:                    base + management.RevokePath,
		IntrospectionEndpoint:                 base + management.IntrospectPath,
		ScopesSupported:                       oauth2.SupportedScopes,
		ResponseTypesSupported:                auth.ResponseTypes,
		ResponseModesSupported:                auth.ResponseModes,
		GrantTypesSupported:                   token.GrantTypes,
		ACRValuesSupported:                    auth.ACRValues,
		SubjectTypesSupported:                 []string{"public"},
		IDTokenSigningAlgValuesSupported:      cfg.Keys.SigningAlgs(),
		TokenEndpointAuthMethodsSupported:     authMethods,
		TokenEndpointAuthSigningAlgs:          directory.TokenEndpointAuthSigningAlgs,
		RevocationEndpointAuthMethods:         authMethods,
		IntrospectionEndpointAuthMethods:      authMethods,
		ClaimsSupported:                       oauth2.SupportedClaims(),
		ClaimsParameterSupported:              true,
		RequestParameterSupported:             true,
		RequestURIParameterSupported:          true,
		RequireRequestURIRegistration:         true,
		CodeChallengeMethodsSupported:         []string{"S256"},
		PromptValuesSupported:                 auth.PromptValues,
		ClaimTypesSupported:                   []string{"normal"},
		UILocalesSupported:                    i18n.Supported(),
		AuthorizationResponseIss:              true,
		BackchannelLogoutSupported:            true,
		BackchannelLogoutSessionSupported:     true,
		FrontchannelLogoutSupported:           true,
		FrontchannelLogoutSessionSupported:    true,
		ClientIDMetadataDocumentSupported:     cfg.ClientDocuments.Enabled,
		DPoPSigningAlgs:                       dpop.Algs,
		AuthorizationSigningAlgs:              cfg.Keys.SigningAlgs(),
		AuthorizationEncryptionAlgs:           directory.EncryptionAlgs,
		AuthorizationEncryptionEncs:           directory.EncryptionEncs,
	}
}
