package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/session"
	"authrim/directory"
	"authrim/http/oauth2"
)

// ACRPasskey is the acr of a passkey sign-in: phishing-resistant (the
// value the OpenID EAP ACR profile names "phr"). An authorization request
// with acr_values=phr (and not the password acr) is satisfied only by it.
const ACRPasskey = "phr"

// Ceremony kinds kept in the Session grain.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// Passkeys stores users' WebAuthn credentials.
type Passkeys interface {
	User(ctx context.Context, subject string) (directory.User, error)
	Passkeys(ctx context.Context, subject string) ([]directory.Passkey, error)
	AddPasskey(ctx context.Context, subject string, pk directory.Passkey) error
	UpdatePasskey(ctx context.Context, subject string, id []byte, fn func(*directory.Passkey) error) error
	DeletePasskey(ctx context.Context, subject string, id []byte) error
}

// PasskeyConfig is the WebAuthn relying party.
type PasskeyConfig struct {
	RPID    string
	RPName  string
	Origins []string
}

// passkeyUser adapts a directory user to go-webauthn. The user handle is
// the subject: stable, opaque, never reused.
type passkeyUser struct {
	u     directory.User
	creds []webauthn.Credential
}

func (p passkeyUser) WebAuthnID() []byte   { return []byte(p.u.Subject) }
func (p passkeyUser) WebAuthnName() string { return p.u.Username }
func (p passkeyUser) WebAuthnDisplayName() string {
	if n, ok := p.u.Claims["name"].(string); ok && n != "" {
		return n
	}
	return p.u.Username
}
func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential { return p.creds }

func (h *Handler) loadPasskeyUser(ctx context.Context, subject string) (passkeyUser, []directory.Passkey, error) {
	u, err := h.passkeys.User(ctx, subject)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	pks, err := h.passkeys.Passkeys(ctx, subject)
	if err != nil {
		return passkeyUser{}, nil, err
	}
	pu := passkeyUser{u: u}
	for _, pk := range pks {
		if !pk.Flagged {
			pu.creds = append(pu.creds, pk.Credential)
		}
	}
	return pu, pks, nil
}

// amrOf names how the user authenticated (RFC 8176): a key the user
// verified on the authenticator, device-bound (hwk) or synced (swk).
func amrOf(c *webauthn.Credential) []string {
	if c.Flags.BackupEligible {
		return []string{"swk", "user"}
	}
	return []string{"hwk", "user"}
}

// jsonError answers a fetch() from the passkey script, which shows desc
// on the page: it is translated (Accept-Language) like the page.
func (h *Handler) jsonError(c echo.Context, status int, desc string) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, &oauth2.Error{Code: "passkey_failed", Description: tr(c, desc)})
}

// reauthRequired answers a passkey change on a session whose sign-in is
// older than ReauthAge; the page script then asks for a fresh sign-in.
func (h *Handler) reauthRequired(c echo.Context, subject string) error {
	h.logger.InfoContext(c.Request().Context(), "passkey change refused: sign-in too old", "audit", true, "sub", subject)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusUnauthorized, &oauth2.Error{Code: "login_required",
		Description: "sign in again to change your passkeys: your last sign-in is more than " + ReauthAge.String() + " old"})
}

// browserSession reads the cookie for a fetch() call and checks its CSRF
// header against purpose.
func (h *Handler) browserSession(c echo.Context, purpose string) (sid, secret string, ok bool) {
	ck, err := c.Cookie(h.cfg.CookieName)
	if err != nil {
		return "", "", false
	}
	sid, secret, err = session.SplitCookie(ck.Value)
	if err != nil || !csrfOK(secret, purpose, c.Request().Header.Get("X-CSRF-Token")) {
		return "", "", false
	}
	return sid, secret, true
}

