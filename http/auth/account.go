package auth

import (
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/session"
)

// AccountPath is the signed-in user's page: their passkeys.
const AccountPath = "/account"

// ReauthPath asks for a fresh sign-in before a passkey change.
const ReauthPath = AccountPath + "/reauth"

const accountPurpose = "account"

// ReauthAge is how recent the session's sign-in must be to add or delete
// a passkey. A passkey is a lasting way into the account: a session left
// open on a shared or stolen device must not be enough to plant one, or
// to delete the owner's.
const ReauthAge = 5 * time.Minute

// accountClientID marks the pending request of a re-authentication for
// the account page. The ':' keeps it out of client_id syntax, so no
// client can have it, and nothing issues a code for it.
const accountClientID = "urn:authrim:account"

// recentLogin tells whether l was made within ReauthAge.
func (h *Handler) recentLogin(l *messages.Login) bool {
	return l != nil && h.cfg.Now().Sub(time.UnixMilli(l.AuthTimeMs)) <= ReauthAge
}

// reauth shows the sign-in page for a fresh sign-in (prompt=login
// semantics: a new sign-in, whatever the session holds); once signed in,
// the user is sent back to the account page (backToAccount).
func (h *Handler) reauth(c echo.Context, sid, secret string, login *messages.Login) error {
	ctx := c.Request().Context()
	req := &messages.AuthRequest{ClientId: accountClientID, ClientName: "your account", RedirectUri: AccountPath,
		ResponseType: "none", MaxAge: 0, Prompt: []string{"login"}}
	r, err := h.sessions.Begin(ctx, sid, secret, &messages.BeginAuth{
		Request: req, NeedsLogin: true, RequiredSubject: login.Subject,
	})
	if err != nil {
		return expired(c)
	}
	username := ""
	if u, err := h.passkeys.User(ctx, login.Subject); err == nil {
		username = u.Username
	}
	return h.loginPage(c, http.StatusOK, secret, r.Rid, req, username, tr(c, "To change your passkeys, sign in again."))
}

// reauthForm is the account page's "sign in again" form (the page script
// posts it when the server asks for a fresh sign-in).
func (h *Handler) reauthForm(c echo.Context) error {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return expired(c)
	}
	sid, secret := h.cookie(c)
	if !csrfOK(secret, accountPurpose, r.PostForm.Get("csrf")) {
		return expired(c)
	}
	login := h.loginOf(r.Context(), sid, secret)
	if login == nil {
		return expired(c)
	}
	return h.reauth(c, sid, secret, login)
}

// isAccountRequest tells whether req is a re-authentication for the
// account page rather than a client's authorization request.
func isAccountRequest(req *messages.AuthRequest) bool { return req.GetClientId() == accountClientID }

// backToAccount ends a re-authentication: no code, back to the page.
func backToAccount(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, AccountPath)
}

// account shows the signed-in user's passkeys, with add and delete, and
// their sessions, with sign-out (WithUserSessions).
func (h *Handler) account(c echo.Context) error {
	ctx := c.Request().Context()
	sid, secret := h.cookie(c)
	login := h.loginOf(ctx, sid, secret)
	if login == nil {
		return errorPage(c, http.StatusUnauthorized, "Sign in to an application first; then come back to manage your passkeys.")
	}
	u, pks, err := h.loadPasskeyUser(ctx, login.Subject)
	if err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be shown right now.")
	}
	type row struct {
		ID, Name, Created, LastUsed, Backup, Flag string
	}
	var rows []row
	for _, pk := range pks {
		r := row{
			ID: base64.RawURLEncoding.EncodeToString(pk.ID), Name: pk.Name,
			Created: pk.Created.UTC().Format("2006-01-02 15:04"), LastUsed: tr(c, "never"), Backup: tr(c, "this device only"),
		}
		if !pk.LastUsed.IsZero() {
			r.LastUsed = pk.LastUsed.UTC().Format("2006-01-02 15:04")
		}
		switch {
		case pk.Credential.Flags.BackupState:
			r.Backup = tr(c, "synced")
		case pk.Credential.Flags.BackupEligible:
			r.Backup = tr(c, "can sync, not synced")
		}
		if pk.Flagged {
			r.Flag = tr(c, "Disabled: %s", pk.FlaggedReason)
		}
		rows = append(rows, r)
	}
	data := map[string]any{
		"Title": tr(c, "Your account"), "User": u.WebAuthnDisplayName(), "Passkeys": rows,
		"CSRF": csrfToken(secret, accountPurpose),
	}
	h.mfaAccountData(c, login.Subject, data)
	h.accountLinks(c, login.Subject, data)
	data["ShowPassword"] = h.accounts != nil
	if addr, _ := u.u.Claims["email"].(string); addr != "" && h.accounts != nil && h.accounts.verify != nil {
		v, _ := u.u.Claims["email_verified"].(bool)
		data["Email"], data["EmailVerified"], data["ShowEmail"] = addr, v, true
	}
	if h.userSessions != nil {
		sessions, err := h.sessionRows(c, login.Subject, sid)
		if err != nil {
			h.logger.ErrorContext(ctx, "account: listing sessions failed", "sub", login.Subject, "err", err)
			data["SessionsUnavailable"] = true
		}
		data["Sessions"], data["ShowSessions"] = sessions, true
		data["Others"] = len(sessions) > 1
	}
	return render(c, http.StatusOK, "account.html", data)
}

// deletePasskey removes one of the signed-in user's passkeys.
func (h *Handler) deletePasskey(c echo.Context) error {
	ctx := c.Request().Context()
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return expired(c)
	}
	sid, secret := h.cookie(c)
	if !csrfOK(secret, accountPurpose, r.PostForm.Get("csrf")) {
		return expired(c)
	}
	login := h.loginOf(ctx, sid, secret)
	if login == nil {
		return expired(c)
	}
	if !h.recentLogin(login) {
		h.logger.InfoContext(ctx, "passkey change refused: sign-in too old", "audit", true, "sub", login.Subject)
		return h.reauth(c, sid, secret, login)
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("id"))
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "Unknown passkey.")
	}
	if err := h.passkeys.DeletePasskey(ctx, login.Subject, id); err != nil {
		return errorPage(c, http.StatusBadRequest, "Unknown passkey.")
	}
	h.logger.InfoContext(c.Request().Context(), "passkey deleted", "audit", true, "sub", login.Subject)
	return c.Redirect(http.StatusSeeOther, AccountPath)
}

// cookie returns the session cookie's parts, or empty strings.
func (h *Handler) cookie(c echo.Context) (sid, secret string) {
	ck, err := c.Cookie(h.cfg.CookieName)
	if err != nil {
		return "", ""
	}
	sid, secret, err = session.SplitCookie(ck.Value)
	if err != nil {
		return "", ""
	}
	return sid, secret
}
