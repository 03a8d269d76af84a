package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/session"
	"authrim/http/router"
	"authrim/internal/useragent"
)

// The signed-in user's sessions on the account page: where and how they
// signed in, the apps each has tokens for, and signing out of the others.

// Paths of the account page's session forms.
const (
	AccountSessionEndPath    = AccountPath + "/sessions/end"
	AccountSessionOthersPath = AccountPath + "/sessions/end-others"
)

// UserSessions lists and ends a user's sessions (session.UserSessions).
type UserSessions interface {
	List(ctx context.Context, subject string) ([]session.Active, error)
	// End fails with session.ErrNotUsers for a session that is not one
	// of subject's.
	End(ctx context.Context, subject, sid, reason string) error
	EndAll(ctx context.Context, subject, except, reason string) ([]string, error)
}

// WithUserSessions shows the user's sessions on the account page and
// mounts the forms that end them.
func (h *Handler) WithUserSessions(us UserSessions) *Handler {
	h.userSessions = us
	return h
}

// sessionRoutes are the account page's session forms (with
// WithUserSessions).
func (h *Handler) sessionRoutes() []router.Route {
	if h.userSessions == nil {
		return nil
	}
	return []router.Route{
		{Method: http.MethodPost, Path: AccountSessionEndPath, Handler: h.endSession, Limit: router.Moderate, Grain: "Session.Get, Session.End"},
		{Method: http.MethodPost, Path: AccountSessionOthersPath, Handler: h.endOtherSessions, Limit: router.Moderate, Grain: "Session.Get, Session.End (each)"},
	}
}

// endReason is what the audit line of a session ended here says.
const endReason = "signed out from the account page"

// sessionRow is a session as the account page shows it.
type sessionRow struct {
	Sid, Device, Address, SignedIn, Method string
	Apps                                   []string
	Current                                bool
}

// sessionRows lists subject's sessions for the page, the current one
// (sid) first.
func (h *Handler) sessionRows(c echo.Context, subject, sid string) ([]sessionRow, error) {
	ctx := c.Request().Context()
	list, err := h.userSessions.List(ctx, subject)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	rows := make([]sessionRow, 0, len(list))
	for _, a := range list {
		r := sessionRow{
			Sid: a.Sid, Device: useragent.SummaryIn(pageLang(c), a.UserAgent), Address: a.Address,
			SignedIn: time.UnixMilli(a.SignedInMs).UTC().Format("2006-01-02 15:04 UTC"),
			Method:   methodOf(c, a.Methods), Current: a.Sid == sid,
		}
		if r.Address == "" {
			r.Address = tr(c, "unknown")
		}
		for _, id := range a.Clients {
			name, ok := names[id]
			if !ok {
				name = id
				if c, err := h.clients.Client(ctx, id); err == nil && c.Name != "" {
					name = c.Name
				}
				names[id] = name
			}
			r.Apps = append(r.Apps, name)
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(a, b sessionRow) int {
		switch {
		case a.Current == b.Current:
			return 0
		case a.Current:
			return -1
		}
		return 1
	})
	return rows, nil
}

// methodOf names a sign-in's methods (RFC 8176 amr values).
func methodOf(c echo.Context, amr []string) string {
	var out []string
	for _, m := range amr {
		switch m {
		case "pwd":
			out = append(out, tr(c, "password"))
		case "hwk":
			out = append(out, tr(c, "passkey (this device)"))
		case "swk":
			out = append(out, tr(c, "passkey (synced)"))
		case "otp":
			out = append(out, tr(c, "authenticator app"))
		case "rc":
			out = append(out, tr(c, "recovery code"))
		case "fed":
			// An upstream sign-in (connectors): its own methods follow.
			out = append(out, tr(c, "another provider"))
		case "user", "pin", "mfa":
			// User verification of the passkey: part of it.
		default:
			out = append(out, tr(c, "other"))
		}
	}
	if len(out) == 0 {
		return tr(c, "unknown")
	}
	return strings.Join(slices.Compact(out), ", ")
}

// accountForm checks a POST from the account page: the form, its CSRF
// token and the session's login. ok false: none of them holds.
func (h *Handler) accountForm(c echo.Context) (sid, subject string, ok bool) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return "", "", false
	}
	sid, secret := h.cookie(c)
	if !csrfOK(secret, accountPurpose, r.PostForm.Get("csrf")) {
		return "", "", false
	}
	login := h.loginOf(r.Context(), sid, secret)
	if login == nil {
		return "", "", false
	}
	return sid, login.Subject, true
}

// endSession signs out one of the user's other sessions. Only a session
// in the user's own index is ended: a session id of someone else's is
// answered like one that has ended, and changes nothing.
func (h *Handler) endSession(c echo.Context) error {
	sid, subject, ok := h.accountForm(c)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	target := c.Request().PostForm.Get("sid")
	if target == sid {
		// This device signs out through /logout, where the apps' pages
		// are told too (front-channel logout).
		return c.Redirect(http.StatusSeeOther, LogoutPath)
	}
	switch err := h.userSessions.End(ctx, subject, target, endReason); {
	case errors.Is(err, session.ErrNotUsers):
		h.logger.WarnContext(ctx, "account: ending a session refused: not one of the user's", "audit", true, "sub", subject)
		return errorPage(c, http.StatusNotFound, "That session has already ended.")
	case err != nil:
		h.logger.ErrorContext(ctx, "account: ending a session failed", "sub", subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "That session cannot be signed out right now. Try again shortly.")
	}
	h.logger.InfoContext(ctx, "account: session signed out", "audit", true, "sub", subject, "ended_sid", target)
	return c.Redirect(http.StatusSeeOther, AccountPath)
}

// endOtherSessions signs out every session of the user but this one.
func (h *Handler) endOtherSessions(c echo.Context) error {
	sid, subject, ok := h.accountForm(c)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	ended, err := h.userSessions.EndAll(ctx, subject, sid, endReason)
	h.logger.InfoContext(ctx, "account: other sessions signed out", "audit", true, "sub", subject, "ended", len(ended))
	if err != nil {
		h.logger.ErrorContext(ctx, "account: ending other sessions failed", "sub", subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Some sessions cannot be signed out right now. Try again shortly.")
	}
	return c.Redirect(http.StatusSeeOther, AccountPath)
}
