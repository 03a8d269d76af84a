package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/dpop"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// Paths served by this front end.
const (
	AuthorizePath = "/authorize"
	LoginPath     = "/login"
	ConsentPath   = "/consent"
	LogoutPath    = "/logout"
)

// ACRPassword is the acr of a password sign-in.
const ACRPassword = "urn:authrim:acr:password"

// Supported values, for discovery.
var (
	ResponseTypes = []string{"code", "none"}
	// ResponseModes: the jwt ones (JARM) when WithResponses is set, as
	// the node always does.
	ResponseModes = []string{"query", "form_post", ModeJWT, ModeQueryJWT, ModeFormPostJWT}
	PromptValues  = []string{"none", "login", "consent", "select_account"}
	ACRValues     = []string{ACRPasskey, ACRMFA, ACRPassword}
)

// Clients looks clients up.
type Clients interface {
	Client(ctx context.Context, id string) (directory.Client, error)
}

// Users checks passwords.
type Users interface {
	Authenticate(ctx context.Context, username, password string) (directory.User, error)
}

// Sessions reaches Session grains.
type Sessions interface {
	Get(ctx context.Context, sid, secret string, m *messages.GetSession) (*messages.SessionReply, error)
	Begin(ctx context.Context, sid, secret string, m *messages.BeginAuth) (*messages.SessionReply, error)
	Login(ctx context.Context, sid, secret string, m *messages.CompleteLogin) (*messages.SessionReply, error)
	Consent(ctx context.Context, sid, secret string, m *messages.GiveConsent) (*messages.SessionReply, error)
	Issue(ctx context.Context, sid, secret string, m *messages.IssueCode) (*messages.SessionReply, error)
	Logout(ctx context.Context, sid, secret string) (*messages.SessionReply, error)
	StartCeremony(ctx context.Context, sid, secret string, m *messages.StartCeremony) (*messages.SessionReply, error)
	TakeCeremony(ctx context.Context, sid, secret string, m *messages.TakeCeremony) (*messages.SessionReply, error)
}

// Verifier checks our own signed tokens (id_token_hint).
type Verifier interface {
	VerifyType(ctx context.Context, token, typ string, algs ...string) (payload []byte, kid string, err error)
}

// Throttle counts attempts at a password (the RateLimiter grains,
// cluster-wide): each is counted before the password is checked, and
// refused while the failures so far call for a delay.
type Throttle interface {
	Attempt(ctx context.Context, key string, b ratelimit.Backoff) (allowed bool, retryAfter time.Duration, err error)
	// Succeeded forgets key's failures (the password was right).
	Succeeded(ctx context.Context, key string) error
}

// SignInThrottle is how password sign-ins are slowed (NIST SP 800-63B
// §5.2.2), without a lock anyone could set off: one address guessing one
// username is slowed on its own (PerAddress), and every address together
// on one username more gently (PerUsername), so the owner signing in from
// elsewhere is at most delayed, never locked out.
type SignInThrottle struct {
	PerAddress  ratelimit.Backoff
	PerUsername ratelimit.Backoff
}

// Config of the auth front end.
type Config struct {
	Issuer     string
	CookieName string
	SessionTTL time.Duration
	// SessionIdleTTL ends a sign-in no browser request used this long
	// (0: off); the grain keeps it with the login.
	SessionIdleTTL time.Duration
	Passkeys       PasskeyConfig
	// SignIn applies when New is given a Throttle.
	SignIn SignInThrottle
	// Theme dresses the pages (config ui.*).
	Theme Theme
	Now   func() time.Time
}

// Handler serves /authorize, /login, /consent and /logout.
type Handler struct {
	jarm     *Responses
	cfg      Config
	secure   bool
	clients  Clients
	users    Users
	sessions Sessions
	verifier Verifier
	passkeys Passkeys
	webauthn *webauthn.WebAuthn
	throttle Throttle
	req      *Requests
	// userSessions, when set, lists and ends the user's sessions on the
	// account page (WithUserSessions).
	userSessions UserSessions
	// resources, when set, serves resource= (WithResources).
	resources Resources
	// device, when set, serves the device grant's verification page
	// (WithDevices).
	device *deviceFront
	// dpop checks proofs at /par (WithDPoP).
	dpop *dpop.Checker
	// mfa, when set, asks enrolled users for a second factor (WithMFA).
	mfa *mfaFront
	// accounts, when set, serves the password reset and change pages
	// (WithAccounts).
	accounts *accountsFront
	// upstream, when set, signs users in with connectors
	// (WithUpstream).
	upstream *upstreamFront
	// pages are the templates of every language, with the theme.
	pages  *pageSet
	logger *slog.Logger
}

