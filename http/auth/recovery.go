package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/email"
	"authrim/http/router"
	"authrim/internal/i18n"
)

// Accounts people run themselves: a forgotten password is reset through
// a link mailed to the account's address (an action token, directory);
// a signed-in user changes their password on the account page.

// Paths of the password pages.
const (
	ForgotPasswordPath  = "/password/forgot"
	ResetPasswordPath   = "/password/reset"
	AccountPasswordPath = AccountPath + "/password"
)

// Accounts is the directory as the password and email pages use it.
type Accounts interface {
	User(ctx context.Context, subject string) (directory.User, error)
	UserByUsername(ctx context.Context, username string) (directory.User, error)
	UserByEmail(ctx context.Context, addr string) (directory.User, error)
	Authenticate(ctx context.Context, username, password string) (directory.User, error)
	SetUserPassword(ctx context.Context, ref, password string) (directory.User, error)
	IssueActionToken(ctx context.Context, purpose, subject, email string, ttl time.Duration) (string, time.Time, error)
	PeekActionToken(ctx context.Context, purpose, tok string) (directory.ActionToken, error)
	UseActionToken(ctx context.Context, purpose, tok string) (directory.ActionToken, func(), error)
	DropActionTokens(ctx context.Context, subject, purpose string) error
	VerifyEmail(ctx context.Context, subject, addr string) (directory.User, error)
	CreateUser(ctx context.Context, in directory.NewUser) (directory.User, error)
	CheckPassword(pw, username string) error
}

// Mailer queues a mail in the outbox (email.Enqueue, then a kick of the
// Delivery grain). target names the mail in logs.
type Mailer interface {
	Mail(ctx context.Context, m *email.Mail, target string) error
}

// AccountOptions tune the mailed links.
type AccountOptions struct {
	// ResetTTL is how long a reset link works.
	ResetTTL time.Duration
	// ResetsPerHour bounds the reset mails one account gets per hour
	// (cluster-wide, through the Limiter).
	ResetsPerHour int
	// Invitations serves the invitation page (registration.users:
	// invite or open).
	Invitations bool
	// SignUp serves the sign-up page (registration.users: open).
	SignUp bool
}

type accountsFront struct {
	dir     Accounts
	mail    Mailer
	limiter Limiter
	opts    AccountOptions
	// verify, when set, mails verification links (WithEmailVerification).
	verify EmailVerifier
}

// WithAccounts serves the password change on the account page and, with
// a Mailer (nil: no mail configured), the forgot-password and reset
// pages.
func (h *Handler) WithAccounts(a Accounts, m Mailer, l Limiter, opts AccountOptions) *Handler {
	if opts.ResetTTL <= 0 {
		opts.ResetTTL = 30 * time.Minute
	}
	if opts.ResetsPerHour <= 0 {
		opts.ResetsPerHour = 3
	}
	h.accounts = &accountsFront{dir: a, mail: m, limiter: l, opts: opts}
	return h
}

func (h *Handler) accountRoutes() []router.Route {
	if h.accounts == nil {
		return nil
	}
	rs := []router.Route{
		{Method: http.MethodPost, Path: AccountPasswordPath, Handler: h.changePassword, Limit: router.Strict, Grain: "Session.Get, RateLimiter.Attempt, Session.End (each of the user's)"},
	}
	if h.accounts.mail == nil {
		return rs
	}
	return append(rs,
		router.Route{Method: http.MethodGet, Path: ForgotPasswordPath, Handler: h.forgotPage, Limit: router.Moderate},
		router.Route{Method: http.MethodPost, Path: ForgotPasswordPath, Handler: h.forgot, Limit: router.Strict, Grain: "RateLimiter.Take (per account), Delivery.Kick"},
		router.Route{Method: http.MethodGet, Path: ResetPasswordPath, Handler: h.resetPage, Limit: router.Moderate},
		router.Route{Method: http.MethodPost, Path: ResetPasswordPath, Handler: h.reset, Limit: router.Strict, Grain: "Session.End (each of the user's)"},
	)
}

// mailLinks reports whether links can be mailed (WithAccounts with a
// Mailer).
func (h *Handler) mailLinks() bool { return h.accounts != nil && h.accounts.mail != nil }

// langOf is the language of a page or mail for this request.
func langOf(c echo.Context) string {
	return pageLang(c)
}

// formCookie is the double-submit cookie of the forms shown to people
// who are not signed in (no session secret to bind a CSRF token to).
func (h *Handler) formCookieName() string { return SessionCookieName(h.cfg.Issuer, "authrim_form") }

