package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"image/png"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/directory"
	"authrim/http/router"
	"authrim/internal/totp"
)

// ACRMFA is the acr of a sign-in with two factors: a password and a code
// of the user's authenticator app or one of their recovery codes. A
// passkey sign-in (ACRPasskey) is multi-factor too: the authenticator is
// something one has, unlocked by user verification.
const ACRMFA = "urn:authrim:acr:mfa"

// Authentication method references (RFC 8176 §2) of a second step. A
// recovery code adds "rc", a value of our own (RFC 8176 §2 allows
// others), so a relying party can tell the fallback from the app.
var (
	amrTOTP     = []string{"pwd", "otp", "mfa"}
	amrRecovery = []string{"pwd", "mfa", "rc"}
)

// MFAPath is the second step of a password sign-in; MFAEnrolPath sets
// up an app during sign-in when the policy requires two factors.
const (
	MFAPath      = LoginPath + "/mfa"
	MFAEnrolPath = MFAPath + "/enrol"
)

// Account page paths for second factors.
const (
	TOTPSetupPath          = AccountPath + "/mfa/totp/setup"
	TOTPConfirmPath        = AccountPath + "/mfa/totp/confirm"
	TOTPRemovePath         = AccountPath + "/mfa/totp/remove"
	RecoveryRegeneratePath = AccountPath + "/mfa/recovery/regenerate"
)

// pendingTTL bounds the time between the password and the code.
const pendingTTL = 5 * time.Minute

// SecondFactors keeps users' second factors (directory.Directory).
type SecondFactors interface {
	MFA(ctx context.Context, subject string) (directory.MFAStatus, error)
	BeginTOTP(ctx context.Context, subject string) ([]byte, error)
	PendingTOTP(ctx context.Context, subject string) ([]byte, error)
	ConfirmTOTP(ctx context.Context, subject, code string) ([]string, error)
	VerifyTOTP(ctx context.Context, subject, code string) error
	UseRecoveryCode(ctx context.Context, subject, code string) (int, error)
	RegenerateRecoveryCodes(ctx context.Context, subject string) ([]string, error)
	ResetMFA(ctx context.Context, subject string) (bool, error)
}

// mfaFront is the second step of sign-in and the account page's second
// factor management.
type mfaFront struct {
	factors SecondFactors
	// sealer seals the pending sign-in between the two steps (the KEK):
	// the browser carries it but can neither read nor forge it.
	sealer directory.Sealer
	// issuer names the provider in authenticator apps.
	issuer string
	// policy is the node's policy (directory.MFANone, ...).
	policy string
}

// WithMFA turns on second factors: users who enrolled an authenticator
// app are asked for a code after their password. Without it, password
// sign-in is one step.
func (h *Handler) WithMFA(f SecondFactors, sealer directory.Sealer, issuerName, policy string) *Handler {
	h.mfa = &mfaFront{factors: f, sealer: sealer, issuer: issuerName, policy: policy}
	return h
}

// policy is the second-factor policy of req: the node's, or the
// client's when stricter, and required when acr_values asks for ACRMFA
// (without also accepting the password acr: acr_values lists what the
// client accepts, like acrSatisfied reads it).
func (h *Handler) policy(req *messages.AuthRequest, clientPolicy string) string {
	if h.mfa == nil {
		return directory.MFANone
	}
	p := directory.StricterMFA(h.mfa.policy, clientPolicy)
	if slices.Contains(req.AcrValues, ACRMFA) && !slices.Contains(req.AcrValues, ACRPassword) {
		p = directory.MFARequired
	}
	return p
}

// requiredACR is the acr a sign-in for req must have ("": any).
func (h *Handler) requiredACR(req *messages.AuthRequest, clientPolicy string) string {
	switch {
	case !acrSatisfied(req.AcrValues, ACRPassword):
		return ACRPasskey
	case h.policy(req, clientPolicy) == directory.MFARequired:
		return ACRMFA
	}
	return ""
}