// New returns the auth front end. throttle may be nil: password sign-in
// is not slowed.
func New(cfg Config, clients Clients, users Users, passkeys Passkeys, sessions Sessions, verifier Verifier, throttle Throttle, logger *slog.Logger) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.CookieName = SessionCookieName(cfg.Issuer, cfg.CookieName)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.Passkeys.RPID,
		RPDisplayName: cfg.Passkeys.RPName,
		RPOrigins:     cfg.Passkeys.Origins,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: webauthn: %w", err)
	}
	pages, err := newPageSet(cfg.Theme)
	if err != nil {
		return nil, err
	}
	return &Handler{
		cfg: cfg, secure: strings.HasPrefix(cfg.Issuer, "https://"),
		clients: clients, users: users, sessions: sessions, verifier: verifier, logger: logger,
		passkeys: passkeys, webauthn: wa, throttle: throttle, pages: pages,
	}, nil
}

// hostPrefix marks a cookie the browser keeps only when it is Secure,
// has Path=/ and no Domain (RFC 6265bis §4.1.3.2).
const hostPrefix = "__Host-"

// SessionCookieName is the session cookie's name under issuer: name with
// the __Host- prefix when the issuer is https, so the browser accepts the
// cookie only from this host over TLS; a sibling subdomain or a plain-http
// page can then neither plant nor shadow it (session fixation). Over
// http (localhost) browsers refuse the prefix, so name stays as it is.
// Both the set and the read side use this name: an unprefixed cookie is
// not read under https.
func SessionCookieName(issuer, name string) string {
	if strings.HasPrefix(issuer, "https://") && !strings.HasPrefix(name, hostPrefix) {
		return hostPrefix + name
	}
	return name
}

// Name is the front end's name in metrics and the route table.
func (h *Handler) Name() string { return "auth" }

// Routes are the auth front end's endpoints. Password and passkey
// sign-in are strict (guess-prone); the rest of the browser flow is
// moderate.
func (h *Handler) Routes() []router.Route {
	rs := []router.Route{
		{Method: http.MethodGet, Path: AuthorizePath, Handler: h.authorize, Limit: router.Moderate, Grain: "Session.Issue (silent), Session.Begin"},
		{Method: http.MethodPost, Path: AuthorizePath, Handler: h.authorize, Limit: router.Moderate, Grain: "Session.Issue (silent), Session.Begin"},
		{Method: http.MethodPost, Path: LoginPath, Handler: h.login, Limit: router.Strict, Grain: "Session.Get, Session.Login, Session.Issue"},
		{Method: http.MethodPost, Path: ConsentPath, Handler: h.consent, Limit: router.Moderate, Grain: "Session.Get, Session.Consent, Session.Issue"},
		{Method: http.MethodGet, Path: LogoutPath, Handler: h.logout, Limit: router.Moderate, Grain: "Session.Logout"},
		{Method: http.MethodPost, Path: LogoutPath, Handler: h.logout, Limit: router.Moderate, Grain: "Session.Logout"},
		{Method: http.MethodPost, Path: LoginPath + "/continue", Handler: h.loginContinue, Limit: router.Moderate, Grain: "Session.Get, Session.Issue"},
		{Method: http.MethodGet, Path: AccountPath, Handler: h.account, Limit: router.Moderate, Grain: "Session.Get, Session.Describe (each of the user's)"},
		{Method: http.MethodPost, Path: AccountPath + "/passkeys/delete", Handler: h.deletePasskey, Limit: router.Moderate, Grain: "Session.Get (Session.Begin to sign in again)"},
		{Method: http.MethodPost, Path: ReauthPath, Handler: h.reauthForm, Limit: router.Moderate, Grain: "Session.Get, Session.Begin"},
		{Method: http.MethodPost, Path: "/webauthn/register/begin", Handler: h.registerBegin, Limit: router.Moderate, Grain: "Session.Get, Session.StartCeremony"},
		{Method: http.MethodPost, Path: "/webauthn/register/finish", Handler: h.registerFinish, Limit: router.Strict, Grain: "Session.TakeCeremony"},
		{Method: http.MethodPost, Path: "/webauthn/login/begin", Handler: h.loginBegin, Limit: router.Moderate, Grain: "Session.StartCeremony"},
		{Method: http.MethodPost, Path: "/webauthn/login/finish", Handler: h.loginFinish, Limit: router.Strict, Grain: "Session.TakeCeremony, Session.Login"},
		h.assetsRoute(),
	}
	if h.req != nil {
		rs = append(rs, router.Route{Method: http.MethodPost, Path: PARPath, Handler: h.par, Limit: router.Moderate})
	}
	rs = append(rs, h.sessionRoutes()...)
	rs = append(rs, h.deviceRoutes()...)
	rs = append(rs, h.mfaRoutes()...)
	rs = append(rs, h.accountRoutes()...)
	rs = append(rs, h.verifyRoutes()...)
	rs = append(rs, h.inviteRoutes()...)
	rs = append(rs, h.signUpRoutes()...)
	rs = append(rs, h.upstreamRoutes()...)
	// Every page renders with this handler's templates (its theme).
	for i := range rs {
		rs[i].Middleware = append(rs[i].Middleware, h.withPages)
	}
	return rs
}

