package node_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"authrim/actors/device"
	"authrim/directory"
	"authrim/node"
)

// Device authorization grant (RFC 8628) through HTTP: a device client
// polls /token while a cookie-jar browser signs in at /device and
// decides.

const tvSecret = "tv-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// startDeviceOP starts a node with the public device client "tv", the
// confidential one "tv-conf" and a polling interval of one second; logs
// go to logs when it is not nil.
func startDeviceOP(t *testing.T, logs *syncBuffer) *op {
	t.Helper()
	return startOPFull(t, func(c *node.Config) {
		c.Clients = append(c.Clients,
			node.ClientConfig{ID: "tv", ClientMetadata: directory.ClientMetadata{
				Name: "Living-room TV", AuthMethod: "none",
				GrantTypes: []string{directory.DeviceCodeGrantType, "refresh_token"},
			}},
			node.ClientConfig{ID: "tv-conf", Secret: tvSecret, ClientMetadata: directory.ClientMetadata{
				Name: "Kitchen TV", AuthMethod: "client_secret_basic",
				GrantTypes: []string{directory.DeviceCodeGrantType},
			}},
		)
		c.Tokens.DevicePollInterval = node.Duration(time.Second)
	}, func(opts *node.Options) {
		if logs != nil {
			opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		}
	})
}

