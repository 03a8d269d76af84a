package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/router"
)

// countLimiter allows limit requests per key, then refuses with retry.
type countLimiter struct {
	mu    sync.Mutex
	n     map[string]int
	keys  []string
	retry time.Duration
	err   error
}

func (l *countLimiter) Take(_ context.Context, key string, limit int, _ time.Duration) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	if l.err != nil {
		return false, 0, l.err
	}
	if l.n == nil {
		l.n = map[string]int{}
	}
	if l.n[key] >= limit {
		return false, l.retry, nil
	}
	l.n[key]++
	return true, 0, nil
}

func (l *countLimiter) taken() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys
	l.keys = nil
	return k
}

type routes struct{}

// Mount serves /login, /token and /open; each echoes its form's
// client_id and grant_type, so tests see what the handler parsed.
func (routes) Mount(e *echo.Echo) {
	h := func(c echo.Context) error {
		if err := c.Request().ParseForm(); err != nil {
			return c.String(http.StatusBadRequest, "form: "+err.Error())
		}
		f := c.Request().PostForm
		return c.String(http.StatusOK, f.Get("client_id")+"|"+f.Get("grant_type"))
	}
	e.POST("/login", h)
	e.POST("/token", h)
	e.GET("/token", h)
	e.POST("/open", h)
}

type server struct {
	e        *echo.Echo
	limiter  *countLimiter
	rejected []string
}

