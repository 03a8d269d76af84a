package loadtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Fixed names of what the bench registers.
const (
	// ClientES256 and ClientRS256 run the code flow; their ID tokens are
	// signed with the named algorithm. Seeded refresh families belong to
	// ClientES256.
	ClientES256 = "bench-es256"
	ClientRS256 = "bench-rs256"
	// ClientService uses client_credentials.
	ClientService = "bench-service"
	// ClientExchange exchanges ClientES256's access tokens (RFC 8693)
	// for tokens to ExchangeAudience.
	ClientExchange   = "bench-exchange"
	ExchangeAudience = "https://api.bench.example"
	// ClientDevice uses the device authorization grant (RFC 8628).
	ClientDevice = "bench-device"
	// RedirectURI is registered for the code-flow clients; nothing listens.
	RedirectURI = "http://127.0.0.1:9/callback"
	// ClientSecret of every bench client (client_secret_basic).
	ClientSecret = "bench-client-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	// UserPassword of every bench user.
	UserPassword = "bench passphrase: correct horse battery staple"
	// CookieName is the node's default session cookie.
	CookieName = "authrim_session"
	// Scope of the code flows and of seeded families.
	Scope = "openid profile email"
	// PKCEVerifier is the code_verifier of every bench code flow: the
	// node requires PKCE of every client, and the bench measures that
	// check, not the randomness of its input.
	PKCEVerifier = "bench-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz"
)