// params reads the request's parameters: the query for GET, the form body
// for POST (OIDC Core §3.1.2.1). A parameter given twice is an error.
func params(r *http.Request) (url.Values, error) {
	var v url.Values
	if r.Method == http.MethodPost {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			return nil, errors.New("body must be application/x-www-form-urlencoded")
		}
		if err := r.ParseForm(); err != nil {
			return nil, errors.New("malformed form body")
		}
		v = r.PostForm
	} else {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, errors.New("malformed query")
		}
		v = q
	}
	for k, vs := range v {
		// resource may repeat (RFC 8707 §2).
		if len(vs) > 1 && (k != "resource" || len(vs) > maxResources) {
			return nil, errors.New("parameter " + k + " is repeated")
		}
		if k == "request" && len(vs[0]) <= maxObjectLen {
			continue
		}
		for _, one := range vs {
			if len(one) > 4096 {
				return nil, errors.New("parameter " + k + " is too long")
			}
		}
	}
	return v, nil
}

// redirect is where and how an authorization response goes.
type redirect struct {
	uri, mode, state string
	// client is the client_id, for the jwt response modes (JARM).
	client string
}

func (h *Handler) authorize(c echo.Context) error {
	p, err := params(c.Request())
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "Invalid request: %s.", err.Error())
	}
	// OIDC Core §3.1.2.1: ui_locales chooses the language of this flow's
	// pages; it is kept with the request (AuthRequest.ui_locales).
	useUILocales(c, p.Get("ui_locales"))
	ctx := c.Request().Context()
	// Until the client and redirect URI are known good, errors are shown
	// here and never redirected (RFC 6749 §4.1.2.1).
	clientID := p.Get("client_id")
	if clientID == "" {
		return errorPage(c, http.StatusBadRequest, "The request has no client_id.")
	}
	client, err := h.clients.Client(ctx, clientID)
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "Unknown client.")
	}
	pushed := false
	if h.req != nil {
		resolved, viaPAR, replyTo, rerr := h.resolve(ctx, p, client)
		if rerr != nil {
			return h.failEarly(c, p, replyTo, client, rerr)
		}
		p, pushed = resolved, viaPAR
		useUILocales(c, p.Get("ui_locales"))
	}
	redirectURI := p.Get("redirect_uri")
	if redirectURI == "" || !directory.MatchRedirectURI(client.RedirectURIs, redirectURI) {
		return errorPage(c, http.StatusBadRequest, "The redirect_uri is not registered for this client.")
	}
	rd := redirect{uri: redirectURI, mode: p.Get("response_mode"), state: p.Get("state"), client: client.ID}
	if !h.supportedMode(rd.mode) {
		rd.mode = ""
		return h.fail(c, rd, oauth2.ErrInvalidRequest.WithDescription("unsupported response_mode"))
	}
	if !pushed && (client.FAPI2() || h.req != nil && (h.req.RequirePAR || client.RequirePAR)) {
		// RFC 9126 §5, §6: only pushed requests are accepted; FAPI 2.0
		// §5.3.1.2 requires PAR, so a request object by value or an
		// https request_uri never reaches /authorize either.
		return h.fail(c, rd, oauth2.ErrInvalidRequest.WithDescription("authorization requests must be pushed to "+PARPath))
	}

	req, perr := h.parse(ctx, p, client)
	if perr != nil {
		return h.fail(c, rd, perr)
	}
	req.ResponseMode = rd.mode
	responseType := req.ResponseType

	hintSub, herr := h.hintSubject(ctx, p.Get("id_token_hint"))
	if herr != nil {
		return h.fail(c, rd, herr)
	}
	if sv := subValue(req.ClaimsJson); sv != "" {
		if hintSub != "" && hintSub != sv {
			return h.fail(c, rd, oauth2.ErrInvalidRequest.WithDescription("id_token_hint and claims ask for different subjects"))
		}
		hintSub = sv
	}
	prompt := req.Prompt
	// The acr the sign-in must have: a passkey when the client asks for
	// phishing-resistant sign-in, two factors when its MFA policy (or
	// acr_values) requires them; the grain checks it again.
	requiredACR := h.requiredACR(req, client.MFAPolicy)
	// The browser session, if any. When the request could be answered
	// without a page, the grain issues the code in the same call if its
	// login and consents allow (the rules below, applied atomically);
	// otherwise it returns what they are and the rules below pick the page.
	var when *messages.IssueWhen
	// A client that requires a verified email gets no silent code from
	// the grain: h.issue checks the user first.
	if !slices.Contains(prompt, "login") && !slices.Contains(prompt, "select_account") && !slices.Contains(prompt, "consent") &&
		!(client.RequireVerifiedEmail && h.accounts != nil) {
		when = &messages.IssueWhen{RequiredSubject: hintSub, RequiredAcr: requiredACR}
		if !req.SkipConsent {
			when.Consent = req.ConsentItems
			if len(when.Consent) == 0 {
				when.Consent = req.Scopes
			}
		}
	}
	sid, secret, login, consented, code := h.current(c, ctx, req, when)
	if code != "" {
		return h.respondCode(c, rd, responseType, code)
	}
	fresh := login != nil && !slices.Contains(prompt, "login") && !slices.Contains(prompt, "select_account") &&
		(req.MaxAge < 0 || h.cfg.Now().Sub(time.UnixMilli(login.AuthTimeMs)) <= time.Duration(req.MaxAge)*time.Second) &&
		(hintSub == "" || hintSub == login.Subject) && acrSatisfied(req.AcrValues, login.Acr) && acrMeets(login.Acr, requiredACR)

	if slices.Contains(prompt, "none") {
		// OIDC Core §3.1.2.6: no UI at all.
		switch {
		case !fresh:
			return h.fail(c, rd, oauth2.ErrLoginRequired)
		case needsConsent(req, consented):
			return h.fail(c, rd, oauth2.ErrConsentRequired)
		}
		return h.issue(c, rd, sid, secret, responseType, &messages.IssueCode{Request: req})
	}
	if fresh && !needsConsent(req, consented) {
		return h.issue(c, rd, sid, secret, responseType, &messages.IssueCode{Request: req})
	}

	// UI needed: keep the request in the session while the user acts.
	create := sid == ""
	if create {
		sid, secret = session.NewSessionID()
	}
	begin := &messages.BeginAuth{Request: req, Create: create, NeedsLogin: !fresh, RequiredSubject: hintSub, RequiredAcr: requiredACR}
	r, err := h.sessions.Begin(ctx, sid, secret, begin)
	if err != nil {
		return h.fail(c, rd, err)
	}
	if create {
		h.setCookie(c, sid, secret)
	}
	if fresh {
		return h.consentPage(c, sid, secret, r.Rid, req)
	}
	// idp_hint names a connector: straight to it, without the sign-in
	// page (an unknown one is ignored); else a login_hint address whose
	// domain one connector's allowed_domains holds goes to that one.
	if started, err := h.idpHint(c, p.Get("idp_hint"), p.Get("login_hint"), sid, r.Rid, req); started {
		return err
	}
	return h.loginPage(c, http.StatusOK, secret, r.Rid, req, p.Get("login_hint"), "")
}

