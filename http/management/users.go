package management

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// UserAdmin is what the admin API asks of the user directory.
type UserAdmin interface {
	CreateUser(ctx context.Context, in directory.NewUser) (directory.User, error)
	ListUsers(ctx context.Context) ([]directory.User, error)
	// FindUser, DeleteUser and SetUserDisabled take a subject or a
	// username.
	FindUser(ctx context.Context, ref string) (directory.User, error)
	DeleteUser(ctx context.Context, ref string) error
	// SetUserDisabled disables a user (ending every sign-in they made)
	// or enables them again.
	SetUserDisabled(ctx context.Context, ref string, disabled bool) (directory.User, error)
}

// DirectoryAdmin serves /admin/users and /admin/clients. Its routes are
// part of Admin's, behind the bearer token, never on their own.
type DirectoryAdmin struct {
	users   UserAdmin
	clients ClientAdmin
	// sessions, when set, serves /admin/users/{id}/sessions and ends a
	// disabled or deleted user's sessions (Admin.WithSessions).
	sessions SessionAdmin
	// verify, when set, mails email verification links
	// (Admin.WithEmailVerification).
	verify EmailVerifier
	// invite, when set, serves POST /admin/invitations.
	invite Inviter
	logger *slog.Logger
}

// NewDirectoryAdmin returns the user and client routes. A nil users or
// clients leaves that half unmounted.
func NewDirectoryAdmin(users UserAdmin, clients ClientAdmin, logger *slog.Logger) *DirectoryAdmin {
	if logger == nil {
		logger = slog.Default()
	}
	return &DirectoryAdmin{users: users, clients: clients, logger: logger}
}

// routes are the user and client routes; Admin.Routes puts them behind
// the bearer token.
func (d *DirectoryAdmin) routes() []router.Route {
	var rs []router.Route
	if d.users != nil {
		rs = append(rs,
			router.Route{Method: http.MethodPost, Path: "/admin/users", Handler: d.createUser},
			router.Route{Method: http.MethodGet, Path: "/admin/users", Handler: d.listUsers},
			router.Route{Method: http.MethodGet, Path: "/admin/users/:id", Handler: d.getUser},
			router.Route{Method: http.MethodDelete, Path: "/admin/users/:id", Handler: d.deleteUser},
			router.Route{Method: http.MethodPost, Path: "/admin/users/:id/disable", Handler: d.setDisabled(true)},
			router.Route{Method: http.MethodPost, Path: "/admin/users/:id/enable", Handler: d.setDisabled(false)},
		)
		if _, ok := d.users.(AdminRoles); ok {
			rs = append(rs,
				router.Route{Method: http.MethodPost, Path: "/admin/users/:id/admin", Handler: d.setAdmin(true)},
				router.Route{Method: http.MethodDelete, Path: "/admin/users/:id/admin", Handler: d.setAdmin(false)},
			)
		}
		if pk, ok := d.users.(PasskeyAdmin); ok {
			rs = append(rs, d.passkeyRoutes(pk)...)
		}
		if la, ok := d.users.(LinkAdmin); ok {
			rs = append(rs, d.linkRoutes(la)...)
		}
		if m, ok := d.users.(MFAAdmin); ok {
			rs = append(rs, d.mfaRoutes(m)...)
		}
		if ed, ok := d.users.(UserEditor); ok {
			rs = append(rs, d.userEditRoutes(ed)...)
		}
		rs = append(rs, d.sessionRoutes()...)
		rs = append(rs, d.verifyRoutes()...)
		rs = append(rs, d.inviteRoutes()...)
	}
	if d.clients != nil {
		rs = append(rs,
			router.Route{Method: http.MethodPost, Path: "/admin/clients", Handler: d.createClient},
			router.Route{Method: http.MethodGet, Path: "/admin/clients", Handler: d.listClients},
			router.Route{Method: http.MethodGet, Path: "/admin/clients/:id", Handler: d.getClient},
			router.Route{Method: http.MethodDelete, Path: "/admin/clients/:id", Handler: d.deleteClient},
		)
		if ed, ok := d.clients.(ClientEditor); ok {
			rs = append(rs, d.clientEditRoutes(ed)...)
		}
	}
	return rs
}

// NewUserRequest is the body of POST /admin/users.
type NewUserRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Claims are OIDC standard claims (OIDC Core §5.1).
	Claims map[string]any `json:"claims,omitempty"`
}

// UserView is a user as the admin API shows it: never the password hash.
type UserView struct {
	Subject  string         `json:"sub"`
	Username string         `json:"username"`
	Claims   map[string]any `json:"claims,omitempty"`
	Created  time.Time      `json:"created"`
	Updated  time.Time      `json:"updated"`
	// Disabled users cannot sign in and their tokens do not work.
	Disabled bool `json:"disabled"`
	// Admin users may use the admin console.
	Admin bool `json:"admin,omitempty"`
}