// deviceClient posts form to path as clientID ("tv": public, form
// client_id; others: Basic with tvSecret).
func (o *op) deviceClient(t *testing.T, clientID, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	if clientID == "tv" {
		form.Set("client_id", "tv")
	}
	req, _ := http.NewRequest("POST", o.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID != "tv" {
		req.SetBasicAuth(clientID, tvSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

type deviceGrant struct{ deviceCode, userCode, complete string }

func (o *op) startDevice(t *testing.T, clientID, scope string) deviceGrant {
	t.Helper()
	st, body := o.deviceClient(t, clientID, "/device_authorization", url.Values{"scope": {scope}})
	if st != http.StatusOK {
		t.Fatalf("device authorization: %d %v", st, body)
	}
	g := deviceGrant{deviceCode: body["device_code"].(string), userCode: body["user_code"].(string), complete: body["verification_uri_complete"].(string)}
	if body["verification_uri"] != o.issuer+"/device" || body["interval"] != 1.0 || body["expires_in"] != 600.0 {
		t.Fatalf("device authorization response %v", body)
	}
	return g
}

func (o *op) poll(t *testing.T, clientID, deviceCode string) (int, map[string]any) {
	t.Helper()
	return o.deviceClient(t, clientID, "/token", url.Values{"grant_type": {directory.DeviceCodeGrantType}, "device_code": {deviceCode}})
}

func wantPoll(t *testing.T, st int, body map[string]any, code string) {
	t.Helper()
	if st != http.StatusBadRequest || body["error"] != code {
		t.Fatalf("poll answered %d %v, want 400 %s", st, body, code)
	}
}

// devicePage signs the browser in at the verification page when needed
// and returns the code entry page.
func (o *op) devicePage(t *testing.T, b *http.Client, u string) page {
	t.Helper()
	p := get(t, b, u)
	if p.isLogin() {
		p = o.login(t, b, p, userPassword)
		if p.status != http.StatusSeeOther || p.loc == nil || p.loc.Path != "/device" {
			t.Fatalf("sign-in did not return to the verification page: %d %v", p.status, p.loc)
		}
		p = get(t, b, o.issuer+p.loc.String())
	}
	if p.status != http.StatusOK || !strings.Contains(p.body, `name="user_code"`) {
		t.Fatalf("expected the code entry page, got %d %s", p.status, p.body)
	}
	return p
}

// enterCode posts code on the entry page p; then, if decision is set
// and the confirmation page came, the decision.
func (o *op) enterCode(t *testing.T, b *http.Client, p page, code, decision string) page {
	t.Helper()
	f := hidden(p.body)
	f.Set("user_code", code)
	p = postForm(t, b, o.issuer+"/device", f)
	if decision == "" || !strings.Contains(p.body, `name="decision"`) {
		return p
	}
	f = hidden(p.body)
	f.Set("decision", decision)
	return postForm(t, b, o.issuer+"/device", f)
}

func (o *op) decide(t *testing.T, b *http.Client, g deviceGrant, decision string) page {
	t.Helper()
	p := o.enterCode(t, b, o.devicePage(t, b, g.complete), g.userCode, decision)
	if p.status != http.StatusOK {
		t.Fatalf("%s: %d %s", decision, p.status, p.body)
	}
	return p
}

// TestDeviceGrantOverHTTP: pending until the user approves; then tokens
// exactly like the code flow's (access token with sid and gid, ID token
// for openid, refresh token for a client with the grant) that work at
// /userinfo; the device code is redeemed once; a device code of another
// client is refused; an approved code cannot be approved again.
func TestDeviceGrantOverHTTP(t *testing.T) {
	logs := &syncBuffer{}
	o := startDeviceOP(t, logs)
	g := o.startDevice(t, "tv", "openid profile offline_access")
	st, body := o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "authorization_pending")
	// Bound to its client, and to its secret, before any decision too.
	st, body = o.poll(t, "tv-conf", g.deviceCode)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("pending device code of another client: %d %v", st, body)
	}
	id, _, _ := strings.Cut(g.deviceCode, ".")
	st, body = o.poll(t, "tv", id+".Xq3vJ9y2_Rk7Lm0nP4sT8wZ1aB5cD6eF7gH8iJ9kL0m")
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("device id with a wrong secret: %d %v", st, body)
	}
	o.clock.Advance(2 * time.Second) // past the interval: the next poll is not slowed

	b := browser(t)
	p := o.devicePage(t, b, g.complete)
	if !strings.Contains(p.body, `value="`+g.userCode+`"`) {
		t.Fatalf("verification_uri_complete did not prefill the code %s:\n%s", g.userCode, p.body)
	}
	confirm := o.enterCode(t, b, p, g.userCode, "")
	for _, want := range []string{"Living-room TV", "<dd>tv</dd>", "none registered", "See your profile", g.userCode} {
		if !strings.Contains(confirm.body, want) {
			t.Fatalf("confirmation page lacks %q:\n%s", want, confirm.body)
		}
	}
	f := hidden(confirm.body)
	f.Set("decision", "approve")
	if p := postForm(t, b, o.issuer+"/device", f); p.status != http.StatusOK || !strings.Contains(p.body, "You approved Living-room TV") {
		t.Fatalf("approve: %d %s", p.status, p.body)
	}

	// Another client holding the device code gets nothing.
	st, body = o.poll(t, "tv-conf", g.deviceCode)
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("device code of another client: %d %v", st, body)
	}
	// A second approval (a replayed form) is refused.
	if p := postForm(t, b, o.issuer+"/device", f); p.status != http.StatusConflict || !strings.Contains(p.body, "already approved or denied") {
		t.Fatalf("second approval: %d %s", p.status, p.body)
	}

	st, body = o.poll(t, "tv", g.deviceCode)
	if st != http.StatusOK {
		t.Fatalf("poll after approval: %d %v", st, body)
	}
	at := idClaims(t, body["access_token"].(string))
	if at["sid"] == nil || at["gid"] == nil || at["sub"] != o.user.Subject || at["client_id"] != "tv" {
		t.Fatalf("access token claims %v", at)
	}
	idt := idClaims(t, body["id_token"].(string))
	if idt["aud"] != "tv" || idt["sid"] != at["sid"] || idt["nonce"] != nil {
		t.Fatalf("ID token claims %v", idt)
	}
	if body["refresh_token"] == nil || body["scope"] != "openid profile offline_access" {
		t.Fatalf("token response %v", body)
	}
	if st, ui, _ := o.userinfo(t, body["access_token"].(string)); st != http.StatusOK || ui["sub"] != o.user.Subject || ui["name"] != "Alice Liddell" {
		t.Fatalf("userinfo: %d %v", st, ui)
	}
	// Single redemption.
	st, again := o.poll(t, "tv", g.deviceCode)
	if st != http.StatusBadRequest || again["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", st, again)
	}
	// The refresh token refreshes like the code flow's.
	st, ref := o.deviceClient(t, "tv", "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}})
	if st != http.StatusOK || ref["access_token"] == nil {
		t.Fatalf("refresh: %d %v", st, ref)
	}
	if !logged(logs.String(), map[string]any{"msg": "device authorization approved", "audit": true, "client_id": "tv", "sub": o.user.Subject}) ||
		!logged(logs.String(), map[string]any{"msg": "device authorization redeemed", "audit": true, "client_id": "tv"}) {
		t.Fatalf("approval and redemption not audited:\n%s", logs)
	}
	if strings.Contains(logs.String(), strings.SplitN(g.deviceCode, ".", 2)[1]) {
		t.Fatal("the device code's secret reached the log")
	}
}

