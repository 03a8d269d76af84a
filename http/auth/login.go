package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/secure/precis"

	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/actors/session"
	"authrim/connectors"
	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// form is a posted page: the cookie's session, the pending request, and
// a checked CSRF token.
type form struct {
	sid, secret, rid string
	reply            *messages.SessionReply
}

var errPage = errors.New("auth: page expired")

// readForm checks the cookie, the CSRF token and the pending request id.
func (h *Handler) readForm(c echo.Context) (form, error) {
	r := c.Request()
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return form{}, errPage
	}
	if err := r.ParseForm(); err != nil {
		return form{}, errPage
	}
	ck, err := c.Cookie(h.cfg.CookieName)
	if err != nil {
		return form{}, errPage
	}
	sid, secret, err := session.SplitCookie(ck.Value)
	if err != nil {
		return form{}, errPage
	}
	rid := r.PostForm.Get("rid")
	if rid == "" || !csrfOK(secret, rid, r.PostForm.Get("csrf")) {
		return form{}, errPage
	}
	rep, err := h.sessions.Get(r.Context(), sid, secret, &messages.GetSession{Rid: rid})
	if err != nil {
		return form{}, errPage
	}
	useUILocales(c, rep.GetRequest().GetUiLocales())
	return form{sid: sid, secret: secret, rid: rid, reply: rep}, nil
}

func expired(c echo.Context) error {
	return errorPage(c, http.StatusBadRequest, "This page has expired or was not sent by this browser.")
}

func (h *Handler) loginPage(c echo.Context, status int, secret, rid string, req *messages.AuthRequest, username, msg string) error {
	return render(c, status, "login.html", map[string]any{
		"Title": tr(c, "Sign in"), "ClientName": req.ClientName, "ClientHost": clientHost(req.ClientId), "RID": rid, "CSRF": csrfToken(secret, rid),
		"Username": username, "Error": msg, "PasskeyOnly": !acrSatisfied(req.AcrValues, ACRPassword),
		"Forgot": h.mailLinks(), "SignUp": h.signUpOpen(), "Upstreams": h.upstreamButtons(c, req),
	})
}

func (h *Handler) consentPage(c echo.Context, sid, secret, rid string, req *messages.AuthRequest) error {
	var claims []string
	if cr, _ := oauth2.ParseClaimsRequest(req.ClaimsJson); cr != nil {
		for name := range cr.UserInfo {
			claims = append(claims, name)
		}
		for name := range cr.IDToken {
			if !slices.Contains(claims, name) {
				claims = append(claims, name)
			}
		}
		slices.Sort(claims)
	}
	return render(c, http.StatusOK, "consent.html", map[string]any{
		"Title": tr(c, "Allow access?"), "ClientName": req.ClientName, "ClientHost": clientHost(req.ClientId), "Scopes": describeScopes(c, req.Scopes),
		"Claims": claims, "RID": rid, "CSRF": csrfToken(secret, rid), "RedirectHost": otherRedirectHost(req.ClientId, req.RedirectUri),
		"Resources": h.describeResources(c.Request().Context(), req.Resources, req.Scopes),
	})
}

// clientHost is the host (with its port, if any) of a client_id that is
// the URL of a client ID metadata document, "" for any other client. The
// pages show it apart from the client's name: the name is whatever the
// document says, the host is who published it
// (draft-ietf-oauth-client-id-metadata-document §6.2).
func clientHost(clientID string) string {
	if !directory.IsClientIDURL(clientID) {
		return ""
	}
	u, err := url.Parse(clientID)
	if err != nil {
		return ""
	}
	return u.Host
}

// otherRedirectHost is where the answer goes (the redirect URI's host,
// or its scheme for a native app) when the client is known by a metadata
// document on another host: the user should know the answer leaves the
// host they were shown. "" otherwise.
func otherRedirectHost(clientID, redirectURI string) string {
	host := clientHost(clientID)
	if host == "" {
		return ""
	}
	u, err := url.Parse(redirectURI)
	if err != nil {
		return ""
	}
	if u.Host == "" {
		return u.Scheme + ":"
	}
	if strings.EqualFold(u.Host, host) {
		return ""
	}
	return u.Host
}

