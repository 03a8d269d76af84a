package directory

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"authrim/http/mtls"
	"authrim/internal/netguard"
)

// Problem is one thing wrong with a client: the field at fault, by its
// RFC 7591 name (client_id and client_secret for the credentials), and
// what is wrong with it. Message never contains a secret.
type Problem struct {
	Field   string
	Message string
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Fields whose problems a registration reports as invalid_redirect_uri
// (RFC 7591 §3.2.2); every other problem is invalid_client_metadata.
var redirectFields = []string{"redirect_uris", "post_logout_redirect_uris"}

// Rules are what the client rules depend on besides the client itself.
type Rules struct {
	// Algorithms are the node's keys.algorithms. A client may choose only
	// its JWS algorithms for ID tokens and userinfo, and only its JWE
	// algorithms for request objects encrypted to the node. None given
	// means every algorithm this package supports (IDTokenSignAlgs and
	// EncryptionAlgs): the rules that hold whatever the node's keys.
	Algorithms []string
	// RequireSignedRequestObjects refuses request_object_signing_alg
	// none (requests.require_signed_request_object, RFC 9101 §10.5).
	RequireSignedRequestObjects bool
	// AllowPrivateAddresses lets a client's backchannel_logout_uri name
	// a private, loopback or link-local address, or localhost
	// (requests.fetch.allow_private_addresses: the guard the node's
	// fetcher applies when it delivers there).
	AllowPrivateAddresses bool
	// Profile is the node's security profile ("" or ProfileFAPI2):
	// every client is held to it.
	Profile string
	// Static is for a client from config.yaml: its client_id must be
	// given, and so must its secret for client_secret_* methods (a
	// generated one could not be told to anyone). Otherwise both are
	// generated when left out.
	Static bool
}

// algs returns the JWS algorithms for ID tokens and userinfo, and the
// JWE algorithms the node can decrypt request objects with.
func (r Rules) algs() (sign, enc []string) {
	if len(r.Algorithms) == 0 {
		return IDTokenSignAlgs, EncryptionAlgs
	}
	sign, enc = splitAlgs(r.Algorithms)
	if len(sign) == 0 {
		sign = IDTokenSignAlgs
	}
	return sign, enc
}

// ValidateClient is the one rule set for a client, applied to a static
// client in config.yaml (node.Config.Validate and NewStaticClient), a
// client created through the admin API (CreateClient) and a registration
// (ParseRegistration, RegisterClient, UpdateRegisteredClient). id and
// secret are the client_id and client_secret given ("" when left out),
// m the metadata as given: the defaults of fields left out apply
// (ClientMetadata.WithDefaults). It returns every problem found, in a
// stable order; none means the client is valid.
func ValidateClient(id, secret string, m ClientMetadata, r Rules) []Problem {
	return validate(id, secret, m.WithDefaults(), r)
}

// validate is ValidateClient on metadata with its defaults applied.
func validate(id, secret string, m ClientMetadata, r Rules) []Problem {
	var p []Problem
	if id == "" && r.Static {
		p = append(p, Problem{"client_id", "must be given for a static client"})
	} else if id != "" {
		p = append(p, idProblems(id)...)
	}
	switch {
	case needsSecret(m.AuthMethod) && secret == "":
		if r.Static {
			p = append(p, Problem{"client_secret", fmt.Sprintf("must be given for %s (%d..%d characters)", m.AuthMethod, MinSecretLen, MaxSecretLen)})
		}
	case needsSecret(m.AuthMethod):
		// Given secrets must be long enough to be unguessable, which is
		// what makes the fast hash acceptable; the bound keeps records
		// small.
		if len(secret) < MinSecretLen || len(secret) > MaxSecretLen {
			p = append(p, Problem{"client_secret", fmt.Sprintf("must be %d..%d characters", MinSecretLen, MaxSecretLen)})
		}
	case secret != "" && slices.Contains(AuthMethods, m.AuthMethod):
		p = append(p, Problem{"client_secret", "must not be set for " + m.AuthMethod})
	}
	return append(p, m.problems(r)...)
}

// idProblems applies the client_id syntax: 1..128 characters from the
// RFC 3986 §2.3 unreserved set, so an id needs no escaping in a URL, a
// form or an HTTP Basic user-id (RFC 6749 §2.3.1 forbids ':' there
// unescaped).
func idProblems(id string) []Problem {
	if id == "" || len(id) > MaxClientIDLen {
		return []Problem{{"client_id", fmt.Sprintf("must be 1..%d characters", MaxClientIDLen)}}
	}
	for _, r := range id {
		if !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r))) {
			return []Problem{{"client_id", "may only contain A-Z a-z 0-9 . _ ~ -"}}
		}
	}
	return nil
}

