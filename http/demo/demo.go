package demo

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"authrim/http/router"
)

// Paths the demo serves, all under Path.
const (
	Path         = "/demo"
	LoginPath    = "/demo/login"
	CallbackPath = "/demo/callback"
	LogoutPath   = "/demo/logout"
	cssPath      = "/demo/demo.css"
)

// Cookie names: the sign-in in progress, and the signed-in result. Both
// are HttpOnly, SameSite=Lax and scoped to Path; they hold random ids of
// in-memory records, nothing else.
const (
	stateCookie  = "authrim_demo_state"
	resultCookie = "authrim_demo"
)

// Bounds of the in-memory records: a sign-in must come back within
// pendingTTL; a result is shown for resultTTL. maxRecords bounds each map
// so a flood of /demo/login requests cannot grow the process.
const (
	pendingTTL = 10 * time.Minute
	resultTTL  = time.Hour
	maxRecords = 1024
)

// Scopes the demo asks for: enough to show every claim the demo user has.
var Scopes = []string{oidc.ScopeOpenID, "profile", "email", "phone", "address"}

// RedirectURI is the demo's redirect URI under issuer, which its client
// registers.
func RedirectURI(issuer string) string { return strings.TrimSuffix(issuer, "/") + CallbackPath }

// HomeURI is the demo's page under issuer: the post-logout redirect URI.
func HomeURI(issuer string) string { return strings.TrimSuffix(issuer, "/") + Path }

// Config of the demo relying party.
type Config struct {
	// Issuer is the node's issuer: the demo discovers the node there and
	// calls its endpoints over HTTP, as any client does.
	Issuer string
	// ClientID and ClientSecret are the demo client's (client_secret_basic).
	ClientID, ClientSecret string
	// Username is shown on the page and sent as login_hint.
	Username string
	// HTTPClient makes the back-channel calls (discovery, JWKS, token,
	// userinfo); nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Demo is the demo relying party's front end.
type Demo struct {
	cfg     Config
	secure  bool // https issuer: cookies are Secure
	pending *records[pending]
	results *records[result]

	mu       sync.Mutex
	provider *oidc.Provider
}

// pending is a sign-in in progress: what the callback checks.
type pending struct {
	nonce, verifier string
}

// result is a finished sign-in, as the page shows it.
type result struct {
	Subject, Name, Alg, Kid, Scope string
	IDTokenClaims, Userinfo        string // indented JSON
	rawIDToken                     string // the id_token_hint of the sign-out
	csrf                           string
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets/demo.css
var assetFS embed.FS

// cssFiles serves the page's stylesheet from the embedded assets.
var cssFiles = func() http.Handler {
	css, _ := fs.Sub(assetFS, "assets")
	return http.StripPrefix(Path, http.FileServer(http.FS(css)))
}()

func serveCSS(c echo.Context) error {
	cssFiles.ServeHTTP(c.Response(), c.Request())
	return nil
}

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// New returns the demo front end.
func New(cfg Config) (*Demo, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("demo: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("demo: a client id and secret are needed")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Demo{
		cfg:     cfg,
		secure:  u.Scheme == "https",
		pending: newRecords[pending](pendingTTL, cfg.Now),
		results: newRecords[result](resultTTL, cfg.Now),
	}, nil
}

// Name is the front end's name in metrics and the route table.
func (d *Demo) Name() string { return "demo" }

// Routes are the demo's pages. They are rate limited like the node's own
// pages; the sign-in steps like the protocol endpoints they call.
func (d *Demo) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: Path, Handler: d.home, Limit: router.Moderate},
		{Method: http.MethodGet, Path: cssPath, Handler: serveCSS, Limit: router.Lenient},
		{Method: http.MethodGet, Path: LoginPath, Handler: d.login, Limit: router.Moderate},
		{Method: http.MethodGet, Path: CallbackPath, Handler: d.callback, Limit: router.Moderate},
		{Method: http.MethodPost, Path: LogoutPath, Handler: d.logout, Limit: router.Moderate},
	}
}

// discover returns the node's provider metadata, fetched over HTTP on
// first use (the node is not listening yet when the demo is built) and
// kept once it worked.
func (d *Demo) discover(ctx context.Context) (*oidc.Provider, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.provider != nil {
		return d.provider, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, d.cfg.HTTPClient), d.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	d.provider = p
	return p, nil
}

func (d *Demo) oauth2Config(p *oidc.Provider) *oauth2.Config {
	ep := p.Endpoint()
	// The demo client is registered for client_secret_basic. Said
	// outright: x/oauth2's auto-detection would send a refused code a
	// second time with the secret in the form.
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{
		ClientID: d.cfg.ClientID, ClientSecret: d.cfg.ClientSecret,
		Endpoint:    ep,
		RedirectURL: RedirectURI(d.cfg.Issuer),
		Scopes:      Scopes,
	}
}