// acrMeets: the rule the Session grain applies (a passkey sign-in meets
// a two-factor requirement).
func acrMeets(have, want string) bool {
	return want == "" || have == want || want == ACRMFA && have == ACRPasskey
}

// requestPolicy is policy for a pending request: its client's policy is
// looked up again (the account and device pages have no client of their
// own: the node's policy applies).
func (h *Handler) requestPolicy(ctx context.Context, req *messages.AuthRequest) (string, error) {
	clientPolicy := ""
	if !isAccountRequest(req) && !isDeviceRequest(req) {
		cl, err := h.clients.Client(ctx, req.ClientId)
		if err != nil {
			return "", err
		}
		clientPolicy = cl.MFAPolicy
	}
	return h.policy(req, clientPolicy), nil
}

func (h *Handler) mfaRoutes() []router.Route {
	if h.mfa == nil {
		return nil
	}
	return []router.Route{
		{Method: http.MethodPost, Path: MFAPath, Handler: h.loginMFA, Limit: router.Strict, Grain: "Session.Get, Session.Login, Session.Issue"},
		{Method: http.MethodPost, Path: MFAEnrolPath, Handler: h.loginEnrol, Limit: router.Strict, Grain: "Session.Get, Session.Login"},
		{Method: http.MethodPost, Path: TOTPSetupPath, Handler: h.totpSetup, Limit: router.Moderate, Grain: "Session.Get (Session.Begin to sign in again)"},
		{Method: http.MethodPost, Path: TOTPConfirmPath, Handler: h.totpConfirm, Limit: router.Strict, Grain: "Session.Get (Session.Begin to sign in again)"},
		{Method: http.MethodPost, Path: TOTPRemovePath, Handler: h.totpRemove, Limit: router.Strict, Grain: "Session.Get"},
		{Method: http.MethodPost, Path: RecoveryRegeneratePath, Handler: h.recoveryRegenerate, Limit: router.Moderate, Grain: "Session.Get (Session.Begin to sign in again)"},
	}
}

// pendingLogin is what the password step hands to the code step, sealed
// under the KEK with the session id and request id as additional data:
// it only opens for the browser session and request it was made for.
type pendingLogin struct {
	Subject string `json:"sub"`
	Expires int64  `json:"exp"`
	// Purpose is what the token allows: purposeCode (give a code) or
	// purposeEnrol (set up an app first, under policy required).
	Purpose string `json:"purpose"`
	// Idp is the connector of the first step: the Password connector
	// (LDAP) that checked the password, or the redirect connector the
	// user signed in with; "" for a local account's password.
	Idp string `json:"idp,omitempty"`
	// Amr and Acr are a redirect connector's sign-in (fed and the
	// upstream's methods, the upstream's class), which the second factor
	// adds to; empty after a password.
	Amr []string `json:"amr,omitempty"`
	Acr string   `json:"acr,omitempty"`
}

const (
	purposeCode  = "code"
	purposeEnrol = "enrol"
)

func pendingKid(sid, rid string) string { return "mfa-pending:" + sid + ":" + rid }

func (h *Handler) sealPending(sid, rid, subject, purpose, idp string) (string, error) {
	return h.sealPendingLogin(sid, rid, pendingLogin{Subject: subject, Purpose: purpose, Idp: idp})
}