// checkClientID is idProblems as an error, for lookups by id.
func checkClientID(id string) error { return invalidProblems(idProblems(id)) }

// problems checks metadata whose defaults are applied.
func (m ClientMetadata) problems(r Rules) []Problem {
	signAlgs, opEnc := r.algs()
	var p []Problem
	add := func(field, format string, args ...any) {
		p = append(p, Problem{field, fmt.Sprintf(format, args...)})
	}
	if len(m.Name) > maxClientNameLen || !utf8.ValidString(m.Name) || strings.ContainsFunc(m.Name, unicode.IsControl) {
		add("client_name", "must be at most %d bytes of UTF-8 without control characters", maxClientNameLen)
	}
	if !slices.Contains(AuthMethods, m.AuthMethod) {
		add("token_endpoint_auth_method", "must be one of %s, got %q", strings.Join(AuthMethods, ", "), clip(m.AuthMethod))
	}

	// Grants, response types and the redirect URIs they need.
	if len(m.GrantTypes) == 0 {
		add("grant_types", "must not be empty")
	}
	for i, g := range m.GrantTypes {
		if !slices.Contains(GrantTypes, g) {
			add("grant_types", "unknown grant type %q (known: %s)", clip(g), strings.Join(GrantTypes, ", "))
		} else if slices.Contains(m.GrantTypes[:i], g) {
			add("grant_types", "grant type %q listed twice", g)
		}
	}
	code := slices.Contains(m.GrantTypes, "authorization_code")
	if m.AuthMethod == "none" && slices.Contains(m.GrantTypes, "client_credentials") {
		// RFC 6749 §4.4: only confidential clients.
		add("grant_types", "a public client (token_endpoint_auth_method none) cannot use client_credentials")
	}
	if !code && len(m.RedirectURIs) > 0 {
		// Only the code flow redirects (RFC 7591 §2.1); a URI the node
		// never uses is a mistake, not a harmless extra.
		add("grant_types", "redirect_uris are only for the authorization_code grant")
	}
	for _, rt := range m.ResponseTypes {
		if !slices.Contains(ResponseTypes, rt) {
			add("response_types", "only code is supported, got %q", clip(rt))
		}
	}
	if code && len(m.RedirectURIs) == 0 {
		add("redirect_uris", "authorization_code needs at least one redirect URI")
	}
	p = append(p, uriProblems("redirect_uris", m.RedirectURIs)...)
	p = append(p, uriProblems("post_logout_redirect_uris", m.PostLogoutRedirectURIs)...)
	p = append(p, m.logoutProblems(r)...)
	p = append(p, m.exchangeProblems()...)
	if m.AuthMethod == "none" && !m.PKCERequired() {
		// RFC 9700 §2.1.1: PKCE is what protects a public client's code.
		add("require_pkce", "false is only for confidential clients, not token_endpoint_auth_method none")
	}

	// Keys.
	if len(m.JWKS) > 0 {
		if _, err := parseJWKS(m.JWKS); err != nil {
			add("jwks", "%s", reason(err))
		}
	} else if (m.AuthMethod == "private_key_jwt" || m.AuthMethod == AuthSelfSignedTLSClient) && m.JWKSURI == "" {
		// jwks_uri is as good as jwks for a static client too: the
		// node fetches it through the same guard (http/fetch).
		add("jwks", "%s needs jwks or jwks_uri (the client's public keys)", m.AuthMethod)
	}
	p = append(p, m.TLSClientAuth.problems(m.AuthMethod)...)
	if m.JWKSURI != "" {
		if len(m.JWKS) > 0 {
			// RFC 7591 §2: jwks and jwks_uri must not both be present.
			add("jwks_uri", "jwks and jwks_uri are mutually exclusive")
		}
		if msg := httpsURIProblem(m.JWKSURI); msg != "" {
			add("jwks_uri", "%s", msg)
		}
	}
	hasKeys := len(m.JWKS) > 0 || m.JWKSURI != ""
	if a := m.TokenEndpointAuthSigningAlg; a != "" {
		switch {
		case !slices.Contains(TokenEndpointAuthSigningAlgs, a):
			// "none" among them: OIDC Dynamic Client Registration §2.
			add("token_endpoint_auth_signing_alg", "must be one of %s, got %q", strings.Join(TokenEndpointAuthSigningAlgs, ", "), clip(a))
		case m.AuthMethod != "private_key_jwt":
			// It pins the alg of JWT client authentication; with another
			// method it would be stored and never apply.
			add("token_endpoint_auth_signing_alg", "is only for token_endpoint_auth_method private_key_jwt")
		}
	}

	// Request objects.
	if len(m.RequestURIs) > maxURIs {
		add("request_uris", "has more than %d entries", maxURIs)
	}
	for _, u := range m.RequestURIs {
		if msg := httpsURIProblem(u); msg != "" {
			add("request_uris", "%s", msg)
		}
	}
	switch m.Profile {
	case "", ProfileFAPI2:
	default:
		add("profile", "must be empty or %s, got %q", ProfileFAPI2, clip(m.Profile))
	}
	if m.FAPI2() || r.Profile == ProfileFAPI2 {
		p = append(p, FAPI2Problems(m)...)
	}
	switch m.MFAPolicy {
	case "", MFANone, MFAOptional, MFARequired:
	default:
		add("mfa_policy", "must be none, optional or required, got %q", clip(m.MFAPolicy))
	}
	switch m.ApplicationType {
	case "", "web", "native":
	default:
		add("application_type", "must be web or native, got %q", clip(m.ApplicationType))
	}
	if a := m.RequestObjectSigningAlg; a != "" {
		switch {
		case !slices.Contains(RequestObjectSigningAlgs, a):
			add("request_object_signing_alg", "must be one of %s, got %q", strings.Join(RequestObjectSigningAlgs, ", "), clip(a))
		case a != "none" && !hasKeys:
			add("request_object_signing_alg", "%s needs jwks or jwks_uri", a)
		case a == "none" && r.RequireSignedRequestObjects:
			add("request_object_signing_alg", "none, but this server requires signed request objects (requests.require_signed_request_object)")
		}
	}
	p = append(p, encProblems("request_object_encryption", m.RequestObjectEncryptionAlg, m.RequestObjectEncryptionEnc, opEnc)...)

	// Signed and encrypted responses.
	if a := m.IDTokenSignedResponseAlg; !slices.Contains(signAlgs, a) {
		dflt := ""
		if a == DefaultIDTokenAlg {
			dflt = ", the default when none is given"
		}
		add("id_token_signed_response_alg", "must be one of %s (the algorithms this node signs with), got %q%s", strings.Join(signAlgs, ", "), clip(a), dflt)
	}
	if a := m.UserinfoSignedResponseAlg; a != "" && !slices.Contains(signAlgs, a) {
		add("userinfo_signed_response_alg", "must be one of %s (the algorithms this node signs with), got %q", strings.Join(signAlgs, ", "), clip(a))
	}
	if a := m.AuthorizationSignedResponseAlg; a != "" && !slices.Contains(signAlgs, a) {
		add("authorization_signed_response_alg", "must be one of %s (the algorithms this node signs with), got %q", strings.Join(signAlgs, ", "), clip(a))
	}
	for _, e := range []struct{ field, alg, enc string }{
		{"id_token_encrypted_response", m.IDTokenEncryptedResponseAlg, m.IDTokenEncryptedResponseEnc},
		{"userinfo_encrypted_response", m.UserinfoEncryptedResponseAlg, m.UserinfoEncryptedResponseEnc},
		{"authorization_encrypted_response", m.AuthorizationEncryptedResponseAlg, m.AuthorizationEncryptedResponseEnc},
	} {
		probs := encProblems(e.field, e.alg, e.enc, EncryptionAlgs)
		p = append(p, probs...)
		if len(probs) > 0 || e.alg == "" {
			continue
		}
		switch {
		case !hasKeys:
			add(e.field+"_alg", "needs jwks or jwks_uri (the client's encryption key)")
		case len(m.JWKS) > 0:
			if _, err := EncryptionKey(m.JWKS, e.alg); err != nil {
				add(e.field+"_alg", "%s", reason(err))
			}
		}
	}
	return p
}

