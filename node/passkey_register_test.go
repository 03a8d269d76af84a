package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"authrim/node"
)

// Negative tests of passkey registration (TestPasskeyRefusals covers
// sign-in): every refusal has its status, the JSON error shape, and leaves
// no passkey behind.

// newEC2Credential is virtualwebauthn.NewCredential(KeyTypeEC2) with a
// key whose coordinates are both a full 32 bytes. virtualwebauthn writes
// the COSE key's x and y with big.Int.Bytes, which drops leading zero
// bytes, and go-webauthn rightly refuses a 31-byte coordinate: about one
// key in 128 made a registration fail at random.
func newEC2Credential() virtualwebauthn.Credential {
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		if len(k.X.Bytes()) != 32 || len(k.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
	}
}

// cookieSecret is the secret half of b's session cookie ("" if none).
func (o *op) cookieSecret(t *testing.T, b *http.Client) string {
	t.Helper()
	_, secret, _ := strings.Cut(o.sessionCookie(t, b), ".")
	return secret
}

// csrfFor is the CSRF token a page holding the cookie secret computes for
// purpose ("account", "logout" or a request id). Tests use it to reach
// past the CSRF check when that check is not what they test.
func csrfFor(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("csrf:" + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// jsonAnswer is a response of a passkey endpoint.
type jsonAnswer struct {
	status int
	out    map[string]any
	raw    string
	header http.Header
}

// postPasskey posts body to a passkey endpoint with the given CSRF header
// (none when csrf is "-") and cookie header (the jar's when cookie is "").
func postPasskey(t *testing.T, b *http.Client, u, csrf, cookie string, body io.Reader) jsonAnswer {
	t.Helper()
	req, _ := http.NewRequest("POST", u, body)
	if csrf != "-" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cookie != "" {
		req.Header.Set("Cookie", node.Default().Session.CookieName+"="+cookie)
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := jsonAnswer{status: resp.StatusCode, raw: string(raw), header: resp.Header}
	json.Unmarshal(raw, &a.out)
	return a
}

// refusedWith checks a JSON error answer: status, a description holding
// one of want (if any), and that it is not cached.
func (a jsonAnswer) refusedWith(t *testing.T, status int, want ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	if a.out["error"] == nil || a.out["error"] == "" {
		t.Fatalf("not a JSON error: %s", a.raw)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("error without Cache-Control: no-store (%q)", cc)
	}
	if len(want) == 0 {
		return
	}
	desc := fmt.Sprint(a.out["error_description"])
	for _, w := range want {
		if strings.Contains(desc, w) {
			return
		}
	}
	t.Fatalf("error_description %q, want one of %q", desc, want)
}

// accountCSRF reads the account page's CSRF token (b must be signed in).
func (o *op) accountCSRF(t *testing.T, b *http.Client) string {
	t.Helper()
	acct := get(t, b, o.issuer+"/account")
	m := csrfInputRE.FindStringSubmatch(acct.body)
	if acct.status != 200 || m == nil {
		t.Fatalf("account page: %d %s", acct.status, acct.body)
	}
	return m[1]
}

// beginRegister starts a registration and returns its options.
func (o *op) beginRegister(t *testing.T, b *http.Client, csrf string) virtualwebauthn.AttestationOptions {
	t.Helper()
	a := postPasskey(t, b, o.issuer+"/webauthn/register/begin", csrf, "", nil)
	if a.status != 200 {
		t.Fatalf("register begin: %d %s", a.status, a.raw)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(a.raw)
	if err != nil {
		t.Fatal(err)
	}
	return *opts
}

func (o *op) finishRegister(t *testing.T, b *http.Client, csrf, attestation string) jsonAnswer {
	t.Helper()
	return postPasskey(t, b, o.issuer+"/webauthn/register/finish?name=test", csrf, "", strings.NewReader(attestation))
}

// passkeyIDs lists subject's stored passkeys (base64url IDs).
func (o *op) passkeyIDs(t *testing.T, subject string) []string {
	t.Helper()
	pks, err := o.n.Directory().Passkeys(t.Context(), subject)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, pk := range pks {
		ids = append(ids, base64.RawURLEncoding.EncodeToString(pk.ID))
	}
	return ids
}

// samePasskeys fails unless subject's passkeys are still want.
func (o *op) samePasskeys(t *testing.T, subject string, want []string) {
	t.Helper()
	if ids := o.passkeyIDs(t, subject); !slices.Equal(ids, want) {
		t.Fatalf("stored passkeys changed: %v, want %v", ids, want)
	}
}

// onePasskeyMore fails unless subject has exactly one passkey more than
// before; it returns the new list.
func (o *op) onePasskeyMore(t *testing.T, subject string, before []string) []string {
	t.Helper()
	ids := o.passkeyIDs(t, subject)
	if len(ids) != len(before)+1 || !slices.Equal(ids[:len(before)], before) {
		t.Fatalf("stored passkeys: %v, want one more than %v", ids, before)
	}
	return ids
}

// signInUser signs b in as username with the password (prompt=login, so
// it also switches a browser already signed in as someone else).
func (o *op) signInUser(t *testing.T, b *http.Client, username string) {
	t.Helper()
	p := baseParams()
	p["prompt"] = "login"
	r := o.signInAs(t, b, get(t, b, o.authorizeURL(p)), username, userPassword)
	pg := r.page
	if pg.isConsent() {
		pg = o.consent(t, b, pg, "allow")
	} else if l := r.header.Get("Location"); l != "" {
		pg.loc, _ = url.Parse(l)
	}
	if pg.loc == nil || pg.loc.Query().Get("code") == "" {
		t.Fatalf("sign-in as %s: %d %v %s", username, pg.status, pg.loc, pg.body)
	}
}

func TestPasskeyRegistrationRefusals(t *testing.T) {
	o := startOP(t)
	alice := o.user.Subject
	bob, err := o.n.Directory().CreateUser(t.Context(), dirUser("bob"))
	if err != nil {
		t.Fatal(err)
	}

	// refusedAttestation runs one registration whose attestation is
	// changed by tweak; it must be refused with 400 and store nothing.
	refusedAttestation := func(t *testing.T, rp virtualwebauthn.RelyingParty, opts virtualwebauthn.AuthenticatorOptions, want ...string) {
		t.Helper()
		before := o.passkeyIDs(t, alice)
		b := o.signedIn(t)
		csrf := o.accountCSRF(t, b)
		ao := o.beginRegister(t, b, csrf)
		auth, cred := o.newKey(opts)
		o.finishRegister(t, b, csrf, virtualwebauthn.CreateAttestationResponse(rp, auth, cred, ao)).refusedWith(t, 400, want...)
		o.samePasskeys(t, alice, before)
	}

	t.Run("wrong origin", func(t *testing.T) {
		rp := o.rp()
		rp.Origin = "http://evil.localhost:1234"
		refusedAttestation(t, rp, virtualwebauthn.AuthenticatorOptions{}, "could not be verified")
	})
	t.Run("wrong RP ID", func(t *testing.T) {
		rp := o.rp()
		rp.ID = "example.com"
		refusedAttestation(t, rp, virtualwebauthn.AuthenticatorOptions{}, "could not be verified")
	})
	t.Run("user verification missing", func(t *testing.T) {
		refusedAttestation(t, o.rp(), virtualwebauthn.AuthenticatorOptions{UserNotVerified: true},
			"could not be verified", "user verification is required")
	})

	t.Run("replayed challenge", func(t *testing.T) {
		before := o.passkeyIDs(t, alice)
		b := o.signedIn(t)
		csrf := o.accountCSRF(t, b)
		ao := o.beginRegister(t, b, csrf)
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, ao)
		if a := o.finishRegister(t, b, csrf, resp); a.status != 200 {
			t.Fatalf("first use: %d %s", a.status, a.raw)
		}
		before = o.onePasskeyMore(t, alice, before)
		// Same cookie, same CSRF token: only the one-time challenge can
		// refuse these. The same answer again (a conflict would also stop
		// that one), and a new authenticator answering the same challenge
		// (nothing else would stop that one).
		o.finishRegister(t, b, csrf, resp).refusedWith(t, 400, "challenge")
		other, otherCred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		o.finishRegister(t, b, csrf, virtualwebauthn.CreateAttestationResponse(o.rp(), other, otherCred, ao)).refusedWith(t, 400, "challenge")
		o.samePasskeys(t, alice, before)
	})

	t.Run("challenge from another session", func(t *testing.T) {
		before := o.passkeyIDs(t, alice)
		a, b := o.signedIn(t), o.signedIn(t)
		csrfA, csrfB := o.accountCSRF(t, a), o.accountCSRF(t, b)
		aoA := o.beginRegister(t, a, csrfA)
		o.beginRegister(t, b, csrfB) // b has a challenge of its own
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, aoA)
		o.finishRegister(t, b, csrfB, resp).refusedWith(t, 400, "challenge")
		o.samePasskeys(t, alice, before)
		// b's attempt did not use up a's challenge.
		if r := o.finishRegister(t, a, csrfA, resp); r.status != 200 {
			t.Fatalf("the session that began it: %d %s", r.status, r.raw)
		}
		before = o.onePasskeyMore(t, alice, before)
	})

	t.Run("another user signs in before the finish", func(t *testing.T) {
		before := o.passkeyIDs(t, alice)
		b := o.signedIn(t)
		ao := o.beginRegister(t, b, o.accountCSRF(t, b))
		o.signInUser(t, b, "bob") // same browser session, now bob's
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, ao)
		o.finishRegister(t, b, o.accountCSRF(t, b), resp).refusedWith(t, 400, "another account")
		o.samePasskeys(t, alice, before)
		o.samePasskeys(t, bob.Subject, nil)
	})

	t.Run("finished after sign-out", func(t *testing.T) {
		before := o.passkeyIDs(t, alice)
		b := o.signedIn(t)
		csrf := o.accountCSRF(t, b)
		ao := o.beginRegister(t, b, csrf)
		cookie := o.sessionCookie(t, b)
		lo := get(t, b, o.issuer+"/logout")
		if r := postForm(t, b, o.issuer+"/logout", hidden(lo.body)); r.status != 200 || !strings.Contains(r.body, "signed out") {
			t.Fatalf("sign-out: %d %s", r.status, r.body)
		}
		// The old cookie is still sent: its session exists, signed out.
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, ao)
		postPasskey(t, browser(t), o.issuer+"/webauthn/register/finish", csrf, cookie, strings.NewReader(resp)).refusedWith(t, 400, "challenge")
		postPasskey(t, browser(t), o.issuer+"/webauthn/register/begin", csrf, cookie, nil).refusedWith(t, 401)
		o.samePasskeys(t, alice, before)
	})

	t.Run("no signed-in session", func(t *testing.T) {
		before := o.passkeyIDs(t, alice)
		// No cookie at all.
		nobody := &http.Client{}
		postPasskey(t, nobody, o.issuer+"/webauthn/register/begin", "x", "", nil).refusedWith(t, 403)
		// A cookie whose session only holds an authorization request, with
		// the right account CSRF token for it.
		b := browser(t)
		if p := get(t, b, o.authorizeURL(baseParams())); !p.isLogin() {
			t.Fatalf("expected the login page: %d", p.status)
		}
		csrf := csrfFor(o.cookieSecret(t, b), "account")
		postPasskey(t, b, o.issuer+"/webauthn/register/begin", csrf, "", nil).refusedWith(t, 401, "sign in")
		// Answers to a challenge of a signed-in session get nowhere here.
		s := o.signedIn(t)
		ao := o.beginRegister(t, s, o.accountCSRF(t, s))
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, ao)
		postPasskey(t, nobody, o.issuer+"/webauthn/register/finish", "x", "", strings.NewReader(resp)).refusedWith(t, 403)
		postPasskey(t, b, o.issuer+"/webauthn/register/finish", csrf, "", strings.NewReader(resp)).refusedWith(t, 400, "challenge")
		o.samePasskeys(t, alice, before)
	})

	t.Run("CSRF header", func(t *testing.T) {
		before := o.passkeyIDs(t, alice)
		b := o.signedIn(t)
		other := o.signedIn(t)
		secret := o.cookieSecret(t, b)
		for name, tok := range map[string]string{
			"missing":              "-",
			"empty":                "",
			"wrong":                "not-a-token",
			"another purpose":      csrfFor(secret, "logout"),
			"another session's":    o.accountCSRF(t, other),
			"truncated":            csrfFor(secret, "account")[:20],
			"another secret's MAC": csrfFor(secret+"x", "account"),
		} {
			a := postPasskey(t, b, o.issuer+"/webauthn/register/begin", tok, "", nil)
			if a.status != 403 {
				t.Fatalf("%s CSRF token: %d %s", name, a.status, a.raw)
			}
			a.refusedWith(t, 403)
		}
		// The finish checks it too, and a refused finish leaves the
		// challenge for the real page.
		csrf := o.accountCSRF(t, b)
		ao := o.beginRegister(t, b, csrf)
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, ao)
		o.finishRegister(t, b, "-", resp).refusedWith(t, 403)
		o.finishRegister(t, b, o.accountCSRF(t, other), resp).refusedWith(t, 403)
		o.samePasskeys(t, alice, before)
		if a := o.finishRegister(t, b, csrf, resp); a.status != 200 {
			t.Fatalf("with the right token: %d %s", a.status, a.raw)
		}
		before = o.onePasskeyMore(t, alice, before)
	})
}

