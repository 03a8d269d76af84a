package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/text/secure/precis"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/oauth2"
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
	rep, err := h.sessions.Call(r.Context(), sid, &messages.SessionCall{Secret: secret, Op: &messages.SessionCall_Get{Get: &messages.GetSession{Rid: rid}}})
	if err != nil {
		return form{}, errPage
	}
	return form{sid: sid, secret: secret, rid: rid, reply: rep}, nil
}

func expired(c echo.Context) error {
	return errorPage(c, http.StatusBadRequest, "This page has expired or was not sent by this browser.")
}

func (h *Handler) loginPage(c echo.Context, status int, secret, rid string, req *messages.AuthRequest, username, msg string) error {
	return render(c, status, "login.html", map[string]any{
		"Title": "Sign in", "ClientName": req.ClientName, "RID": rid, "CSRF": csrfToken(secret, rid),
		"Username": username, "Error": msg, "PasskeyOnly": !acrSatisfied(req.AcrValues, ACRPassword),
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
		"Title": "Allow access?", "ClientName": req.ClientName, "Scopes": describeScopes(req.Scopes),
		"Claims": claims, "RID": rid, "CSRF": csrfToken(secret, rid),
	})
}

func describeScopes(scopes []string) []string {
	text := map[string]string{
		"openid":         "Sign you in (your account identifier)",
		"profile":        "See your profile: name, username, picture, locale",
		"email":          "See your email address",
		"address":        "See your postal address",
		"phone":          "See your phone number",
		"offline_access": "Keep access while you are away",
	}
	var out []string
	for _, s := range scopes {
		if t, ok := text[s]; ok {
			out = append(out, t)
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
		return h.loginPage(c, http.StatusForbidden, f.secret, f.rid, req, "", "This application asks you to sign in with a passkey.")
	}
	username := strings.TrimSpace(c.Request().PostForm.Get("username"))
	password := c.Request().PostForm.Get("password")
	// A locked username gets exactly the wrong-password answer, and its
	// password is not checked. Usernames lock whether or not an account
	// has them, so neither the answer nor the lock tells which exist. The
	// attempt is counted before the password is checked, in the same step
	// that tells whether the username was locked: parallel guesses cannot
	// all pass the check before any of them is counted.
	lockKey := lockoutKey(username)
	lockedUntil, locked, err := h.countAttempt(ctx, lockKey)
	if err != nil {
		// Fail closed: without the count, guessing would be unlimited.
		h.logger.WarnContext(c.Request().Context(), "sign-in lockout unavailable", "client_id", req.ClientId, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	if locked {
		h.logger.InfoContext(c.Request().Context(), "sign-in refused: username locked", "audit", true, "client_id", req.ClientId)
		return h.loginPage(c, http.StatusUnauthorized, f.secret, f.rid, req, username, msgBadCredentials)
	}
	user, err := h.users.Authenticate(ctx, username, password)
	if err != nil {
		if errors.Is(err, directory.ErrInvalidCredentials) || errors.Is(err, directory.ErrInvalid) {
			h.logger.InfoContext(c.Request().Context(), "sign-in failed", "audit", true, "client_id", req.ClientId)
			if !lockedUntil.IsZero() {
				h.logger.WarnContext(c.Request().Context(), "sign-in locked after repeated failures", "audit", true, "until", lockedUntil)
			}
			// One message whether the user exists or not.
			return h.loginPage(c, http.StatusUnauthorized, f.secret, f.rid, req, username, msgBadCredentials)
		}
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	h.resetLock(ctx, lockKey)
	rep, err := h.sessions.Call(ctx, f.sid, &messages.SessionCall{Secret: f.secret, Op: &messages.SessionCall_Login{Login: &messages.CompleteLogin{
		Rid:   f.rid,
		Login: &messages.Login{Subject: user.Subject, Amr: []string{"pwd"}, Acr: ACRPassword},
	}}})
	if err != nil {
		return expired(c)
	}
	h.logger.InfoContext(c.Request().Context(), "sign-in succeeded", "audit", true, "client_id", req.ClientId, "sub", user.Subject)
	// The secret rotated: new cookie, and the next form's CSRF follows it.
	h.setCookie(c, f.sid, rep.NewSecret)
	if isAccountRequest(req) {
		return backToAccount(c)
	}
	rd := redirect{uri: req.RedirectUri, mode: req.ResponseMode, state: req.State}
	if needsConsent(req, rep.Consented) {
		return h.consentPage(c, f.sid, rep.NewSecret, f.rid, req)
	}
	return h.issue(c, rd, f.sid, rep.NewSecret, req.ResponseType, &messages.IssueCode{Rid: f.rid})
}

// msgBadCredentials is the one answer to a wrong password, an unknown
// username and a locked username.
const msgBadCredentials = "The username or password is not correct."

// lockoutKey is the RateLimiter key of a username's sign-in lockout: the
// username as the directory compares it (PRECIS case-mapped), so that
// "Alice" and "alice" share one count. Input the directory would refuse is
// lower-cased instead; an overlong one is hashed to bound the key.
func lockoutKey(username string) string {
	k, err := precis.UsernameCaseMapped.String(username)
	if err != nil {
		k = strings.ToLower(username)
	}
	if len(k) > 4*directory.MaxUsernameLen {
		sum := sha256.Sum256([]byte(k))
		k = "sha256:" + hex.EncodeToString(sum[:])
	}
	return "lockout:" + k
}

// countAttempt counts a password sign-in attempt for key and reports
// until when key is locked now (zero: it is not) and whether it was
// locked already before this attempt, which must then not be checked.
// Only password sign-in is subject to it: a passkey assertion cannot be
// guessed, and locking it would let anyone lock a user out of their
// passkey.
func (h *Handler) countAttempt(ctx context.Context, key string) (until time.Time, locked bool, err error) {
	if h.lockouts == nil {
		return time.Time{}, false, nil
	}
	p := h.cfg.Lockout
	return h.lockouts.RecordFailure(ctx, key, p.Threshold, p.Window, p.Duration)
}

func (h *Handler) resetLock(ctx context.Context, key string) {
	if h.lockouts == nil {
		return
	}
	if err := h.lockouts.Reset(ctx, key); err != nil {
		h.logger.WarnContext(ctx, "sign-in lockout: reset failed", "err", err)
	}
}

func (h *Handler) consent(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil {
		return expired(c)
	}
	req := f.reply.Request
	rd := redirect{uri: req.RedirectUri, mode: req.ResponseMode, state: req.State}
	if f.reply.Login == nil || isAccountRequest(req) {
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
	if _, err := h.sessions.Call(ctx, f.sid, &messages.SessionCall{Secret: f.secret, Op: &messages.SessionCall_Consent{Consent: &messages.GiveConsent{Rid: f.rid}}}); err != nil {
		return expired(c)
	}
	h.logger.InfoContext(c.Request().Context(), "consent given", "audit", true, "client_id", req.ClientId)
	return h.issue(c, rd, f.sid, f.secret, req.ResponseType, &messages.IssueCode{Rid: f.rid})
}
