package node_test

import (
	"authrim/internal/freeport"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"authrim/node"
)

func freeAddr(t *testing.T) string {
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestTokenRequestMetricsAndConnectedTrace: one code redemption produces
// the route's metrics and one trace from the HTTP handler through the
// Session grain (and its store write) to the Crypto actors.
// In both crypto modes: inline work gets the pool's metrics and spans.
func TestTokenRequestMetricsAndConnectedTrace(t *testing.T) {
	for _, mode := range []string{node.CryptoLocal, node.CryptoInline} {
		t.Run(mode, func(t *testing.T) { tokenRequestMetricsAndTrace(t, mode) })
	}
}

func tokenRequestMetricsAndTrace(t *testing.T, mode string) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	metricsAddr := freeAddr(t)
	o := startOPFull(t, func(c *node.Config) { c.Metrics.Listen = metricsAddr; c.Crypto.Mode = mode },
		func(opts *node.Options) { opts.TracerProvider = tp })

	cb := o.signIn(t, browser(t), o.authorizeURL(baseParams()))
	if st, out := o.redeem(t, cb.Query().Get("code"), ""); st != 200 {
		t.Fatalf("token: %d %v", st, out)
	}
	if st, _ := o.redeem(t, "garbage.code", ""); st != 400 {
		t.Fatal("garbage code accepted")
	}

	var root sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "POST /token" && s.Status().Code == 0 && root == nil {
			root = s
		}
	}
	if root == nil {
		t.Fatal("no span for POST /token")
	}
	byID := map[string]sdktrace.ReadOnlySpan{}
	var inTrace []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() == root.SpanContext().TraceID() {
			byID[s.SpanContext().SpanID().String()] = s
			inTrace = append(inTrace, s)
		}
	}
	parentName := func(s sdktrace.ReadOnlySpan) string {
		if p, ok := byID[s.Parent().SpanID().String()]; ok {
			return p.Name()
		}
		return ""
	}
	want := map[string]string{
		"Session SessionCall": "POST /token",
		"store put":           "Session SessionCall",
		"crypto SignRequest":  "POST /token",
	}
	for child, parent := range want {
		found := false
		for _, s := range inTrace {
			if s.Name() == child && parentName(s) == parent {
				found = true
			}
		}
		if !found {
			var names []string
			for _, s := range inTrace {
				names = append(names, s.Name()+"<-"+parentName(s))
			}
			t.Errorf("no span %q under %q in the token request's trace: %v", child, parent, names)
		}
	}

	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		`authrim_http_requests_total{front="token",method="POST",route="/token",status="200"} 1`,
		`authrim_http_errors_total{error="invalid_grant",front="token",route="/token"} 1`,
		`authrim_http_request_duration_seconds_count{front="token",route="/token"} 2`,
		`authrim_actor_messages_total{kind="Session",message="SessionCall"}`,
		`authrim_actor_messages_total{kind="crypto",message="SignRequest"}`,
		`authrim_actor_activations_total{kind="Session"}`,
		`authrim_actor_mailbox_length{kind="Session"}`,
		`authrim_store_operation_duration_seconds_count{bucket="sessions",op="put"}`,
		`authrim_key_next_rotation_timestamp_seconds{alg="RS256"}`,
		`authrim_key_rotations_total{alg="ES256"} 0`,
		`authrim_store_size_bytes`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestLogsOfAFullSignInHoldNoSecrets runs sign-in, token, userinfo,
// refresh, introspection and logout with debug logging, then searches
// every log line for each secret that went over the wire.
func TestLogsOfAFullSignInHoldNoSecrets(t *testing.T) {
	logs := &syncBuffer{}
	o := startOPFull(t, nil, func(opts *node.Options) {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b := browser(t)
	verifier, challenge := pkce()
	p := baseParams()
	p["code_challenge"], p["code_challenge_method"] = challenge, "S256"
	cb := o.signIn(t, b, o.authorizeURL(p))
	code := cb.Query().Get("code")
	_, tok := o.redeem(t, code, verifier)
	at, rt, idt := tok["access_token"].(string), tok["refresh_token"].(string), tok["id_token"].(string)
	o.userinfo(t, at)
	_, tok2 := o.tokenRequest(t, "rp", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	o.clientPost(t, "/introspect", "rp", url.Values{"token": {tok2["access_token"].(string)}})
	get(t, b, o.issuer+"/logout?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {rpLogout}}.Encode())
	// A failed sign-in with a wrong password is logged too.
	b2 := browser(t)
	o.login(t, b2, get(t, b2, o.authorizeURL(baseParams())), "wrong-password-xyz")

	u, _ := url.Parse(o.issuer)
	var cookie string
	jar := b.Jar
	for _, c := range jar.Cookies(u) {
		cookie = c.Value
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"http request"`) || !strings.Contains(out, `"route":"/token"`) {
		t.Fatalf("no access log lines:\n%s", out)
	}
	secrets := map[string]string{
		"password": userPassword, "wrong password": "wrong-password-xyz", "code": code, "code secret": code[strings.Index(code, ".")+1:],
		"PKCE verifier": verifier, "access token": at, "refresh token": rt, "refresh secret": rt[strings.LastIndex(rt, ".")+1:],
		"rotated refresh token": tok2["refresh_token"].(string), "ID token": idt, "client secret": rpSecret,
	}
	if cookie != "" {
		secrets["session cookie secret"] = cookie[strings.Index(cookie, ".")+1:]
	}
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the logs contain the %s", name)
		}
		// Tokens are long; a leak of their signature part counts too.
		if i := strings.LastIndex(s, "."); i > 0 && len(s)-i > 20 && strings.Contains(out, s[i+1:]) {
			t.Errorf("the logs contain part of the %s", name)
		}
	}
	for _, audit := range []string{"sign-in succeeded", "sign-in failed", "consent given", "signed out"} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, `"msg":"`+audit+`"`) && strings.Contains(line, `"audit":true`) {
				found = true
			}
		}
		if !found {
			t.Errorf("no audit event %q", audit)
		}
	}
}

func TestCORSAllowsOnlyConfiguredOrigins(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com"} })
	preflight := func(path, origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", o.issuer+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		path, origin string
		allowed      bool
	}{
		{"/token", "https://app.example.com", true},
		{"/userinfo", "https://app.example.com", true},
		{"/.well-known/jwks.json", "https://app.example.com", true},
		{"/token", "https://evil.example.com", false},
		{"/login", "https://app.example.com", false},
	}
	t.Run("HTML pages carry security headers", func(t *testing.T) {
		r, err := http.Get(o.authorizeURL(baseParams()))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		if r.Header.Get("Referrer-Policy") == "" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", r.Header)
		}
	})
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s from %s", tt.path, tt.origin), func(t *testing.T) {
			resp := preflight(tt.path, tt.origin)
			got := resp.Header.Get("Access-Control-Allow-Origin")
			if tt.allowed && got != tt.origin {
				t.Fatalf("preflight refused: %d %q", resp.StatusCode, got)
			}
			if !tt.allowed && got != "" {
				t.Fatalf("preflight allowed %q", got)
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") == "true" {
				t.Fatal("credentials allowed cross-origin")
			}
		})
	}
}
