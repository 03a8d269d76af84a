package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// Email verification: a link mailed to the user's address (an action
// token of purpose verify_email) marks it verified, if it is still the
// address the link went to. Clients with require_verified_email get
// codes only for users whose address is verified.

// Paths of the verification pages.
const (
	VerifyEmailPath        = "/email/verify"
	AccountVerifyEmailPath = AccountPath + "/email/verify"
)

// EmailVerifier mails a verification link for the user's current
// address and returns that address.
type EmailVerifier interface {
	SendVerification(ctx context.Context, subject, lang string) (string, error)
}

// WithEmailVerification serves the verification pages, the account
// page's "send a confirmation link" and the require_verified_email gate
// (with WithAccounts).
func (h *Handler) WithEmailVerification(v EmailVerifier) *Handler {
	if h.accounts != nil {
		h.accounts.verify = v
	}
	return h
}

func (h *Handler) verifyRoutes() []router.Route {
	if h.accounts == nil || h.accounts.verify == nil {
		return nil
	}
	return []router.Route{
		{Method: http.MethodGet, Path: VerifyEmailPath, Handler: h.verifyPage, Limit: router.Moderate},
		{Method: http.MethodPost, Path: VerifyEmailPath, Handler: h.verifyEmail, Limit: router.Strict},
		{Method: http.MethodPost, Path: AccountVerifyEmailPath, Handler: h.sendVerification, Limit: router.Strict, Grain: "Session.Get, RateLimiter.Take (per account), Delivery.Kick"},
	}
}

func verifyLinkInvalid(c echo.Context) error {
	return notice(c, http.StatusBadRequest, tr(c, "This link does not work"),
		tr(c, "The link is invalid, was already used or has expired. Ask for a new one on your account page."), AccountPath, tr(c, "Your account"))
}

// verifyPage shows a button that confirms the address: the link itself
// changes nothing (mail scanners open links).
func (h *Handler) verifyPage(c echo.Context) error {
	tok := c.QueryParam("token")
	t, err := h.accounts.dir.PeekActionToken(c.Request().Context(), directory.PurposeVerifyEmail, tok)
	if err != nil {
		if !errors.Is(err, directory.ErrActionToken) {
			return errorPage(c, http.StatusServiceUnavailable, "Email verification is unavailable right now. Try again shortly.")
		}
		return verifyLinkInvalid(c)
	}
	return render(c, http.StatusOK, "verify_email.html", map[string]any{
		"Title": tr(c, "Confirm your email address"), "Token": tok, "Email": t.Email, "CSRF": h.formToken(c),
	})
}