func (h *Handler) startCeremony(ctx context.Context, sid, secret, kind string, sd *webauthn.SessionData) (*messages.SessionReply, error) {
	data, err := json.Marshal(sd)
	if err != nil {
		return nil, err
	}
	return h.sessions.StartCeremony(ctx, sid, secret, &messages.StartCeremony{
		Ceremony: &messages.Ceremony{Kind: kind, Challenge: sd.Challenge, Data: data},
	})
}

// takeCeremony consumes the challenge the client answered; a replay or a
// challenge of another session finds nothing.
func (h *Handler) takeCeremony(ctx context.Context, sid, secret, kind, challenge string) (webauthn.SessionData, *messages.SessionReply, error) {
	var sd webauthn.SessionData
	r, err := h.sessions.TakeCeremony(ctx, sid, secret, &messages.TakeCeremony{Kind: kind, Challenge: challenge})
	if err != nil {
		return sd, nil, err
	}
	if err := json.Unmarshal(r.Ceremony.Data, &sd); err != nil {
		return sd, nil, err
	}
	return sd, r, nil
}

func readBody(c echo.Context) ([]byte, error) {
	return io.ReadAll(io.LimitReader(c.Request().Body, 32<<10))
}

// registerBegin starts adding a passkey to the signed-in user.
func (h *Handler) registerBegin(c echo.Context) error {
	ctx := c.Request().Context()
	sid, secret, ok := h.browserSession(c, accountPurpose)
	if !ok {
		return h.jsonError(c, http.StatusForbidden, "session or CSRF token missing")
	}
	login := h.loginOf(ctx, sid, secret)
	if login == nil {
		return h.jsonError(c, http.StatusUnauthorized, "sign in first")
	}
	if !h.recentLogin(login) {
		return h.reauthRequired(c, login.Subject)
	}
	pu, pks, err := h.loadPasskeyUser(ctx, login.Subject)
	if err != nil {
		return h.jsonError(c, http.StatusServiceUnavailable, "cannot load the account")
	}
	// Exclude every credential already registered (flagged ones too): the
	// same authenticator cannot be added twice.
	var exclude []protocol.CredentialDescriptor
	for _, pk := range pks {
		exclude = append(exclude, pk.Credential.Descriptor())
	}
	creation, sd, err := h.webauthn.BeginRegistration(pu,
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return h.jsonError(c, http.StatusInternalServerError, "cannot start registration")
	}
	if _, err := h.startCeremony(ctx, sid, secret, ceremonyRegister, sd); err != nil {
		return h.jsonError(c, http.StatusUnauthorized, "sign in first")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, creation)
}