// failEarly reports a request whose request object could not be used.
// The client is known: the error goes to a redirect URI registered for
// it, the one of replyTo (the object's parameters, read but not
// verified, over the request's) or else the request's own, with the
// state that came with it. Only a registered URI receives it, so an
// unverified object cannot send the browser anywhere else (RFC 6749
// §4.1.2.1); without one the error is shown here.
func (h *Handler) failEarly(c echo.Context, p, replyTo url.Values, client directory.Client, err error) error {
	for _, v := range []url.Values{replyTo, p} {
		if ru := v.Get("redirect_uri"); ru != "" && directory.MatchRedirectURI(client.RedirectURIs, ru) {
			rd := redirect{uri: ru, mode: v.Get("response_mode"), state: v.Get("state"), client: client.ID}
			if !h.supportedMode(rd.mode) {
				rd.mode = ""
			}
			return h.fail(c, rd, err)
		}
	}
	e := oauth2.From(err)
	oauth2.Note(c, e.Code)
	return errorPage(c, http.StatusBadRequest, "Invalid request (%s): %s.", e.Code, e.Description)
}

// parse validates everything after client and redirect URI. Failures are
// errors to send back to the client.
func (h *Handler) parse(ctx context.Context, p url.Values, client directory.Client) (*messages.AuthRequest, error) {
	if p.Has("request") {
		return nil, oauth2.ErrRequestNotSupported
	}
	if p.Has("request_uri") {
		return nil, oauth2.ErrRequestURINotSupported
	}
	rt := p.Get("response_type")
	switch {
	case rt == "":
		return nil, oauth2.ErrInvalidRequest.WithDescription("response_type is required")
	case !slices.Contains(ResponseTypes, rt):
		return nil, oauth2.ErrUnsupportedResponseType
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		return nil, oauth2.ErrUnauthorizedClient.WithDescription("client may not use the authorization code flow")
	}
	req := &messages.AuthRequest{
		ClientId:     client.ID,
		ClientName:   client.Name,
		RedirectUri:  p.Get("redirect_uri"),
		State:        p.Get("state"),
		Nonce:        p.Get("nonce"),
		LoginHint:    p.Get("login_hint"),
		MaxAge:       -1,
		SkipConsent:  client.SkipConsent,
		ResponseType: rt,
		UiLocales:    p.Get("ui_locales"),
	}
	if req.ClientName == "" {
		req.ClientName = client.ID
	}
	jkt, err := dpopJKT(p)
	if err != nil {
		return nil, err
	}
	req.DpopJkt = jkt
	resources, err := h.requestedResources(ctx, p["resource"])
	if err != nil {
		return nil, err
	}
	for _, r := range resources {
		req.Resources = append(req.Resources, r.Identifier)
	}
	// Scopes we do not know are ignored (OIDC Core §3.1.2.1): ours, and
	// those of a resource server the request names (RFC 8707).
	for _, s := range strings.Fields(p.Get("scope")) {
		known := slices.Contains(oauth2.SupportedScopes, s) ||
			slices.ContainsFunc(resources, func(r directory.Resource) bool { return r.HasScope(s) })
		if known && !slices.Contains(req.Scopes, s) {
			req.Scopes = append(req.Scopes, s)
		}
	}
	// PKCE, S256 only (RFC 7636). Required in every request for a code
	// (RFC 9700 §2.1.1: it stops code injection, for confidential clients
	// too), unless a confidential client opted out (require_pkce false).
	challenge, method := p.Get("code_challenge"), p.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return nil, oauth2.ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge")
	case challenge == "" && rt == "code" && (client.PKCERequired() || client.AuthMethod == "none"):
		return nil, oauth2.ErrInvalidRequest.WithDescription("PKCE is required: send code_challenge with code_challenge_method S256")
	case challenge != "" && method != "S256":
		return nil, oauth2.ErrInvalidRequest.WithDescription("code_challenge_method must be S256")
	case challenge != "" && (len(challenge) != 43 || strings.Trim(challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != ""):
		return nil, oauth2.ErrInvalidRequest.WithDescription("code_challenge must be a base64url SHA-256")
	}
	req.CodeChallenge = challenge
	if s := p.Get("prompt"); s != "" {
		for _, v := range strings.Fields(s) {
			if !slices.Contains(PromptValues, v) {
				return nil, oauth2.ErrInvalidRequest.WithDescription("unsupported prompt value")
			}
			req.Prompt = append(req.Prompt, v)
		}
		if slices.Contains(req.Prompt, "none") && len(req.Prompt) > 1 {
			return nil, oauth2.ErrInvalidRequest.WithDescription("prompt=none cannot be combined")
		}
	}
	if s := p.Get("max_age"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, oauth2.ErrInvalidRequest.WithDescription("max_age must be a non-negative integer")
		}
		req.MaxAge = n
	}
	for _, s := range req.Scopes {
		if slices.Contains(oauth2.SupportedScopes, s) {
			req.ConsentItems = append(req.ConsentItems, s)
		}
	}
	for _, r := range resources {
		item := resourceConsentItem(r.Identifier)
		req.ConsentItems = append(req.ConsentItems, item)
		for _, s := range resourceScopes(r, req.Scopes) {
			req.ConsentItems = append(req.ConsentItems, item+"#"+s)
		}
	}
	if s := p.Get("claims"); s != "" {
		cr, err := oauth2.ParseClaimsRequest(s)
		if err != nil {
			return nil, oauth2.ErrInvalidRequest.WithDescription(err.Error())
		}
		b, _ := json.Marshal(cr)
		req.ClaimsJson = string(b)
		// Claims asked for by name need consent of their own, unless a
		// consented scope already releases them.
		for _, names := range []map[string]*oauth2.ClaimSpec{cr.UserInfo, cr.IDToken} {
			for name := range names {
				item := "claim:" + name
				if oauth2.Releasable(name) && !oauth2.ScopesRelease(req.Scopes, name) && !slices.Contains(req.ConsentItems, item) {
					req.ConsentItems = append(req.ConsentItems, item)
				}
			}
		}
		slices.Sort(req.ConsentItems)
	}
	req.AcrValues = strings.Fields(p.Get("acr_values"))
	return req, nil
}

