package loadtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/descope/virtualwebauthn"
)

// Passkey is a software authenticator holding one discoverable credential
// of one user. Its signature counter stays 0 (as synced passkeys do), so
// assertions may be verified in any order.
type Passkey struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
	// mu serialises signing: the library re-imports the credential's key
	// into a shared field on every signature (not safe to do at once).
	mu sync.Mutex
}

// NewPasskey makes an authenticator for subject at the node's issuer
// origin (RP ID: its host name).
func NewPasskey(issuer, subject string) (*Passkey, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, err
	}
	var cred virtualwebauthn.Credential
	for {
		// A P-256 key whose coordinates have leading zero bytes encodes
		// short in the library's COSE key; draw again.
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		if len(k.X.Bytes()) != 32 || len(k.Y.Bytes()) != 32 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		cred = virtualwebauthn.NewCredentialWithImportedKey(virtualwebauthn.KeyTypeEC2, der)
		break
	}
	auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(subject)})
	auth.AddCredential(cred)
	return &Passkey{rp: virtualwebauthn.RelyingParty{ID: u.Hostname(), Name: "Authrim", Origin: issuer}, auth: auth, cred: cred}, nil
}

// postJSON posts a passkey ceremony call the way the page script does.
func postJSON(ctx context.Context, c *http.Client, u, cookie, csrf, body string) (int, string, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, rd)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-CSRF-Token", csrf)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = io.Copy(&buf, resp.Body)
	return resp.StatusCode, buf.String(), nil
}

// Register adds the passkey to the account of the signed-in session
// (cookie "sid.secret").
func (p *Passkey) Register(ctx context.Context, c *http.Client, base, cookie string) error {
	_, secret, _ := strings.Cut(cookie, ".")
	csrf := CSRF(secret, "account")
	st, raw, err := postJSON(ctx, c, base+"/webauthn/register/begin", cookie, csrf, "")
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("passkey register begin: %d %s", st, raw)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(raw)
	if err != nil {
		return err
	}
	p.mu.Lock()
	resp := virtualwebauthn.CreateAttestationResponse(p.rp, p.auth, p.cred, *opts)
	p.mu.Unlock()
	st, raw, err = postJSON(ctx, c, base+"/webauthn/register/finish?name=bench", cookie, csrf, resp)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("passkey register finish: %d %s", st, raw)
	}
	return nil
}

// Assertion is a usernameless sign-in ready to finish: the login page's
// session and the signed answer to its challenge.
type Assertion struct {
	Page LoginPage
	Body string
}

// Begin opens a sign-in page and answers its passkey challenge.
func (p *Passkey) Begin(ctx context.Context, c *http.Client, base string, seq uint64) (Assertion, error) {
	lp, err := OpenLoginPage(ctx, c, base, ClientES256, seq)
	if err != nil {
		return Assertion{}, err
	}
	st, raw, err := postJSON(ctx, c, base+"/webauthn/login/begin?rid="+url.QueryEscape(lp.RID), lp.Cookie, lp.CSRF, "")
	if err != nil {
		return Assertion{}, err
	}
	if st != http.StatusOK {
		return Assertion{}, fmt.Errorf("passkey login begin: %d %s", st, raw)
	}
	opts, err := virtualwebauthn.ParseAssertionOptions(raw)
	if err != nil {
		return Assertion{}, err
	}
	p.mu.Lock()
	body := virtualwebauthn.CreateAssertionResponse(p.rp, p.auth, p.cred, *opts)
	p.mu.Unlock()
	return Assertion{Page: lp, Body: body}, nil
}

// Finish posts the assertion: the request the bench measures.
func (a Assertion) Finish(ctx context.Context, c *http.Client, base string) error {
	st, raw, err := postJSON(ctx, c, base+"/webauthn/login/finish?rid="+url.QueryEscape(a.Page.RID), a.Page.Cookie, a.Page.CSRF, a.Body)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("passkey login finish: %d %.200s", st, raw)
	}
	return nil
}