// registerFinish verifies the attestation and stores the passkey.
func (h *Handler) registerFinish(c echo.Context) error {
	ctx := c.Request().Context()
	sid, secret, ok := h.browserSession(c, accountPurpose)
	if !ok {
		return h.jsonError(c, http.StatusForbidden, "session or CSRF token missing")
	}
	body, err := readBody(c)
	if err != nil {
		return h.jsonError(c, http.StatusBadRequest, "unreadable body")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return h.jsonError(c, http.StatusBadRequest, "malformed credential")
	}
	sd, r, err := h.takeCeremony(ctx, sid, secret, ceremonyRegister, parsed.Response.CollectedClientData.Challenge)
	if err != nil || r.Login == nil {
		return h.jsonError(c, http.StatusBadRequest, "unknown, used or expired challenge")
	}
	if !bytes.Equal(sd.UserID, []byte(r.Login.Subject)) {
		return h.jsonError(c, http.StatusBadRequest, "the challenge was for another account")
	}
	if !h.recentLogin(r.Login) {
		// Begun in time, finished too late: the sign-in is checked again.
		return h.reauthRequired(c, r.Login.Subject)
	}
	pu, _, err := h.loadPasskeyUser(ctx, r.Login.Subject)
	if err != nil {
		return h.jsonError(c, http.StatusServiceUnavailable, "cannot load the account")
	}
	cred, err := h.webauthn.CreateCredential(pu, sd, parsed)
	if err != nil {
		h.logger.InfoContext(c.Request().Context(), "passkey registration refused", "audit", true, "sub", r.Login.Subject, "err", err)
		return h.jsonError(c, http.StatusBadRequest, "the passkey could not be verified")
	}
	if !cred.Flags.UserVerified {
		return h.jsonError(c, http.StatusBadRequest, "user verification is required")
	}
	name := c.QueryParam("name")
	if name == "" {
		name = "Passkey"
	}
	// Cut an overlong name at a character boundary: cutting bytes could
	// split a character, and the directory refuses invalid UTF-8.
	if runes := []rune(name); len(runes) > directory.MaxPasskeyNameLen {
		name = string(runes[:directory.MaxPasskeyNameLen])
	}
	err = h.passkeys.AddPasskey(ctx, r.Login.Subject, directory.Passkey{ID: cred.ID, Name: name, Credential: *cred, Created: h.cfg.Now()})
	switch {
	case errors.Is(err, directory.ErrConflict):
		return h.jsonError(c, http.StatusConflict, "this authenticator is already registered")
	case errors.Is(err, directory.ErrInvalid):
		var ie *directory.InvalidError
		if errors.As(err, &ie) {
			// The directory's own words (a name too long, ...).
			return h.jsonError(c, http.StatusBadRequest, ie.Reason)
		}
		return h.jsonError(c, http.StatusBadRequest, "the passkey cannot be added")
	case err != nil:
		return h.jsonError(c, http.StatusServiceUnavailable, "cannot store the passkey")
	}
	h.logger.InfoContext(c.Request().Context(), "passkey registered", "audit", true, "sub", r.Login.Subject, "backup_eligible", cred.Flags.BackupEligible)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "id": base64.RawURLEncoding.EncodeToString(cred.ID)})
}

// loginBegin starts a discoverable, usernameless sign-in for a pending
// authorization request.
func (h *Handler) loginBegin(c echo.Context) error {
	ctx := c.Request().Context()
	rid := c.QueryParam("rid")
	sid, secret, ok := h.browserSession(c, rid)
	if !ok || rid == "" {
		return h.jsonError(c, http.StatusForbidden, "session or CSRF token missing")
	}
	assertion, sd, err := h.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return h.jsonError(c, http.StatusInternalServerError, "cannot start sign-in")
	}
	if _, err := h.startCeremony(ctx, sid, secret, ceremonyLogin, sd); err != nil {
		return h.jsonError(c, http.StatusForbidden, "this page has expired")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, assertion)
}

