package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/connectors"
	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// UpstreamPath starts a sign-in with a connector (POST from the sign-in
// page's button, with the request's rid and CSRF token);
// UpstreamPath/:id/callback is where the upstream sends the browser back.
const UpstreamPath = "/login/upstream"

// upstreamTTL bounds an upstream sign-in from the button to the callback.
const upstreamTTL = 10 * time.Minute

// Links is what upstream sign-ins need of the directory.
type Links interface {
	LinkedUser(ctx context.Context, issuer, subject string) (directory.Link, error)
	AddLink(ctx context.Context, l directory.Link) (directory.Link, error)
	Links(ctx context.Context, user string) ([]directory.Link, error)
	RemoveLink(ctx context.Context, user, issuer, subject string) error
	UserByVerifiedEmail(ctx context.Context, addr string) (directory.User, error)
	CreateUser(ctx context.Context, in directory.NewUser) (directory.User, error)
	DeleteUser(ctx context.Context, ref string) error
	User(ctx context.Context, subject string) (directory.User, error)
	UpdateUserClaims(ctx context.Context, ref string, set map[string]any) (directory.User, error)
	UseUpstreamState(ctx context.Context, state string, exp time.Time) error
}

// upstreamFront is the upstream sign-in feature (WithUpstream).
type upstreamFront struct {
	// static are config.yaml's connectors; source, when set, adds the
	// stored ones (read at each request: WithUpstreamSource).
	static *upstreamSet
	source func(context.Context) ([]connectors.Connector, error)
	links  Links
	sealer directory.Sealer
}

// upstreamSet is the connectors of one request.
type upstreamSet struct {
	list []connectors.Redirect
	byID map[string]connectors.Redirect
	// password, when set, checks the sign-in form's username and
	// password first (LDAP); local accounts are tried when it refuses
	// them.
	password connectors.Password
	// names are every connector's names by id (for /account).
	names map[string]string
}

func newUpstreamSet(list []connectors.Connector) *upstreamSet {
	u := &upstreamSet{byID: map[string]connectors.Redirect{}, names: map[string]string{}}
	for _, c := range list {
		if _, dup := u.names[c.ID()]; dup {
			continue
		}
		u.names[c.ID()] = c.Name()
		switch c := c.(type) {
		case connectors.Redirect:
			u.list = append(u.list, c)
			u.byID[c.ID()] = c
		case connectors.Password:
			// One backs the form (connectors.Validate and the registry
			// allow one).
			if u.password == nil {
				u.password = c
			}
		}
	}
	return u
}

// upstreams are the connectors now: config.yaml's and the stored ones.
// A store that cannot be read leaves config.yaml's.
func (h *Handler) upstreams(ctx context.Context) *upstreamSet {
	if h.upstream == nil {
		return &upstreamSet{}
	}
	if h.upstream.source == nil {
		return h.upstream.static
	}
	more, err := h.upstream.source(ctx)
	if err != nil {
		h.logger.WarnContext(ctx, "stored connectors unavailable", "err", err)
	}
	if len(more) == 0 {
		return h.upstream.static
	}
	all := make([]connectors.Connector, 0, len(h.upstream.static.names)+len(more))
	for _, c := range h.upstream.static.list {
		all = append(all, c)
	}
	if h.upstream.static.password != nil {
		all = append(all, h.upstream.static.password)
	}
	return newUpstreamSet(append(all, more...))
}

// WithUpstream turns on sign-in with upstream identity providers: a
// button per connector on the sign-in page, idp_hint on /authorize, and
// the linked identities on /account. The sealer protects the per-attempt
// state kept in a cookie.
func (h *Handler) WithUpstream(list []connectors.Connector, links Links, sealer directory.Sealer) *Handler {
	u := &upstreamFront{static: newUpstreamSet(list), links: links, sealer: sealer}
	if len(list) > 0 {
		h.upstream = u
	}
	return h
}

