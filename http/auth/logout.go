package auth

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/labstack/echo/v4"

	"authrim/actors/session"
)

const logoutPurpose = "logout"

// logout is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0
// §2-§3). A request with a valid id_token_hint for the current session
// ends it at once; otherwise the user confirms on a page (a cross-site
// request must not sign anyone out).
func (h *Handler) logout(c echo.Context) error {
	p, err := params(c.Request())
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "Invalid request: %s.", err.Error())
	}
	// RP-Initiated Logout 1.0 §2: ui_locales chooses the pages' language.
	useUILocales(c, p.Get("ui_locales"))
	ctx := c.Request().Context()

	var hint *hintClaims
	if raw := p.Get("id_token_hint"); raw != "" {
		hc, err := h.verifyHint(ctx, raw)
		if err != nil {
			return errorPage(c, http.StatusBadRequest, "The id_token_hint is not a valid ID token of this server.")
		}
		hint = &hc
	}
	clientID := p.Get("client_id")
	if hint != nil {
		auds := hint.audiences()
		if clientID != "" && !slices.Contains(auds, clientID) {
			return errorPage(c, http.StatusBadRequest, "client_id does not match the id_token_hint.")
		}
		if clientID == "" && len(auds) > 0 {
			clientID = auds[0]
		}
	}
	target := p.Get("post_logout_redirect_uri")
	if target != "" {
		if clientID == "" {
			return errorPage(c, http.StatusBadRequest, "post_logout_redirect_uri needs client_id or id_token_hint.")
		}
		client, err := h.clients.Client(ctx, clientID)
		if err != nil || !slices.Contains(client.PostLogoutRedirectURIs, target) {
			// Exact match against registration, never an open redirect.
			return errorPage(c, http.StatusBadRequest, "The post_logout_redirect_uri is not registered for this client.")
		}
	}
	state := p.Get("state")

	sid, secret := "", ""
	if ck, err := c.Cookie(h.cfg.CookieName); err == nil {
		sid, secret, _ = session.SplitCookie(ck.Value)
	}
	attributed := hint != nil && sid != "" && hint.SID == sid
	confirmed := c.Request().Method == http.MethodPost && p.Get("confirm") == "yes" && csrfOK(secret, logoutPurpose, p.Get("csrf"))
	if sid != "" && !attributed && !confirmed {
		return render(c, http.StatusOK, "logout.html", map[string]any{
			"Title": tr(c, "Sign out"), "CSRF": csrfToken(secret, logoutPurpose),
			"ClientID": clientID, "RedirectURI": target, "State": state, "UILocales": p.Get("ui_locales"),
		})
	}
	var frames []frontFrame
	if sid != "" {
		if rep, err := h.sessions.Logout(ctx, sid, secret); err != nil {
			h.logger.InfoContext(c.Request().Context(), "logout of an unknown or ended session", "err", err)
		} else {
			// The relying-party sessions this ended learn of it in the
			// browser too (Front-Channel Logout 1.0 §4).
			frames = h.frontchannelFrames(ctx, sid, rep.GetEnded())
			h.logger.InfoContext(c.Request().Context(), "signed out", "audit", true, "client_id", clientID,
				"ended_clients", len(rep.GetEnded()), "frontchannel_frames", len(frames))
		}
		h.clearCookie(c)
	}
	next := ""
	if target != "" {
		u, _ := url.Parse(target)
		q := u.Query()
		if state != "" {
			q.Set("state", state)
		}
		u.RawQuery = q.Encode()
		next = u.String()
	}
	if len(frames) > 0 {
		return renderFrontchannel(c, frames, next)
	}
	if next == "" {
		return render(c, http.StatusOK, "signed_out.html", map[string]any{"Title": tr(c, "Signed out")})
	}
	return c.Redirect(http.StatusFound, next)
}