// formToken returns the form's CSRF value, setting the cookie it must
// match when there is none yet.
func (h *Handler) formToken(c echo.Context) string {
	if ck, err := c.Cookie(h.formCookieName()); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	c.SetCookie(&http.Cookie{
		Name: h.formCookieName(), Value: v, Path: "/", MaxAge: 3600,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteStrictMode,
	})
	return v
}

// formOK checks a posted form's CSRF value against its cookie.
func (h *Handler) formOK(c echo.Context) bool {
	ck, err := c.Cookie(h.formCookieName())
	got := c.Request().PostForm.Get("csrf")
	return err == nil && len(ck.Value) == 43 && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(got)) == 1
}

func notice(c echo.Context, status int, title, msg string, link, linkText string) error {
	return render(c, status, "notice.html", map[string]any{"Title": title, "Message": msg, "Link": link, "LinkText": linkText})
}

// forgotPage asks for the username or address of the account.
func (h *Handler) forgotPage(c echo.Context) error {
	return render(c, http.StatusOK, "forgot.html", map[string]any{"Title": tr(c, "Forgot your password?"), "CSRF": h.formToken(c)})
}

// maxAccountRef bounds what the forgot form accepts.
const maxAccountRef = 320

// forgot mails a reset link to the account named, if there is one with
// an address. The answer is the same page whatever happened, and the
// request does the same work (a token and an outbox message are written
// either way; for no account the message is dropped unsent), so the page
// does not tell who has an account.
func (h *Handler) forgot(c echo.Context) error {
	r := c.Request()
	if err := r.ParseForm(); err != nil || !h.formOK(c) {
		return expired(c)
	}
	ref := strings.TrimSpace(r.PostForm.Get("account"))
	if ref == "" || len(ref) > maxAccountRef {
		return render(c, http.StatusBadRequest, "forgot.html", map[string]any{
			"Title": tr(c, "Forgot your password?"), "CSRF": h.formToken(c), "Error": tr(c, "Enter your username or email address."),
		})
	}
	ctx := r.Context()
	a := h.accounts
	u, addr, found := h.resetTarget(ctx, ref)
	lang := langOf(c)
	// The per-account budget: an unknown name has one too (its key is a
	// hash of what was typed), so both take the same path.
	key := "reset-mail:" + u.Subject
	if !found {
		sum := sha256.Sum256([]byte(strings.ToLower(ref)))
		key = "reset-mail:?" + hex.EncodeToString(sum[:8])
	}
	allowed, _, err := a.limiter.Take(ctx, key, a.opts.ResetsPerHour, time.Hour)
	if err != nil {
		h.logger.ErrorContext(ctx, "password reset: rate limiter unavailable", "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Password reset is unavailable right now. Try again shortly.")
	}
	send := found && allowed
	subject := u.Subject
	if !send {
		subject = "" // a token no one can use
	}
	tok, _, err := a.dir.IssueActionToken(ctx, directory.PurposeResetPassword, subject, addr, a.opts.ResetTTL)
	if err == nil {
		m := &email.Mail{To: addr, Lang: lang, Template: email.ResetPassword, Discard: !send, Data: map[string]string{
			"Link":     strings.TrimSuffix(h.cfg.Issuer, "/") + ResetPasswordPath + "?token=" + tok,
			"Username": u.Username, "TTL": DurationText(lang, a.opts.ResetTTL),
		}}
		err = a.mail.Mail(ctx, m, subject)
	}
	if err != nil {
		h.logger.ErrorContext(ctx, "password reset: mail not queued", "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Password reset is unavailable right now. Try again shortly.")
	}
	switch {
	case send:
		h.logger.InfoContext(ctx, "password reset: link mailed", "audit", true, "sub", u.Subject, "ip", c.RealIP())
	case found:
		h.logger.WarnContext(ctx, "password reset: too many reset mails for the account; none sent", "audit", true, "sub", u.Subject, "ip", c.RealIP())
	default:
		h.logger.InfoContext(ctx, "password reset: no account with an address for the name given; nothing sent", "audit", true, "ip", c.RealIP())
	}
	return notice(c, http.StatusOK, tr(c, "Check your mail"),
		tr(c, "If an account with an email address matches what you entered, a link to choose a new password is on its way to that address. The link works once and expires soon."), "", "")
}

// resetTarget finds the account ref names (a username, else an email
// address) and its address; found false when there is none, or it has no
// address, or it is disabled.
func (h *Handler) resetTarget(ctx context.Context, ref string) (directory.User, string, bool) {
	a := h.accounts
	u, err := a.dir.UserByUsername(ctx, ref)
	if err != nil && strings.Contains(ref, "@") {
		u, err = a.dir.UserByEmail(ctx, ref)
	}
	if err != nil {
		if !errors.Is(err, directory.ErrNotFound) {
			h.logger.ErrorContext(ctx, "password reset: user lookup failed", "err", err)
		}
		return directory.User{}, "", false
	}
	addr, _ := u.Claims["email"].(string)
	if addr == "" || u.Disabled {
		return directory.User{}, "", false
	}
	if (&email.Mail{To: addr, Template: email.ResetPassword}).Check() != nil {
		return directory.User{}, "", false
	}
	return u, addr, true
}

