package node_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"authrim/directory"
	"authrim/http/auth"
	"authrim/internal/docexample"
	"authrim/internal/totp"
	"authrim/node"
)

// enrolTOTP gives alice an authenticator app through the directory and
// returns its secret and recovery codes; the clock then moves one step
// on, so the enrolment's code is not the next sign-in's.
func (o *op) enrolTOTP(t *testing.T) ([]byte, []string) {
	t.Helper()
	return o.enrolTOTPFor(t, o.user.Subject)
}

// enrolTOTPFor is enrolTOTP for the user sub.
func (o *op) enrolTOTPFor(t *testing.T, sub string) ([]byte, []string) {
	t.Helper()
	o.alignStep()
	ctx := context.Background()
	d := o.n.Directory()
	secret, err := d.BeginTOTP(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := d.ConfirmTOTP(ctx, sub, o.totpCode(secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	o.clock.Advance(totp.Period)
	return secret, codes
}

// alignStep moves the node's clock to just after the start of a time
// step, so the codes a test computes stay in the step it expects for
// the next 29 seconds (a test that crossed a step boundary between
// computing a code and posting it would see "two steps ahead" become
// "one step ahead", which is accepted).
func (o *op) alignStep() {
	into := o.clock.Now().Sub(o.clock.Now().Truncate(totp.Period))
	o.clock.Advance(totp.Period - into + 100*time.Millisecond)
}

// totpCode is the app's code at the node's time plus off.
func (o *op) totpCode(secret []byte, off time.Duration) string {
	return totp.Code(totp.SHA1, secret, totp.Step(o.clock.Now().Add(off)), totp.Digits)
}

func (p page) isMFA() bool { return strings.Contains(p.body, `name="pending"`) }

// mfaStep posts a code on the second-step page p.
func (o *op) mfaStep(t *testing.T, b *http.Client, p page, code string) page {
	t.Helper()
	if !p.isMFA() {
		t.Fatalf("expected the code page, got %d %s", p.status, p.body)
	}
	f := hidden(p.body)
	f.Set("code", code)
	return postForm(t, b, o.issuer+auth.MFAPath, f)
}

// toRP finishes a sign-in after its last step (consent as needed) and
// returns the code sent to the RP.
func (o *op) toRP(t *testing.T, b *http.Client, p page) string {
	t.Helper()
	if p.isConsent() {
		p = o.consent(t, b, p, "allow")
	}
	if p.status != http.StatusFound || p.loc == nil || !strings.HasPrefix(p.loc.String(), rpRedirect) || p.loc.Query().Get("code") == "" {
		t.Fatalf("expected a code for the RP, got %d %v %s", p.status, p.loc, p.body)
	}
	return p.loc.Query().Get("code")
}

func amrOf(t *testing.T, o *op, code string) ([]string, string) {
	t.Helper()
	st, tok := o.redeem(t, code, "")
	if st != http.StatusOK {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	c := idClaims(t, tok["id_token"].(string))
	var amr []string
	for _, v := range c["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	acr, _ := c["acr"].(string)
	return amr, acr
}

// TestMFASignInTOTP: a user with an app is asked for a code after the
// password; the login exists only after a right code, and the ID token
// says pwd+otp+mfa with the MFA acr. Each wrong case is refused and
// changes nothing.
func TestMFASignInTOTP(t *testing.T) {
	// Room for the wrong codes below (TestMFAThrottle tests the limit).
	o := startOPWith(t, func(c *node.Config) { c.RateLimit.SignIn.PerAddress.Free = 20 })
	secret, _ := o.enrolTOTP(t)
	b := browser(t)
	p := o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword)
	if p.status != http.StatusOK || !p.isMFA() {
		t.Fatalf("password step: %d %s", p.status, p.body)
	}
	step := p

	t.Run("no login before the second factor", func(t *testing.T) {
		if a := get(t, b, o.issuer+auth.AccountPath); a.status != http.StatusUnauthorized {
			t.Fatalf("account page before the code: %d", a.status)
		}
		params := baseParams()
		params["prompt"] = "none"
		r := get(t, b, o.authorizeURL(params))
		if r.loc == nil || r.loc.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none before the code: %d %v", r.status, r.loc)
		}
	})
	for _, tc := range []struct {
		name string
		code string
	}{
		{"wrong code", wrongTOTP(o, secret)},
		{"code from a far step", o.totpCode(secret, -10*time.Minute)},
		{"code two steps ahead", o.totpCode(secret, 2*totp.Period)},
		{"malformed code", "12ab56"},
		{"code of the enrolment (used)", o.totpCode(secret, -totp.Period)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code == o.totpCode(secret, 0) || tc.code == o.totpCode(secret, totp.Period) {
				t.Skip("collides with a code of the window")
			}
			r := o.mfaStep(t, b, step, tc.code)
			if r.status != http.StatusUnauthorized || !r.isMFA() || !strings.Contains(r.body, "not correct") {
				t.Fatalf("got %d %s", r.status, r.body)
			}
		})
	}
	t.Run("CSRF", func(t *testing.T) {
		f := hidden(step.body)
		f.Set("csrf", "x"+f.Get("csrf"))
		f.Set("code", o.totpCode(secret, 0))
		if r := postForm(t, b, o.issuer+auth.MFAPath, f); r.status != http.StatusBadRequest {
			t.Fatalf("wrong CSRF: %d", r.status)
		}
	})
	t.Run("code page without the first factor", func(t *testing.T) {
		// A fresh request in another browser: its own rid and CSRF, but
		// no password step, so no pending token of its own. Neither a
		// forged token nor the first browser's opens for it.
		b2 := browser(t)
		lp := get(t, b2, o.authorizeURL(baseParams()))
		f := hidden(lp.body)
		f.Set("code", o.totpCode(secret, 0))
		for _, pending := range []string{"", "AAAA", hidden(step.body).Get("pending")} {
			f.Set("pending", pending)
			if r := postForm(t, b2, o.issuer+auth.MFAPath, f); r.status != http.StatusBadRequest {
				t.Fatalf("pending %q: %d %s", pending, r.status, r.body)
			}
		}
	})
	good := o.totpCode(secret, 0)
	code := o.toRP(t, b, o.mfaStep(t, b, step, good))
	amr, acr := amrOf(t, o, code)
	if !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || acr != auth.ACRMFA {
		t.Fatalf("amr %v acr %q", amr, acr)
	}

	t.Run("reused code", func(t *testing.T) {
		b4 := browser(t)
		s4 := o.login(t, b4, get(t, b4, o.authorizeURL(baseParams())), userPassword)
		if r := o.mfaStep(t, b4, s4, good); r.status != http.StatusUnauthorized {
			t.Fatalf("the same code again: %d", r.status)
		}
	})
	t.Run("pending token expires", func(t *testing.T) {
		b3 := browser(t)
		s3 := o.login(t, b3, get(t, b3, o.authorizeURL(baseParams())), userPassword)
		o.clock.Advance(6 * time.Minute)
		defer o.clock.Advance(totp.Period)
		if r := o.mfaStep(t, b3, s3, o.totpCode(secret, 0)); r.status != http.StatusBadRequest {
			t.Fatalf("after 6 minutes: %d", r.status)
		}
	})

}

// wrongTOTP is a code that matches no step of the window.
func wrongTOTP(o *op, secret []byte) string {
	window := []string{o.totpCode(secret, -totp.Period), o.totpCode(secret, 0), o.totpCode(secret, totp.Period)}
	for _, c := range []string{"000000", "111111", "222222"} {
		if !slices.Contains(window, c) {
			return c
		}
	}
	return "333333"
}

// TestMFASignInRecoveryCode: a recovery code replaces the app's code once;
// the ID token says pwd+mfa+rc, and the account page shows the use.
func TestMFASignInRecoveryCode(t *testing.T) {
	o := startOP(t)
	_, codes := o.enrolTOTP(t)
	b := browser(t)
	p := o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword)
	code := o.toRP(t, b, o.mfaStep(t, b, p, strings.ToUpper(codes[2])))
	amr, acr := amrOf(t, o, code)
	if !slices.Equal(amr, []string{"pwd", "mfa", "rc"}) || acr != auth.ACRMFA {
		t.Fatalf("amr %v acr %q", amr, acr)
	}
	a := get(t, b, o.issuer+auth.AccountPath)
	if !strings.Contains(a.body, "9 of 10 left") || !strings.Contains(a.body, "a recovery code was last used") {
		t.Fatalf("account page: %s", a.body)
	}
	t.Run("reused recovery code", func(t *testing.T) {
		b2 := browser(t)
		s := o.login(t, b2, get(t, b2, o.authorizeURL(baseParams())), userPassword)
		if r := o.mfaStep(t, b2, s, codes[2]); r.status != http.StatusUnauthorized {
			t.Fatalf("reused: %d", r.status)
		}
		if r := o.mfaStep(t, b2, s, "abcde-fghjk"); r.status != http.StatusUnauthorized {
			t.Fatalf("made-up: %d", r.status)
		}
	})
}

// TestMFAThrottle: wrong codes are slowed like wrong passwords, and a
// throttled attempt is not even checked (the right code is refused too).
func TestMFAThrottle(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) {
		c.RateLimit.SignIn.PerAddress = node.BackoffConfig{Free: 3, BaseDelay: node.Duration(time.Minute), MaxDelay: node.Duration(time.Hour), Window: node.Duration(2 * time.Hour)}
	})
	secret, _ := o.enrolTOTP(t)
	b := browser(t)
	p := o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword)
	bad := wrongTOTP(o, secret)
	for i := range 3 {
		if r := o.mfaStep(t, b, p, bad); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	r := o.mfaStep(t, b, p, o.totpCode(secret, 0))
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many attempts") {
		t.Fatalf("4th attempt: %d %s", r.status, r.body)
	}
}