// TestDeviceSlowDown: a poll sooner than the interval gets slow_down,
// and the interval grows by five seconds each time (RFC 8628 §3.5): two
// seconds later, well past the first interval, it is still too soon.
func TestDeviceSlowDown(t *testing.T) {
	o := startDeviceOP(t, nil)
	g := o.startDevice(t, "tv", "openid")
	st, body := o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "authorization_pending")
	st, body = o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "slow_down") // interval now 6 s
	o.clock.Advance(2 * time.Second)
	st, body = o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "slow_down") // 2 s < 6 s; interval now 11 s
	o.clock.Advance(7 * time.Second)
	st, body = o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "slow_down") // 7 s < 11 s; now 16 s
	o.clock.Advance(17 * time.Second)
	st, body = o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "authorization_pending")
}

// TestDeviceDenied: the user denies; the device gets access_denied, and
// keeps getting it.
func TestDeviceDenied(t *testing.T) {
	o := startDeviceOP(t, nil)
	g := o.startDevice(t, "tv-conf", "openid")
	if p := o.decide(t, browser(t), g, "deny"); !strings.Contains(p.body, "You denied") {
		t.Fatalf("deny page: %s", p.body)
	}
	st, body := o.poll(t, "tv-conf", g.deviceCode)
	wantPoll(t, st, body, "access_denied")
	o.clock.Advance(2 * time.Second)
	st, body = o.poll(t, "tv-conf", g.deviceCode)
	wantPoll(t, st, body, "access_denied")
}

// TestDeviceExpired: past expires_in the device gets expired_token and
// the page no longer knows the code.
func TestDeviceExpired(t *testing.T) {
	o := startDeviceOP(t, nil)
	g := o.startDevice(t, "tv", "openid")
	b := browser(t)
	p := o.devicePage(t, b, g.complete)
	o.clock.Advance(node.Default().Tokens.DeviceCodeTTL.D() + time.Second)
	st, body := o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "expired_token")
	if p := o.enterCode(t, b, p, g.userCode, ""); p.status != http.StatusBadRequest || !strings.Contains(p.body, "not valid (or expired)") {
		t.Fatalf("expired code on the page: %d %s", p.status, p.body)
	}
	// The sweeper deletes it an hour later.
	o.clock.Advance(time.Hour)
	if n, err := o.n.Sweep(t.Context()); err != nil || n < 2 {
		t.Fatalf("sweep removed %d records, err %v; want the device record and its user code", n, err)
	}
}