// WithUpstreamSource adds connectors read at each request (the ones
// stored through the admin API): an added or removed one takes effect
// without a restart. It turns upstream sign-in on even when config.yaml
// lists none; call after WithUpstream.
func (h *Handler) WithUpstreamSource(source func(context.Context) ([]connectors.Connector, error), links Links, sealer directory.Sealer) *Handler {
	if h.upstream == nil {
		h.upstream = &upstreamFront{static: newUpstreamSet(nil), links: links, sealer: sealer}
	}
	h.upstream.source = source
	return h
}

func (h *Handler) upstreamRoutes() []router.Route {
	if h.upstream == nil {
		return nil
	}
	return []router.Route{
		{Method: http.MethodPost, Path: UpstreamPath + "/:id", Handler: h.upstreamStart, Limit: router.Moderate, Grain: "Session.Get"},
		{Method: http.MethodGet, Path: UpstreamPath + "/:id/callback", Handler: h.upstreamCallback, Limit: router.Strict, Grain: "Session.Get, Session.Login, Session.Issue"},
		{Method: http.MethodPost, Path: AccountPath + "/links/remove", Handler: h.removeLink, Limit: router.Moderate, Grain: "Session.Get"},
	}
}

// upstreamButton is one connector on the sign-in page.
type upstreamButton struct{ ID, Name string }

// upstreamButtons are the sign-in page's connectors; none when the
// request needs more than a password-grade sign-in (a passkey, a second
// factor): an upstream's word is not one of our factors.
func (h *Handler) upstreamButtons(c echo.Context, req *messages.AuthRequest) []upstreamButton {
	if h.upstream == nil || !h.upstreamAllowed(c.Request().Context(), req) {
		return nil
	}
	var out []upstreamButton
	for _, c := range h.upstreams(c.Request().Context()).list {
		out = append(out, upstreamButton{ID: c.ID(), Name: c.Name()})
	}
	return out
}

// upstreamAllowed: only requests a password alone would satisfy may be
// signed in upstream: not when acr_values asks for a passkey or a second
// factor, nor when the node's or client's policy requires one (an
// upstream's word is not one of our factors).
func (h *Handler) upstreamAllowed(ctx context.Context, req *messages.AuthRequest) bool {
	if !acrSatisfied(req.GetAcrValues(), ACRPassword) || slices.Contains(req.GetAcrValues(), ACRMFA) {
		return false
	}
	policy, err := h.requestPolicy(ctx, req)
	return err == nil && policy != directory.MFARequired
}

