package token

// The device authorization grant (RFC 8628): the device authorization
// endpoint, and polling at /token.

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/device"
	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// DeviceAuthorizationPath is the device authorization endpoint.
const DeviceAuthorizationPath = "/device_authorization"

// Devices reaches Device grains and the user code index.
type Devices interface {
	Reserve(ctx context.Context, id string, expires time.Time) (userCode string, err error)
	Create(ctx context.Context, id string, st *messages.DeviceState) error
	Poll(ctx context.Context, id string, m *messages.PollDevice) (*messages.DeviceReply, error)
}

// DeviceConfig is the device grant's part of the endpoint.
type DeviceConfig struct {
	// VerificationURI is the page where the user enters the code.
	VerificationURI string
	// CodeTTL is how long a device code and its user code live.
	CodeTTL time.Duration
	// Interval is the polling interval the device is told (whole
	// seconds).
	Interval time.Duration
}

// WithDevices serves the device authorization grant through d.
func (h *Handler) WithDevices(d Devices, cfg DeviceConfig) *Handler {
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = 10 * time.Minute
	}
	if cfg.Interval < time.Second {
		cfg.Interval = 5 * time.Second
	}
	h.devices, h.deviceCfg = d, cfg
	return h
}

// DeviceResponse is the device authorization response (RFC 8628 §3.2).
type DeviceResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// deviceAuthorization is RFC 8628 §3.1: a client (confidential and
// authenticated, or public) that registered the device grant asks for a
// device code and a user code.
func (h *Handler) deviceAuthorization(c echo.Context) error {
	form, err := ParseForm(c.Request())
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	client, err := h.clients.Authenticate(c.Request(), form)
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	if !slices.Contains(client.GrantTypes, directory.DeviceCodeGrantType) {
		return oauth2.Write(c, h.logger, oauth2.ErrUnauthorizedClient.WithDescription("client may not use the device authorization grant"))
	}
	// Scopes as at /authorize: unknown ones are ignored (OIDC Core
	// §3.1.2.1); offline_access gives a refresh token only to a client
	// with the refresh_token grant (token endpoint).
	var scopes []string
	for _, s := range strings.Fields(form.Get("scope")) {
		if slices.Contains(oauth2.SupportedScopes, s) && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	ctx := c.Request().Context()
	now := h.cfg.Now()
	expires := now.Add(h.deviceCfg.CodeTTL)
	id, secret := session.NewID(16), session.NewID(32)
	userCode, err := h.devices.Reserve(ctx, id, expires)
	if err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	if err := h.devices.Create(ctx, id, &messages.DeviceState{
		SecretHash: device.Hash(secret), ClientId: client.ID, Scopes: scopes, UserCode: userCode,
		ExpiresMs: expires.UnixMilli(), IntervalMs: h.deviceCfg.Interval.Milliseconds(),
	}); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	h.logger.InfoContext(ctx, "device authorization started", "audit", true, "client_id", client.ID, "device", id, "scope", strings.Join(scopes, " "))
	shown := device.Display(userCode)
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	return c.JSON(http.StatusOK, DeviceResponse{
		DeviceCode: id + "." + secret, UserCode: shown,
		VerificationURI:         h.deviceCfg.VerificationURI,
		VerificationURIComplete: h.deviceCfg.VerificationURI + "?user_code=" + url.QueryEscape(shown),
		ExpiresIn:               int64(h.deviceCfg.CodeTTL.Seconds()),
		Interval:                int64(h.deviceCfg.Interval.Seconds()),
	})
}

// deviceCode is RFC 8628 §3.4-3.5: a poll. Once the user approved, the
// code the approval left in their session is redeemed with the device
// code's secret, exactly as an authorization code is, so the tokens are
// those of the code flow.
func (h *Handler) deviceCode(ctx context.Context, client directory.Client, form url.Values) (*Response, error) {
	if h.devices == nil {
		return nil, oauth2.ErrUnsupportedGrantType
	}
	dc := form.Get("device_code")
	if dc == "" {
		return nil, oauth2.ErrInvalidRequest.WithDescription("device_code is required")
	}
	id, secret, err := session.SplitCode(dc)
	if err != nil {
		return nil, oauth2.ErrInvalidGrant
	}
	r, err := h.devices.Poll(ctx, id, &messages.PollDevice{Secret: secret, ClientId: client.ID})
	if err != nil {
		return nil, grantError(err)
	}
	switch r.Poll {
	case messages.DevicePoll_POLL_PENDING:
		return nil, oauth2.ErrAuthorizationPending
	case messages.DevicePoll_POLL_SLOW_DOWN:
		return nil, oauth2.ErrSlowDown.WithDescription("poll at most every " + (time.Duration(r.State.GetIntervalMs()) * time.Millisecond).String())
	case messages.DevicePoll_POLL_DENIED:
		return nil, oauth2.ErrAccessDenied.WithDescription("the user denied the request")
	case messages.DevicePoll_POLL_EXPIRED:
		return nil, oauth2.ErrExpiredToken
	case messages.DevicePoll_POLL_APPROVED:
	default:
		return nil, oauth2.ErrServerError
	}
	var refreshTTL, refreshIdle int64
	if slices.Contains(client.GrantTypes, "refresh_token") {
		refreshTTL, refreshIdle = h.cfg.RefreshTTL.Milliseconds(), h.cfg.RefreshIdleTTL.Milliseconds()
	}
	// The grain has recorded this poll as the redemption: a concurrent
	// or later poll gets invalid_grant there. Should the session fail
	// now, the device starts again, as a client whose code failed does.
	sid := r.State.GetSid()
	rr, err := h.sessions.Redeem(ctx, sid, &messages.RedeemCode{
		CodeSecret: secret, ClientId: client.ID, RefreshTtlMs: refreshTTL, RefreshIdleTtlMs: refreshIdle,
		DpopJkt: jktOf(ctx), BindRefresh: client.AuthMethod == "none", X5TS256: x5tOf(ctx),
	})
	if err != nil {
		return nil, grantError(err)
	}
	h.logger.InfoContext(ctx, "device authorization redeemed", "audit", true, "client_id", client.ID, "device", id, "sid", sid)
	return h.issue(ctx, client, sid, rr.Grant, rr.RefreshToken, false, nil)
}

// deviceRoutes are the device grant's endpoints, when it is served.
func (h *Handler) deviceRoutes() []router.Route {
	if h.devices == nil {
		return nil
	}
	return []router.Route{{Method: http.MethodPost, Path: DeviceAuthorizationPath, Handler: h.deviceAuthorization, Limit: router.Moderate, CORS: true, Grain: "Device.Create"}}
}
