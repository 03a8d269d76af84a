package management

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/session"
	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/internal/useragent"
)

// SessionAdmin lists and ends a user's sessions through the per-user
// index (session.UserSessions).
type SessionAdmin interface {
	List(ctx context.Context, subject string) ([]session.Active, error)
	// End fails with session.ErrNotUsers for a session that is not one
	// of subject's.
	End(ctx context.Context, subject, sid, reason string) error
	EndAll(ctx context.Context, subject, except, reason string) ([]string, error)
}

// WithSessions adds /admin/users/{id}/sessions, and makes disabling or
// deleting a user end their sessions at once (their relying parties get
// back-channel logout). It needs WithDirectory first.
func (a *Admin) WithSessions(s SessionAdmin) *Admin {
	if a.directory != nil {
		a.directory.sessions = s
	}
	return a
}

// SessionView is a user's session as the admin API shows it.
type SessionView struct {
	Sid      string    `json:"sid"`
	SignedIn time.Time `json:"signed_in"`
	// Device summarises UserAgent ("Firefox on Linux").
	Device    string   `json:"device"`
	UserAgent string   `json:"user_agent,omitempty"`
	Address   string   `json:"address,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	ACR       string   `json:"acr,omitempty"`
	// Clients have tokens or an ID token of this sign-in.
	Clients []string `json:"clients"`
}

// SessionsView is the body of GET /admin/users/{id}/sessions.
type SessionsView struct {
	Subject  string        `json:"sub"`
	Sessions []SessionView `json:"sessions"`
}

// EndedView is the body of DELETE /admin/users/{id}/sessions.
type EndedView struct {
	Subject string   `json:"sub"`
	Ended   []string `json:"ended"`
}

// Reasons on the audit lines of sessions ended here.
const (
	reasonRevoked  = "revoked by an operator"
	reasonDisabled = "user disabled"
	reasonDeleted  = "user deleted"
)

func (d *DirectoryAdmin) sessionRoutes() []router.Route {
	if d.sessions == nil {
		return nil
	}
	return []router.Route{
		{Method: http.MethodGet, Path: "/admin/users/:id/sessions", Handler: d.listSessions, Grain: "Session.Describe (each of the user's)"},
		{Method: http.MethodDelete, Path: "/admin/users/:id/sessions/:sid", Handler: d.endSession, Grain: "Session.End"},
		{Method: http.MethodDelete, Path: "/admin/users/:id/sessions", Handler: d.endSessions, Grain: "Session.End (each of the user's)"},
	}
}

// userSubject resolves the {id} path parameter (a subject or username).
func (d *DirectoryAdmin) userSubject(c echo.Context) (string, error) {
	ref, err := pathParam(c, "id")
	if err != nil {
		return "", err
	}
	u, err := d.users.FindUser(c.Request().Context(), ref)
	if err != nil {
		return "", err
	}
	return u.Subject, nil
}

func (d *DirectoryAdmin) listSessions(c echo.Context) error {
	sub, err := d.userSubject(c)
	if err != nil {
		return d.fail(c, err, "user")
	}
	v, err := d.UserSessions(c.Request().Context(), sub)
	if err != nil {
		return d.fail(c, err, "user")
	}
	return c.JSON(http.StatusOK, v)
}

// UserSessions lists the sessions of the user with subject sub.
func (d *DirectoryAdmin) UserSessions(ctx context.Context, sub string) (SessionsView, error) {
	if d.sessions == nil {
		return SessionsView{}, oauth2.ErrNotFound.WithDescription("sessions are not listed here")
	}
	list, err := d.sessions.List(ctx, sub)
	if err != nil {
		d.logger.ErrorContext(ctx, "admin: listing sessions failed", "sub", sub, "err", err)
		return SessionsView{}, oauth2.ErrTemporarilyUnavail.WithDescription("the user's sessions cannot be read right now")
	}
	v := SessionsView{Subject: sub, Sessions: make([]SessionView, 0, len(list))}
	for _, a := range list {
		clients := a.Clients
		if clients == nil {
			clients = []string{}
		}
		v.Sessions = append(v.Sessions, SessionView{
			Sid: a.Sid, SignedIn: time.UnixMilli(a.SignedInMs).UTC(), Device: useragent.Summary(a.UserAgent),
			UserAgent: a.UserAgent, Address: a.Address, AMR: a.Methods, ACR: a.Login.GetAcr(), Clients: clients,
		})
	}
	return v, nil
}

func (d *DirectoryAdmin) endSession(c echo.Context) error {
	sub, err := d.userSubject(c)
	if err != nil {
		return d.fail(c, err, "user")
	}
	sid, err := pathParam(c, "sid")
	if err != nil {
		return oauth2.Write(c, d.logger, err)
	}
	ctx := c.Request().Context()
	switch err := d.sessions.End(ctx, sub, sid, reasonRevoked); {
	case errors.Is(err, session.ErrNotUsers):
		return oauth2.Write(c, d.logger, oauth2.ErrNotFound.WithDescription("no such session of this user"))
	case err != nil:
		d.logger.ErrorContext(ctx, "admin: ending a session failed", "sub", sub, "err", err)
		return oauth2.Write(c, d.logger, oauth2.ErrTemporarilyUnavail.WithDescription("the session cannot be ended right now; retry"))
	}
	d.logger.InfoContext(ctx, "admin: session revoked", "audit", true, "sub", sub, "ended_sid", sid)
	return c.NoContent(http.StatusNoContent)
}

func (d *DirectoryAdmin) endSessions(c echo.Context) error {
	sub, err := d.userSubject(c)
	if err != nil {
		return d.fail(c, err, "user")
	}
	ended, err := d.EndSessions(c.Request().Context(), sub)
	if err != nil {
		return d.fail(c, err, "user")
	}
	if ended == nil {
		ended = []string{}
	}
	return c.JSON(http.StatusOK, EndedView{Subject: sub, Ended: ended})
}

// endUserSessions ends every session of a user who was just disabled or
// deleted, so that their relying parties are told now (back-channel
// logout). A session that cannot be reached is only logged: the user's
// state already ends it at its next use (each use reads the user record).
func (d *DirectoryAdmin) endUserSessions(ctx context.Context, sub, reason string) {
	if d.sessions == nil || sub == "" {
		return
	}
	ended, err := d.sessions.EndAll(ctx, sub, "", reason)
	if err != nil {
		d.logger.WarnContext(ctx, "admin: some sessions of the user not ended now; they end at their next use", "sub", sub, "err", err)
	}
	if len(ended) > 0 {
		d.logger.InfoContext(ctx, "admin: sessions ended", "audit", true, "sub", sub, "ended", len(ended), "reason", reason)
	}
}