// loginFinish verifies the assertion and signs the user in.
func (h *Handler) loginFinish(c echo.Context) error {
	ctx := c.Request().Context()
	rid := c.QueryParam("rid")
	sid, secret, ok := h.browserSession(c, rid)
	if !ok || rid == "" {
		return h.jsonError(c, http.StatusForbidden, "session or CSRF token missing")
	}
	body, err := readBody(c)
	if err != nil {
		return h.jsonError(c, http.StatusBadRequest, "unreadable body")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return h.jsonError(c, http.StatusBadRequest, "malformed credential")
	}
	sd, _, err := h.takeCeremony(ctx, sid, secret, ceremonyLogin, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return h.jsonError(c, http.StatusBadRequest, "unknown, used or expired challenge")
	}
	var owner passkeyUser
	user, cred, err := h.webauthn.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		// The user handle names the account; the credential must be one
		// of its (unflagged) passkeys, which go-webauthn checks.
		pu, _, err := h.loadPasskeyUser(ctx, string(userHandle))
		if err != nil {
			return nil, err
		}
		owner = pu
		return pu, nil
	}, sd, parsed)
	if err != nil || user == nil {
		h.logger.InfoContext(c.Request().Context(), "passkey sign-in refused", "audit", true, "err", err)
		return h.jsonError(c, http.StatusBadRequest, "the passkey was not accepted")
	}
	subject := owner.u.Subject
	if owner.u.Disabled {
		h.logger.InfoContext(c.Request().Context(), "sign-in refused: user disabled", "audit", true, "method", "passkey", "sub", subject)
		return h.jsonError(c, http.StatusForbidden, msgDisabled)
	}
	if cred.Authenticator.CloneWarning {
		// The counter went backwards: two authenticators may hold this
		// key. Refuse, and disable the passkey until the user or an
		// operator looks at it.
		_ = h.passkeys.UpdatePasskey(ctx, subject, cred.ID, func(pk *directory.Passkey) error {
			pk.Flagged, pk.FlaggedReason, pk.FlaggedAt = true, "sign counter went backwards (possible cloned authenticator)", h.cfg.Now()
			return nil
		})
		h.logger.WarnContext(c.Request().Context(), "passkey flagged: counter went backwards", "audit", true, "sub", subject, "credential", base64.RawURLEncoding.EncodeToString(cred.ID))
		return h.jsonError(c, http.StatusBadRequest, "this passkey looks cloned and has been disabled; use another way to sign in")
	}
	if err := h.passkeys.UpdatePasskey(ctx, subject, cred.ID, func(pk *directory.Passkey) error {
		pk.Credential, pk.LastUsed = *cred, h.cfg.Now()
		return nil
	}); err != nil {
		return h.jsonError(c, http.StatusServiceUnavailable, "cannot record the sign-in")
	}
	rep, err := h.sessions.Login(ctx, sid, secret, &messages.CompleteLogin{
		Rid: rid, Login: &messages.Login{Subject: subject, Amr: amrOf(cred), Acr: ACRPasskey},
		UserAgent: c.Request().UserAgent(), Address: c.RealIP(), IdleTtlMs: h.cfg.SessionIdleTTL.Milliseconds(),
	})
	if err != nil {
		return h.jsonError(c, http.StatusForbidden, "this page has expired")
	}
	h.logger.InfoContext(c.Request().Context(), "sign-in succeeded", "audit", true, "method", "passkey", "client_id", rep.Request.GetClientId(), "sub", subject)
	// A passkey sign-in confirms an offered upstream link as a password
	// one does (finishLink checks the account).
	h.finishLink(c, form{sid: sid, rid: rid}, subject)
	h.setCookie(c, sid, rep.NewSecret)
	// The cookie secret rotated: the continue form needs a token for it.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"ok": true, "csrf": csrfToken(rep.NewSecret, rid)})
}

// loginContinue resumes the authorization request after a passkey
// sign-in (the script posts this form).
func (h *Handler) loginContinue(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil || f.reply.Login == nil {
		return expired(c)
	}
	req := f.reply.Request
	if !acrSatisfied(req.AcrValues, f.reply.Login.Acr) {
		return expired(c)
	}
	if isAccountRequest(req) {
		return backToAccount(c)
	}
	if isDeviceRequest(req) {
		return backToDevice(c, req)
	}
	rd := redirect{uri: req.RedirectUri, mode: req.ResponseMode, state: req.State, client: req.ClientId}
	if needsConsent(req, f.reply.Consented) {
		return h.consentPage(c, f.sid, f.secret, f.rid, req)
	}
	return h.issue(c, rd, f.sid, f.secret, req.ResponseType, &messages.IssueCode{Rid: f.rid})
}

// acrSatisfied: a request that asks for phishing-resistant sign-in (and
// does not also accept the password acr) needs a passkey sign-in.
func acrSatisfied(requested []string, acr string) bool {
	if slices.Contains(requested, ACRPasskey) && !slices.Contains(requested, ACRPassword) {
		return acr == ACRPasskey
	}
	return true
}

// loginOf returns the session's login, or nil.
func (h *Handler) loginOf(ctx context.Context, sid, secret string) *messages.Login {
	r, err := h.sessions.Get(ctx, sid, secret, &messages.GetSession{})
	if err != nil {
		return nil
	}
	return r.Login
}