// TestDeviceUserCodeChecks: a mistyped code is told apart from an
// unknown one, each refusal is audited, and the typed code is normalised
// (case, spaces, dashes).
func TestDeviceUserCodeChecks(t *testing.T) {
	logs := &syncBuffer{}
	o := startDeviceOP(t, logs)
	g := o.startDevice(t, "tv", "openid")
	b := browser(t)
	p := o.devicePage(t, b, o.issuer+"/device")

	norm, err := device.ParseUserCode(g.userCode)
	if err != nil {
		t.Fatal(err)
	}
	typo := []byte(norm)
	typo[2] = device.Alphabet[(strings.IndexByte(device.Alphabet, typo[2])+1)%len(device.Alphabet)]
	if r := o.enterCode(t, b, p, string(typo), ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, "has a typo") {
		t.Fatalf("typo: %d %s", r.status, r.body)
	}
	unknown := device.NewUserCode()
	if r := o.enterCode(t, b, p, unknown, ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, "not valid (or expired)") {
		t.Fatalf("unknown code: %d %s", r.status, r.body)
	}
	if r := o.enterCode(t, b, p, "hello", ""); r.status != http.StatusBadRequest || !strings.Contains(r.body, "eight letters") {
		t.Fatalf("not a code: %d %s", r.status, r.body)
	}
	sloppy := strings.ToLower(norm[:3] + " " + norm[3:6] + "-" + norm[6:])
	if r := o.enterCode(t, b, p, sloppy, ""); r.status != http.StatusOK || !strings.Contains(r.body, `name="decision"`) {
		t.Fatalf("normalised code %q: %d %s", sloppy, r.status, r.body)
	}
	for _, reason := range []string{"typo", "unknown", "format"} {
		if !logged(logs.String(), map[string]any{"msg": "device code refused", "audit": true, "reason": reason, "sub": o.user.Subject}) {
			t.Fatalf("refusal %q not audited:\n%s", reason, logs)
		}
	}
}

// TestDeviceCodeGuessingThrottled: one session may enter ten codes per
// ten minutes; then it is refused (429) before any lookup, even with the
// right code, and the refusal is audited. Another browser (another
// session) from the same address shares the address budget.
func TestDeviceCodeGuessingThrottled(t *testing.T) {
	logs := &syncBuffer{}
	o := startDeviceOP(t, logs)
	g := o.startDevice(t, "tv", "openid")
	b := browser(t)
	p := o.devicePage(t, b, o.issuer+"/device")
	for i := range 10 {
		if r := o.enterCode(t, b, p, device.NewUserCode(), ""); r.status != http.StatusBadRequest {
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	r := o.enterCode(t, b, p, g.userCode, "")
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Too many codes") {
		t.Fatalf("11th code: %d %s", r.status, r.body)
	}
	other := browser(t)
	if r := o.enterCode(t, other, o.devicePage(t, other, o.issuer+"/device"), g.userCode, ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("another session from the same address: %d", r.status)
	}
	if !logged(logs.String(), map[string]any{"msg": "device code entry throttled", "audit": true, "sub": o.user.Subject}) {
		t.Fatalf("throttling not audited:\n%s", logs)
	}
}

// TestDeviceAuthorizationClientRules: only clients that registered the
// device grant get a device code; unknown scopes are dropped.
func TestDeviceAuthorizationClientRules(t *testing.T) {
	o := startDeviceOP(t, nil)
	st, body := o.deviceClient(t, "rp", "/device_authorization", url.Values{}) // rp's secret is not tvSecret
	if st != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Fatalf("wrong credentials: %d %v", st, body)
	}
	req, _ := http.NewRequest("POST", o.issuer+"/device_authorization", strings.NewReader("client_id=spa&scope=openid"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(resp, &body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "unauthorized_client" {
		t.Fatalf("client without the device grant: %d %v", resp.StatusCode, body)
	}
	st, body = o.poll(t, "tv", "not-a-device-code")
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("malformed device code: %d %v", st, body)
	}
	st, body = o.poll(t, "tv", "AAAAAAAAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")
	if st != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("unknown device code: %d %v", st, body)
	}
}

// TestREADMEDeviceExample runs the curl lines of the README's "Device
// sign-in" section against a node (issuer and device code substituted),
// with a client registered as the section's `clients add` line says.
func TestREADMEDeviceExample(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	start := strings.Index(doc, "## Device sign-in (RFC 8628)")
	if start < 0 {
		t.Fatal("README has no device sign-in section")
	}
	section := doc[start:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	if !strings.Contains(section, "authrim clients add --id my-tv --auth-method none") ||
		!strings.Contains(section, "--grant-types urn:ietf:params:oauth:grant-type:device_code,refresh_token") {
		t.Fatal("the section's clients add line changed: update this test")
	}
	o := startOPFull(t, func(c *node.Config) {
		c.Clients = append(c.Clients, node.ClientConfig{ID: "my-tv", ClientMetadata: directory.ClientMetadata{
			AuthMethod: "none", GrantTypes: []string{directory.DeviceCodeGrantType, "refresh_token"},
		}})
	}, nil)
	var curls []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "curl ") {
			curls = append(curls, line)
		}
	}
	if len(curls) != 2 {
		t.Fatalf("want the two curl lines, found %d", len(curls))
	}
	deviceCode := ""
	for i, line := range curls {
		form := url.Values{}
		var target string
		words := curlWords(strings.ReplaceAll(line, "$DEVICE_CODE", deviceCode))
		for j := 1; j < len(words); j++ {
			switch w := words[j]; {
			case w == "-s":
			case w == "-d":
				k, v, _ := strings.Cut(words[j+1], "=")
				form.Add(k, v)
				j++
			case strings.HasPrefix(w, "http://localhost:8080/"):
				target = o.issuer + strings.TrimPrefix(w, "http://localhost:8080")
			default:
				t.Fatalf("curl word %q not understood", w)
			}
		}
		resp, err := http.PostForm(target, form)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		decodeJSON(resp, &out)
		resp.Body.Close()
		switch i {
		case 0:
			if resp.StatusCode != http.StatusOK || out["verification_uri"] != o.issuer+"/device" || out["interval"] != 5.0 {
				t.Fatalf("%s: %d %v", line, resp.StatusCode, out)
			}
			deviceCode = out["device_code"].(string)
		case 1:
			if resp.StatusCode != http.StatusBadRequest || out["error"] != "authorization_pending" {
				t.Fatalf("%s: %d %v", line, resp.StatusCode, out)
			}
		}
	}
}

