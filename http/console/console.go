package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/audit"
	"authrim/directory"
	"authrim/http/management"
	"authrim/http/router"
)

// Base is the path the console's pages live under; /admin/ leads there.
const Base = "/admin/console"

// ClientID is the console's built-in client (node.ConsoleClient).
const ClientID = "authrim-console"

// CallbackPath is the console's redirect URI path.
const CallbackPath = Base + "/callback"

// SignedOutPath is where the node's end-session endpoint sends the
// browser back after the console's sign-out (its post-logout redirect
// URI).
const SignedOutPath = Base + "/signed-out"

// Sealer seals the console's cookies under the node's KEK
// (keymanager.KEK), bound to what they are for.
type Sealer interface {
	Wrap(kid string, plaintext []byte) ([]byte, error)
	Unwrap(kid string, sealed []byte) ([]byte, error)
}

// Config is the console's place in the deployment.
type Config struct {
	// Issuer is the node's issuer: the console signs in there.
	Issuer string
	// AuthorizeURL, TokenURL, JWKSURL and EndSessionURL are the node's
	// own endpoints.
	AuthorizeURL, TokenURL, JWKSURL, EndSessionURL string
	// URL is where browsers reach the console's listener (scheme and
	// host, no path): the issuer's, or the admin listener's.
	URL string
	// Algs are the ID token signing algorithms the node may use.
	Algs []string
	// Transport carries the console's calls to the token endpoint and
	// the JWKS (the node's own router, in process).
	Transport http.RoundTripper
	// TTL ends a console session unused this long (default 30
	// minutes); each request starts it again, up to MaxTTL after the
	// sign-in (default 8 hours), when the admin signs in again.
	TTL, MaxTTL time.Duration
	Now         func() time.Time
}

// Console serves the admin console.
type Console struct {
	cfg    Config
	admin  *management.Admin
	users  *management.DirectoryAdmin
	sealer Sealer
	logger *slog.Logger
	pages  *pageSet
	secure bool
}

