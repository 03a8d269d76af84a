package auth

// The verification page of the device authorization grant (RFC 8628
// §3.3): the signed-in user enters the code their device shows, sees
// which client asks for what, and approves or denies.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/device"
	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/router"
)

// DevicePath is the verification URI.
const DevicePath = "/device"

// deviceClientID marks the pending request of a sign-in for the
// verification page (see accountClientID): nothing issues a code for it.
const deviceClientID = "urn:authrim:device"

const devicePurpose = "device"

// Devices reaches the user code index and the Device grains.
type Devices interface {
	Lookup(ctx context.Context, userCode string) (id string, err error)
	Describe(ctx context.Context, id string) (*messages.DeviceState, error)
	Decide(ctx context.Context, id string, m *messages.DecideDevice) (*messages.DeviceState, error)
}

// DeviceSessions records an approval in the approving user's session.
type DeviceSessions interface {
	ApproveDevice(ctx context.Context, sid, secret string, m *messages.ApproveDevice) (*messages.SessionReply, error)
}

// Limiter takes from a budget of attempts (the RateLimiter grains).
type Limiter interface {
	Take(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, retryAfter time.Duration, err error)
}

// DeviceEntry bounds how many codes one address, and one session, may
// enter per Window (RFC 8628 §5.1): with 20^7 codes and a few live at a
// time, guessing one is hopeless at this pace.
type DeviceEntry struct {
	PerWindow int
	Window    time.Duration
}

type deviceFront struct {
	devices  Devices
	sessions DeviceSessions
	limiter  Limiter
	entry    DeviceEntry
}

// WithDevices serves the verification page.
func (h *Handler) WithDevices(d Devices, s DeviceSessions, l Limiter, entry DeviceEntry) *Handler {
	if entry.PerWindow <= 0 {
		entry.PerWindow = 10
	}
	if entry.Window <= 0 {
		entry.Window = 10 * time.Minute
	}
	h.device = &deviceFront{devices: d, sessions: s, limiter: l, entry: entry}
	return h
}

func (h *Handler) deviceRoutes() []router.Route {
	if h.device == nil {
		return nil
	}
	return []router.Route{
		{Method: http.MethodGet, Path: DevicePath, Handler: h.devicePage, Limit: router.Moderate, Grain: "Session.Get (Session.Begin to sign in)"},
		{Method: http.MethodPost, Path: DevicePath, Handler: h.deviceForm, Limit: router.Strict, Grain: "Session.Get, Device.Describe, Device.Decide, Session.ApproveDevice"},
	}
}

// isDeviceRequest tells whether req is a sign-in for the verification
// page rather than a client's authorization request.
func isDeviceRequest(req *messages.AuthRequest) bool { return req.GetClientId() == deviceClientID }

// backToDevice ends a sign-in for the verification page: back to it,
// with the code the user came with.
func backToDevice(c echo.Context, req *messages.AuthRequest) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, req.RedirectUri)
}

// deviceBack is the page to come back to after signing in: the code is
// kept only when it has the shape of one.
func deviceBack(code string) string {
	if norm, err := device.ParseUserCode(code); err == nil {
		return DevicePath + "?user_code=" + url.QueryEscape(device.Display(norm))
	}
	return DevicePath
}

// devicePage shows the code entry (prefilled from verification_uri_complete);
// without a sign-in, the sign-in page first.
func (h *Handler) devicePage(c echo.Context) error {
	ctx := c.Request().Context()
	code := c.QueryParam("user_code")
	if len(code) > 64 {
		code = ""
	}
	sid, secret := h.cookie(c)
	var login *messages.Login
	if sid != "" {
		login = h.loginOf(ctx, sid, secret)
	}
	if login == nil {
		return h.deviceSignIn(c, sid, secret, code)
	}
	return h.deviceEntry(c, http.StatusOK, secret, login, code, "")
}

