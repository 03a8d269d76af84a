package management

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/internal/i18n"
)

// EmailVerifier mails a verification link for a user's current address
// and returns the address (node: an action token through the outbox).
type EmailVerifier interface {
	SendVerification(ctx context.Context, subject, lang string) (string, error)
}

// WithEmailVerification mails verification links: on demand
// (POST /admin/users/{id}/verify-email), for a user created with an
// unverified address, and when an edit changes the address.
func (a *Admin) WithEmailVerification(v EmailVerifier) *Admin {
	if a.directory != nil {
		a.directory.verify = v
	}
	return a
}

// VerificationView is the answer of POST /admin/users/{id}/verify-email.
type VerificationView struct {
	Subject string `json:"sub"`
	// SentTo is the address the link was mailed to.
	SentTo string `json:"sent_to"`
}

func (d *DirectoryAdmin) verifyRoutes() []router.Route {
	if d.verify == nil {
		return nil
	}
	return []router.Route{{Method: http.MethodPost, Path: "/admin/users/:id/verify-email", Handler: d.sendVerification}}
}

func (d *DirectoryAdmin) sendVerification(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, d.logger, err)
	}
	ctx := c.Request().Context()
	u, err := d.users.FindUser(ctx, ref)
	if err != nil {
		return d.fail(c, err, "user")
	}
	addr, err := d.verify.SendVerification(ctx, u.Subject, i18n.Default)
	if err != nil {
		if errors.Is(err, directory.ErrInvalid) {
			return d.fail(c, err, "user")
		}
		d.logger.ErrorContext(ctx, "admin: verification mail not queued", "sub", u.Subject, "err", err)
		return oauth2.Write(c, d.logger, oauth2.ErrTemporarilyUnavail.WithDescription("the mail cannot be queued right now; retry"))
	}
	d.logger.InfoContext(ctx, "admin: email verification requested", "audit", true, "sub", u.Subject)
	return c.JSON(http.StatusAccepted, VerificationView{Subject: u.Subject, SentTo: addr})
}

// verifyNew mails a link when u has an address that is not verified
// (after a create, or an edit that changed the address). A failure is
// logged only: the change stands, and the link can be sent again.
func (d *DirectoryAdmin) verifyNew(ctx context.Context, u directory.User) {
	if d.verify == nil {
		return
	}
	addr, _ := u.Claims["email"].(string)
	if ok, _ := u.Claims["email_verified"].(bool); addr == "" || ok {
		return
	}
	if _, err := d.verify.SendVerification(ctx, u.Subject, i18n.Default); err != nil {
		d.logger.WarnContext(ctx, "admin: verification mail not queued; send it again with verify-email", "sub", u.Subject, "err", err)
	}
}