// DurationText says d for a mail ("30 minutes", "24 hours").
func DurationText(lang string, d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		if d == time.Hour {
			return i18n.T(lang, "1 hour")
		}
		return i18n.T(lang, "%d hours", int(d/time.Hour))
	}
	return i18n.T(lang, "%d minutes", int(d/time.Minute))
}

// linkInvalid is the page of a link that does not work (any reason).
func linkInvalid(c echo.Context) error {
	return notice(c, http.StatusBadRequest, tr(c, "This link does not work"),
		tr(c, "The link is invalid, was already used or has expired. Ask for a new one."), ForgotPasswordPath, tr(c, "Ask for a new link"))
}

// resetPage shows the new-password form of a live reset link; the token
// is not spent until the form is posted.
func (h *Handler) resetPage(c echo.Context) error {
	tok := c.QueryParam("token")
	t, err := h.accounts.dir.PeekActionToken(c.Request().Context(), directory.PurposeResetPassword, tok)
	if err != nil {
		if !errors.Is(err, directory.ErrActionToken) {
			return errorPage(c, http.StatusServiceUnavailable, "Password reset is unavailable right now. Try again shortly.")
		}
		return linkInvalid(c)
	}
	username := ""
	if u, err := h.accounts.dir.User(c.Request().Context(), t.Subject); err == nil {
		username = u.Username
	}
	return h.resetForm(c, http.StatusOK, tok, username, "")
}

func (h *Handler) resetForm(c echo.Context, status int, tok, username, msg string) error {
	return h.passwordForm(c, status, ResetPasswordPath, tr(c, "Choose a new password"), tok, username, msg)
}

// passwordForm is the new-password form of a mailed link (a reset or an
// invitation), posting to action.
func (h *Handler) passwordForm(c echo.Context, status int, action, title, tok, username, msg string) error {
	return render(c, status, "reset.html", map[string]any{
		"Title": title, "Action": action, "Token": tok, "Username": username, "CSRF": h.formToken(c), "Error": msg,
		"Invite": action == InvitePath,
	})
}

// resetReason is what the audit line of sessions ended by a reset says.
const resetReason = "password reset"

// reset sets the new password of a reset link's account, then ends
// every session now so relying parties hear of it (back-channel logout).
func (h *Handler) reset(c echo.Context) error {
	ctx := c.Request().Context()
	u, ok, err := h.setPasswordByLink(c, directory.PurposeResetPassword, h.resetForm, linkInvalid)
	if !ok {
		return err
	}
	h.logger.InfoContext(ctx, "password reset: password changed", "audit", true, "sub", u.Subject, "ip", c.RealIP())
	h.endAllSessions(ctx, u.Subject, resetReason)
	return notice(c, http.StatusOK, tr(c, "Password changed"),
		tr(c, "Your password was changed and every session of your account was signed out. Sign in to your application again with the new password."), "", "")
}