// curlWords splits a command line at spaces, keeping 'quoted' words.
func curlWords(line string) []string {
	var out []string
	var cur strings.Builder
	quoted, has := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			quoted, has = !quoted, true
		case r == ' ' && !quoted:
			if has {
				out = append(out, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		out = append(out, cur.String())
	}
	return out
}

// TestDeviceSingleApprovalUnderRace: two signed-in browsers (two
// sessions of two users) approve the same code at once; exactly one
// approval stands, and the tokens are that user's.
func TestDeviceSingleApprovalUnderRace(t *testing.T) {
	o := startDeviceOP(t, nil)
	bob, err := o.n.Directory().CreateUser(t.Context(), dirUser("bob"))
	if err != nil {
		t.Fatal(err)
	}
	g := o.startDevice(t, "tv", "openid")
	type confirm struct {
		b *http.Client
		f url.Values
	}
	var forms []confirm
	for _, who := range []string{"alice", "bob"} {
		b := browser(t)
		p := get(t, b, g.complete)
		f := hidden(p.body)
		f.Set("username", who)
		f.Set("password", userPassword)
		if p = postForm(t, b, o.issuer+"/login", f); p.status != http.StatusSeeOther {
			t.Fatalf("%s sign-in: %d %s", who, p.status, p.body)
		}
		p = o.enterCode(t, b, get(t, b, o.issuer+p.loc.String()), g.userCode, "")
		f = hidden(p.body)
		f.Set("decision", "approve")
		forms = append(forms, confirm{b, f})
	}
	statuses := make([]int, len(forms))
	var wg sync.WaitGroup
	for i, c := range forms {
		wg.Go(func() { statuses[i] = postForm(t, c.b, o.issuer+"/device", c.f).status })
	}
	wg.Wait()
	won := slices.Index(statuses, http.StatusOK)
	if won < 0 || slices.Contains(statuses[won+1:], http.StatusOK) || !slices.Contains(statuses, http.StatusConflict) {
		t.Fatalf("approvals answered %v, want one 200 and one 409", statuses)
	}
	st, body := o.poll(t, "tv", g.deviceCode)
	if st != http.StatusOK {
		t.Fatalf("poll: %d %v", st, body)
	}
	want := []string{o.user.Subject, bob.Subject}[won]
	if sub := idClaims(t, body["access_token"].(string))["sub"]; sub != want {
		t.Fatalf("tokens of %v, want the winner's %s", sub, want)
	}
}

// TestDeviceGrantEndsWithTheSession: the grant lives in the approving
// browser session: signing out there stops the access token (no
// offline_access asked).
func TestDeviceGrantEndsWithTheSession(t *testing.T) {
	o := startDeviceOP(t, nil)
	g := o.startDevice(t, "tv", "openid profile")
	b := browser(t)
	o.decide(t, b, g, "approve")
	st, body := o.poll(t, "tv", g.deviceCode)
	if st != http.StatusOK {
		t.Fatalf("poll: %d %v", st, body)
	}
	at := body["access_token"].(string)
	if st, _, _ := o.userinfo(t, at); st != http.StatusOK {
		t.Fatalf("userinfo before sign-out: %d", st)
	}
	p := get(t, b, o.issuer+"/logout")
	postForm(t, b, o.issuer+"/logout", hidden(p.body))
	if st, _, _ := o.userinfo(t, at); st != http.StatusUnauthorized {
		t.Fatalf("userinfo after sign-out: %d, want 401", st)
	}
}

// TestDeviceFormNeedsCSRF: the code entry and the decision are refused
// without the page's CSRF token, and nothing is decided.
func TestDeviceFormNeedsCSRF(t *testing.T) {
	o := startDeviceOP(t, nil)
	g := o.startDevice(t, "tv", "openid")
	b := browser(t)
	o.devicePage(t, b, g.complete)
	for _, f := range []url.Values{
		{"user_code": {g.userCode}},
		{"user_code": {g.userCode}, "decision": {"approve"}, "csrf": {"forged"}},
	} {
		if p := postForm(t, b, o.issuer+"/device", f); p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
			t.Fatalf("form %v without a valid CSRF token: %d %s", f, p.status, p.body)
		}
	}
	st, body := o.poll(t, "tv", g.deviceCode)
	wantPoll(t, st, body, "authorization_pending")
}