// pkceChallenge is PKCEVerifier's S256 code_challenge (RFC 7636 §4.2).
var pkceChallenge = func() string {
	h := sha256.Sum256([]byte(PKCEVerifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}()

// Admin is a client of the node's admin API.
type Admin struct {
	Base, Token string
	HTTP        *http.Client
}

func (a Admin) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("admin %s: %s: %s", path, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// CreateUser adds a user with UserPassword; it returns the subject.
func (a Admin) CreateUser(ctx context.Context, username string) (string, error) {
	var out struct {
		Subject string `json:"sub"`
	}
	err := a.post(ctx, "/admin/users", map[string]any{
		"username": username, "password": UserPassword,
		"claims": map[string]any{"name": "Bench User " + username, "email": username + "@bench.example", "email_verified": true,
			"preferred_username": username, "locale": "en-GB"},
	}, &out)
	if err == nil && out.Subject == "" {
		err = errors.New("admin: user created without a subject")
	}
	return out.Subject, err
}

// CreateClients registers the bench clients.
func (a Admin) CreateClients(ctx context.Context) error {
	code := []string{"authorization_code", "refresh_token"}
	for _, c := range []map[string]any{
		{"client_id": ClientES256, "client_name": "Bench ES256", "client_secret": ClientSecret, "redirect_uris": []string{RedirectURI},
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": code, "id_token_signed_response_alg": "ES256", "skip_consent": true},
		{"client_id": ClientRS256, "client_name": "Bench RS256", "client_secret": ClientSecret, "redirect_uris": []string{RedirectURI},
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": code, "id_token_signed_response_alg": "RS256", "skip_consent": true},
		{"client_id": ClientJWE, "client_name": "Bench encrypted userinfo", "client_secret": ClientSecret, "redirect_uris": []string{RedirectURI},
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": code, "id_token_signed_response_alg": "ES256", "skip_consent": true,
			"jwks": benchJWKS(), "userinfo_encrypted_response_alg": "ECDH-ES"},
		{"client_id": ClientService, "client_name": "Bench service", "client_secret": ClientSecret,
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"client_credentials"}},
		{"client_id": ClientExchange, "client_name": "Bench token exchange", "client_secret": ClientSecret,
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"urn:ietf:params:oauth:grant-type:token-exchange"},
			"token_exchange": map[string]any{"subject_token_types": []string{"urn:ietf:params:oauth:token-type:access_token"},
				"audiences": []string{ExchangeAudience}, "scopes": []string{"profile", "email"}, "allow_impersonation": true}},
		{"client_id": ClientDevice, "client_name": "Bench device", "client_secret": ClientSecret,
			"token_endpoint_auth_method": "client_secret_basic", "grant_types": []string{"urn:ietf:params:oauth:grant-type:device_code"}},
	} {
		if err := a.post(ctx, "/admin/clients", c, nil); err != nil {
			if strings.Contains(err.Error(), "409") {
				// A target measured before keeps the bench clients (same
				// ids and secret).
				continue
			}
			return err
		}
	}
	return nil
}

// CSRF is the token the node's pages compute for a cookie secret and a
// purpose (a request id, or "account").
func CSRF(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("csrf:" + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var inputRE = regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)

// hiddenInputs collects a page's named inputs that carry a value.
func hiddenInputs(body string) url.Values {
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// AuthorizeQuery is a code request for client with a per-call state and nonce.
func AuthorizeQuery(client string, seq uint64, prompt string) string {
	v := url.Values{
		"client_id": {client}, "redirect_uri": {RedirectURI}, "response_type": {"code"},
		"scope": {Scope}, "state": {fmt.Sprintf("s%d", seq)}, "nonce": {fmt.Sprintf("n%d", seq)},
		"code_challenge": {pkceChallenge}, "code_challenge_method": {"S256"},
	}
	if prompt != "" {
		v.Set("prompt", prompt)
	}
	return "/authorize?" + v.Encode()
}

// LoginPage is a pending sign-in: the cookie a fresh browser got from
// /authorize and the form's request id and CSRF token.
type LoginPage struct {
	Cookie, RID, CSRF string
}

// OpenLoginPage runs /authorize in a browser without a session and reads
// the sign-in page.
func OpenLoginPage(ctx context.Context, c *http.Client, base, client string, seq uint64) (LoginPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+AuthorizeQuery(client, seq, ""), nil)
	if err != nil {
		return LoginPage{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return LoginPage{}, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return LoginPage{}, fmt.Errorf("authorize: %s", resp.Status)
	}
	var lp LoginPage
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName {
			lp.Cookie = ck.Value
		}
	}
	f := hiddenInputs(string(body))
	lp.RID, lp.CSRF = f.Get("rid"), f.Get("csrf")
	if lp.Cookie == "" || lp.RID == "" || lp.CSRF == "" {
		return LoginPage{}, errors.New("authorize: no sign-in page (cookie, rid or csrf missing)")
	}
	return lp, nil
}

// codeFrom reads the code out of a redirect to RedirectURI.
func codeFrom(resp *http.Response) (string, error) {
	if resp.StatusCode != http.StatusFound {
		return "", fmt.Errorf("expected a redirect, got %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return "", err
	}
	if e := loc.Query().Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s", e)
	}
	code := loc.Query().Get("code")
	if code == "" || !strings.HasPrefix(loc.String(), RedirectURI) {
		return "", fmt.Errorf("redirect without a code: %s", loc)
	}
	return code, nil
}

// AuthorizeSilently asks for a code with prompt=none in the browser
// session cookie; it returns the code.
func AuthorizeSilently(ctx context.Context, c *http.Client, base, cookie, client string, seq uint64) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+AuthorizeQuery(client, seq, "none"), nil)
	if err != nil {
		return "", err
	}
	req.AddCookie(&http.Cookie{Name: CookieName, Value: cookie})
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return codeFrom(resp)
}

// TokenResponse is the part of /token's answer the bench uses.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// PostForm sends a form to base+path with Basic client authentication
// and decodes a JSON answer into out (nil: discard). Any status but 200
// is an error.
func PostForm(ctx context.Context, c *http.Client, url, client string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, ClientSecret)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %.200s", url, resp.Status, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// Redeem exchanges a code at /token.
func Redeem(ctx context.Context, c *http.Client, base, client, code string) (TokenResponse, error) {
	var tr TokenResponse
	err := PostForm(ctx, c, base+"/token", client, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {RedirectURI}, "code_verifier": {PKCEVerifier},
	}, &tr)
	return tr, err
}

// Refresh rotates a refresh token at /token.
func Refresh(ctx context.Context, c *http.Client, base, client, token string) (TokenResponse, error) {
	var tr TokenResponse
	err := PostForm(ctx, c, base+"/token", client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, &tr)
	if err == nil && (tr.RefreshToken == "" || tr.AccessToken == "") {
		err = errors.New("refresh: answer without tokens")
	}
	return tr, err
}

// get sends a GET and wants status want.
func get(ctx context.Context, c *http.Client, url string, want int, hdr http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