// setPasswordByLink is the POST of a mailed link's new-password form:
// the token is spent first (exactly one of concurrent posts goes on),
// then the directory sets the password under its policy (a refused
// password puts the token back, so the user may try another), which
// also ends every sign-in made before (SessionsNotBefore); the
// purpose's other links are dropped. ok false: the answer (a page) is
// written and returned as err.
func (h *Handler) setPasswordByLink(c echo.Context, purpose string,
	form func(c echo.Context, status int, tok, username, msg string) error,
	invalid func(echo.Context) error) (_ directory.User, ok bool, _ error) {
	r := c.Request()
	if err := r.ParseForm(); err != nil || !h.formOK(c) {
		return directory.User{}, false, expired(c)
	}
	ctx := r.Context()
	a := h.accounts
	unavailable := func() error {
		return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
	}
	tok, pw := r.PostForm.Get("token"), r.PostForm.Get("password")
	if pw != r.PostForm.Get("confirm") {
		if _, err := a.dir.PeekActionToken(ctx, purpose, tok); err != nil {
			return directory.User{}, false, invalid(c)
		}
		return directory.User{}, false, form(c, http.StatusBadRequest, tok, "", tr(c, "The two passwords differ."))
	}
	t, restore, err := a.dir.UseActionToken(ctx, purpose, tok)
	if err != nil {
		if errors.Is(err, directory.ErrActionToken) {
			h.logger.WarnContext(ctx, "mailed link refused", "audit", true, "purpose", purpose, "ip", c.RealIP())
			return directory.User{}, false, invalid(c)
		}
		h.logger.ErrorContext(ctx, "mailed link check failed", "purpose", purpose, "err", err)
		return directory.User{}, false, unavailable()
	}
	u, err := a.dir.SetUserPassword(ctx, t.Subject, pw)
	if err != nil {
		restore()
		var inv *directory.InvalidError
		if errors.As(err, &inv) {
			return directory.User{}, false, form(c, http.StatusBadRequest, tok, "", inv.Reason)
		}
		if errors.Is(err, directory.ErrNotFound) {
			return directory.User{}, false, invalid(c)
		}
		h.logger.ErrorContext(ctx, "mailed link: setting the password failed", "purpose", purpose, "sub", t.Subject, "err", err)
		return directory.User{}, false, unavailable()
	}
	if purpose == directory.PurposeInvite && t.Email != "" {
		// The link reached the address: it is verified, as a
		// verification link would have made it.
		if v, err := a.dir.VerifyEmail(ctx, t.Subject, t.Email); err == nil {
			u = v
		} else {
			h.logger.WarnContext(ctx, "invitation: address not marked verified", "sub", t.Subject, "err", err)
		}
	}
	if err := a.dir.DropActionTokens(ctx, u.Subject, purpose); err != nil {
		h.logger.WarnContext(ctx, "older links not dropped; they expire", "purpose", purpose, "sub", u.Subject, "err", err)
	}
	return u, true, nil
}

// endAllSessions ends subject's sessions now (their relying parties are
// told through back-channel logout). One that cannot be reached ends at
// its next use: the user record's SessionsNotBefore already refuses it.
func (h *Handler) endAllSessions(ctx context.Context, subject, reason string) {
	if h.userSessions == nil {
		return
	}
	ended, err := h.userSessions.EndAll(ctx, subject, "", reason)
	if err != nil {
		h.logger.WarnContext(ctx, "some sessions not ended now; they end at their next use", "sub", subject, "err", err)
	}
	if len(ended) > 0 {
		h.logger.InfoContext(ctx, "sessions ended", "audit", true, "sub", subject, "ended", len(ended), "reason", reason)
	}
}

// changePassword is the account page's password change: the current
// password is required (a session left open must not be enough to take
// the account over), tried through the sign-in throttle; the new one
// replaces it and every session, this one too, is signed out.
func (h *Handler) changePassword(c echo.Context) error {
	_, subject, ok := h.accountForm(c)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	f := c.Request().PostForm
	back := func(status int, msg string) error {
		return notice(c, status, tr(c, "Password not changed"), msg, AccountPath, tr(c, "Back to your account"))
	}
	if f.Get("password") != f.Get("confirm") {
		return back(http.StatusBadRequest, tr(c, "The two new passwords differ."))
	}
	u, err := h.accounts.dir.User(ctx, subject)
	if err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	key := "pwchange:" + subject
	if h.throttle != nil {
		allowed, _, err := h.throttle.Attempt(ctx, key, h.cfg.SignIn.PerUsername)
		if err != nil {
			return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
		}
		if !allowed {
			h.logger.WarnContext(ctx, "account: password change throttled", "audit", true, "sub", subject, "ip", c.RealIP())
			return back(http.StatusTooManyRequests, tr(c, "Too many attempts. Wait a while, then try again."))
		}
	}
	if _, err := h.accounts.dir.Authenticate(ctx, u.Username, f.Get("current")); err != nil {
		h.logger.WarnContext(ctx, "account: password change refused: wrong current password", "audit", true, "sub", subject, "ip", c.RealIP())
		return back(http.StatusForbidden, tr(c, "The current password is wrong."))
	}
	if h.throttle != nil {
		_ = h.throttle.Succeeded(ctx, key)
	}
	if _, err := h.accounts.dir.SetUserPassword(ctx, subject, f.Get("password")); err != nil {
		var inv *directory.InvalidError
		if errors.As(err, &inv) {
			return back(http.StatusBadRequest, inv.Reason)
		}
		h.logger.ErrorContext(ctx, "account: password change failed", "sub", subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	h.logger.InfoContext(ctx, "account: password changed", "audit", true, "sub", subject, "ip", c.RealIP())
	h.endAllSessions(ctx, subject, "password changed")
	h.clearCookie(c)
	return notice(c, http.StatusOK, tr(c, "Password changed"),
		tr(c, "Your password was changed and every session of your account was signed out, this one too. Sign in to your application again with the new password."), "", "")
}
