package auth

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/router"
)

// Invitations: an operator invites someone by email (authrim users
// invite); the mailed link (an action token of purpose invite) opens a
// page where they choose their password. Using it also verifies the
// address, since the link reached it.

// InvitePath is the page of an invitation link.
const InvitePath = "/invite"

func (h *Handler) inviteRoutes() []router.Route {
	if !h.mailLinks() || !h.accounts.opts.Invitations {
		return nil
	}
	return []router.Route{
		{Method: http.MethodGet, Path: InvitePath, Handler: h.invitePage, Limit: router.Moderate},
		{Method: http.MethodPost, Path: InvitePath, Handler: h.acceptInvite, Limit: router.Strict},
	}
}

func inviteInvalid(c echo.Context) error {
	return notice(c, http.StatusBadRequest, tr(c, "This link does not work"),
		tr(c, "The invitation link is invalid, was already used or has expired. Ask whoever invited you for a new one."), "", "")
}

func (h *Handler) inviteForm(c echo.Context, status int, tok, username, msg string) error {
	return h.passwordForm(c, status, InvitePath, tr(c, "Choose your password"), tok, username, msg)
}

// invitePage shows the password form of a live invitation; the token is
// not spent until the form is posted.
func (h *Handler) invitePage(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := h.accounts.dir.PeekActionToken(ctx, directory.PurposeInvite, c.QueryParam("token"))
	if err != nil {
		if !errors.Is(err, directory.ErrActionToken) {
			return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
		}
		return inviteInvalid(c)
	}
	u, err := h.accounts.dir.User(ctx, t.Subject)
	if err != nil {
		return inviteInvalid(c)
	}
	return h.inviteForm(c, http.StatusOK, c.QueryParam("token"), u.Username, "")
}

// acceptInvite sets the invited account's password (and verifies its
// address).
func (h *Handler) acceptInvite(c echo.Context) error {
	u, ok, err := h.setPasswordByLink(c, directory.PurposeInvite, h.inviteForm, inviteInvalid)
	if !ok {
		return err
	}
	h.logger.InfoContext(c.Request().Context(), "invitation accepted", "audit", true, "sub", u.Subject, "ip", c.RealIP())
	return notice(c, http.StatusOK, tr(c, "Your account is ready"),
		tr(c, "Your password is set and your email address is confirmed. Sign in to your application with your username %s.", u.Username), "", "")
}