// TestDeviceSingleRedemptionUnderRace: after the approval the device
// polls twice at once (a retry racing the first answer); one poll gets
// the tokens, the other invalid_grant, and the tokens stay good: the
// losing poll never reaches the session, where a reused code would
// revoke the grant.
func TestDeviceSingleRedemptionUnderRace(t *testing.T) {
	o := startDeviceOP(t, nil)
	for round := range 3 {
		g := o.startDevice(t, "tv", "openid profile")
		o.decide(t, browser(t), g, "approve")
		codes := make([]int, 2)
		bodies := make([]map[string]any, 2)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Go(func() { codes[i], bodies[i] = o.poll(t, "tv", g.deviceCode) })
		}
		wg.Wait()
		won := slices.Index(codes, http.StatusOK)
		if won < 0 || codes[1-won] != http.StatusBadRequest || bodies[1-won]["error"] != "invalid_grant" {
			t.Fatalf("round %d: polls answered %v %v, want one 200 and one invalid_grant", round, codes, bodies)
		}
		if st, ui, _ := o.userinfo(t, bodies[won]["access_token"].(string)); st != http.StatusOK || ui["sub"] != o.user.Subject {
			t.Fatalf("round %d: the winner's token after the losing poll: %d %v", round, st, ui)
		}
	}
}