// deviceSignIn shows the sign-in page; once signed in, the user comes
// back to the verification page (backToDevice).
func (h *Handler) deviceSignIn(c echo.Context, sid, secret, code string) error {
	ctx := c.Request().Context()
	req := &messages.AuthRequest{ClientId: deviceClientID, ClientName: "device sign-in", RedirectUri: deviceBack(code),
		ResponseType: "none", MaxAge: -1}
	create := sid == ""
	if create {
		sid, secret = session.NewSessionID()
	}
	r, err := h.sessions.Begin(ctx, sid, secret, &messages.BeginAuth{Request: req, Create: create, NeedsLogin: true})
	if err != nil && !create {
		// A stale cookie: start over with a new session.
		sid, secret = session.NewSessionID()
		create = true
		r, err = h.sessions.Begin(ctx, sid, secret, &messages.BeginAuth{Request: req, Create: true, NeedsLogin: true})
	}
	if err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	if create {
		h.setCookie(c, sid, secret)
	}
	return h.loginPage(c, http.StatusOK, secret, r.Rid, req, "", "")
}

func (h *Handler) deviceEntry(c echo.Context, status int, secret string, login *messages.Login, code, msg string) error {
	user := login.Subject
	if u, err := h.passkeys.User(c.Request().Context(), login.Subject); err == nil {
		user = u.Username
	}
	return render(c, status, "device.html", map[string]any{
		"Title": tr(c, "Connect a device"), "User": user, "Code": code, "Error": msg, "CSRF": csrfToken(secret, devicePurpose),
	})
}

// Messages of the verification page.
const (
	msgDeviceTypo    = "That code has a typo: check it against your device and enter it again."
	msgDeviceFormat  = "A code has eight letters, like BCDF-GHJK."
	msgDeviceUnknown = "That code is not valid (or expired). Check your device; it may show a new one."
	msgDeviceUsed    = "That code was already approved or denied."
)