func newServer(t *testing.T, bodyLimit string) *server {
	t.Helper()
	s := &server{limiter: &countLimiter{retry: 1500 * time.Millisecond}}
	cfg := router.RateLimitConfig{
		Profiles: []router.RateLimitProfile{
			{Name: "strict", Limit: 2, Window: time.Minute, Routes: []string{"/login"}, FailClosed: true},
			{Name: "moderate", Limit: 3, Window: time.Minute, Routes: []string{"/token", "/login"}},
		},
		Rejected: func(p string) { s.rejected = append(s.rejected, p) },
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.e = router.New(router.Config{
		Ready: func(context.Context) error { return nil }, Logger: logger, BodyLimit: bodyLimit,
		Middleware: []echo.MiddlewareFunc{router.RateLimit(cfg, s.limiter, logger)},
	}, routes{})
	return s
}

func (s *server) do(method, target, remote string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = remote
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	return rec
}

func form(v url.Values) io.Reader { return strings.NewReader(v.Encode()) }

func TestRateLimitByIP(t *testing.T) {
	s := newServer(t, "")
	for i := range 2 {
		if rec := s.do("POST", "/login", "192.0.2.1:1234", form(url.Values{"username": {"a"}}), nil); rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if k := s.limiter.taken(); len(k) != 2 || k[0] != "ip:192.0.2.1:strict" {
		t.Fatalf("keys %q", k)
	}
	rec := s.do("POST", "/login", "192.0.2.1:5678", form(url.Values{"username": {"a"}}), nil)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After %q, want 2 (1.5 s rounded up)", got)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q", got)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "rate_limited" {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	if len(s.rejected) != 1 || s.rejected[0] != "strict" {
		t.Fatalf("Rejected calls %q", s.rejected)
	}
	// Another address has its own budget; unlisted routes are not limited.
	if rec := s.do("POST", "/login", "192.0.2.2:1", form(url.Values{}), nil); rec.Code != 200 {
		t.Fatalf("another address: %d", rec.Code)
	}
	s.limiter.taken()
	for range 5 {
		if rec := s.do("POST", "/open", "192.0.2.1:1", form(url.Values{}), nil); rec.Code != 200 {
			t.Fatalf("unlisted route: %d", rec.Code)
		}
	}
	if k := s.limiter.taken(); len(k) != 0 {
		t.Fatalf("unlisted route took %q", k)
	}
}

func TestRateLimitIgnoresForwardedForByDefault(t *testing.T) {
	s := newServer(t, "")
	for i := range 3 {
		rec := s.do("POST", "/login", "192.0.2.1:1", form(url.Values{}), map[string]string{"X-Forwarded-For": "198.51.100." + string(rune('1'+i))})
		if i < 2 && rec.Code != 200 || i == 2 && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("request %d: %d (X-Forwarded-For must not pick the key)", i+1, rec.Code)
		}
	}
	// Behind a trusted proxy the operator sets an extractor; then it counts.
	s.e.IPExtractor = echo.ExtractIPFromXFFHeader(echo.TrustLoopback(true), echo.TrustIPRange(mustCIDR(t, "192.0.2.0/24")))
	s.limiter.taken()
	s.do("POST", "/login", "192.0.2.1:1", form(url.Values{}), map[string]string{"X-Forwarded-For": "198.51.100.9"})
	if k := s.limiter.taken(); len(k) != 1 || k[0] != "ip:198.51.100.9:strict" {
		t.Fatalf("keys with a trusted proxy %q", k)
	}
}

func TestRateLimitIPv6Per64(t *testing.T) {
	s := newServer(t, "")
	s.do("POST", "/login", "[2001:db8:1:2:aaaa::1]:1", form(url.Values{}), nil)
	s.do("POST", "/login", "[2001:db8:1:2:bbbb::2]:1", form(url.Values{}), nil)
	if rec := s.do("POST", "/login", "[2001:db8:1:2:cccc::3]:1", form(url.Values{}), nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third address of one /64: %d", rec.Code)
	}
	if k := s.limiter.taken(); k[0] != "ip:2001:db8:1:2::/64:strict" {
		t.Fatalf("key %q", k[0])
	}
}

func TestRateLimitByClient(t *testing.T) {
	s := newServer(t, "")
	// Form body: the handler still parses the whole body.
	rec := s.do("POST", "/token", "192.0.2.1:1", form(url.Values{"client_id": {"rp"}, "grant_type": {"client_credentials"}}), nil)
	if rec.Code != 200 || rec.Body.String() != "rp|client_credentials" {
		t.Fatalf("form: %d %q", rec.Code, rec.Body)
	}
	if k := s.limiter.taken(); len(k) != 2 || k[0] != "ip:192.0.2.1:moderate" || k[1] != "client:rp:moderate" {
		t.Fatalf("keys %q", k)
	}
	// Basic auth: the user name, form-decoded (RFC 6749 §2.3.1).
	rec = s.do("POST", "/token", "192.0.2.2:1", form(url.Values{"grant_type": {"x"}}), map[string]string{
		"Authorization": "Basic " + basic("my%20rp", "secret"),
	})
	if rec.Code != 200 || rec.Body.String() != "|x" {
		t.Fatalf("basic: %d %q", rec.Code, rec.Body)
	}
	if k := s.limiter.taken(); len(k) != 2 || k[1] != "client:my rp:moderate" {
		t.Fatalf("keys %q", k)
	}
	// Query (GET): the same client's budget (3, one used above), from
	// any address.
	for i := range 2 {
		rec = s.do("GET", "/token?client_id=rp", "192.0.2."+string(rune('3'+i))+":1", nil, nil)
		if rec.Code != 200 {
			t.Fatalf("query %d: %d", i+1, rec.Code)
		}
	}
	if rec = s.do("GET", "/token?client_id=rp", "192.0.2.9:1", nil, nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("client over its budget from a fresh address: %d", rec.Code)
	}
	// A repeated client_id is not keyed (the handler rejects it).
	s.limiter.taken()
	s.do("POST", "/token", "192.0.2.10:1", strings.NewReader("client_id=a&client_id=b"), nil)
	if k := s.limiter.taken(); len(k) != 1 {
		t.Fatalf("repeated client_id keyed: %q", k)
	}
}

func TestRateLimitKeepsBodyErrors(t *testing.T) {
	s := newServer(t, "1K")
	// No Content-Length: the body limit shows as a read error, which the
	// handler must still see after the middleware peeked.
	body := io.MultiReader(strings.NewReader("client_id=rp&x="), strings.NewReader(strings.Repeat("a", 4096)))
	req := httptest.NewRequest("POST", "/token", io.NopCloser(body))
	req.ContentLength = -1
	req.RemoteAddr = "192.0.2.1:1"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Request Entity Too Large") {
		t.Fatalf("oversized body: %d %q", rec.Code, rec.Body)
	}
	if k := s.limiter.taken(); len(k) != 1 {
		t.Fatalf("unreadable body keyed by client: %q", k)
	}
}

func TestRateLimitLimiterDown(t *testing.T) {
	s := newServer(t, "")
	s.limiter.err = errors.New("actor unavailable")
	// Moderate fails open.
	if rec := s.do("POST", "/token", "192.0.2.1:1", form(url.Values{"client_id": {"rp"}}), nil); rec.Code != 200 {
		t.Fatalf("moderate with the limiter down: %d", rec.Code)
	}
	// Strict (sign-in) fails closed.
	rec := s.do("POST", "/login", "192.0.2.1:1", form(url.Values{}), nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("strict with the limiter down: %d %v", rec.Code, rec.Header())
	}
	if len(s.rejected) != 0 {
		t.Fatalf("Rejected called for an unavailable limiter: %q", s.rejected)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