// New returns the console over admin's operations. admin must have its
// directory (WithDirectory).
func New(cfg Config, admin *management.Admin, sealer Sealer, logger *slog.Logger) (*Console, error) {
	if admin == nil || admin.Directory() == nil {
		return nil, errors.New("console: the admin API with its directory is required")
	}
	if sealer == nil {
		return nil, errors.New("console: a sealer is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Minute
	}
	if cfg.MaxTTL < cfg.TTL {
		cfg.MaxTTL = max(8*time.Hour, cfg.TTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ps, err := newPageSet()
	if err != nil {
		return nil, err
	}
	return &Console{
		cfg: cfg, admin: admin, users: admin.Directory(), sealer: sealer, logger: logger, pages: ps,
		secure: strings.HasPrefix(cfg.URL, "https://"),
	}, nil
}

// RedirectURI is the console client's redirect URI.
func RedirectURI(consoleURL string) string {
	return strings.TrimSuffix(consoleURL, "/") + CallbackPath
}

// PostLogoutRedirectURI is the console client's post-logout redirect
// URI.
func PostLogoutRedirectURI(consoleURL string) string {
	return strings.TrimSuffix(consoleURL, "/") + SignedOutPath
}

// Name is the front end's name in metrics and the route table.
func (c *Console) Name() string { return "console" }

// Routes are the console's pages: admin routes (on admin.listen when one
// is set). Sign-in is Strict (it ends in a code exchange); pages and
// their forms are Moderate.
func (c *Console) Routes() []router.Route {
	// Every page but sign-in needs a signed-in admin.
	signed := []echo.MiddlewareFunc{c.signedIn}
	rs := []router.Route{
		{Method: http.MethodGet, Path: "/admin/", Handler: c.home, Limit: router.Moderate},
		{Method: http.MethodGet, Path: Base, Handler: c.home, Limit: router.Moderate},
		{Method: http.MethodGet, Path: Base + "/assets/:file", Handler: c.asset, Limit: router.Lenient},
		{Method: http.MethodGet, Path: Base + "/login", Handler: c.login, Limit: router.Strict, Group: "console-signin"},
		{Method: http.MethodGet, Path: CallbackPath, Handler: c.callback, Limit: router.Strict, Group: "console-signin", Grain: "Session.Redeem (via /token)"},
		{Method: http.MethodPost, Path: Base + "/logout", Handler: c.logout, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: SignedOutPath, Handler: c.signedOut, Limit: router.Moderate},
		{Method: http.MethodGet, Path: Base + "/users", Handler: c.usersPage, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodPost, Path: Base + "/users", Handler: c.createUser, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: Base + "/users/:id", Handler: c.userPage, Limit: router.Moderate, Middleware: signed, Grain: "Session.Describe (each of the user's)"},
		{Method: http.MethodPost, Path: Base + "/users/:id/:action", Handler: c.userAction, Limit: router.Moderate, Middleware: signed, Grain: "Session.End (each of the user's)"},
		{Method: http.MethodGet, Path: Base + "/clients", Handler: c.clientsPage, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodPost, Path: Base + "/clients", Handler: c.createClient, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: Base + "/clients/:id", Handler: c.clientPage, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodPost, Path: Base + "/clients/:id/:action", Handler: c.clientAction, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: Base + "/keys", Handler: c.keysPage, Limit: router.Moderate, Middleware: signed, Grain: "KeyManager.List"},
		{Method: http.MethodPost, Path: Base + "/keys/rotate", Handler: c.rotateKeys, Limit: router.Moderate, Middleware: signed, Grain: "KeyManager.Rotate"},
		{Method: http.MethodPost, Path: Base + "/keys/:kid/revoke", Handler: c.revokeKey, Limit: router.Moderate, Middleware: signed, Grain: "KeyManager.Revoke"},
		{Method: http.MethodGet, Path: Base + "/webhooks", Handler: c.webhooksPage, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodPost, Path: Base + "/webhooks", Handler: c.createWebhook, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: Base + "/webhooks/:id", Handler: c.webhookPage, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodPost, Path: Base + "/webhooks/:id/:action", Handler: c.webhookAction, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: Base + "/cluster", Handler: c.clusterPage, Limit: router.Moderate, Middleware: signed},
		{Method: http.MethodGet, Path: Base + "/audit", Handler: c.auditPage, Limit: router.Moderate, Middleware: signed},
	}
	for i := range rs {
		rs[i].Admin = true
	}
	return rs
}

// Cookie names; __Host- (RFC 6265bis §4.1.3.2) pins the session cookie
// to this host and path / when the console is served over TLS.
const (
	sessionCookie = "authrim-console"
	flowCookie    = "authrim-console-flow"
	sessionKID    = "console-session"
	flowKID       = "console-flow"
)

func (c *Console) cookieName(name string) string {
	if c.secure {
		return "__Host-" + name
	}
	return name
}

// session is the sealed content of the console's cookie.
type session struct {
	Sub  string `json:"sub"`
	CSRF string `json:"csrf"`
	// Exp is when the session ends unless used (Unix seconds); Max,
	// when it ends whatever (the sign-in plus MaxTTL).
	Exp int64 `json:"exp"`
	Max int64 `json:"max,omitempty"`
	// IDToken is the sign-in's ID token: the id_token_hint of the
	// sign-out at the node's end-session endpoint.
	IDToken string `json:"idt,omitempty"`
}

// flow is the sealed content of the sign-in cookie: what the callback
// checks the OP's answer against.
type flow struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Exp      int64  `json:"exp"`
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *Console) seal(kid string, v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sealed, err := c.sealer.Wrap(kid, b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// open unseals a cookie value; any tampering fails the AEAD.
func (c *Console) open(kid, value string, v any) error {
	if len(value) > 4096 {
		return errors.New("console: cookie too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return err
	}
	b, err := c.sealer.Unwrap(kid, raw)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (c *Console) setCookie(e echo.Context, name, value string, ttl time.Duration, same http.SameSite) {
	ck := &http.Cookie{
		Name: c.cookieName(name), Value: value, Path: "/", HttpOnly: true, Secure: c.secure, SameSite: same,
		MaxAge: int(ttl / time.Second),
	}
	if ttl <= 0 {
		ck.MaxAge = -1
	}
	e.SetCookie(ck)
}

// current is the console session of the request, if it carries a valid
// one.
func (c *Console) current(e echo.Context) (session, bool) {
	ck, err := e.Cookie(c.cookieName(sessionCookie))
	if err != nil {
		return session{}, false
	}
	var s session
	if err := c.open(sessionKID, ck.Value, &s); err != nil {
		c.logger.WarnContext(e.Request().Context(), "console: session cookie refused", "audit", true, "client_ip", e.RealIP(), "err", err)
		return session{}, false
	}
	if s.Sub == "" || s.CSRF == "" || c.cfg.Now().Unix() >= s.Exp {
		return session{}, false
	}
	return s, true
}

// Keys of the request values the pages read.
const (
	sessionKey = "console.session"
	adminKey   = "console.admin"
)

// signedIn admits a request of a signed-in admin: a valid session
// cookie, a user who still exists, is enabled and has the admin role
// (read now, not when they signed in), and on a POST the session's CSRF
// token. The admin's subject becomes the actor of the request's audit
// lines.
func (c *Console) signedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(e echo.Context) error {
		ctx := e.Request().Context()
		s, ok := c.current(e)
		if !ok {
			if e.Request().Method == http.MethodGet {
				return e.Redirect(http.StatusSeeOther, Base+"/login")
			}
			return c.errorPage(e, http.StatusForbidden, "Your console session has ended. Sign in again.")
		}
		u, err := c.users.User(ctx, s.Sub)
		if err != nil || u.Disabled || !u.Admin {
			c.logger.WarnContext(ctx, "console: access refused", "audit", true, "sub", s.Sub, "client_ip", e.RealIP(), "reason", refusal(u, err))
			c.setCookie(e, sessionCookie, "", 0, http.SameSiteStrictMode)
			return c.errorPage(e, http.StatusForbidden, "This account may not use the admin console.")
		}
		if e.Request().Method == http.MethodPost {
			got := e.FormValue("csrf")
			if subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
				c.logger.WarnContext(ctx, "console: form refused", "audit", true, "sub", s.Sub, "client_ip", e.RealIP(), "reason", "csrf")
				return c.errorPage(e, http.StatusForbidden, "The form has expired. Reload the page and try again.")
			}
		}
		c.extend(e, &s)
		e.SetRequest(e.Request().WithContext(audit.WithActor(ctx, u.Subject)))
		e.Set(sessionKey, s)
		e.Set(adminKey, u)
		return next(e)
	}
}

// extend starts the session's idle time again (its cookie is sealed
// anew at most once a minute), never past its Max.
func (c *Console) extend(e echo.Context, s *session) {
	now := c.cfg.Now()
	exp := min(now.Add(c.cfg.TTL).Unix(), s.Max)
	if exp-s.Exp < 60 {
		return
	}
	next := *s
	next.Exp = exp
	v, err := c.seal(sessionKID, next)
	if err != nil {
		return // the session goes on to its current end
	}
	c.setCookie(e, sessionCookie, v, time.Duration(exp-now.Unix())*time.Second, http.SameSiteStrictMode)
	*s = next
}

func refusal(u directory.User, err error) string {
	switch {
	case err != nil:
		return "unknown user"
	case u.Disabled:
		return "disabled"
	}
	return "not an admin"
}

func sessionOf(e echo.Context) session {
	s, _ := e.Get(sessionKey).(session)
	return s
}

func adminOf(e echo.Context) directory.User {
	u, _ := e.Get(adminKey).(directory.User)
	return u
}

func (c *Console) home(e echo.Context) error {
	return e.Redirect(http.StatusSeeOther, Base+"/users")
}
