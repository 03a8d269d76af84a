package management

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/router"
	"authrim/persistence/bbolt"
)

const testToken = "admin-token-0123456789"

// testServer is the admin API on a real directory in a temporary bbolt
// file, behind the real bearer-token middleware.
type testServer struct {
	t   *testing.T
	srv *httptest.Server
	dir *directory.Directory
	// bodies collects every response body, so tests can check that no
	// hash ever left the server.
	bodies []string
	// logs is what the server logged (JSON lines).
	logs *lockedBuffer
}

// lockedBuffer is a log sink the server's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const staticSecret = "static-secret-static-secret-static-secret"

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	static, err := directory.NewStaticClient(directory.NewClient{
		ID:     "static-web",
		Secret: staticSecret,
		ClientMetadata: directory.ClientMetadata{
			AuthMethod:   "client_secret_basic",
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://web.example/cb"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := directory.New(store, directory.Options{
		Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1,
		StaticClients:   []directory.Client{static},
		StaticResources: []directory.ResourceMetadata{{Identifier: "https://static-api.example/", Scopes: []string{"read"}}},
		Issuer:          "https://op.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	e := echo.New()
	router.Mount(e, NewAdmin(testToken, nil, logger).WithDirectory(dir, dir).WithResources(dir))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &testServer{t: t, srv: srv, dir: dir, logs: logs}
}

// call sends a request; body is sent as is when it is a string, else
// JSON-encoded. It returns the status and the decoded JSON body (nil when
// empty).
func (s *testServer) call(method, path, token string, body any) (int, map[string]any, http.Header) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		if str, ok := body.(string); ok {
			rd = strings.NewReader(str)
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				s.t.Fatal(err)
			}
			rd = strings.NewReader(string(b))
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), method, s.srv.URL+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	s.bodies = append(s.bodies, string(raw))
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			s.t.Fatalf("%s %s: non-JSON body %q", method, path, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// noHashes fails if any response carried a password hash, a secret hash
// or one of the given secrets.
func (s *testServer) noHashes(secrets ...string) {
	s.t.Helper()
	for _, b := range s.bodies {
		for _, bad := range append([]string{"$argon2id$", "sha256:", "password_hash", "secret_hash"}, secrets...) {
			if strings.Contains(b, bad) {
				s.t.Errorf("a response contains %q: %s", bad, b)
			}
		}
	}
}

func TestUsersAPIRequiresToken(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct{ name, method, path, token string }{
		{"create without token", http.MethodPost, "/admin/users", ""},
		{"create with wrong token", http.MethodPost, "/admin/users", "wrong-token-0123456789"},
		{"list", http.MethodGet, "/admin/users", ""},
		{"get", http.MethodGet, "/admin/users/alice", ""},
		{"delete", http.MethodDelete, "/admin/users/alice", ""},
		{"disable", http.MethodPost, "/admin/users/alice/disable", ""},
		{"enable", http.MethodPost, "/admin/users/alice/enable", "wrong-token-0123456789"},
		{"clients create", http.MethodPost, "/admin/clients", ""},
		{"clients list", http.MethodGet, "/admin/clients", ""},
		{"clients get", http.MethodGet, "/admin/clients/static-web", ""},
		{"clients delete", http.MethodDelete, "/admin/clients/static-web", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.method == http.MethodPost && !strings.HasSuffix(tc.path, "able") {
				body = map[string]any{"username": "alice", "password": "a long enough password"}
			}
			status, out, _ := s.call(tc.method, tc.path, tc.token, body)
			if status != http.StatusUnauthorized || out["error"] != "unauthorized" {
				t.Fatalf("got %d %v, want 401 unauthorized", status, out)
			}
		})
	}
	if users, _ := s.dir.ListUsers(context.Background()); len(users) != 0 {
		t.Errorf("an unauthenticated create stored %d users", len(users))
	}
}

func TestUsersAPI(t *testing.T) {
	s := newTestServer(t)
	const password = "a-password-nobody-should-see"

	status, created, hdr := s.call(http.MethodPost, "/admin/users", testToken, map[string]any{
		"username": "Alice", "password": password,
		"claims": map[string]any{"email": "alice@example.com", "email_verified": true},
	})
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, created)
	}
	sub, _ := created["sub"].(string)
	if sub == "" || created["username"] != "Alice" || created["claims"].(map[string]any)["email_verified"] != true {
		t.Fatalf("create answer %v", created)
	}
	if hdr.Get("Location") != "/admin/users/"+sub || hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", hdr)
	}

	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		desc   string // part of error_description
	}{
		{"get by subject", http.MethodGet, "/admin/users/" + sub, nil, 200, "", ""},
		{"get by username, other case", http.MethodGet, "/admin/users/aLiCe", nil, 200, "", ""},
		{"get unknown", http.MethodGet, "/admin/users/nobody", nil, 404, "not_found", "no such user"},
		{"get escaped name", http.MethodGet, "/admin/users/" + url.PathEscape("no/body"), nil, 404, "not_found", ""},
		{"duplicate", http.MethodPost, "/admin/users", map[string]any{"username": "alice", "password": "another long password"}, 409, "conflict", "username is taken"},
		{"short password", http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "short"}, 400, "invalid_request", "password"},
		{"unknown claim", http.MethodPost, "/admin/users", map[string]any{"username": "bob", "password": "another long password", "claims": map[string]any{"role": "admin"}}, 400, "invalid_request", "unknown claim"},
		{"malformed JSON", http.MethodPost, "/admin/users", `{"username": "bob", "password": `, 400, "invalid_request", "malformed"},
		{"unknown field", http.MethodPost, "/admin/users", `{"username": "bob", "password": "another long password", "admin": true}`, 400, "invalid_request", "unknown field"},
		{"wrong type", http.MethodPost, "/admin/users", `{"username": "bob", "password": 12345678}`, 400, "invalid_request", "password"},
		{"two objects", http.MethodPost, "/admin/users", `{"username": "bob", "password": "another long password"}{}`, 400, "invalid_request", "exactly one"},
		{"empty body", http.MethodPost, "/admin/users", ``, 400, "invalid_request", "empty"},
		{"too large", http.MethodPost, "/admin/users", `{"username": "bob", "password": "` + strings.Repeat("p", maxBodyBytes) + `"}`, 400, "invalid_request", "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(tc.method, tc.path, testToken, tc.body)
			if status != tc.status {
				t.Fatalf("got %d %v, want %d", status, out, tc.status)
			}
			if tc.code != "" && out["error"] != tc.code {
				t.Errorf("error %v, want %s", out["error"], tc.code)
			}
			if desc, _ := out["error_description"].(string); !strings.Contains(desc, tc.desc) {
				t.Errorf("error_description %q should mention %q", desc, tc.desc)
			}
			if tc.status == 200 && out["sub"] != sub {
				t.Errorf("got user %v", out)
			}
		})
	}

	// Nothing the bad requests sent was stored.
	status, list, _ := s.call(http.MethodGet, "/admin/users", testToken, nil)
	if status != 200 || len(list["users"].([]any)) != 1 {
		t.Fatalf("list after bad requests: %d %v", status, list)
	}

	// A body sent as text/plain is refused before it is read.
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/admin/users", strings.NewReader(`{"username":"bob","password":"another long password"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("text/plain body: %d, want 400", resp.StatusCode)
	}

	if status, out, _ := s.call(http.MethodDelete, "/admin/users/ALICE", testToken, nil); status != http.StatusNoContent || out != nil {
		t.Fatalf("delete: %d %v", status, out)
	}
	if status, _, _ := s.call(http.MethodGet, "/admin/users/"+sub, testToken, nil); status != 404 {
		t.Errorf("get after delete: %d", status)
	}
	if status, _, _ := s.call(http.MethodDelete, "/admin/users/"+sub, testToken, nil); status != 404 {
		t.Errorf("delete again: %d", status)
	}
	s.noHashes(password)
}