// problems applies RFC 8705 §2.1.2: a tls_client_auth client names
// exactly one subject its certificate must have, and only such a client
// names one.
func (t TLSClientAuth) problems(method string) []Problem {
	set := t.set()
	switch {
	case method != AuthTLSClient && len(set) > 0:
		return []Problem{{set[0], "is only for token_endpoint_auth_method " + AuthTLSClient}}
	case method != AuthTLSClient:
		return nil
	case len(set) != 1:
		return []Problem{{"token_endpoint_auth_method", "tls_client_auth needs exactly one of tls_client_auth_subject_dn, tls_client_auth_san_dns, tls_client_auth_san_uri, tls_client_auth_san_ip, tls_client_auth_san_email"}}
	}
	bad := func(field, msg string) []Problem { return []Problem{{field, msg}} }
	switch {
	case len(t.SubjectDN) > maxURILen || len(t.SANDNS) > maxURILen || len(t.SANURI) > maxURILen || len(t.SANEmail) > maxURILen:
		return bad(set[0], fmt.Sprintf("must be at most %d bytes", maxURILen))
	case t.SubjectDN != "" && mtls.ParseDN(t.SubjectDN) != nil:
		return bad(set[0], "must be an RFC 4514 distinguished name, e.g. CN=app,O=Example,C=DE")
	case t.SANDNS != "" && (strings.ContainsAny(t.SANDNS, " /@:") || !utf8.ValidString(t.SANDNS)):
		return bad(set[0], fmt.Sprintf("%q is not a DNS name", clip(t.SANDNS)))
	case t.SANIP != "" && net.ParseIP(t.SANIP) == nil:
		return bad(set[0], fmt.Sprintf("%q is not an IP address", clip(t.SANIP)))
	case t.SANEmail != "" && !strings.Contains(t.SANEmail, "@"):
		return bad(set[0], fmt.Sprintf("%q is not an email address", clip(t.SANEmail)))
	}
	if t.SANURI != "" {
		if u, err := url.Parse(t.SANURI); err != nil || !u.IsAbs() {
			return bad(set[0], fmt.Sprintf("%q is not an absolute URI", clip(t.SANURI)))
		}
	}
	return nil
}

