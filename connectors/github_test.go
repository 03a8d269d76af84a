package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"authrim/connectors"
)

// fakeGitHub speaks GitHub's documented OAuth and REST endpoints:
// POST /login/oauth/access_token (form in, JSON out with Accept JSON),
// GET /api/user, /api/user/emails, /api/user/orgs with a Bearer token.
type fakeGitHub struct {
	srv    *httptest.Server
	emails []map[string]any
	orgs   []string
	seen   url.Values
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	g := &fakeGitHub{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		g.seen = r.PostForm
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("client_secret") != "gh-secret" || r.PostForm.Get("code") != "good" || r.PostForm.Get("code_verifier") == "" {
			// GitHub answers 200 with an error body.
			w.Write([]byte(`{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}`))
			return
		}
		w.Write([]byte(`{"access_token":"gho_x","token_type":"bearer","scope":"read:user,user:email"}`))
	})
	auth := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_x" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next(w, r)
		}
	}
	mux.HandleFunc("GET /api/user", auth(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"login":"octocat","id":583231,"name":"The Octocat","avatar_url":"https://avatars.example/u/583231","html_url":"https://github.example/octocat","email":"public@example.com"}`))
	}))
	mux.HandleFunc("GET /api/user/emails", auth(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(g.emails)
	}))
	mux.HandleFunc("GET /api/user/orgs", auth(func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for _, o := range g.orgs {
			out = append(out, map[string]any{"login": o, "id": 1})
		}
		json.NewEncoder(w).Encode(out)
	}))
	g.srv = httptest.NewTLSServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGitHub) config() connectors.Config {
	return connectors.Config{ID: "gh", Type: "github", ClientID: "gh-client", ClientSecret: "gh-secret",
		AuthURL: g.srv.URL + "/login/oauth/authorize", TokenURL: g.srv.URL + "/login/oauth/access_token", APIURL: g.srv.URL + "/api"}
}

// TestGitHubPreset: the account id is the subject, only the verified
// primary address counts, the code is redeemed with PKCE and the client
// secret, and orgs restricts to members.
func TestGitHubPreset(t *testing.T) {
	g := newFakeGitHub(t)
	p := connectors.Params{State: "st", Verifier: "verifier"}
	for _, tc := range []struct {
		name      string
		emails    []map[string]any
		orgs      []string
		cfg       func(*connectors.Config)
		code      string
		query     url.Values
		want      error
		email     string
		verified  bool
		wantGroup string
	}{
		{name: "verified primary", emails: []map[string]any{
			{"email": "other@example.com", "primary": false, "verified": true},
			{"email": "octo@example.com", "primary": true, "verified": true},
		}, email: "octo@example.com", verified: true},
		{name: "unverified primary", emails: []map[string]any{
			{"email": "octo@example.com", "primary": true, "verified": false},
			{"email": "other@example.com", "primary": false, "verified": true},
		}, email: "", verified: false},
		{name: "member of the org", orgs: []string{"acme", "Octo-Org"}, cfg: func(c *connectors.Config) { c.Orgs = []string{"octo-org"} }, wantGroup: "Octo-Org"},
		{name: "not a member", orgs: []string{"acme"}, cfg: func(c *connectors.Config) { c.Orgs = []string{"octo-org"} }, want: connectors.ErrDenied},
		{name: "disallowed domain", emails: []map[string]any{{"email": "octo@example.com", "primary": true, "verified": true}},
			cfg: func(c *connectors.Config) { c.AllowedDomains = []string{"corp.example"} }, want: connectors.ErrDenied},
		{name: "bad code", code: "bad", want: connectors.ErrUpstream},
		{name: "user cancelled", query: url.Values{"error": {"access_denied"}, "state": {"st"}}, want: connectors.ErrUpstream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g.emails, g.orgs = tc.emails, tc.orgs
			if g.emails == nil {
				g.emails = []map[string]any{}
			}
			c := g.config()
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			conn := build(t, c, fetcher(g.srv))
			target, err := conn.AuthCodeURL(context.Background(), "https://down.example/cb", p)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(target)
			if !strings.HasPrefix(target, g.srv.URL+"/login/oauth/authorize?") || u.Query().Get("code_challenge") == "" || u.Query().Get("state") != "st" ||
				!strings.Contains(u.Query().Get("scope"), "user:email") {
				t.Fatalf("authorization URL %s", target)
			}
			if len(c.Orgs) > 0 && !strings.Contains(u.Query().Get("scope"), "read:org") {
				t.Fatalf("orgs need read:org: %s", target)
			}
			q := tc.query
			if q == nil {
				code := tc.code
				if code == "" {
					code = "good"
				}
				q = url.Values{"code": {code}, "state": {"st"}}
			}
			id, err := conn.Callback(context.Background(), "https://down.example/cb", p, q)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.seen.Get("code_verifier") != "verifier" || g.seen.Get("client_id") != "gh-client" {
				t.Fatalf("token request %v", g.seen)
			}
			if id.Subject != "583231" || id.PreferredUsername != "octocat" || id.Name != "The Octocat" || id.ConnectorID != "gh" || id.Issuer == "" {
				t.Fatalf("identity %+v", id)
			}
			if id.Email != tc.email || id.EmailVerified != tc.verified {
				t.Fatalf("email %q verified %v, want %q %v", id.Email, id.EmailVerified, tc.email, tc.verified)
			}
			if tc.wantGroup != "" && (len(id.Groups) == 0 || id.Groups[len(id.Groups)-1] != tc.wantGroup) {
				t.Fatalf("groups %v", id.Groups)
			}
		})
	}
}

// FuzzParseGitHubUser: GitHub's answers never crash the mapping, and
// an identity always has a subject; an email counts only as verified.
func FuzzParseGitHubUser(f *testing.F) {
	f.Add([]byte(`{"login":"octocat","id":1,"name":"O"}`), []byte(`[{"email":"a@b","primary":true,"verified":true}]`))
	f.Add([]byte(`{"id":"x"}`), []byte(`[]`))
	f.Add([]byte(`{"id":1e300}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, user, emails []byte) {
		id, err := connectors.ParseGitHubUser(user, emails)
		if err != nil {
			return
		}
		if id.Subject == "" {
			t.Fatal("identity without a subject")
		}
		if id.Email != "" && !id.EmailVerified {
			t.Fatal("an unverified address was kept")
		}
	})
}