func (d *Demo) home(c echo.Context) error {
	if r, ok := d.currentResult(c); ok {
		return render(c, http.StatusOK, "result.html", map[string]any{
			"Title": "You are signed in", "Name": r.Name, "Subject": r.Subject, "Alg": r.Alg, "Kid": r.Kid, "Scope": r.Scope,
			"IDTokenClaims": r.IDTokenClaims, "Userinfo": r.Userinfo, "CSRF": r.csrf,
		})
	}
	return render(c, http.StatusOK, "start.html", map[string]any{
		"Title": "Sign in to the demo app", "Username": d.cfg.Username,
		"Discovery": strings.TrimSuffix(d.cfg.Issuer, "/") + "/.well-known/openid-configuration",
	})
}

// login starts a sign-in: state, nonce and a PKCE verifier (RFC 7636),
// kept here and bound to this browser by a cookie, then the redirect to
// the authorization endpoint.
func (d *Demo) login(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := d.discover(ctx)
	if err != nil {
		d.cfg.Logger.WarnContext(ctx, "demo: discovery failed", "err", err)
		return errorPage(c, http.StatusBadGateway, "The demo app cannot read the node's discovery document. Is the issuer URL reachable from the node itself?")
	}
	nonce, err := randomID()
	if err != nil {
		return err
	}
	pe := pending{nonce: nonce, verifier: oauth2.GenerateVerifier()}
	state, err := d.pending.put(pe)
	if err != nil {
		return err
	}
	d.setCookie(c, stateCookie, state, pendingTTL)
	opts := []oauth2.AuthCodeOption{oidc.Nonce(pe.nonce), oauth2.S256ChallengeOption(pe.verifier)}
	if d.cfg.Username != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", d.cfg.Username))
	}
	return c.Redirect(http.StatusFound, d.oauth2Config(p).AuthCodeURL(state, opts...))
}

// callback finishes a sign-in: the state must be the one this browser
// started (its cookie) and is used once; the code is exchanged with the
// PKCE verifier; the ID token is verified; userinfo is asked.
func (d *Demo) callback(c echo.Context) error {
	ctx := c.Request().Context()
	q := c.QueryParams()
	state := q.Get("state")
	ck, err := c.Cookie(stateCookie)
	d.clearCookie(c, stateCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(state)) != 1 {
		return errorPage(c, http.StatusBadRequest, "This sign-in was not started by this browser (the state does not match). Start again from the demo page.")
	}
	pe, ok := d.pending.take(state)
	if !ok {
		return errorPage(c, http.StatusBadRequest, "This sign-in has expired or was already used. Start again from the demo page.")
	}
	// RFC 9207 §2.4: the node sends iss with every response (its
	// metadata says so), and it must be the node's.
	if q.Get("iss") != d.cfg.Issuer {
		return errorPage(c, http.StatusBadRequest, "The answer came from another issuer than this node.")
	}
	if e := q.Get("error"); e != "" {
		msg := "The node answered " + e
		if desc := q.Get("error_description"); desc != "" {
			msg += ": " + desc
		}
		return errorPage(c, http.StatusOK, msg+".")
	}
	p, err := d.discover(ctx)
	if err != nil {
		d.cfg.Logger.WarnContext(ctx, "demo: discovery failed", "err", err)
		return errorPage(c, http.StatusBadGateway, "The demo app cannot read the node's discovery document.")
	}
	octx := oidc.ClientContext(ctx, d.cfg.HTTPClient)
	tok, err := d.oauth2Config(p).Exchange(octx, q.Get("code"), oauth2.VerifierOption(pe.verifier))
	if err != nil {
		d.cfg.Logger.WarnContext(ctx, "demo: code exchange failed", "err", exchangeError(err))
		return errorPage(c, http.StatusBadGateway, "The node refused the code: "+exchangeError(err))
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: d.cfg.ClientID, Now: d.cfg.Now}).Verify(octx, rawID)
	if err != nil {
		d.cfg.Logger.WarnContext(ctx, "demo: ID token refused", "err", err)
		return errorPage(c, http.StatusBadGateway, "The ID token did not verify.")
	}
	// OIDC Core §3.1.3.7 item 11: the nonce must be the one sent.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pe.nonce)) != 1 {
		return errorPage(c, http.StatusBadGateway, "The ID token's nonce is not the one this sign-in sent.")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	ui, err := p.UserInfo(octx, oauth2.StaticTokenSource(tok))
	if err != nil {
		d.cfg.Logger.WarnContext(ctx, "demo: userinfo failed", "err", err)
		return errorPage(c, http.StatusBadGateway, "The node's userinfo endpoint refused the access token.")
	}
	var info map[string]any
	if err := ui.Claims(&info); err != nil {
		return err
	}
	csrf, err := randomID()
	if err != nil {
		return err
	}
	alg, kid := joseHeader(rawID)
	scope, _ := tok.Extra("scope").(string)
	r := result{
		Subject: idt.Subject, Name: displayName(idt.Subject, claims, info), Alg: alg, Kid: kid, Scope: scope,
		IDTokenClaims: indent(claims), Userinfo: indent(info), rawIDToken: rawID, csrf: csrf,
	}
	id, err := d.results.put(r)
	if err != nil {
		return err
	}
	d.setCookie(c, resultCookie, id, resultTTL)
	return c.Redirect(http.StatusSeeOther, Path)
}