// upstreamState is what the state cookie carries, sealed under the KEK
// with the session id as additional data: it opens only with the
// browser's own session cookie.
type upstreamState struct {
	Connector string `json:"c"`
	State     string `json:"s"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	Rid       string `json:"r"`
	Exp       int64  `json:"e"`
}

// pendingLink is an offer to link an upstream identity to the existing
// account with the same verified email, kept (sealed, like the state)
// until the user signs in to that account.
type pendingLink struct {
	Connector string `json:"c"`
	Issuer    string `json:"i"`
	Subject   string `json:"s"`
	Email     string `json:"m"`
	User      string `json:"u"`
	Rid       string `json:"r"`
	Exp       int64  `json:"e"`
}

func (h *Handler) upstreamCookieName(base string) string {
	if h.secure {
		return "__Secure-" + base
	}
	return base
}

// sealCookie seals v for session sid into a cookie at path.
func (h *Handler) sealCookie(c echo.Context, name, kid, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	sealed, err := h.upstream.sealer.Wrap(kid, b)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: h.upstreamCookieName(name), Value: base64.RawURLEncoding.EncodeToString(sealed), Path: path,
		MaxAge: int(upstreamTTL.Seconds()), HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// openCookie opens and clears (it is good once) a sealed cookie.
func (h *Handler) openCookie(c echo.Context, name, kid, path string, v any) bool {
	ck, err := c.Cookie(h.upstreamCookieName(name))
	if err != nil {
		return false
	}
	c.SetCookie(&http.Cookie{Name: h.upstreamCookieName(name), Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
	sealed, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil {
		return false
	}
	b, err := h.upstream.sealer.Unwrap(kid, sealed)
	if err != nil {
		return false
	}
	return json.Unmarshal(b, v) == nil
}

const (
	stateCookie = "authrim_upstream"
	linkCookie  = "authrim_link"
)

func randomParam() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (h *Handler) upstreamRedirectURI(id string) string {
	return strings.TrimSuffix(h.cfg.Issuer, "/") + UpstreamPath + "/" + id + "/callback"
}

// upstreamStart is the sign-in page's connector button.
func (h *Handler) upstreamStart(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil {
		return expired(c)
	}
	conn, ok := h.upstreams(c.Request().Context()).byID[c.Param("id")]
	if !ok {
		return errorPage(c, http.StatusNotFound, "This sign-in option does not exist.")
	}
	if !h.upstreamAllowed(c.Request().Context(), f.reply.Request) {
		return h.loginPage(c, http.StatusForbidden, f.secret, f.rid, f.reply.Request, "", tr(c, "This application needs a sign-in with this site's own factors."))
	}
	return h.startUpstream(c, f.sid, f.rid, f.reply.Request, conn)
}

// startUpstream sends the browser to the connector, with a fresh state,
// nonce and PKCE verifier kept in a sealed cookie bound to the session.
func (h *Handler) startUpstream(c echo.Context, sid, rid string, req *messages.AuthRequest, conn connectors.Redirect) error {
	ctx := c.Request().Context()
	p := connectors.Params{State: randomParam(), Nonce: randomParam(), Verifier: randomParam()}
	target, err := conn.AuthCodeURL(ctx, h.upstreamRedirectURI(conn.ID()), p)
	if err != nil {
		h.logger.WarnContext(ctx, "upstream sign-in unavailable", "audit", true, "connector", conn.ID(), "client_id", req.GetClientId(), "err", err)
		return errorPage(c, http.StatusBadGateway, "Sign-in with %s is unavailable right now. Try again shortly.", conn.Name())
	}
	st := upstreamState{Connector: conn.ID(), State: p.State, Nonce: p.Nonce, Verifier: p.Verifier, Rid: rid, Exp: h.cfg.Now().Add(upstreamTTL).Unix()}
	if err := h.sealCookie(c, stateCookie, "upstream-state:"+sid, UpstreamPath+"/"+conn.ID(), st); err != nil {
		h.logger.ErrorContext(ctx, "upstream sign-in: sealing the state failed", "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	h.logger.InfoContext(ctx, "upstream sign-in started", "audit", true, "connector", conn.ID(), "client_id", req.GetClientId())
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, target)
}

// upstreamRefused ends an upstream sign-in that went wrong: an audit line
// and an error page; nothing was created.
func (h *Handler) upstreamRefused(c echo.Context, status int, connector, reason string, err error, msg string) error {
	attrs := []any{"audit", true, "connector", connector, "reason", reason, "client_ip", c.RealIP()}
	if err != nil {
		attrs = append(attrs, "err", err.Error())
	}
	h.logger.WarnContext(c.Request().Context(), "upstream sign-in refused", attrs...)
	return render(c, status, "error.html", map[string]any{"Title": tr(c, "Cannot continue"), "Message": msg})
}

// upstreamCallback is where the upstream sends the browser back: the
// state is checked against the sealed cookie (and used once), the code
// redeemed and the identity mapped to a local user.
func (h *Handler) upstreamCallback(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	conn, ok := h.upstreams(ctx).byID[id]
	if !ok {
		return errorPage(c, http.StatusNotFound, "This sign-in option does not exist.")
	}
	sid, secret := h.cookie(c)
	var st upstreamState
	if sid == "" || !h.openCookie(c, stateCookie, "upstream-state:"+sid, UpstreamPath+"/"+id, &st) {
		return h.upstreamRefused(c, http.StatusBadRequest, id, "no state for this browser", nil, tr(c, "This sign-in was not started in this browser, or was already used. Start again from the application."))
	}
	q := c.QueryParams()
	if st.Connector != id || h.cfg.Now().Unix() > st.Exp || subtle.ConstantTimeCompare([]byte(st.State), []byte(q.Get("state"))) != 1 {
		return h.upstreamRefused(c, http.StatusBadRequest, id, "state mismatch", nil, tr(c, "This sign-in was not started in this browser, or was already used. Start again from the application."))
	}
	// Once only, cluster-wide: a copied cookie and callback URL do not
	// sign in twice.
	sum := sha256.Sum256([]byte(st.State))
	if err := h.upstream.links.UseUpstreamState(ctx, hex.EncodeToString(sum[:]), time.Unix(st.Exp, 0)); err != nil {
		return h.upstreamRefused(c, http.StatusBadRequest, id, "state replayed", err, tr(c, "This sign-in was not started in this browser, or was already used. Start again from the application."))
	}
	rep, err := h.sessions.Get(ctx, sid, secret, &messages.GetSession{Rid: st.Rid})
	if err != nil {
		return expired(c)
	}
	useUILocales(c, rep.GetRequest().GetUiLocales())
	f := form{sid: sid, secret: secret, rid: st.Rid, reply: rep}
	req := rep.Request
	identity, err := conn.Callback(ctx, h.upstreamRedirectURI(id), connectors.Params{State: st.State, Nonce: st.Nonce, Verifier: st.Verifier}, q)
	if err != nil {
		switch {
		case errors.Is(err, connectors.ErrUpstream) && q.Get("error") != "" && !isAccountRequest(req) && !isDeviceRequest(req):
			// The user cancelled (or the upstream refused them): the
			// client hears it as a refusal (OIDC Core §3.1.2.6).
			h.logger.WarnContext(ctx, "upstream sign-in refused", "audit", true, "connector", id, "reason", "upstream error", "err", err.Error(), "client_id", req.ClientId)
			rd := redirect{uri: req.RedirectUri, mode: req.ResponseMode, state: req.State, client: req.ClientId}
			return h.fail(c, rd, oauth2.ErrAccessDenied.WithDescription("the upstream sign-in did not succeed"))
		case errors.Is(err, connectors.ErrDenied):
			return h.upstreamRefused(c, http.StatusForbidden, id, "not allowed", err, tr(c, "Your %s account may not sign in here.", conn.Name()))
		case errors.Is(err, connectors.ErrUnavailable):
			return h.upstreamRefused(c, http.StatusBadGateway, id, "upstream unavailable", err, tr(c, "Sign-in with %s is unavailable right now. Try again shortly.", conn.Name()))
		}
		return h.upstreamRefused(c, http.StatusBadRequest, id, "upstream answer refused", err, tr(c, "Sign-in with %s did not succeed. Start again from the application.", conn.Name()))
	}
	return h.upstreamSignedIn(c, f, conn, identity)
}

// upstreamSignedIn finds (or makes) the local user of a redirect
// connector's identity and completes the sign-in.
func (h *Handler) upstreamSignedIn(c echo.Context, f form, conn connectors.Connector, id connectors.Identity) error {
	u, answered, err := h.upstreamUser(c, f, conn, id)
	if answered {
		return err
	}
	amr := []string{"fed"}
	for _, a := range id.AMR {
		if !slices.Contains(amr, a) {
			amr = append(amr, a)
		}
	}
	acr := id.ACR
	if slices.Contains(ACRValues, acr) {
		// Our own classes are ours to give: an upstream cannot claim
		// a passkey or second factor here.
		acr = ""
	}
	login := &messages.Login{Subject: u.Subject, Amr: amr, Acr: acr, Idp: conn.ID()}
	if asked, err := h.upstreamSecondStep(c, f, login); asked {
		return err
	}
	rep, err := h.recordLoginAs(c, f, login)
	if err != nil {
		return expired(c)
	}
	return h.afterLogin(c, f, rep)
}

// upstreamSecondStep asks a user who has an authenticator app for a
// code after a redirect connector's sign-in too (unless mfa.policy is
// none): whoever holds the upstream account still needs the user's own
// second factor here. asked: the answer is err (the code page, or an
// error page); the login is recorded once the code is right (loginMFA).
func (h *Handler) upstreamSecondStep(c echo.Context, f form, login *messages.Login) (asked bool, err error) {
	if h.mfa == nil {
		return false, nil
	}
	ctx := c.Request().Context()
	req := f.reply.Request
	unavailable := func(err error) (bool, error) {
		h.logger.ErrorContext(ctx, "second factor lookup failed", "sub", login.Subject, "err", err)
		return true, errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	policy, err := h.requestPolicy(ctx, req)
	if err != nil {
		return unavailable(err)
	}
	if policy == directory.MFANone {
		return false, nil
	}
	st, err := h.mfa.factors.MFA(ctx, login.Subject)
	if err != nil {
		return unavailable(err)
	}
	if !st.TOTP {
		return false, nil
	}
	pending, err := h.sealPendingLogin(f.sid, f.rid, pendingLogin{Subject: login.Subject, Purpose: purposeCode, Idp: login.Idp, Amr: login.Amr, Acr: login.Acr})
	if err != nil {
		return unavailable(err)
	}
	h.logger.InfoContext(ctx, "upstream sign-in accepted, second factor asked", "audit", true, "client_id", req.ClientId, "sub", login.Subject, "connector", login.Idp)
	return true, h.mfaPage(c, http.StatusOK, f.secret, f.rid, req, pending, "")
}

// passwordSignedIn finds (or makes) the local user of a Password
// connector's identity (the sign-in form's username and password, LDAP)
// and goes on as a local password does: to the second factor when the
// user has one or the policy asks for one.
func (h *Handler) passwordSignedIn(c echo.Context, f form, conn connectors.Connector, id connectors.Identity) error {
	u, answered, err := h.upstreamUser(c, f, conn, id)
	if answered {
		return err
	}
	if h.mfa != nil {
		return h.secondStep(c, f, u.Subject, conn.ID())
	}
	return h.completePasswordLogin(c, f, u.Subject, []string{"pwd"}, ACRPassword, conn.ID())
}

// upstreamUser finds (or makes, jit) the enabled local user of an
// identity, and refreshes its claims. Any connector's identity goes
// through it. answered: the user was not found, and err is the answer
// (an error page, the sign-in page with a link offer...).
func (h *Handler) upstreamUser(c echo.Context, f form, conn connectors.Connector, id connectors.Identity) (u directory.User, answered bool, err error) {
	ctx := c.Request().Context()
	links := h.upstream.links
	req := f.reply.Request
	link, err := links.LinkedUser(ctx, id.Issuer, id.Subject)
	switch {
	case err == nil:
	case !errors.Is(err, directory.ErrNotFound):
		h.logger.ErrorContext(ctx, "upstream sign-in: link lookup failed", "connector", conn.ID(), "err", err)
		return u, true, errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	default:
		// A first sign-in. An account with the same verified address is
		// offered a link, confirmed by signing in to it; never taken
		// over silently.
		if id.EmailVerified {
			if u, err := links.UserByVerifiedEmail(ctx, id.Email); err == nil {
				return u, true, h.offerLink(c, f, conn, id, u)
			}
		}
		if conn.Provisioning() != connectors.ProvisionJIT {
			return u, true, h.upstreamRefused(c, http.StatusForbidden, conn.ID(), "no linked account", nil,
				tr(c, "No account here is linked to this %s account. Ask an administrator for an account, then link it.", conn.Name()))
		}
		if link, err = h.provision(ctx, conn, id); err != nil {
			h.logger.ErrorContext(ctx, "upstream sign-in: creating the user failed", "connector", conn.ID(), "err", err)
			return u, true, errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
		}
	}
	u, err = links.User(ctx, link.User)
	if err != nil {
		return u, true, h.upstreamRefused(c, http.StatusForbidden, conn.ID(), "linked user missing", err, tr(c, "No account here is linked to this %s account. Ask an administrator for an account, then link it.", conn.Name()))
	}
	if u.Disabled {
		h.logger.InfoContext(ctx, "sign-in refused: user disabled", "audit", true, "connector", conn.ID(), "sub", u.Subject, "client_ip", c.RealIP())
		return u, true, h.loginPage(c, http.StatusForbidden, f.secret, f.rid, req, "", tr(c, msgDisabled))
	}
	h.refreshClaims(ctx, conn, u, id)
	return u, false, nil
}

// mappedClaims are the local claims an identity sets.
func mappedClaims(id connectors.Identity) map[string]any {
	out := map[string]any{}
	if id.Name != "" {
		out["name"] = id.Name
	}
	if id.PreferredUsername != "" {
		out["preferred_username"] = id.PreferredUsername
	}
	if id.Email != "" {
		out["email"], out["email_verified"] = id.Email, id.EmailVerified
	}
	for _, k := range []string{"given_name", "family_name", "picture", "locale", "profile"} {
		if s, ok := id.Claims[k].(string); ok && s != "" && len(s) <= 1024 {
			out[k] = s
		}
	}
	// The upstream's groups replace ours at each sign-in (none: the
	// claim goes), so a group taken away upstream is gone here too.
	out["groups"] = nil
	if len(id.Groups) > 0 {
		groups := make([]any, 0, len(id.Groups))
		for _, g := range id.Groups {
			groups = append(groups, g)
		}
		out["groups"] = groups
	}
	return out
}

// refreshClaims updates the user's claims from the upstream at each
// sign-in; a value the directory refuses is logged and skipped.
func (h *Handler) refreshClaims(ctx context.Context, conn connectors.Connector, u directory.User, id connectors.Identity) {
	set := mappedClaims(id)
	for k, v := range set {
		if old, ok := u.Claims[k]; (ok && reflect.DeepEqual(old, v)) || (!ok && v == nil) {
			delete(set, k)
		}
	}
	if len(set) == 0 {
		return
	}
	if _, err := h.upstream.links.UpdateUserClaims(ctx, u.Subject, set); err != nil {
		h.logger.WarnContext(ctx, "upstream sign-in: claims not refreshed", "connector", conn.ID(), "sub", u.Subject, "err", err)
		return
	}
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	h.logger.InfoContext(ctx, "user claims refreshed from upstream", "audit", true, "connector", conn.ID(), "sub", u.Subject, "claims", names)
}

var usernameJunk = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// provision creates the local user of a first upstream sign-in (jit) and
// links the identity. The username is the upstream's when free, else
// the connector id and a random suffix; the password is random and
// shown to no one (the user signs in upstream, or resets it by mail).
func (h *Handler) provision(ctx context.Context, conn connectors.Connector, id connectors.Identity) (directory.Link, error) {
	links := h.upstream.links
	claims := mappedClaims(id)
	maps.DeleteFunc(claims, func(_ string, v any) bool { return v == nil })
	candidates := []string{}
	local, _, _ := strings.Cut(id.Email, "@")
	for _, want := range []string{id.PreferredUsername, local} {
		if n := usernameJunk.ReplaceAllString(want, ""); n != "" && len(n) <= 48 && !slices.Contains(candidates, n) {
			candidates = append(candidates, n)
		}
	}
	var u directory.User
	var err error
	for i := 0; i < 3; i++ {
		candidates = append(candidates, conn.ID()+"-"+strings.ToLower(randomParam()[:8]))
	}
	for _, name := range candidates {
		u, err = links.CreateUser(ctx, directory.NewUser{Username: name, Password: randomParam() + randomParam(), Claims: claims})
		if err == nil {
			break
		}
		if errors.Is(err, directory.ErrInvalid) && !errors.Is(err, directory.ErrUsernameTaken) {
			// Claims the directory refuses: keep only the address and
			// name it surely takes.
			claims = map[string]any{}
			if id.Email != "" {
				claims["email"], claims["email_verified"] = id.Email, id.EmailVerified
			}
		}
	}
	if err != nil {
		return directory.Link{}, err
	}
	link, err := links.AddLink(ctx, directory.Link{Issuer: id.Issuer, Subject: id.Subject, User: u.Subject, Connector: conn.ID(), Email: id.Email})
	if errors.Is(err, directory.ErrLinkTaken) {
		// A parallel first sign-in of the same identity won: use its
		// user, drop ours.
		_ = links.DeleteUser(context.WithoutCancel(ctx), u.Subject)
		return links.LinkedUser(ctx, id.Issuer, id.Subject)
	}
	if err != nil {
		_ = links.DeleteUser(context.WithoutCancel(ctx), u.Subject)
		return directory.Link{}, err
	}
	h.logger.InfoContext(ctx, "user created from upstream identity", "audit", true, "connector", conn.ID(), "sub", u.Subject, "username", u.Username)
	return link, nil
}

// offerLink asks the user to sign in to the existing account whose
// verified address the upstream identity shares; the link is made when
// they do (finishLink), in this session and for this request only.
func (h *Handler) offerLink(c echo.Context, f form, conn connectors.Connector, id connectors.Identity, u directory.User) error {
	ctx := c.Request().Context()
	pl := pendingLink{Connector: conn.ID(), Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, User: u.Subject, Rid: f.rid,
		Exp: h.cfg.Now().Add(upstreamTTL).Unix()}
	if err := h.sealCookie(c, linkCookie, "upstream-link:"+f.sid, "/", pl); err != nil {
		h.logger.ErrorContext(ctx, "upstream sign-in: sealing the link offer failed", "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	h.logger.InfoContext(ctx, "upstream link offered", "audit", true, "connector", conn.ID(), "sub", u.Subject)
	return h.loginPage(c, http.StatusOK, f.secret, f.rid, f.reply.Request, u.Username,
		tr(c, "An account with your %s address already exists. Sign in to it once to link your %s account.", id.Email, conn.Name()))
}

// finishLink makes the link offered to this session once the user
// signed in locally to the very account it was offered for.
func (h *Handler) finishLink(c echo.Context, f form, subject string) {
	if h.upstream == nil {
		return
	}
	if _, err := c.Cookie(h.upstreamCookieName(linkCookie)); err != nil {
		return
	}
	ctx := c.Request().Context()
	var pl pendingLink
	if !h.openCookie(c, linkCookie, "upstream-link:"+f.sid, "/", &pl) || pl.Rid != f.rid || h.cfg.Now().Unix() > pl.Exp {
		return
	}
	if pl.User != subject {
		h.logger.WarnContext(ctx, "upstream link not made: signed in to another account", "audit", true, "connector", pl.Connector, "sub", subject)
		return
	}
	if _, err := h.upstream.links.AddLink(ctx, directory.Link{Issuer: pl.Issuer, Subject: pl.Subject, User: subject, Connector: pl.Connector, Email: pl.Email}); err != nil {
		h.logger.WarnContext(ctx, "upstream link not made", "audit", true, "connector", pl.Connector, "sub", subject, "err", err)
		return
	}
	h.logger.InfoContext(ctx, "upstream identity linked", "audit", true, "connector", pl.Connector, "sub", subject)
}

// linkRow is a linked identity on /account.
type linkRow struct{ Connector, Name, Email, Created, Issuer, Subject string }

// accountLinks lists the user's linked identities for /account.
func (h *Handler) accountLinks(c echo.Context, subject string, data map[string]any) {
	if h.upstream == nil {
		return
	}
	links, err := h.upstream.links.Links(c.Request().Context(), subject)
	if err != nil {
		data["LinksUnavailable"] = true
	}
	var rows []linkRow
	names := h.upstreams(c.Request().Context()).names
	if len(names) == 0 && len(links) == 0 && err == nil {
		return
	}
	for _, l := range links {
		name := l.Connector
		if n, ok := names[l.Connector]; ok {
			name = n
		}
		rows = append(rows, linkRow{Connector: l.Connector, Name: name, Email: l.Email, Created: l.Created.UTC().Format("2006-01-02 15:04"), Issuer: l.Issuer, Subject: l.Subject})
	}
	data["ShowLinks"], data["Links"] = true, rows
}

// removeLink is /account's remove button of a linked identity.
func (h *Handler) removeLink(c echo.Context) error {
	_, subject, ok := h.accountForm(c)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	form := c.Request().PostForm
	err := h.upstream.links.RemoveLink(ctx, subject, form.Get("iss"), form.Get("sub"))
	switch {
	case errors.Is(err, directory.ErrNotFound) || errors.Is(err, directory.ErrInvalid):
		h.logger.WarnContext(ctx, "account: removing a link refused: not one of the user's", "audit", true, "sub", subject)
		return errorPage(c, http.StatusNotFound, "That sign-in is not linked to your account.")
	case err != nil:
		h.logger.ErrorContext(ctx, "account: removing a link failed", "sub", subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now. Try again shortly.")
	}
	h.logger.InfoContext(ctx, "account: upstream link removed", "audit", true, "sub", subject, "upstream_issuer", form.Get("iss"))
	return c.Redirect(http.StatusSeeOther, AccountPath)
}

// idpHint starts the sign-in at the connector named by the idp_hint
// authorization parameter, or else at the one connector whose
// allowed_domains holds the domain of a login_hint address (home-realm
// discovery), when the request may use it; false to show the sign-in
// page.
func (h *Handler) idpHint(c echo.Context, hint, loginHint, sid, rid string, req *messages.AuthRequest) (bool, error) {
	if h.upstream == nil || (hint == "" && loginHint == "") || !h.upstreamAllowed(c.Request().Context(), req) {
		return false, nil
	}
	set := h.upstreams(c.Request().Context())
	conn, ok := set.byID[hint]
	if !ok {
		if conn = set.homeRealm(loginHint); conn == nil {
			return false, nil
		}
		h.logger.InfoContext(c.Request().Context(), "upstream chosen by login_hint domain", "connector", conn.ID(), "client_id", req.GetClientId())
	}
	return true, h.startUpstream(c, sid, rid, req, conn)
}

// homeRealm is the one redirect connector whose allowed_domains holds
// the domain of the login_hint address; nil when none or several do, or
// the hint is not an address.
func (u *upstreamSet) homeRealm(loginHint string) connectors.Redirect {
	domain := hintDomain(loginHint)
	if domain == "" {
		return nil
	}
	var found connectors.Redirect
	for _, c := range u.list {
		d, ok := c.(interface{ AllowedDomains() []string })
		if !ok || !slices.Contains(d.AllowedDomains(), domain) {
			continue
		}
		if found != nil {
			return nil
		}
		found = c
	}
	return found
}

// hintDomain is the lower-cased domain of a login_hint that is an email
// address (local@domain, one @, no spaces), "" otherwise.
func hintDomain(hint string) string {
	if len(hint) > 320 || strings.ContainsAny(hint, " \t\r\n<>\"") || strings.Count(hint, "@") != 1 {
		return ""
	}
	local, domain, _ := strings.Cut(hint, "@")
	if local == "" || domain == "" || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return ""
	}
	return strings.ToLower(domain)
}