// FuzzMapClaims: any upstream claims map to an identity with a bounded
// subject, or to an error.
func FuzzMapClaims(f *testing.F) {
	f.Add([]byte(`{"sub":"a","email":"a@b","email_verified":"true","groups":["x",1]}`))
	f.Add([]byte(`{"sub":5,"amr":["pwd",null]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var claims map[string]any
		if json.Unmarshal(raw, &claims) != nil {
			return
		}
		id, err := connectors.MapClaims(connectors.ClaimMapping{}, claims)
		if err != nil {
			return
		}
		if id.Subject == "" || len(id.Subject) > 255 {
			t.Fatalf("subject %q", id.Subject)
		}
		if id.Email == "" && id.EmailVerified {
			t.Fatal("verified without an address")
		}
	})
}

// FuzzParseDiscovery: a discovery document is accepted only for its
// issuer and with https endpoints.
func FuzzParseDiscovery(f *testing.F) {
	f.Add([]byte(`{"issuer":"https://i","authorization_endpoint":"https://i/a","token_endpoint":"https://i/t","jwks_uri":"https://i/k"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := connectors.ParseDiscovery(raw, "https://i")
		if err != nil {
			return
		}
		if d.Issuer != "https://i" || !strings.HasPrefix(d.Token, "https://") || !strings.HasPrefix(d.JWKSURI, "https://") {
			t.Fatalf("accepted %+v", d)
		}
	})
}