func (h *Handler) sealPendingLogin(sid, rid string, p pendingLogin) (string, error) {
	p.Expires = h.cfg.Now().Add(pendingTTL).Unix()
	b, _ := json.Marshal(p)
	sealed, err := h.mfa.sealer.Wrap(pendingKid(sid, rid), b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (h *Handler) openPending(sid, rid, token, purpose string) (pendingLogin, bool) {
	sealed, err := base64.RawURLEncoding.DecodeString(token)
	// The largest: a redirect connector's sign-in with 16 upstream amr
	// values and a 255-byte acr (connectors.claims bounds both).
	if err != nil || len(sealed) > 4096 {
		return pendingLogin{}, false
	}
	b, err := h.mfa.sealer.Unwrap(pendingKid(sid, rid), sealed)
	if err != nil {
		return pendingLogin{}, false
	}
	var p pendingLogin
	if json.Unmarshal(b, &p) != nil || p.Subject == "" || p.Purpose != purpose || h.cfg.Now().Unix() >= p.Expires {
		return pendingLogin{}, false
	}
	return p, true
}

// secondStep follows a right password: the code page for a user with an
// authenticator app (unless the policy is none), the app's setup for a
// user without one when the policy requires two factors, otherwise the
// sign-in completes with the password alone. idp names the Password
// connector (LDAP) that checked the password, "" for a local one: the
// second factor applies all the same, since the user is on our form.
func (h *Handler) secondStep(c echo.Context, f form, subject, idp string) error {
	ctx := c.Request().Context()
	req := f.reply.Request
	unavailable := func(err error) error {
		h.logger.ErrorContext(ctx, "second factor lookup failed", "sub", subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	policy, err := h.requestPolicy(ctx, req)
	if err != nil {
		return unavailable(err)
	}
	if policy == directory.MFANone {
		return h.completePasswordLogin(c, f, subject, []string{"pwd"}, ACRPassword, idp)
	}
	st, err := h.mfa.factors.MFA(ctx, subject)
	if err != nil {
		return unavailable(err)
	}
	switch {
	case st.TOTP:
		// The password was right; the login is recorded only once the
		// code is (loginMFA).
		pending, err := h.sealPending(f.sid, f.rid, subject, purposeCode, idp)
		if err != nil {
			return unavailable(err)
		}
		h.logger.InfoContext(ctx, "password accepted, second factor asked", "audit", true, "client_id", req.ClientId, "sub", subject)
		return h.mfaPage(c, http.StatusOK, f.secret, f.rid, req, pending, "")
	case policy == directory.MFARequired:
		secret, err := h.mfa.factors.BeginTOTP(ctx, subject)
		if err != nil {
			return unavailable(err)
		}
		pending, err := h.sealPending(f.sid, f.rid, subject, purposeEnrol, idp)
		if err != nil {
			return unavailable(err)
		}
		h.logger.InfoContext(ctx, "password accepted, second factor setup required", "audit", true, "client_id", req.ClientId, "sub", subject)
		return h.enrolPage(c, http.StatusOK, f, subject, secret, pending, "")
	}
	return h.completePasswordLogin(c, f, subject, []string{"pwd"}, ACRPassword, idp)
}

// secondFactorLogin is the login once the second factor is right: a
// password's (local or a Password connector's) becomes ACRMFA; a
// redirect connector's keeps its methods and class (an upstream's word
// is not one of our factors) with the factor's methods added.
func secondFactorLogin(p pendingLogin, amr []string) *messages.Login {
	if len(p.Amr) == 0 {
		return passwordLogin(p.Subject, amr, ACRMFA, p.Idp)
	}
	out := slices.Clone(p.Amr)
	for _, a := range amr {
		if a != "pwd" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return &messages.Login{Subject: p.Subject, Amr: out, Acr: p.Acr, Idp: p.Idp}
}

// passwordLogin is the login of a password sign-in (and its second
// factor): a Password connector's (idp) adds fed and names it.
func passwordLogin(subject string, amr []string, acr, idp string) *messages.Login {
	if idp != "" {
		amr = append(slices.Clone(amr), "fed")
	}
	return &messages.Login{Subject: subject, Amr: amr, Acr: acr, Idp: idp}
}

// completePasswordLogin is completeLogin of a password sign-in, local or
// through a Password connector (idp).
func (h *Handler) completePasswordLogin(c echo.Context, f form, subject string, amr []string, acr, idp string) error {
	rep, err := h.recordLoginAs(c, f, passwordLogin(subject, amr, acr, idp))
	if err != nil {
		return expired(c)
	}
	return h.afterLogin(c, f, rep)
}

func (h *Handler) mfaPage(c echo.Context, status int, secret, rid string, req *messages.AuthRequest, pending, msg string) error {
	return render(c, status, "mfa.html", map[string]any{
		"Title": tr(c, "Enter your code"), "ClientName": req.ClientName, "RID": rid, "CSRF": csrfToken(secret, rid),
		"Pending": pending, "Error": msg,
	})
}

// msgBadCode is the one answer to a wrong, reused or malformed code.
const msgBadCode = "That code is not correct, or was already used."

// mfaKeys are the RateLimiter keys of a code attempt: per user and per
// address and user, like password attempts (signInKeys).
func mfaKeys(subject, ip string) (perUser, perAddress string) {
	return "mfa:" + subject, "mfa-from:" + router.AddressKey(ip) + ":" + subject
}

// loginMFA is the second step of a password sign-in: a code of the
// user's authenticator app, or one of their recovery codes. The login is
// recorded in the session only here: before it, the session holds no
// login of this user and nothing can be issued.
func (h *Handler) loginMFA(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil {
		return expired(c)
	}
	req := f.reply.Request
	form := c.Request().PostForm
	p, ok := h.openPending(f.sid, f.rid, form.Get("pending"), purposeCode)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	ip := c.RealIP()
	keys, retry, err := h.attemptCode(ctx, p.Subject, ip)
	if err != nil {
		h.logger.WarnContext(ctx, "sign-in throttle unavailable", "client_id", req.ClientId, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	pending := form.Get("pending")
	if retry > 0 {
		secs := int((retry + time.Second - 1) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		return h.mfaPage(c, http.StatusTooManyRequests, f.secret, f.rid, req, pending,
			tr(c, "Too many attempts. Try again in %s.", waitText(c, secs)))
	}
	code := form.Get("code")
	var amr []string
	switch {
	case totp.Normalize(code) != "":
		err = h.mfa.factors.VerifyTOTP(ctx, p.Subject, code)
		amr = amrTOTP
	case directory.NormalizeRecoveryCode(code) != "":
		var left int
		left, err = h.mfa.factors.UseRecoveryCode(ctx, p.Subject, code)
		if err == nil {
			h.logger.InfoContext(ctx, "recovery code used", "audit", true, "client_id", req.ClientId, "sub", p.Subject, "client_ip", ip, "left", left)
		}
		amr = amrRecovery
	default:
		err = directory.ErrMFACode
	}
	if err != nil {
		if errors.Is(err, directory.ErrMFACode) || errors.Is(err, directory.ErrMFANotEnrolled) {
			reason := "wrong code"
			if errors.Is(err, directory.ErrMFAReplay) {
				reason = "code already used"
			}
			h.logger.InfoContext(ctx, "second factor failed", "audit", true, "client_id", req.ClientId, "sub", p.Subject, "client_ip", ip, "reason", reason)
			return h.mfaPage(c, http.StatusUnauthorized, f.secret, f.rid, req, pending, tr(c, msgBadCode))
		}
		h.logger.ErrorContext(ctx, "second factor check failed", "sub", p.Subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	h.signInSucceeded(ctx, keys)
	rep, err := h.recordLoginAs(c, f, secondFactorLogin(p, amr))
	if err != nil {
		return expired(c)
	}
	return h.afterLogin(c, f, rep)
}

// attemptCode counts a code attempt (see attemptSignIn), with the
// password attempts' budgets.
func (h *Handler) attemptCode(ctx context.Context, subject, ip string) (keys []string, retry time.Duration, err error) {
	if h.throttle == nil {
		return nil, 0, nil
	}
	user, addr := mfaKeys(subject, ip)
	for _, k := range []struct {
		key, scope string
		b          ratelimit.Backoff
	}{{addr, "address", h.cfg.SignIn.PerAddress}, {user, "user", h.cfg.SignIn.PerUsername}} {
		ok, retry, err := h.throttle.Attempt(ctx, k.key, k.b)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			h.logger.InfoContext(ctx, "second factor throttled", "audit", true, "sub", subject, "client_ip", ip,
				"scope", k.scope, "retry_after", retry.Round(time.Millisecond))
			return nil, max(retry, time.Millisecond), nil
		}
		keys = append(keys, k.key)
	}
	return keys, 0, nil
}

// mfaAccountForm checks an account page POST: CSRF and a signed-in session.
func (h *Handler) mfaAccountForm(c echo.Context) (sid, secret string, login *messages.Login, ok bool) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return "", "", nil, false
	}
	sid, secret = h.cookie(c)
	if !csrfOK(secret, accountPurpose, r.PostForm.Get("csrf")) {
		return "", "", nil, false
	}
	login = h.loginOf(r.Context(), sid, secret)
	return sid, secret, login, login != nil
}

// qrDataURI is a PNG of the QR code of s, as a data: URI for an <img>.
func qrDataURI(s string) (string, error) {
	code, err := qr.Encode(s, qr.M, qr.Auto)
	if err != nil {
		return "", err
	}
	code, err = barcode.Scale(code, 240, 240)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// setupCSP is pageCSP plus data: images, for the QR code alone.
const setupCSP = cspBase + "; img-src 'self' data:"

func (h *Handler) setupPage(c echo.Context, status int, secret []byte, account, msg string) error {
	_, ckSecret := h.cookie(c)
	return h.renderSetup(c, status, secret, account, map[string]any{
		"Action": TOTPConfirmPath, "CSRF": csrfToken(ckSecret, accountPurpose), "Error": msg,
	})
}

// enrolPage is the app's setup during a sign-in (policy required).
func (h *Handler) enrolPage(c echo.Context, status int, f form, subject string, secret []byte, pending, msg string) error {
	account := subject
	if u, err := h.passkeys.User(c.Request().Context(), subject); err == nil {
		account = u.Username
	}
	return h.renderSetup(c, status, secret, account, map[string]any{
		"Action": MFAEnrolPath, "CSRF": csrfToken(f.secret, f.rid), "RID": f.rid, "Pending": pending, "Error": msg,
		"Required": true, "ClientName": f.reply.Request.GetClientName(),
	})
}

func (h *Handler) renderSetup(c echo.Context, status int, secret []byte, account string, data map[string]any) error {
	uri := totp.URI(h.mfa.issuer, account, secret)
	img, err := qrDataURI(uri)
	if err != nil {
		return errorPage(c, http.StatusInternalServerError, "The QR code cannot be made right now.")
	}
	data["Title"], data["QR"], data["Key"] = tr(c, "Set up an authenticator app"), template.URL(img), totp.GroupedSecret(secret)
	data["Issuer"], data["Account"] = h.mfa.issuer, account
	return renderWithCSP(c, status, "totp_setup.html", data, setupCSP)
}

// loginEnrol confirms the app set up during a sign-in, records the
// sign-in with both factors, and shows the recovery codes once, with a
// form that goes on with the request (/login/continue).
func (h *Handler) loginEnrol(c echo.Context) error {
	f, err := h.readForm(c)
	if err != nil {
		return expired(c)
	}
	form := c.Request().PostForm
	p, ok := h.openPending(f.sid, f.rid, form.Get("pending"), purposeEnrol)
	if !ok {
		return expired(c)
	}
	ctx := c.Request().Context()
	keys, retry, err := h.attemptCode(ctx, p.Subject, c.RealIP())
	if err != nil || retry > 0 {
		return errorPage(c, http.StatusTooManyRequests, "Too many attempts. Try again later.")
	}
	codes, err := h.mfa.factors.ConfirmTOTP(ctx, p.Subject, form.Get("code"))
	switch {
	case errors.Is(err, directory.ErrMFACode):
		s, perr := h.mfa.factors.PendingTOTP(ctx, p.Subject)
		if perr != nil {
			return expired(c)
		}
		h.logger.InfoContext(ctx, "totp setup: wrong code", "audit", true, "sub", p.Subject)
		return h.enrolPage(c, http.StatusUnauthorized, f, p.Subject, s, form.Get("pending"), tr(c, "That code is not correct. Enter the code your app shows now."))
	case errors.Is(err, directory.ErrMFANotEnrolled):
		return expired(c)
	case err != nil:
		h.logger.ErrorContext(ctx, "totp confirm failed", "sub", p.Subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Sign-in is unavailable right now. Try again shortly.")
	}
	h.signInSucceeded(ctx, keys)
	h.logger.InfoContext(ctx, "authenticator app enrolled", "audit", true, "sub", p.Subject, "at_sign_in", true)
	rep, err := h.recordLoginAs(c, f, secondFactorLogin(p, amrTOTP))
	if err != nil {
		return expired(c)
	}
	return render(c, http.StatusOK, "recovery_codes.html", map[string]any{
		"Title": tr(c, "Your recovery codes"), "Codes": codes, "Enrolled": true,
		"Continue": true, "RID": f.rid, "CSRF": csrfToken(rep.NewSecret, f.rid),
	})
}

// totpSetup starts enrolling an app: a new secret, shown as a QR code
// and as a key to type.
func (h *Handler) totpSetup(c echo.Context) error {
	ctx := c.Request().Context()
	sid, secret, login, ok := h.mfaAccountForm(c)
	if !ok {
		return expired(c)
	}
	if !h.recentLogin(login) {
		h.logger.InfoContext(ctx, "second factor change refused: sign-in too old", "audit", true, "sub", login.Subject)
		return h.reauth(c, sid, secret, login)
	}
	u, err := h.passkeys.User(ctx, login.Subject)
	if err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	s, err := h.mfa.factors.BeginTOTP(ctx, login.Subject)
	if errors.Is(err, directory.ErrInvalid) {
		return errorPage(c, http.StatusConflict, "An authenticator app is already set up. Remove it first.")
	}
	if err != nil {
		h.logger.ErrorContext(ctx, "totp setup failed", "sub", login.Subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	h.logger.InfoContext(ctx, "authenticator app setup started", "audit", true, "sub", login.Subject)
	return h.setupPage(c, http.StatusOK, s, u.Username, "")
}

// totpConfirm finishes enrolling with one valid code, then shows the
// recovery codes, once.
func (h *Handler) totpConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	sid, secret, login, ok := h.mfaAccountForm(c)
	if !ok {
		return expired(c)
	}
	if !h.recentLogin(login) {
		return h.reauth(c, sid, secret, login)
	}
	keys, retry, err := h.attemptCode(ctx, login.Subject, c.RealIP())
	if err != nil || retry > 0 {
		return errorPage(c, http.StatusTooManyRequests, "Too many attempts. Try again later.")
	}
	codes, err := h.mfa.factors.ConfirmTOTP(ctx, login.Subject, c.Request().PostForm.Get("code"))
	switch {
	case errors.Is(err, directory.ErrMFACode):
		s, perr := h.mfa.factors.PendingTOTP(ctx, login.Subject)
		u, uerr := h.passkeys.User(ctx, login.Subject)
		if perr != nil || uerr != nil {
			return errorPage(c, http.StatusBadRequest, "This setup has expired. Start again from your account page.")
		}
		h.logger.InfoContext(ctx, "totp setup: wrong code", "audit", true, "sub", login.Subject)
		return h.setupPage(c, http.StatusUnauthorized, s, u.Username, tr(c, "That code is not correct. Enter the code your app shows now."))
	case errors.Is(err, directory.ErrMFANotEnrolled):
		return errorPage(c, http.StatusBadRequest, "This setup has expired. Start again from your account page.")
	case err != nil:
		h.logger.ErrorContext(ctx, "totp confirm failed", "sub", login.Subject, "err", err)
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	h.signInSucceeded(ctx, keys)
	h.logger.InfoContext(ctx, "authenticator app enrolled", "audit", true, "sub", login.Subject)
	return h.recoveryPage(c, codes, true)
}

func (h *Handler) recoveryPage(c echo.Context, codes []string, enrolled bool) error {
	return render(c, http.StatusOK, "recovery_codes.html", map[string]any{
		"Title": tr(c, "Your recovery codes"), "Codes": codes, "Enrolled": enrolled,
	})
}

// totpRemove removes the app and the recovery codes; it takes a current
// code or the password, so a session left open is not enough.
func (h *Handler) totpRemove(c echo.Context) error {
	ctx := c.Request().Context()
	_, _, login, ok := h.mfaAccountForm(c)
	if !ok {
		return expired(c)
	}
	ip := c.RealIP()
	keys, retry, err := h.attemptCode(ctx, login.Subject, ip)
	if err != nil || retry > 0 {
		return errorPage(c, http.StatusTooManyRequests, "Too many attempts. Try again later.")
	}
	form := c.Request().PostForm
	proved := false
	if code := form.Get("code"); code != "" {
		proved = h.mfa.factors.VerifyTOTP(ctx, login.Subject, code) == nil
	} else if pw := form.Get("password"); pw != "" {
		if u, err := h.passkeys.User(ctx, login.Subject); err == nil {
			au, err := h.users.Authenticate(ctx, u.Username, pw)
			proved = err == nil && au.Subject == login.Subject
		}
	}
	if !proved {
		h.logger.InfoContext(ctx, "authenticator app removal refused", "audit", true, "sub", login.Subject, "client_ip", ip)
		return errorPage(c, http.StatusUnauthorized, "To remove your authenticator app, enter a current code or your password.")
	}
	h.signInSucceeded(ctx, keys)
	if _, err := h.mfa.factors.ResetMFA(ctx, login.Subject); err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	h.logger.InfoContext(ctx, "authenticator app removed", "audit", true, "sub", login.Subject, "client_ip", ip)
	return c.Redirect(http.StatusSeeOther, AccountPath)
}

// recoveryRegenerate replaces the recovery codes and shows the new set.
func (h *Handler) recoveryRegenerate(c echo.Context) error {
	ctx := c.Request().Context()
	sid, secret, login, ok := h.mfaAccountForm(c)
	if !ok {
		return expired(c)
	}
	if !h.recentLogin(login) {
		return h.reauth(c, sid, secret, login)
	}
	codes, err := h.mfa.factors.RegenerateRecoveryCodes(ctx, login.Subject)
	if errors.Is(err, directory.ErrMFANotEnrolled) {
		return errorPage(c, http.StatusBadRequest, "Set up an authenticator app first.")
	}
	if err != nil {
		return errorPage(c, http.StatusServiceUnavailable, "Your account cannot be changed right now.")
	}
	h.logger.InfoContext(ctx, "recovery codes regenerated", "audit", true, "sub", login.Subject)
	return h.recoveryPage(c, codes, false)
}

// mfaAccountData is the account page's two-factor section.
func (h *Handler) mfaAccountData(c echo.Context, subject string, data map[string]any) {
	ctx := c.Request().Context()
	if h.mfa == nil {
		return
	}
	st, err := h.mfa.factors.MFA(ctx, subject)
	if err != nil {
		data["MFAUnavailable"] = true
		return
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return tr(c, "never")
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	data["ShowMFA"] = true
	data["MFA"] = map[string]any{
		"TOTP": st.TOTP, "Since": when(st.TOTPCreated), "LastUsed": when(st.TOTPLastUsed),
		"Left": st.RecoveryLeft, "Total": st.RecoveryTotal, "RecoveryUsed": when(st.RecoveryLastUsed),
		"RecoveryEverUsed": !st.RecoveryLastUsed.IsZero(),
	}
}