// describeScopes says what each scope of ours lets the client do, in the
// page's language; other scopes (a resource server's) are shown apart.
func describeScopes(c echo.Context, scopes []string) []string {
	var out []string
	for _, s := range scopes {
		switch s {
		case "openid":
			out = append(out, tr(c, "Sign you in (your account identifier)"))
		case "profile":
			out = append(out, tr(c, "See your profile: name, username, picture, locale"))
		case "email":
			out = append(out, tr(c, "See your email address"))
		case "address":
			out = append(out, tr(c, "See your postal address"))
		case "phone":
			out = append(out, tr(c, "See your phone number"))
		case "groups":
			out = append(out, tr(c, "See the groups you belong to"))
		case "offline_access":
			out = append(out, tr(c, "Keep access while you are away"))
		}
	}
	return out
}

func (h *Handler) login(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil {
		return expired(c)
	}
	req := f.reply.Request
	ctx := c.Request().Context()
	if !acrSatisfied(req.AcrValues, ACRPassword) {
		// The client asked for phishing-resistant sign-in.
		return h.loginPage(c, http.StatusForbidden, f.secret, f.rid, req, "", tr(c, "This application asks you to sign in with a passkey."))
	}
	username := strings.TrimSpace(c.Request().PostForm.Get("username"))
	password := c.Request().PostForm.Get("password")
	ip := c.RealIP()
	// Attempts are counted before the password is checked, in the same
	// step that tells whether one may be made now: parallel guesses
	// cannot all pass the check before any of them is counted. The keys
	// do not depend on whether the account exists, so neither the
	// answers nor the delays tell which usernames do.
	keys, retry, err := h.attemptSignIn(ctx, username, ip)
	if err != nil {
		// Fail closed: without the count, guessing would be unlimited.
		h.logger.WarnContext(ctx, "sign-in throttle unavailable", "client_id", req.ClientId, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	if retry > 0 {
		secs := int((retry + time.Second - 1) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return h.loginPage(c, http.StatusTooManyRequests, f.secret, f.rid, req, username,
			tr(c, "Too many sign-in attempts. Try again in %s.", waitText(c, secs)))
	}
	// The directory (a Password connector, LDAP) first; a refusal of
	// the credentials goes on to the local accounts (an operator's own
	// admins), so both failing gives the one answer below.
	var connector string
	var directoryDown error
	if pc := h.upstreams(ctx).password; pc != nil {
		connector = pc.ID()
		id, err := pc.Login(ctx, username, password)
		switch {
		case err == nil:
			h.signInSucceeded(ctx, keys)
			return h.passwordSignedIn(c, f, pc, id)
		case errors.Is(err, connectors.ErrDenied):
			// The password was right: the connector's rules refuse it.
			return h.upstreamRefused(c, http.StatusForbidden, connector, "not allowed", err, tr(c, "Your %s account may not sign in here.", pc.Name()))
		case !errors.Is(err, connectors.ErrInvalidCredentials):
			// Down, untrusted, misconfigured: a local account may still
			// sign in (an operator during an outage); anyone else is
			// told the directory failed, not that the password is wrong.
			h.logger.WarnContext(ctx, "sign-in directory unavailable", "audit", true, "connector", connector, "client_id", req.ClientId, "username", username, "client_ip", ip, "err", err.Error())
			directoryDown = err
		}
	}
	user, err := h.users.Authenticate(ctx, username, password)
	if err != nil && directoryDown != nil && (errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, directory.ErrInvalid)) {
		return errorPage(c, http.StatusBadGateway, "The account directory is unavailable right now, so your password cannot be checked. Try again shortly.")
	}
	if err != nil {
		if errors.Is(err, directory.ErrUserPending) {
			// A sign-up whose address is not confirmed: told only to
			// whoever knows the password.
			h.logger.InfoContext(ctx, "sign-in refused: address not confirmed", "audit", true, "client_id", req.ClientId, "username", username, "client_ip", ip)
			return h.loginPage(c, http.StatusForbidden, f.secret, f.rid, req, username, tr(c, msgPending))
		}
		if errors.Is(err, directory.ErrUserDisabled) {
			// Only whoever knows the password learns it.
			h.logger.InfoContext(ctx, "sign-in refused: user disabled", "audit", true, "client_id", req.ClientId, "username", username, "client_ip", ip)
			return h.loginPage(c, http.StatusForbidden, f.secret, f.rid, req, username, tr(c, msgDisabled))
		}
		if errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, directory.ErrInvalid) {
			attrs := []any{"audit", true, "client_id", req.ClientId, "username", username, "client_ip", ip}
			if connector != "" {
				// The directory refused them first.
				attrs = append(attrs, "connector", connector)
			}
			h.logger.InfoContext(ctx, "sign-in failed", attrs...)
			// One message whether the user exists or not.
			return h.loginPage(c, http.StatusUnauthorized, f.secret, f.rid, req, username, tr(c, msgBadCredentials))
		}
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	h.signInSucceeded(ctx, keys)
	if h.mfa != nil {
		return h.secondStep(c, f, user.Subject, "")
	}
	return h.completeLogin(c, f, user.Subject, []string{"pwd"}, ACRPassword)
}

// completeLogin records a sign-in in the session and goes on with the
// request: back to the account or device page, to consent, or to the
// client with a code.
func (h *Handler) completeLogin(c echo.Context, f form, subject string, amr []string, acr string) error {
	rep, err := h.recordLogin(c, f, subject, amr, acr)
	if err != nil {
		return expired(c)
	}
	return h.afterLogin(c, f, rep)
}

// recordLogin records a sign-in in the session and sets the rotated
// cookie.
func (h *Handler) recordLogin(c echo.Context, f form, subject string, amr []string, acr string) (*messages.SessionReply, error) {
	return h.recordLoginAs(c, f, &messages.Login{Subject: subject, Amr: amr, Acr: acr})
}

// recordLoginAs is recordLogin of a whole login (an upstream one names
// its connector). A local sign-in also makes the upstream link this
// session was offered for this account (finishLink).
func (h *Handler) recordLoginAs(c echo.Context, f form, login *messages.Login) (*messages.SessionReply, error) {
	ctx := c.Request().Context()
	rep, err := h.sessions.Login(ctx, f.sid, f.secret, &messages.CompleteLogin{
		Rid:       f.rid,
		Login:     login,
		UserAgent: c.Request().UserAgent(), Address: c.RealIP(), IdleTtlMs: h.cfg.SessionIdleTTL.Milliseconds(),
	})
	if err != nil {
		return nil, err
	}
	attrs := []any{"audit", true, "client_id", f.reply.Request.GetClientId(), "sub", login.Subject, "amr", login.Amr}
	if login.Idp != "" {
		attrs = append(attrs, "connector", login.Idp)
	}
	h.logger.InfoContext(ctx, "sign-in succeeded", attrs...)
	if login.Idp == "" {
		h.finishLink(c, f, login.Subject)
	}
	h.setCookie(c, f.sid, rep.NewSecret)
	return rep, nil
}

// afterLogin goes on with the request once its sign-in is recorded.
func (h *Handler) afterLogin(c echo.Context, f form, rep *messages.SessionReply) error {
	req := f.reply.Request
	// The secret rotated (recordLogin set the new cookie): the next
	// form's CSRF follows it.
	if isAccountRequest(req) {
		return backToAccount(c)
	}
	if isDeviceRequest(req) {
		return backToDevice(c, req)
	}
	rd := redirect{uri: req.RedirectUri, mode: req.ResponseMode, state: req.State, client: req.ClientId}
	if needsConsent(req, rep.Consented) {
		return h.consentPage(c, f.sid, rep.NewSecret, f.rid, req)
	}
	return h.issue(c, rd, f.sid, rep.NewSecret, req.ResponseType, &messages.IssueCode{Rid: f.rid})
}

// msgBadCredentials is the one answer to a wrong password and an unknown
// username.
const msgBadCredentials = "The username or password is not correct."

// msgDisabled answers a right password, or passkey, of a disabled user.
const msgDisabled = "This account is disabled."

// msgPending answers a right password of a sign-up whose address is not
// confirmed yet.
const msgPending = "Confirm your email address first: open the link we mailed you when you created the account."

// signInKeys are the RateLimiter keys of a password attempt: the
// username as the directory compares it (PRECIS case-mapped, so "Alice"
// and "alice" share their counts), alone and with the client's address.
// Input the directory would refuse is lower-cased instead; an overlong
// one is hashed to bound the key.
func signInKeys(username, ip string) (perUsername, perAddress string) {
	k, err := precis.UsernameCaseMapped.String(username)
	if err != nil {
		k = strings.ToLower(username)
	}
	if len(k) > 4*directory.MaxUsernameLen {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return "signin:" + k, "signin-from:" + router.AddressKey(ip) + ":" + k
}

// attemptSignIn counts a password attempt for username from ip, per
// address first (the guesser's own budget), then per username. It returns
// the keys to clear on success, or how long until an attempt is allowed
// (retry > 0: this one was refused and its password must not be checked).
// Only password sign-in is slowed: a passkey assertion cannot be guessed.
func (h *Handler) attemptSignIn(ctx context.Context, username, ip string) (keys []string, retry time.Duration, err error) {
	if h.throttle == nil {
		return nil, 0, nil
	}
	user, addr := signInKeys(username, ip)
	for _, k := range []struct {
		key, scope string
		b          ratelimit.Backoff
	}{{addr, "address", h.cfg.SignIn.PerAddress}, {user, "username", h.cfg.SignIn.PerUsername}} {
		ok, retry, err := h.throttle.Attempt(ctx, k.key, k.b)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			h.logger.InfoContext(ctx, "sign-in throttled", "audit", true, "username", username, "client_ip", ip,
				"scope", k.scope, "retry_after", retry.Round(time.Millisecond))
			return nil, max(retry, time.Millisecond), nil
		}
		keys = append(keys, k.key)
	}
	return keys, 0, nil
}

// signInSucceeded forgets the failures counted against keys.
func (h *Handler) signInSucceeded(ctx context.Context, keys []string) {
	for _, k := range keys {
		if err := h.throttle.Succeeded(ctx, k); err != nil {
			h.logger.WarnContext(ctx, "sign-in throttle: reset failed", "err", err)
		}
	}
}

// waitText is a wait of secs seconds in words.
func waitText(c echo.Context, secs int) string {
	switch {
	case secs <= 1:
		return tr(c, "a second")
	case secs < 120:
		return tr(c, "%d seconds", secs)
	default:
		return tr(c, "%d minutes", (secs+59)/60)
	}
}

func (h *Handler) consent(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil {
		return expired(c)
	}
	req := f.reply.Request
	rd := redirect{uri: req.RedirectUri, mode: req.ResponseMode, state: req.State, client: req.ClientId}
	if f.reply.Login == nil || isAccountRequest(req) || isDeviceRequest(req) {
		return expired(c)
	}
	switch c.Request().PostForm.Get("decision") {
	case "allow":
	case "deny":
		h.logger.InfoContext(c.Request().Context(), "consent denied", "audit", true, "client_id", req.ClientId)
		return h.fail(c, rd, oauth2.ErrAccessDenied.WithDescription("the user denied the request"))
	default:
		return errorPage(c, http.StatusBadRequest, "Choose Allow or Deny.")
	}
	ctx := c.Request().Context()
	if _, err := h.sessions.Consent(ctx, f.sid, f.secret, &messages.GiveConsent{Rid: f.rid}); err != nil {
		return expired(c)
	}
	h.logger.InfoContext(c.Request().Context(), "consent given", "audit", true, "client_id", req.ClientId)
	return h.issue(c, rd, f.sid, f.secret, req.ResponseType, &messages.IssueCode{Rid: f.rid})
}