// logout forgets the result and sends the browser to the node's
// end_session_endpoint (RP-initiated logout 1.0), which ends the node's
// session and comes back to the demo page.
func (d *Demo) logout(c echo.Context) error {
	r, ok := d.currentResult(c)
	if !ok {
		return c.Redirect(http.StatusSeeOther, Path)
	}
	if subtle.ConstantTimeCompare([]byte(c.FormValue("csrf")), []byte(r.csrf)) != 1 {
		return errorPage(c, http.StatusForbidden, "This sign-out was not sent from the demo page.")
	}
	if ck, err := c.Cookie(resultCookie); err == nil {
		d.results.take(ck.Value)
	}
	d.clearCookie(c, resultCookie)
	p, err := d.discover(c.Request().Context())
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err != nil || p.Claims(&meta) != nil || meta.EndSession == "" {
		return c.Redirect(http.StatusSeeOther, Path)
	}
	v := url.Values{"id_token_hint": {r.rawIDToken}, "post_logout_redirect_uri": {HomeURI(d.cfg.Issuer)}, "client_id": {d.cfg.ClientID}}
	return c.Redirect(http.StatusSeeOther, meta.EndSession+"?"+v.Encode())
}

func (d *Demo) currentResult(c echo.Context) (result, bool) {
	ck, err := c.Cookie(resultCookie)
	if err != nil {
		return result{}, false
	}
	return d.results.get(ck.Value)
}

func (d *Demo) setCookie(c echo.Context, name, value string, ttl time.Duration) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: Path, MaxAge: int(ttl.Seconds()),
		HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode})
}

func (d *Demo) clearCookie(c echo.Context, name string) {
	c.SetCookie(&http.Cookie{Name: name, Value: "", Path: Path, MaxAge: -1, HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode})
}

// render writes a page: never cached, never framed, no script at all.
func render(c echo.Context, status int, name string, data map[string]any) error {
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(status)
	return pages.ExecuteTemplate(c.Response(), name, data)
}

func errorPage(c echo.Context, status int, msg string) error {
	return render(c, status, "error.html", map[string]any{"Title": "The sign-in did not work", "Message": msg})
}

// exchangeError is what the token endpoint said, without the response
// body beyond the OAuth error code and description.
func exchangeError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		if re.ErrorDescription != "" {
			return re.ErrorCode + " (" + re.ErrorDescription + ")"
		}
		return re.ErrorCode
	}
	return "the token endpoint could not be reached"
}

// joseHeader reads alg and kid from a compact JWS (already verified).
func joseHeader(jws string) (alg, kid string) {
	head, _, _ := strings.Cut(jws, ".")
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", ""
	}
	var h struct{ Alg, Kid string }
	_ = json.Unmarshal(b, &h)
	return h.Alg, h.Kid
}

// displayName is how the page greets the user: a name from the ID
// token or userinfo, else the subject.
func displayName(sub string, sources ...map[string]any) string {
	for _, m := range sources {
		for _, k := range []string{"name", "preferred_username", "email"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
	}
	return sub
}

func indent(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// randomID returns 32 random bytes, base64url.
func randomID() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// records is a bounded in-memory map of records under random ids, each
// kept for ttl.
type records[V any] struct {
	mu  sync.Mutex
	m   map[string]record[V]
	ttl time.Duration
	now func() time.Time
	// seq orders records made at the same instant (a coarse clock):
	// the first made goes first.
	seq uint64
}

type record[V any] struct {
	v   V
	exp time.Time
	seq uint64
}

func newRecords[V any](ttl time.Duration, now func() time.Time) *records[V] {
	return &records[V]{m: map[string]record[V]{}, ttl: ttl, now: now}
}

// put keeps v under a new random id. When full, expired records go
// first, then the one closest to expiry.
func (r *records[V]) put(v V) (string, error) {
	id, err := randomID()
	if err != nil {
		return "", err
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= maxRecords {
		oldest, first := "", record[V]{}
		for k, rec := range r.m {
			if !now.Before(rec.exp) {
				delete(r.m, k)
				continue
			}
			if oldest == "" || rec.exp.Before(first.exp) || (rec.exp.Equal(first.exp) && rec.seq < first.seq) {
				oldest, first = k, rec
			}
		}
		if len(r.m) >= maxRecords {
			delete(r.m, oldest)
		}
	}
	r.seq++
	r.m[id] = record[V]{v: v, exp: now.Add(r.ttl), seq: r.seq}
	return id, nil
}

func (r *records[V]) get(id string) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.m[id]
	if !ok || !r.now().Before(rec.exp) {
		var zero V
		return zero, false
	}
	return rec.v, true
}

// take returns the record and removes it: a state is used once.
func (r *records[V]) take(id string) (V, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.m[id]
	delete(r.m, id)
	if !ok || !r.now().Before(rec.exp) {
		var zero V
		return zero, false
	}
	return rec.v, true
}
