package auth

import (
	"errors"
	"net/http"
	"net/mail"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/router"
)

// Self-service sign-up (registration.users: open): anyone creates an
// account with a username, an address and a password (under the
// password policy); the account cannot sign in until the verification
// link mailed to the address is used (directory User.Pending).

// SignUpPath is the sign-up page.
const SignUpPath = "/signup"

func (h *Handler) signUpOpen() bool {
	return h.mailLinks() && h.accounts.opts.SignUp && h.accounts.verify != nil
}

func (h *Handler) signUpRoutes() []router.Route {
	if !h.signUpOpen() {
		return nil
	}
	return []router.Route{
		{Method: http.MethodGet, Path: SignUpPath, Handler: h.signUpPage, Limit: router.Moderate},
		{Method: http.MethodPost, Path: SignUpPath, Handler: h.signUp, Limit: router.Strict, Grain: "Delivery.Kick"},
	}
}

func (h *Handler) signUpForm(c echo.Context, status int, username, addr, msg string) error {
	return render(c, status, "signup.html", map[string]any{
		"Title": tr(c, "Create an account"), "CSRF": h.formToken(c), "Username": username, "Email": addr, "Error": msg,
	})
}

func (h *Handler) signUpPage(c echo.Context) error {
	return h.signUpForm(c, http.StatusOK, "", "", "")
}

// signUp creates a pending account and mails its verification link. An
// address that another account already has gets the same answer and no
// account (the page does not tell whose address is registered).
func (h *Handler) signUp(c echo.Context) error {
	r := c.Request()
	if err := r.ParseForm(); err != nil || !h.formOK(c) {
		return expired(c)
	}
	ctx := r.Context()
	f := r.PostForm
	username, addr, pw := strings.TrimSpace(f.Get("username")), strings.TrimSpace(f.Get("email")), f.Get("password")
	if a, err := mail.ParseAddress(addr); err != nil || a.Name != "" || a.Address != addr || len(addr) > 320 {
		return h.signUpForm(c, http.StatusBadRequest, username, addr, tr(c, "Enter an email address such as name@example.com."))
	}
	if pw != f.Get("confirm") {
		return h.signUpForm(c, http.StatusBadRequest, username, addr, tr(c, "The two passwords differ."))
	}
	if err := h.accounts.dir.CheckPassword(pw, username); err != nil {
		var inv *directory.InvalidError
		if errors.As(err, &inv) {
			return h.signUpForm(c, http.StatusBadRequest, username, addr, inv.Reason)
		}
		return h.signUpForm(c, http.StatusBadRequest, username, addr, tr(c, "Choose another password."))
	}
	sent := func() error {
		return notice(c, http.StatusOK, tr(c, "Check your mail"),
			tr(c, "To finish creating your account, open the link we mailed to %s.", addr), "", "")
	}
	if other, err := h.accounts.dir.UserByEmail(ctx, addr); err == nil {
		h.logger.InfoContext(ctx, "sign-up refused: address in use", "audit", true, "client_ip", c.RealIP())
		if other.Pending {
			// Its owner lost the first link (or never got it): a new one.
			if _, err := h.accounts.verify.SendVerification(ctx, other.Subject, langOf(c)); err != nil {
				h.logger.WarnContext(ctx, "sign-up: verification mail not queued", "sub", other.Subject, "err", err)
			}
		}
		return sent()
	} else if !errors.Is(err, directory.ErrNotFound) {
		return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
	}
	u, err := h.accounts.dir.CreateUser(ctx, directory.NewUser{Username: username, Password: pw, Pending: true,
		Claims: map[string]any{"email": addr, "email_verified": false}})
	switch {
	case errors.Is(err, directory.ErrUsernameTaken):
		return h.signUpForm(c, http.StatusConflict, username, addr, tr(c, "This username is taken. Choose another one."))
	case err != nil:
		var inv *directory.InvalidError
		if errors.As(err, &inv) {
			return h.signUpForm(c, http.StatusBadRequest, username, addr, inv.Reason)
		}
		h.logger.ErrorContext(ctx, "sign-up failed", "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
	}
	h.logger.InfoContext(ctx, "user signed up", "audit", true, "sub", u.Subject, "username", u.Username, "client_ip", c.RealIP())
	if _, err := h.accounts.verify.SendVerification(ctx, u.Subject, langOf(c)); err != nil {
		h.logger.ErrorContext(ctx, "sign-up: verification mail not queued", "sub", u.Subject, "err", err)
	}
	return sent()
}
