package management

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/internal/i18n"
)

// InvitationsPath is the admin route that invites someone by email.
const InvitationsPath = "/admin/invitations"

// Inviter opens an account for an address and mails its owner a link
// to choose the password (node: registration.users invite).
type Inviter interface {
	Invite(ctx context.Context, addr, username, lang string) (directory.User, error)
}

// WithInvitations adds POST /admin/invitations.
func (a *Admin) WithInvitations(i Inviter) *Admin {
	if a.directory != nil {
		a.directory.invite = i
	}
	return a
}

// InvitationRequest is the body of POST /admin/invitations.
type InvitationRequest struct {
	Email string `json:"email"`
	// Username defaults to the address.
	Username string `json:"username,omitempty"`
	// Lang is the invitation mail's language (BCP 47; default English).
	Lang string `json:"lang,omitempty"`
}

// InvitationView answers it.
type InvitationView struct {
	Subject  string `json:"sub"`
	Username string `json:"username"`
	SentTo   string `json:"sent_to"`
}

func (d *DirectoryAdmin) inviteRoutes() []router.Route {
	if d.invite == nil {
		return nil
	}
	return []router.Route{{Method: http.MethodPost, Path: InvitationsPath, Handler: d.inviteUser}}
}

func (d *DirectoryAdmin) inviteUser(c echo.Context) error {
	var in InvitationRequest
	if err := decodeStrict(c, &in); err != nil {
		return oauth2.Write(c, d.logger, err)
	}
	ctx := c.Request().Context()
	u, err := d.invite.Invite(ctx, strings.TrimSpace(in.Email), in.Username, i18n.Match(in.Lang, ""))
	switch {
	case err == nil:
	case u.Subject != "":
		// The account exists but its mail could not be queued.
		d.logger.ErrorContext(ctx, "admin: invitation mail not queued", "sub", u.Subject, "err", err)
		return oauth2.Write(c, d.logger, oauth2.ErrTemporarilyUnavail.WithDescription("the account was created but the invitation mail cannot be queued; delete the user and invite again"))
	case errors.Is(err, directory.ErrUsernameTaken), errors.Is(err, directory.ErrNotFound):
		return d.fail(c, err, "user")
	case errors.Is(err, directory.ErrInvalid):
		var inv *directory.InvalidError
		if errors.As(err, &inv) {
			return d.fail(c, err, "user")
		}
		return oauth2.Write(c, d.logger, oauth2.ErrInvalidRequest.WithDescription(strings.TrimPrefix(err.Error(), directory.ErrInvalid.Error()+": ")))
	default:
		return oauth2.Write(c, d.logger, err)
	}
	d.logger.InfoContext(ctx, "admin: user invited", "audit", true, "sub", u.Subject, "username", u.Username)
	return c.JSON(http.StatusCreated, InvitationView{Subject: u.Subject, Username: u.Username, SentTo: in.Email})
}