// POST /admin/users/{id}/disable and /enable change the user's state,
// answer with the user, and are audited; an unknown user is 404.
func TestDisableUserAPI(t *testing.T) {
	s := newTestServer(t)
	u, err := s.dir.CreateUser(context.Background(), directory.NewUser{Username: "dora", Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		disabled   bool
		audit      string
	}{
		{"disable by username", "/admin/users/dora/disable", 200, true, `"msg":"admin: user disabled"`},
		{"disable again", "/admin/users/" + u.Subject + "/disable", 200, true, ""},
		{"enable", "/admin/users/DORA/enable", 200, false, `"msg":"admin: user enabled"`},
		{"unknown user", "/admin/users/nobody/disable", 404, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(http.MethodPost, tc.path, testToken, nil)
			if status != tc.status {
				t.Fatalf("%d %v", status, out)
			}
			if status != 200 {
				return
			}
			if out["sub"] != u.Subject || out["disabled"] != tc.disabled {
				t.Fatalf("answer %v", out)
			}
			got, err := s.dir.User(context.Background(), u.Subject)
			if err != nil || got.Disabled != tc.disabled {
				t.Fatalf("stored: %+v %v", got, err)
			}
			if tc.audit != "" && !strings.Contains(s.logs.String(), tc.audit) {
				t.Fatalf("no audit event %s in %s", tc.audit, s.logs.String())
			}
		})
	}
	status, list, _ := s.call(http.MethodGet, "/admin/users", testToken, nil)
	if status != 200 || list["users"].([]any)[0].(map[string]any)["disabled"] != false {
		t.Fatalf("list: %d %v", status, list)
	}
	s.noHashes()
}

// The admin token grants and revokes the console's admin role (the
// bootstrap of the first admin), each change audited; without the token
// nothing changes.
func TestAdminRoleAPI(t *testing.T) {
	s := newTestServer(t)
	u, err := s.dir.CreateUser(context.Background(), directory.NewUser{Username: "ada", Password: "a long enough password"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		admin                     bool
		audit                     string
	}{
		{"no token", http.MethodPost, "/admin/users/ada/admin", "", 401, false, ""},
		{"grant", http.MethodPost, "/admin/users/ada/admin", testToken, 200, true, `"msg":"admin: admin role granted"`},
		{"grant again", http.MethodPost, "/admin/users/" + u.Subject + "/admin", testToken, 200, true, ""},
		{"revoke", http.MethodDelete, "/admin/users/ADA/admin", testToken, 200, false, `"msg":"admin: admin role revoked"`},
		{"unknown user", http.MethodPost, "/admin/users/nobody/admin", testToken, 404, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := s.call(tc.method, tc.path, tc.token, nil)
			if status != tc.status {
				t.Fatalf("%d %v", status, out)
			}
			got, err := s.dir.User(context.Background(), u.Subject)
			if err != nil || got.Admin != tc.admin {
				t.Fatalf("stored: %+v %v", got, err)
			}
			if tc.audit != "" && !strings.Contains(s.logs.String(), tc.audit) {
				t.Fatalf("no audit event %s in %s", tc.audit, s.logs.String())
			}
		})
	}
}
