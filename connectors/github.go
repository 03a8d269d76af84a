package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"authrim/http/fetch"
)

// GitHub's endpoints (docs.github.com: "Authorizing OAuth apps" and the
// REST API's users, emails and orgs pages).
const (
	githubAuthURL  = "https://github.com/login/oauth/authorize"
	githubTokenURL = "https://github.com/login/oauth/access_token"
	githubAPIURL   = "https://api.github.com"
	// githubIssuer keys links to github.com accounts.
	githubIssuer = "https://github.com"
)

// githubConnector signs users in with GitHub: OAuth 2.0 (with PKCE and
// state), then its REST API for who the user is. GitHub issues no ID
// token; the account's numeric id is the subject.
type githubConnector struct {
	base
	secret                    string
	authURL, tokenURL, apiURL string
	issuer                    string
	fetch                     *fetch.Fetcher
}

func newGitHub(c Config, secret string, f *fetch.Fetcher) *githubConnector {
	g := &githubConnector{secret: secret, fetch: f,
		authURL: githubAuthURL, tokenURL: githubTokenURL, apiURL: githubAPIURL, issuer: githubIssuer}
	if c.AuthURL != "" {
		g.authURL = c.AuthURL
		// Another server (GitHub Enterprise): its accounts are not
		// github.com's, so links are keyed by its own base.
		if u, err := url.Parse(c.AuthURL); err == nil {
			g.issuer = "https://" + u.Host
		}
	}
	if c.TokenURL != "" {
		g.tokenURL = c.TokenURL
	}
	if c.APIURL != "" {
		g.apiURL = strings.TrimSuffix(c.APIURL, "/")
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"read:user", "user:email"}
		if len(c.Orgs) > 0 {
			c.Scopes = append(c.Scopes, "read:org")
		}
	}
	g.base = base{cfg: c}
	return g
}

var _ Redirect = (*githubConnector)(nil)

func (g *githubConnector) AuthCodeURL(_ context.Context, redirectURI string, p Params) (string, error) {
	u, err := url.Parse(g.authURL)
	if err != nil {
		return "", fmt.Errorf("%w: auth_url: %w", ErrUnavailable, err)
	}
	q := u.Query()
	q.Set("client_id", g.cfg.ClientID)
	q.Set("redirect_uri", redirectURI)
	q.Set("scope", strings.Join(g.cfg.Scopes, " "))
	q.Set("state", p.State)
	q.Set("code_challenge", s256(p.Verifier))
	q.Set("code_challenge_method", "S256")
	q.Set("allow_signup", "false")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (g *githubConnector) Callback(ctx context.Context, redirectURI string, p Params, q url.Values) (Identity, error) {
	if err := callbackError(q); err != nil {
		return Identity{}, err
	}
	// GitHub takes the client credentials in the body.
	t, err := exchange(ctx, g.fetch, g.tokenURL, g.cfg.ClientID, g.secret, redirectURI, q.Get("code"), p.Verifier, true)
	if err != nil {
		return Identity{}, err
	}
	userBody, err := g.api(ctx, t.AccessToken, "/user")
	if err != nil {
		return Identity{}, err
	}
	emailsBody, err := g.api(ctx, t.AccessToken, "/user/emails")
	if err != nil {
		return Identity{}, err
	}
	id, err := ParseGitHubUser(userBody, emailsBody)
	if err != nil {
		return Identity{}, err
	}
	id.ConnectorID, id.Issuer = g.cfg.ID, g.issuer
	if len(g.cfg.Orgs) > 0 {
		orgsBody, err := g.api(ctx, t.AccessToken, "/user/orgs")
		if err != nil {
			return Identity{}, err
		}
		orgs, err := ParseGitHubOrgs(orgsBody)
		if err != nil {
			return Identity{}, err
		}
		if !slices.ContainsFunc(orgs, func(o string) bool {
			return slices.ContainsFunc(g.cfg.Orgs, func(want string) bool { return strings.EqualFold(o, want) })
		}) {
			return Identity{}, fmt.Errorf("%w: not a member of the required organisations", ErrDenied)
		}
		id.Groups = orgs
		id.Claims["groups"] = orgs
	}
	if err := g.admit(id); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// api GETs a REST API path with the user's token.
func (g *githubConnector) api(ctx context.Context, token, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.apiURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := g.fetch.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, path, err)
	}
	if resp.Status != http.StatusOK {
		return nil, fmt.Errorf("%w: %s answered %d", ErrUpstream, path, resp.Status)
	}
	return resp.Body, nil
}

// ParseGitHubUser reads GET /user and GET /user/emails. Only the primary
// email counts, and only when GitHub says it is verified; a user without
// one has no email (and so cannot be linked by email).
func ParseGitHubUser(user, emails []byte) (Identity, error) {
	var u map[string]any
	if err := json.Unmarshal(user, &u); err != nil || u == nil {
		return Identity{}, fmt.Errorf("%w: /user is not a JSON object", ErrUnavailable)
	}
	var list []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := json.Unmarshal(emails, &list); err != nil {
		return Identity{}, fmt.Errorf("%w: /user/emails is not a JSON list", ErrUnavailable)
	}
	claims := map[string]any{"sub": u["id"], "preferred_username": u["login"], "name": u["name"]}
	if pic := str(u["avatar_url"]); pic != "" {
		claims["picture"] = pic
	}
	if prof := str(u["html_url"]); prof != "" {
		claims["profile"] = prof
	}
	for _, e := range list {
		if e.Primary && e.Verified && strings.Contains(e.Email, "@") {
			claims["email"], claims["email_verified"] = e.Email, true
			break
		}
	}
	id, err := MapClaims(ClaimMapping{}, claims)
	if err != nil {
		return Identity{}, err
	}
	return id, nil
}

// ParseGitHubOrgs reads GET /user/orgs: the logins of the user's
// organisations.
func ParseGitHubOrgs(body []byte) ([]string, error) {
	var list []struct {
		Login string `json:"login"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("%w: /user/orgs is not a JSON list", ErrUnavailable)
	}
	var out []string
	for _, o := range list {
		if o.Login != "" && len(out) < maxGroups {
			out = append(out, o.Login)
		}
	}
	return out, nil
}