// hintSubject checks an id_token_hint we issued (an expired one is fine,
// OIDC Core §3.1.2.1) and returns its subject.
func (h *Handler) hintSubject(ctx context.Context, hint string) (string, error) {
	if hint == "" {
		return "", nil
	}
	claims, err := h.verifyHint(ctx, hint)
	if err != nil {
		return "", oauth2.ErrInvalidRequest.WithDescription("id_token_hint is not a valid ID token of this OP")
	}
	return claims.Subject, nil
}

type hintClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	SID      string          `json:"sid"`
}

func (h hintClaims) audiences() []string {
	var one string
	if json.Unmarshal(h.Audience, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(h.Audience, &many)
	return many
}

func (h *Handler) verifyHint(ctx context.Context, hint string) (hintClaims, error) {
	var c hintClaims
	payload, _, err := h.verifier.VerifyType(ctx, hint, "JWT")
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != h.cfg.Issuer || c.Subject == "" {
		return c, errors.New("not our ID token")
	}
	return c, nil
}

// needsConsent tells whether the user must be asked: prompt=consent
// always asks; a first-party client never otherwise; else when the
// request asks for scopes not yet granted to this client.
func needsConsent(req *messages.AuthRequest, consented []string) bool {
	if slices.Contains(req.Prompt, "consent") {
		return true
	}
	if req.SkipConsent {
		return false
	}
	items := req.ConsentItems
	if len(items) == 0 {
		items = req.Scopes
	}
	for _, s := range items {
		if !slices.Contains(consented, s) {
			return true
		}
	}
	return false
}

// subValue is the sub the claims parameter demands, if any (OIDC Core
// §5.5.1: the OP must not answer for another subject).
func subValue(claimsJSON string) string {
	cr, _ := oauth2.ParseClaimsRequest(claimsJSON)
	if cr == nil || cr.IDToken["sub"] == nil {
		return ""
	}
	v, _ := cr.IDToken["sub"].Value.(string)
	return v
}

// current reads the session cookie and asks its grain for the login and
// the consents given to req's client. With when, the grain also issues a
// code for req if the login satisfies it (code is then set).
func (h *Handler) current(c echo.Context, ctx context.Context, req *messages.AuthRequest, when *messages.IssueWhen) (sid, secret string, login *messages.Login, consented []string, code string) {
	ck, err := c.Cookie(h.cfg.CookieName)
	if err != nil {
		return "", "", nil, nil, ""
	}
	sid, secret, err = session.SplitCookie(ck.Value)
	if err != nil {
		return "", "", nil, nil, ""
	}
	var r *messages.SessionReply
	if when != nil {
		r, err = h.sessions.Issue(ctx, sid, secret, &messages.IssueCode{Request: req, When: when})
	} else {
		r, err = h.sessions.Get(ctx, sid, secret, &messages.GetSession{ClientId: req.ClientId})
	}
	if err != nil {
		// Unknown, expired or forged: behave as if there were no cookie.
		return "", "", nil, nil, ""
	}
	return sid, secret, r.Login, r.Consented, r.Code
}

func (h *Handler) setCookie(c echo.Context, sid, secret string) {
	c.SetCookie(&http.Cookie{
		Name:     h.cfg.CookieName,
		Value:    sid + "." + secret,
		Path:     "/",
		MaxAge:   int(h.cfg.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   h.secure,
		SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: h.cfg.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// issue asks the grain for a code and sends the response.
func (h *Handler) issue(c echo.Context, rd redirect, sid, secret, responseType string, op *messages.IssueCode) error {
	if handled, err := h.verifiedGate(c, rd, sid, secret, op); handled {
		return err
	}
	r, err := h.sessions.Issue(c.Request().Context(), sid, secret, op)
	if err != nil {
		return h.fail(c, rd, err)
	}
	return h.respondCode(c, rd, responseType, r.Code)
}

// respondCode sends the authorization response for an issued code.
func (h *Handler) respondCode(c echo.Context, rd redirect, responseType, code string) error {
	v := url.Values{}
	if responseType != "none" {
		v.Set("code", code)
	}
	return h.respond(c, rd, v)
}

// fail sends an error to the client's redirect URI (RFC 6749 §4.1.2.1).
func (h *Handler) fail(c echo.Context, rd redirect, err error) error {
	e := oauth2.From(err)
	if e.Status >= 500 {
		h.logger.Warn("authorize failed", "err", err)
	}
	oauth2.Note(c, e.Code)
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	return h.respond(c, rd, v)
}

// respond adds state and iss (RFC 9207) and delivers by response mode.
func (h *Handler) respond(c echo.Context, rd redirect, v url.Values) error {
	if rd.state != "" {
		v.Set("state", rd.state)
	}
	v.Set("iss", h.cfg.Issuer)
	mode, isJWT := jwtMode(rd.mode)
	if isJWT {
		tok, err := h.responseJWT(c.Request().Context(), rd.client, v)
		if err != nil {
			// Never the response in the clear instead of the JWT.
			h.logger.Warn("authorization response JWT failed", "client", rd.client, "err", err)
			oauth2.Note(c, "server_error")
			return errorPage(c, http.StatusInternalServerError, "The response to the application could not be signed.")
		}
		v = url.Values{"response": {tok}}
	}
	if mode == "form_post" {
		fields := map[string]string{}
		for k := range v {
			fields[k] = v.Get(k)
		}
		return render(c, http.StatusOK, "form_post.html", map[string]any{"Title": tr(c, "Continue"), "Action": rd.uri, "Fields": fields})
	}
	u, err := url.Parse(rd.uri)
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "The redirect_uri is invalid.")
	}
	q := u.Query()
	for k := range v {
		q.Set(k, v.Get(k))
	}
	u.RawQuery = q.Encode()
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusFound, u.String())
}
