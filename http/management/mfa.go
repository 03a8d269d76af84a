package management

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// MFAAdmin is what the second-factor routes ask of the user directory
// (*directory.Directory satisfies it). Register mounts them when the
// UserAdmin given to NewDirectoryAdmin implements it too.
type MFAAdmin interface {
	FindUser(ctx context.Context, ref string) (directory.User, error)
	MFA(ctx context.Context, subject string) (directory.MFAStatus, error)
	ResetMFA(ctx context.Context, subject string) (bool, error)
}

// MFAView is the body of GET /admin/users/:id/mfa: what the user has, never
// a secret or a code.
type MFAView struct {
	directory.MFAStatus
}

func (d *DirectoryAdmin) mfaRoutes(m MFAAdmin) []router.Route {
	h := &mfaHandlers{dir: m, d: d}
	return []router.Route{
		{Method: http.MethodGet, Path: "/admin/users/:id/mfa", Handler: h.show},
		{Method: http.MethodDelete, Path: "/admin/users/:id/mfa", Handler: h.reset},
	}
}

type mfaHandlers struct {
	dir MFAAdmin
	d   *DirectoryAdmin
}

func (h *mfaHandlers) user(c echo.Context) (directory.User, error) {
	ref, err := pathParam(c, "id")
	if err != nil {
		return directory.User{}, err
	}
	return h.dir.FindUser(c.Request().Context(), ref)
}

func (h *mfaHandlers) show(c echo.Context) error {
	u, err := h.user(c)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	st, err := h.dir.MFA(c.Request().Context(), u.Subject)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	return c.JSON(http.StatusOK, MFAView{st})
}

// reset removes the user's authenticator app and recovery codes (a lost
// phone and lost codes): their next password sign-in is one step again,
// or asks them to set up a new app where the policy requires one.
func (h *mfaHandlers) reset(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	if _, err := h.d.ResetMFA(c.Request().Context(), ref); err != nil {
		return h.d.fail(c, err, "user")
	}
	return c.NoContent(http.StatusNoContent)
}
