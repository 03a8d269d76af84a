package node_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"authrim/connectors"
	"authrim/internal/testca"
	"authrim/node"
)

// localGitHub speaks GitHub's documented OAuth app endpoints
// (/login/oauth/authorize redirects back at once, as for a user who
// already authorized the app; /login/oauth/access_token checks the
// client secret and the PKCE verifier) and REST API (/api/user,
// /api/user/emails).
func localGitHub(t *testing.T) (srv *httptest.Server, caFile string) {
	t.Helper()
	var mu sync.Mutex
	challenges := map[string]string{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "gh-app" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		code := "code-" + q.Get("state")[:8]
		mu.Lock()
		challenges[code] = q.Get("code_challenge")
		mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /login/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		want, ok := challenges[r.PostForm.Get("code")]
		delete(challenges, r.PostForm.Get("code"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok || r.PostForm.Get("client_secret") != upstreamSecret || s256(r.PostForm.Get("code_verifier")) != want {
			w.Write([]byte(`{"error":"bad_verification_code"}`))
			return
		}
		w.Write([]byte(`{"access_token":"gho_local","token_type":"bearer"}`))
	})
	api := func(body any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer gho_local" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(body)
		}
	}
	mux.HandleFunc("GET /api/user", api(map[string]any{"login": "octocat", "id": 583231, "name": "The Octocat"}))
	mux.HandleFunc("GET /api/user/emails", api([]map[string]any{
		{"email": "octo@users.example", "primary": true, "verified": true},
		{"email": "old@users.example", "primary": false, "verified": false},
	}))
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	caFile = filepath.Join(t.TempDir(), "gh.pem")
	testca.WriteFile(t, caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return srv, caFile
}

// TestUpstreamGitHub: a node with a github connector pointed at a local
// server speaking GitHub's endpoints: the account id keys the link, the
// verified primary address is the user's, the ID token says idp github.
func TestUpstreamGitHub(t *testing.T) {
	gh, caFile := localGitHub(t)
	logs := &syncBuffer{}
	o := startOPFull(t, func(c *node.Config) {
		c.Requests.Fetch.AllowPrivateAddresses = true
		c.Requests.Fetch.CAFile = caFile
		c.Connectors = []connectors.Config{{ID: "github", Type: "github", ClientID: "gh-app", ClientSecret: upstreamSecret,
			AuthURL: gh.URL + "/login/oauth/authorize", TokenURL: gh.URL + "/login/oauth/access_token", APIURL: gh.URL + "/api"}}
	}, func(opts *node.Options) {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	signIn := func() map[string]any {
		b := browser(t)
		b.Transport = gh.Client().Transport // trusts the local GitHub
		p := get(t, b, o.authorizeURL(baseParams()))
		if !strings.Contains(p.body, "Sign in with GitHub") {
			t.Fatalf("no GitHub button: %s", p.body)
		}
		p = postForm(t, b, o.issuer+"/login/upstream/github", hidden(p.body))
		if p.loc == nil || !strings.HasPrefix(p.loc.String(), gh.URL+"/login/oauth/authorize?") {
			t.Fatalf("expected GitHub's authorize, got %d %v", p.status, p.loc)
		}
		p = get(t, b, p.loc.String())
		if p.loc == nil || !strings.HasPrefix(p.loc.String(), o.issuer+"/login/upstream/github/callback?") {
			t.Fatalf("expected the callback, got %d %v %s", p.status, p.loc, p.body)
		}
		f := &federation{down: o}
		return f.finish(t, b, p.loc)
	}
	first := signIn()
	if first["idp"] != "github" {
		t.Fatalf("idp %v", first["idp"])
	}
	u, err := o.n.Directory().User(context.Background(), first["sub"].(string))
	if err != nil || u.Username != "octocat" || u.Claims["email"] != "octo@users.example" || u.Claims["name"] != "The Octocat" {
		t.Fatalf("user %+v %v", u, err)
	}
	if l, err := o.n.Directory().LinkedUser(context.Background(), "https://"+strings.TrimPrefix(gh.URL, "https://"), "583231"); err != nil || l.User != u.Subject {
		t.Fatalf("link keyed by the account id: %+v %v", l, err)
	}
	if again := signIn(); again["sub"] != first["sub"] {
		t.Fatalf("second sign-in as %v", again["sub"])
	}
}