// encProblems checks an *_alg / *_enc pair: enc needs alg (OIDC Dynamic
// Client Registration §2), and both must be supported.
func encProblems(field, alg, enc string, algs []string) []Problem {
	var p []Problem
	if alg == "" {
		if enc != "" {
			p = append(p, Problem{field + "_enc", "needs " + field + "_alg"})
		}
		return p
	}
	if !slices.Contains(algs, alg) {
		if len(algs) == 0 {
			p = append(p, Problem{field + "_alg", fmt.Sprintf("%q: this node has no encryption keys", clip(alg))})
		} else {
			p = append(p, Problem{field + "_alg", fmt.Sprintf("must be one of %s, got %q", strings.Join(algs, ", "), clip(alg))})
		}
	}
	if enc != "" && !slices.Contains(EncryptionEncs, enc) {
		p = append(p, Problem{field + "_enc", fmt.Sprintf("must be one of %s, got %q", strings.Join(EncryptionEncs, ", "), clip(enc))})
	}
	return p
}

// httpsURIProblem accepts an absolute https URL without userinfo (the
// URLs the node fetches); else it says what is wrong.
func httpsURIProblem(raw string) string {
	if len(raw) > maxURILen {
		return fmt.Sprintf("an entry is longer than %d bytes", maxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return fmt.Sprintf("%q must be an absolute https URL", clip(raw))
	}
	return ""
}

// uriProblems applies CheckRedirectURI to each of a list of redirect
// URIs, which must be distinct.
func uriProblems(field string, uris []string) []Problem {
	var p []Problem
	if len(uris) > maxURIs {
		p = append(p, Problem{field, fmt.Sprintf("has more than %d entries", maxURIs)})
		uris = uris[:maxURIs]
	}
	for i, u := range uris {
		if err := CheckRedirectURI(u); err != nil {
			p = append(p, Problem{field, reason(err)})
		} else if slices.Contains(uris[:i], u) {
			p = append(p, Problem{field, fmt.Sprintf("lists %q twice", clip(u))})
		}
	}
	return p
}

// Validate checks a client record against the client rules (those of
// ValidateClient, with every algorithm this package supports and private
// addresses allowed: the rules whatever the node) and its secret hash
// against its method. The error wraps ErrInvalid and lists every problem.
func (c Client) Validate() error {
	return invalidProblems(c.problems(Rules{AllowPrivateAddresses: true}))
}

// problems lists what is wrong with the record c under r.
func (c Client) problems(r Rules) []Problem {
	p := idProblems(c.ID)
	switch {
	case needsSecret(c.AuthMethod):
		if !validSecretHash(c.SecretHash) {
			p = append(p, Problem{"client_secret", c.AuthMethod + " needs a client secret"})
		}
	case c.SecretHash != "":
		p = append(p, Problem{"client_secret", "must not be set for " + c.AuthMethod})
	}
	return append(p, c.ClientMetadata.WithDefaults().problems(r)...)
}

// invalidProblems joins problems into one InvalidError (nil for none).
func invalidProblems(p []Problem) error {
	if len(p) == 0 {
		return nil
	}
	s := make([]string, len(p))
	for i, pr := range p {
		s[i] = pr.String()
	}
	return &InvalidError{Reason: strings.Join(s, "; "), Problems: slices.Clone(p)}
}

// splitAlgs separates a keys.algorithms list into JWS and JWE algorithms.
func splitAlgs(algs []string) (sign, enc []string) {
	for _, a := range algs {
		if slices.Contains(EncryptionAlgs, a) {
			enc = append(enc, a)
		} else {
			sign = append(sign, a)
		}
	}
	return sign, enc
}

// logoutProblems checks the logout metadata: backchannel_logout_uri
// (Back-Channel Logout 1.0 §2.2), frontchannel_logout_uri (Front-Channel
// Logout 1.0 §2) and the flags that only mean something with them.
func (m ClientMetadata) logoutProblems(r Rules) []Problem {
	var p []Problem
	if raw := m.BackchannelLogoutURI; raw != "" {
		if msg := backchannelURIProblem(raw, r.AllowPrivateAddresses); msg != "" {
			p = append(p, Problem{"backchannel_logout_uri", msg})
		}
	} else if m.BackchannelLogoutSessionRequired {
		// Stored and never used: a mistake, not a harmless extra.
		p = append(p, Problem{"backchannel_logout_session_required", "is only for a client with a backchannel_logout_uri"})
	}
	if raw := m.FrontchannelLogoutURI; raw != "" {
		if msg := frontchannelURIProblem(raw, m.RedirectURIs); msg != "" {
			p = append(p, Problem{"frontchannel_logout_uri", msg})
		}
	} else if m.FrontchannelLogoutSessionRequired {
		p = append(p, Problem{"frontchannel_logout_session_required", "is only for a client with a frontchannel_logout_uri"})
	}
	return p
}

// backchannelURIProblem: an absolute https URL without fragment
// (Back-Channel Logout 1.0 §2.2) or userinfo, which the node will POST
// to, so not naming a private address unless those are allowed (the
// fetcher refuses them again when it connects: a name may resolve to
// one).
// CallbackURLProblem says what is wrong with a URL the node is to call
// back (a webhook), by the back-channel logout URI's rules: https, no
// fragment, and no private address unless allowPrivate
// (requests.fetch.allow_private_addresses). "" when nothing is.
func CallbackURLProblem(raw string, allowPrivate bool) string {
	return backchannelURIProblem(raw, allowPrivate)
}

func backchannelURIProblem(raw string, allowPrivate bool) string {
	if msg := httpsURIProblem(raw); msg != "" {
		return msg
	}
	u, _ := url.Parse(raw)
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q must not have a fragment", clip(raw))
	}
	if !allowPrivate && netguard.PrivateHost(u.Hostname()) {
		return fmt.Sprintf("%q names a private, loopback or local address, which this server does not reach (requests.fetch.allow_private_addresses)", clip(raw))
	}
	return ""
}