var keyRE = regexp.MustCompile(`id="totp-key">([A-Z2-7 ]+)<`)

// TestMFAAccountEnrolment: the account page sets up an app (QR code and
// key, confirmed by a code), shows the recovery codes once, makes new
// ones (the old set dies) and removes the app with the password. Every
// POST needs the page's CSRF token.
func TestMFAAccountEnrolment(t *testing.T) {
	o := startOP(t)
	b := browser(t)
	o.signIn(t, b, o.authorizeURL(baseParams()))
	o.alignStep()
	a := get(t, b, o.issuer+auth.AccountPath)
	if !strings.Contains(a.body, "Set up an authenticator app") {
		t.Fatalf("account page: %s", a.body)
	}
	csrf := hidden(a.body).Get("csrf")
	post := func(path string, v url.Values) page {
		return postForm(t, b, o.issuer+path, v)
	}
	for _, path := range []string{auth.TOTPSetupPath, auth.TOTPConfirmPath, auth.TOTPRemovePath, auth.RecoveryRegeneratePath} {
		if r := post(path, url.Values{"csrf": {"forged"}, "code": {"123456"}, "password": {userPassword}}); r.status != http.StatusBadRequest {
			t.Fatalf("%s without CSRF: %d", path, r.status)
		}
	}
	req, _ := http.NewRequest("POST", o.issuer+auth.TOTPSetupPath, strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") || strings.Contains(csp, "script-src 'unsafe") {
		t.Fatalf("setup CSP: %q", csp)
	}
	// Only the setup page allows data: images (others: a theme's logo
	// from this host).
	areq, _ := http.NewRequest("GET", o.issuer+auth.AccountPath, nil)
	aresp, err := b.Do(areq)
	if err != nil {
		t.Fatal(err)
	}
	aresp.Body.Close()
	if csp := aresp.Header.Get("Content-Security-Policy"); csp == "" || strings.Contains(csp, "data:") {
		t.Fatalf("account page CSP: %q", csp)
	}
	setup := post(auth.TOTPSetupPath, url.Values{"csrf": {csrf}})
	m := keyRE.FindStringSubmatch(setup.body)
	if setup.status != http.StatusOK || m == nil || !strings.Contains(setup.body, `src="data:image/png;base64,`) {
		t.Fatalf("setup page: %d %s", setup.status, setup.body)
	}
	secret, err := totpSecret(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if r := post(auth.TOTPConfirmPath, url.Values{"csrf": {csrf}, "code": {wrongTOTP(o, secret)}}); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "not correct") || !strings.Contains(r.body, m[1]) {
		t.Fatalf("wrong confirmation: %d %s", r.status, r.body)
	}
	if st, _ := o.n.Directory().MFA(context.Background(), o.user.Subject); st.TOTP {
		t.Fatal("enrolled by a wrong code")
	}
	done := post(auth.TOTPConfirmPath, url.Values{"csrf": {csrf}, "code": {o.totpCode(secret, 0)}})
	codes := regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`).FindAllStringSubmatch(done.body, -1)
	if done.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("confirmation: %d %s", done.status, done.body)
	}
	a = get(t, b, o.issuer+auth.AccountPath)
	if !strings.Contains(a.body, "<strong>on</strong>") || !strings.Contains(a.body, "10 of 10 left") || strings.Contains(a.body, codes[0][1]) {
		t.Fatalf("account after enrolment: %s", a.body)
	}
	regen := post(auth.RecoveryRegeneratePath, url.Values{"csrf": {csrf}})
	fresh := regexp.MustCompile(`<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>`).FindAllStringSubmatch(regen.body, -1)
	if len(fresh) != 10 || !strings.Contains(regen.body, "earlier codes no longer work") {
		t.Fatalf("regenerate: %s", regen.body)
	}
	if _, err := o.n.Directory().UseRecoveryCode(context.Background(), o.user.Subject, codes[0][1]); err == nil {
		t.Fatal("an old recovery code still works")
	}
	if r := post(auth.TOTPRemovePath, url.Values{"csrf": {csrf}, "password": {"wrong password"}}); r.status != http.StatusUnauthorized {
		t.Fatalf("remove with a wrong password: %d", r.status)
	}
	if r := post(auth.TOTPRemovePath, url.Values{"csrf": {csrf}}); r.status != http.StatusUnauthorized {
		t.Fatalf("remove with nothing: %d", r.status)
	}
	if r := post(auth.TOTPRemovePath, url.Values{"csrf": {csrf}, "password": {userPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if st, _ := o.n.Directory().MFA(context.Background(), o.user.Subject); st.TOTP || st.RecoveryTotal != 0 {
		t.Fatalf("after removal: %+v", st)
	}
	// A sign-in older than auth.ReauthAge must sign in again first.
	o.clock.Advance(auth.ReauthAge + time.Minute)
	if r := post(auth.TOTPSetupPath, url.Values{"csrf": {csrf}}); !r.isLogin() {
		t.Fatalf("setup with an old sign-in: %d %s", r.status, r.body)
	}
}

func totpSecret(grouped string) ([]byte, error) {
	return base32NoPad.DecodeString(strings.ReplaceAll(grouped, " ", ""))
}

var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// startMFAPolicyOP starts a node with policy and a client "mfa-rp"
// whose mfa_policy is required.
func startMFAPolicyOP(t *testing.T, policy string) *op {
	t.Helper()
	return startOPWith(t, func(c *node.Config) {
		c.MFA.Policy = policy
		c.RateLimit.SignIn.PerAddress.Free = 20
		c.Clients = append(c.Clients, node.ClientConfig{
			ID: "mfa-rp", Secret: rpSecret,
			ClientMetadata: directory.ClientMetadata{
				Name: "Strict RP", RedirectURIs: []string{rpRedirect}, AuthMethod: "client_secret_basic",
				GrantTypes: []string{"authorization_code"}, MFAPolicy: directory.MFARequired,
			},
		})
	})
}

func mfaRPParams() map[string]string {
	p := baseParams()
	p["client_id"] = "mfa-rp"
	return p
}

// redeemAs redeems code as clientID and returns the ID token's amr and acr.
func (o *op) amrAs(t *testing.T, clientID, code string) ([]string, string) {
	t.Helper()
	st, tok := o.tokenRequest(t, clientID, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {rpRedirect}, "code_verifier": {pkceVerifier}})
	if st != http.StatusOK {
		t.Fatalf("redeem: %d %v", st, tok)
	}
	c := idClaims(t, tok["id_token"].(string))
	var amr []string
	for _, v := range c["amr"].([]any) {
		amr = append(amr, v.(string))
	}
	acr, _ := c["acr"].(string)
	return amr, acr
}

func (p page) isEnrol() bool { return strings.Contains(p.body, `action="/login/mfa/enrol"`) }

// TestMFARequiredByClient: a client whose mfa_policy is required gets no
// code for a password-only sign-in. A user without an app sets one up
// before the sign-in completes (and sees the recovery codes once); a
// password-only session of another client is not reused, silently or
// through the continue and consent forms.
func TestMFARequiredByClient(t *testing.T) {
	o := startMFAPolicyOP(t, directory.MFAOptional)
	o.alignStep()
	b := browser(t)
	// A password-only sign-in for "rp" (optional: alice has no app).
	code := o.toRP(t, b, o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword))
	if amr, _ := o.amrAs(t, "rp", code); !slices.Equal(amr, []string{"pwd"}) {
		t.Fatalf("amr for rp: %v", amr)
	}

	t.Run("no silent sign-in with one factor", func(t *testing.T) {
		p := mfaRPParams()
		p["prompt"] = "none"
		r := get(t, b, o.authorizeURL(p))
		if r.loc == nil || r.loc.Query().Get("error") != "login_required" {
			t.Fatalf("prompt=none: %d %v", r.status, r.loc)
		}
	})
	lp := get(t, b, o.authorizeURL(mfaRPParams()))
	if !lp.isLogin() {
		t.Fatalf("mfa-rp with a password session: %d %s", lp.status, lp.body)
	}
	t.Run("continue form does not reuse the password session", func(t *testing.T) {
		r := postForm(t, b, o.issuer+auth.LoginPath+"/continue", hidden(lp.body))
		if r.isConsent() {
			r = o.consent(t, b, r, "allow")
		}
		if r.loc != nil && r.loc.Query().Get("code") != "" {
			t.Fatalf("a code for a one-factor session: %v", r.loc)
		}
	})

	p := o.login(t, b, lp, userPassword)
	if p.status != http.StatusOK || !p.isEnrol() || !strings.Contains(p.body, "Strict RP</strong> requires") {
		t.Fatalf("expected the app's setup: %d %s", p.status, p.body)
	}
	t.Run("setup token is not a code token", func(t *testing.T) {
		f := hidden(p.body)
		f.Set("code", "123456")
		if r := postForm(t, b, o.issuer+auth.MFAPath, f); r.status != http.StatusBadRequest {
			t.Fatalf("enrol token on the code step: %d", r.status)
		}
	})
	m := keyRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no key: %s", p.body)
	}
	secret, err := totpSecret(m[1])
	if err != nil {
		t.Fatal(err)
	}
	post := func(code string) page {
		f := hidden(p.body)
		f.Set("code", code)
		return postForm(t, b, o.issuer+auth.MFAEnrolPath, f)
	}
	if r := post(wrongTOTP(o, secret)); r.status != http.StatusUnauthorized || !r.isEnrol() || !strings.Contains(r.body, m[1]) {
		t.Fatalf("wrong code: %d %s", r.status, r.body)
	}
	done := post(o.totpCode(secret, 0))
	if done.status != http.StatusOK || strings.Count(done.body, "<li><code>") != 10 || !strings.Contains(done.body, `action="/login/continue"`) {
		t.Fatalf("after setup: %d %s", done.status, done.body)
	}
	r := postForm(t, b, o.issuer+auth.LoginPath+"/continue", hidden(done.body))
	amr, acr := o.amrAs(t, "mfa-rp", o.toRP(t, b, r))
	if !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || acr != auth.ACRMFA {
		t.Fatalf("amr %v acr %q", amr, acr)
	}
	// Now signed in with two factors: mfa-rp is answered silently.
	sp := mfaRPParams()
	sp["prompt"] = "none"
	if r := get(t, b, o.authorizeURL(sp)); r.loc == nil || r.loc.Query().Get("code") == "" {
		t.Fatalf("silent after two factors: %d %v", r.status, r.loc)
	}
}

// TestMFAPolicies: the node's policy none asks nobody for a code (not
// even enrolled users), unless the client or acr_values require two
// factors; prompt=login and max_age=0 ask for both factors again.
func TestMFAPolicies(t *testing.T) {
	o := startMFAPolicyOP(t, directory.MFANone)
	secret, _ := o.enrolTOTP(t)

	b := browser(t)
	code := o.toRP(t, b, o.login(t, b, get(t, b, o.authorizeURL(baseParams())), userPassword))
	if amr, acr := o.amrAs(t, "rp", code); !slices.Equal(amr, []string{"pwd"}) || acr != auth.ACRPassword {
		t.Fatalf("policy none: amr %v acr %q", amr, acr)
	}

	t.Run("acr_values asks for two factors", func(t *testing.T) {
		params := baseParams()
		params["acr_values"] = auth.ACRMFA
		p := get(t, b, o.authorizeURL(params))
		if !p.isLogin() {
			t.Fatalf("a one-factor session was reused: %d %v", p.status, p.loc)
		}
		p = o.login(t, b, p, userPassword)
		code := o.toRP(t, b, o.mfaStep(t, b, p, o.totpCode(secret, 0)))
		if amr, acr := o.amrAs(t, "rp", code); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || acr != auth.ACRMFA {
			t.Fatalf("acr_values: amr %v acr %q", amr, acr)
		}
		o.clock.Advance(totp.Period)
	})
	t.Run("client requires two factors", func(t *testing.T) {
		b := browser(t)
		p := o.login(t, b, get(t, b, o.authorizeURL(mfaRPParams())), userPassword)
		code := o.toRP(t, b, o.mfaStep(t, b, p, o.totpCode(secret, 0)))
		if amr, _ := o.amrAs(t, "mfa-rp", code); !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) {
			t.Fatalf("client required: amr %v", amr)
		}
		o.clock.Advance(totp.Period)
		for name, extra := range map[string][2]string{"prompt=login": {"prompt", "login"}, "max_age=0": {"max_age", "0"}} {
			params := mfaRPParams()
			params[extra[0]] = extra[1]
			p := get(t, b, o.authorizeURL(params))
			if !p.isLogin() {
				t.Fatalf("%s: no password step: %d %v", name, p.status, p.loc)
			}
			if p = o.login(t, b, p, userPassword); !p.isMFA() {
				t.Fatalf("%s: no code step: %d %s", name, p.status, p.body)
			}
			o.toRP(t, b, o.mfaStep(t, b, p, o.totpCode(secret, 0)))
			o.clock.Advance(totp.Period)
		}
	})
}

// TestMFAReadmeExample: the README's two-factor example works against a
// node where alice has an app.
func TestMFAReadmeExample(t *testing.T) {
	o := startOP(t)
	o.enrolTOTP(t)
	out := docexample.Run(t, "../README.md", "mfa-status", "ISSUER="+o.issuer, "ADMIN_TOKEN="+adminToken)
	if out != "urn:authrim:acr:mfa\ntrue\n10\n" {
		t.Fatalf("README example printed %q", out)
	}
}
