package auth

import (
	"encoding/base64"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/actors/session"
)

// AccountPath is the signed-in user's page: their passkeys.
const AccountPath = "/account"

const accountPurpose = "account"

// account shows the signed-in user's passkeys, with add and delete.
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
			Created: pk.Created.UTC().Format("2006-01-02 15:04"), LastUsed: "never", Backup: "this device only",
		}
		if !pk.LastUsed.IsZero() {
			r.LastUsed = pk.LastUsed.UTC().Format("2006-01-02 15:04")
		}
		switch {
		case pk.Credential.Flags.BackupState:
			r.Backup = "synced"
		case pk.Credential.Flags.BackupEligible:
			r.Backup = "can sync, not synced"
		}
		if pk.Flagged {
			r.Flag = "Disabled: " + pk.FlaggedReason
		}
		rows = append(rows, r)
	}
	return render(c, http.StatusOK, "account.html", map[string]any{
		"Title": "Your account", "User": u.WebAuthnDisplayName(), "Passkeys": rows,
		"CSRF": csrfToken(secret, accountPurpose),
	})
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