// frontchannelURIProblem: an absolute URL without fragment whose scheme,
// host and port are those of one of the redirect URIs (Front-Channel
// Logout 1.0 §2: the domain, port and scheme MUST be the same as a
// redirect URI's), so the page the logout page frames is the client's
// own. It is https unless that redirect URI is http on loopback.
func frontchannelURIProblem(raw string, redirects []string) string {
	if len(raw) > maxURILen {
		return fmt.Sprintf("is longer than %d bytes", maxURILen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return fmt.Sprintf("%q must be an absolute http(s) URL with a host and no userinfo", clip(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q must not have a fragment", clip(raw))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return fmt.Sprintf("%q must be an https URL", clip(raw))
	}
	got := webOrigin(u)
	for _, r := range redirects {
		ru, err := url.Parse(r)
		if err != nil || webOrigin(ru) != got {
			continue
		}
		// Same origin as a redirect URI that passed CheckRedirectURI:
		// http only when that one is http on loopback.
		return ""
	}
	if scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Sprintf("%q must be an https URL (http only on loopback)", clip(raw))
	}
	return fmt.Sprintf("%q must have the scheme, host and port of one of the redirect_uris", clip(raw))
}

// webOrigin is the scheme://host:port of an http(s) URL, lowercased and
// with the default port made explicit; "" for any other URL.
func webOrigin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch {
	case scheme == "https" && port == "":
		port = "443"
	case scheme == "http" && port == "":
		port = "80"
	case scheme != "https" && scheme != "http":
		return ""
	}
	if u.Host == "" {
		return ""
	}
	return scheme + "://" + strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")) + ":" + port
}