// verifyEmail spends the link and marks the address verified.
func (h *Handler) verifyEmail(c echo.Context) error {
	r := c.Request()
	if err := r.ParseForm(); err != nil || !h.formOK(c) {
		return expired(c)
	}
	ctx := r.Context()
	t, _, err := h.accounts.dir.UseActionToken(ctx, directory.PurposeVerifyEmail, r.PostForm.Get("token"))
	if err != nil {
		if errors.Is(err, directory.ErrActionToken) {
			h.logger.WarnContext(ctx, "email verification: link refused", "audit", true, "ip", c.RealIP())
			return verifyLinkInvalid(c)
		}
		return errorPage(c, http.StatusServiceUnavailable, "Email verification is unavailable right now. Try again shortly.")
	}
	if _, err := h.accounts.dir.VerifyEmail(ctx, t.Subject, t.Email); err != nil {
		if errors.Is(err, directory.ErrEmailChanged) || errors.Is(err, directory.ErrNotFound) {
			h.logger.WarnContext(ctx, "email verification: the address changed since the link was sent", "audit", true, "sub", t.Subject)
			return verifyLinkInvalid(c)
		}
		h.logger.ErrorContext(ctx, "email verification failed", "sub", t.Subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Email verification is unavailable right now. Try again shortly.")
	}
	h.logger.InfoContext(ctx, "email verification: address verified", "audit", true, "sub", t.Subject)
	return notice(c, http.StatusOK, tr(c, "Email address confirmed"),
		tr(c, "Thank you: your email address is confirmed. You can go back to your application and sign in."), "", "")
}

// sendVerification mails a link from the account page or the gate;
// at most ResetsPerHour such mails per account per hour.
func (h *Handler) sendVerification(c echo.Context) error {
	_, subject, ok := h.accountForm(c)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	allowed, _, err := h.accounts.limiter.Take(ctx, "verify-mail:"+subject, h.accounts.opts.ResetsPerHour, time.Hour)
	if err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Email verification is unavailable right now. Try again shortly.")
	}
	if !allowed {
		h.logger.WarnContext(ctx, "email verification: too many mails for the account", "audit", true, "sub", subject)
		return notice(c, http.StatusTooManyRequests, tr(c, "Check your mail"),
			tr(c, "A confirmation link was sent several times already. Use the last one, or try again in an hour."), AccountPath, tr(c, "Your account"))
	}
	if _, err := h.accounts.verify.SendVerification(ctx, subject, langOf(c)); err != nil {
		if errors.Is(err, directory.ErrInvalid) {
			return notice(c, http.StatusBadRequest, tr(c, "No email address"), tr(c, "Your account has no email address to confirm."), AccountPath, tr(c, "Your account"))
		}
		h.logger.ErrorContext(ctx, "email verification: mail not queued", "sub", subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Email verification is unavailable right now. Try again shortly.")
	}
	return notice(c, http.StatusOK, tr(c, "Check your mail"),
		tr(c, "A link to confirm your email address is on its way. Open it, then go back to your application and sign in."), "", "")
}

// emailVerified reports whether subject's email claim is verified.
func (h *Handler) emailVerified(ctx context.Context, subject string) (bool, error) {
	u, err := h.accounts.dir.User(ctx, subject)
	if err != nil {
		return false, err
	}
	v, _ := u.Claims["email_verified"].(bool)
	return v, nil
}

// verifiedHold shows the verification page instead of going on when cl
// requires a verified email and subject's is not; held reports whether
// it answered (also with an error page when the user cannot be read).
func (h *Handler) verifiedHold(c echo.Context, cl directory.Client, secret, subject string) (held bool, err error) {
	if h.accounts == nil || !cl.RequireVerifiedEmail {
		return false, nil
	}
	ok, err := h.emailVerified(c.Request().Context(), subject)
	if err != nil {
		return true, errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
	}
	if ok {
		return false, nil
	}
	h.logger.InfoContext(c.Request().Context(), "sign-in held: the client requires a verified email", "audit", true, "client_id", cl.ID, "sub", subject)
	return true, h.verifyRequiredPage(c, cl, secret)
}

func (h *Handler) verifyRequiredPage(c echo.Context, cl directory.Client, secret string) error {
	return render(c, http.StatusForbidden, "verify_required.html", map[string]any{
		"Title": tr(c, "Confirm your email address"), "ClientName": cl.Name, "CSRF": csrfToken(secret, accountPurpose),
		"CanSend": h.accounts.verify != nil,
	})
}

// verifiedGate is checked before a code is issued for a client that
// requires a verified email: a user without one gets the page that
// offers the verification mail (or, for prompt=none, an
// interaction_required error) instead of a code. handled reports
// whether it answered the request.
func (h *Handler) verifiedGate(c echo.Context, rd redirect, sid, secret string, op *messages.IssueCode) (bool, error) {
	if h.accounts == nil || rd.client == "" {
		return false, nil
	}
	ctx := c.Request().Context()
	cl, err := h.clients.Client(ctx, rd.client)
	if err != nil || !cl.RequireVerifiedEmail {
		return false, nil // an unknown client fails at issuance
	}
	login := h.loginOf(ctx, sid, secret)
	if login == nil {
		return false, nil // the grain refuses to issue
	}
	ok, err := h.emailVerified(ctx, login.Subject)
	if err != nil {
		return true, h.fail(c, rd, oauth2.ErrTemporarilyUnavail.WithDescription("the user's account cannot be read right now"))
	}
	if ok {
		return false, nil
	}
	h.logger.InfoContext(ctx, "sign-in held: the client requires a verified email", "audit", true, "client_id", cl.ID, "sub", login.Subject)
	if op.GetRequest() != nil && slices.Contains(op.GetRequest().GetPrompt(), "none") {
		return true, h.fail(c, rd, oauth2.ErrInteractionRequired.WithDescription("the user must verify their email address"))
	}
	return true, h.verifyRequiredPage(c, cl, secret)
}