// TestPasskeyRegistrationName: the name a user gives a new passkey is
// kept up to 64 characters, whatever their UTF-8 length; a longer one is
// cut to 64 characters, never inside one.
func TestPasskeyRegistrationName(t *testing.T) {
	o := startOP(t)
	b := o.signedIn(t)
	csrf := o.accountCSRF(t, b)
	for _, tc := range []struct{ name, want string }{
		{"", "Passkey"},
		{"  Work laptop ", "Work laptop"},
		{strings.Repeat("鍵", 30), strings.Repeat("鍵", 30)},                    // 90 bytes, 30 characters
		{strings.Repeat("é", 70), strings.Repeat("é", 64)},                    // cut at 64 characters
		{strings.Repeat("a", 63) + "ü" + "zz", strings.Repeat("a", 63) + "ü"}, // the 64th character is two bytes
	} {
		ao := o.beginRegister(t, b, csrf)
		auth, cred := o.newKey(virtualwebauthn.AuthenticatorOptions{})
		resp := virtualwebauthn.CreateAttestationResponse(o.rp(), auth, cred, ao)
		a := postPasskey(t, b, o.issuer+"/webauthn/register/finish?name="+url.QueryEscape(tc.name), csrf, "", strings.NewReader(resp))
		if a.status != 200 {
			t.Fatalf("name %q: %d %s", tc.name, a.status, a.raw)
		}
		pks, err := o.n.Directory().Passkeys(t.Context(), o.user.Subject)
		if err != nil {
			t.Fatal(err)
		}
		if got := pks[len(pks)-1].Name; got != tc.want {
			t.Fatalf("name %q stored as %q, want %q", tc.name, got, tc.want)
		}
	}
}