// UsersView is the body of GET /admin/users.
type UsersView struct {
	Users []UserView `json:"users"`
}

func userView(u directory.User) UserView {
	return UserView{Subject: u.Subject, Username: u.Username, Claims: u.Claims, Created: u.Created, Updated: u.Updated, Disabled: u.Disabled, Admin: u.Admin}
}

func (d *DirectoryAdmin) createUser(c echo.Context) error {
	var body NewUserRequest
	if err := decodeStrict(c, &body); err != nil {
		return oauth2.Write(c, d.logger, err)
	}
	u, err := d.CreateUser(c.Request().Context(), body)
	if err != nil {
		return d.fail(c, err, "user")
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/users/"+url.PathEscape(u.Subject))
	return c.JSON(http.StatusCreated, userView(u))
}

func (d *DirectoryAdmin) listUsers(c echo.Context) error {
	users, err := d.users.ListUsers(c.Request().Context())
	if err != nil {
		return d.fail(c, err, "user")
	}
	v := UsersView{Users: make([]UserView, 0, len(users))}
	for _, u := range users {
		v.Users = append(v.Users, userView(u))
	}
	return c.JSON(http.StatusOK, v)
}

func (d *DirectoryAdmin) getUser(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, d.logger, err)
	}
	u, err := d.users.FindUser(c.Request().Context(), ref)
	if err != nil {
		return d.fail(c, err, "user")
	}
	return c.JSON(http.StatusOK, userView(u))
}

func (d *DirectoryAdmin) deleteUser(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, d.logger, err)
	}
	if err := d.DeleteUser(c.Request().Context(), ref); err != nil {
		return d.fail(c, err, "user")
	}
	return c.NoContent(http.StatusNoContent)
}

// setDisabled serves POST /admin/users/{id}/disable and .../enable.
// Disabling takes effect at once on every node: each use of a session,
// code or token reads the user record (docs/ARCHITECTURE.md).
func (d *DirectoryAdmin) setDisabled(disabled bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ref, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		u, err := d.SetDisabled(c.Request().Context(), ref, disabled)
		if err != nil {
			return d.fail(c, err, "user")
		}
		return c.JSON(http.StatusOK, userView(u))
	}
}

// setAdmin serves POST /admin/users/{id}/admin (grant) and DELETE
// (revoke) of the console's admin role. With the bearer token this is
// how the first admin is made.
func (d *DirectoryAdmin) setAdmin(admin bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		ref, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		u, err := d.SetAdmin(c.Request().Context(), ref, admin)
		if err != nil {
			return d.fail(c, err, "user")
		}
		return c.JSON(http.StatusOK, userView(u))
	}
}

// fail maps directory errors to responses; what is "user" or "client".
func (d *DirectoryAdmin) fail(c echo.Context, err error, what string) error {
	if p := directoryProblem(err, what); p != nil {
		return oauth2.Write(c, d.logger, p)
	}
	return oauth2.Write(c, d.logger, err)
}

// maxBodyBytes caps admin request bodies (a JWK set is the largest thing
// sent). The router has its own, global limit; this one holds wherever
// the routes are mounted.
const maxBodyBytes = 64 << 10

// decodeStrict reads exactly one JSON object from the body into v:
// application/json only, at most maxBodyBytes, no unknown fields (a
// misspelt field must not be silently dropped), nothing after the object.
// Descriptions never quote the body: it may hold a password.
func decodeStrict(c echo.Context, v any) error {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return oauth2.ErrInvalidRequest.WithDescription("body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), req.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return oauth2.ErrInvalidRequest.WithDescription(fmt.Sprintf("body is larger than %d bytes", maxBodyBytes))
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return oauth2.ErrInvalidRequest.WithDescription(fmt.Sprintf("field %s has the wrong type", typeErr.Field))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// The field name comes from the encoding/json message; it is
			// a key, not a value, so quoting it leaks nothing.
			return oauth2.ErrInvalidRequest.WithDescription(strings.TrimPrefix(err.Error(), "json: "))
		case errors.Is(err, io.EOF):
			return oauth2.ErrInvalidRequest.WithDescription("body is empty")
		}
		return oauth2.ErrInvalidRequest.WithDescription("malformed JSON body")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return oauth2.ErrInvalidRequest.WithDescription("body must hold exactly one JSON object")
	}
	return nil
}

// pathParam returns a path parameter unescaped. Echo routes on the raw
// path when the URL has escapes that do not round-trip (such as %2F), and
// then hands out the escaped form; usernames may hold such characters.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	u, err := url.PathUnescape(v)
	if err != nil {
		return "", oauth2.ErrInvalidRequest.WithDescription("malformed path")
	}
	return u, nil
}