// deviceForm handles both steps: a code entered (show what it asks),
// and a decision on it.
func (h *Handler) deviceForm(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		return expired(c)
	}
	sid, secret := h.cookie(c)
	if sid == "" || !csrfOK(secret, devicePurpose, r.PostForm.Get("csrf")) {
		return expired(c)
	}
	login := h.loginOf(ctx, sid, secret)
	if login == nil {
		return expired(c)
	}
	typed := r.PostForm.Get("user_code")
	ip := c.RealIP()
	audit := func(msg, reason string) {
		h.logger.InfoContext(ctx, msg, "audit", true, "sub", login.Subject, "sid", sid, "client_ip", ip, "reason", reason)
	}
	// Every code entered counts, right or wrong, per address and per
	// session, before it is looked up (RFC 8628 §5.1): a guesser gets no
	// free tries, and holding a valid code of their own resets nothing.
	for _, key := range []string{"device-code-from:" + router.AddressKey(ip), "device-code-sid:" + sid} {
		ok, retry, err := h.device.limiter.Take(ctx, key, h.device.entry.PerWindow, h.device.entry.Window)
		if err != nil {
			return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
		}
		if !ok {
			audit("device code entry throttled", key)
			secs := int((retry + time.Second - 1) / time.Second)
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return h.deviceEntry(c, http.StatusTooManyRequests, secret, login, typed, tr(c, "Too many codes entered. Try again in %s.", waitText(c, secs)))
		}
	}
	code, err := device.ParseUserCode(typed)
	switch {
	case errors.Is(err, device.ErrUserCodeCheck):
		audit("device code refused", "typo")
		return h.deviceEntry(c, http.StatusBadRequest, secret, login, typed, tr(c, msgDeviceTypo))
	case err != nil:
		audit("device code refused", "format")
		return h.deviceEntry(c, http.StatusBadRequest, secret, login, typed, tr(c, msgDeviceFormat))
	}
	id, err := h.device.devices.Lookup(ctx, code)
	if err != nil {
		if !errors.Is(err, messages.ErrNotFound) {
			return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
		}
		audit("device code refused", "unknown")
		return h.deviceEntry(c, http.StatusBadRequest, secret, login, typed, tr(c, msgDeviceUnknown))
	}
	st, err := h.device.devices.Describe(ctx, id)
	if err != nil {
		if !errors.Is(err, messages.ErrNotFound) {
			return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
		}
		audit("device code refused", "expired")
		return h.deviceEntry(c, http.StatusBadRequest, secret, login, typed, tr(c, msgDeviceUnknown))
	}
	if st.Status != messages.DeviceStatus_DEVICE_PENDING {
		audit("device code refused", "already decided")
		return h.deviceEntry(c, http.StatusConflict, secret, login, "", tr(c, msgDeviceUsed))
	}
	client, err := h.clients.Client(ctx, st.ClientId)
	if err != nil {
		return errorPage(c, http.StatusBadRequest, "The application of this code no longer exists.")
	}
	if held, err := h.verifiedHold(c, client, secret, login.Subject); held {
		// A device gets no more than a browser: the client wants a
		// verified address first.
		return err
	}
	decision := r.PostForm.Get("decision")
	if decision == "" {
		return render(c, http.StatusOK, "device.html", map[string]any{
			"Title": tr(c, "Connect a device?"), "Client": clientLabel(client), "ClientID": client.ID, "Host": registeredHost(client),
			"Code": device.Display(code), "Scopes": describeScopes(c, st.Scopes), "CSRF": csrfToken(secret, devicePurpose),
		})
	}
	if decision != "approve" && decision != "deny" {
		return errorPage(c, http.StatusBadRequest, "Choose Approve or Deny.")
	}
	approve := decision == "approve"
	if approve {
		// First the code the device will redeem, in this session (its
		// grant ends with this sign-in as the code flow's do), then the
		// decision: if the decision is lost to another one, the code is
		// never reached (polls go to the deciding session) and expires;
		// the other way round, a failed session call would leave an
		// approval with nothing to redeem.
		if _, err := h.device.sessions.ApproveDevice(ctx, sid, secret, &messages.ApproveDevice{
			DeviceHash: st.SecretHash, ClientId: st.ClientId, Scopes: st.Scopes, ExpiresMs: st.ExpiresMs,
		}); err != nil {
			if errors.Is(err, messages.ErrInvalid) {
				audit("device code refused", "already approved here")
				return h.deviceEntry(c, http.StatusConflict, secret, login, "", tr(c, msgDeviceUsed))
			}
			return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
		}
	}
	if _, err := h.device.devices.Decide(ctx, id, &messages.DecideDevice{Approve: approve, Sid: sid, Subject: login.Subject}); err != nil {
		if errors.Is(err, messages.ErrInvalid) || errors.Is(err, messages.ErrNotFound) {
			audit("device code refused", "already decided")
			return h.deviceEntry(c, http.StatusConflict, secret, login, "", tr(c, msgDeviceUsed))
		}
		return errorPage(c, http.StatusServiceUnavailable, "This page is unavailable right now. Try again shortly.")
	}
	if !approve {
		h.logger.InfoContext(ctx, "device authorization denied", "audit", true, "client_id", st.ClientId, "device", id, "sub", login.Subject, "sid", sid)
		return render(c, http.StatusOK, "device.html", map[string]any{"Title": tr(c, "Request denied"), "Done": tr(c, "You denied the device's request. It gets no access.")})
	}
	h.logger.InfoContext(ctx, "device authorization approved", "audit", true, "client_id", st.ClientId, "device", id, "sub", login.Subject, "sid", sid)
	return render(c, http.StatusOK, "device.html", map[string]any{"Title": tr(c, "Device connected"), "Done": tr(c, "You approved %s.", clientLabel(client))})
}

func clientLabel(c directory.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// registeredHost is the host the client registered (its metadata
// document's host, else its first redirect URI's), so a look-alike name
// does not pass for another application.
func registeredHost(c directory.Client) string {
	if h := clientHost(c.ID); h != "" {
		return h
	}
	for _, r := range c.RedirectURIs {
		if u, err := url.Parse(r); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return ""
}
