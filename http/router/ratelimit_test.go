package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
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

func (routes) Name() string { return "test" }

// Routes are /login (strict), /token and /par (moderate, one group
// each), and /open (unlimited). /token echoes its form's client_id and
// grant_type, and counts the client as authenticated when its
// client_secret is "right" (as clientauth does through TakeClient).
func (routes) Routes() []router.Route {
	h := func(c echo.Context) error {
		if err := c.Request().ParseForm(); err != nil {
			return c.String(http.StatusBadRequest, "form: "+err.Error())
		}
		f := c.Request().Form
		if f.Get("client_secret") == "right" {
			if err := router.TakeClient(c.Request().Context(), f.Get("client_id")); err != nil {
				return oauth2.Write(c, slog.New(slog.NewTextHandler(io.Discard, nil)), err)
			}
		}
		return c.String(http.StatusOK, f.Get("client_id")+"|"+f.Get("grant_type"))
	}
	return []router.Route{
		{Method: "POST", Path: "/login", Handler: h, Limit: router.Strict},
		{Method: "POST", Path: "/token", Handler: h, Limit: router.Moderate},
		{Method: "GET", Path: "/token", Handler: h, Limit: router.Moderate},
		{Method: "POST", Path: "/par", Handler: h, Limit: router.Moderate},
		{Method: "POST", Path: "/open", Handler: h, Limit: router.Unlimited},
	}
}

type server struct {
	e        *echo.Echo
	limiter  *countLimiter
	rejected []string
}

func newServer(t *testing.T, trusted ...netip.Prefix) *server {
	t.Helper()
	s := &server{limiter: &countLimiter{retry: 1500 * time.Millisecond}}
	cfg := &router.RateLimitConfig{
		Profiles: map[string]router.RateLimitProfile{
			router.Strict:   {Limit: 2, Window: time.Minute, FailClosed: true},
			router.Moderate: {Limit: 3, Window: time.Minute},
		},
		Limiter:  s.limiter,
		Rejected: func(p string) { s.rejected = append(s.rejected, p) },
	}
	table, err := router.NewTable(routes{})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	s.e = router.New(router.Config{
		Ready: func(context.Context) error { return nil }, Logger: logger, RateLimit: cfg, TrustedProxies: trusted,
	}, table).Public
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
	s := newServer(t)
	for i := range 2 {
		if rec := s.do("POST", "/login", "192.0.2.1:1234", form(url.Values{"username": {"a"}}), nil); rec.Code != 200 {
			t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if k := s.limiter.taken(); len(k) != 2 || k[0] != "ip:192.0.2.1:strict:/login" {
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
	// Another address has its own budget; unlimited routes take nothing.
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
	s := newServer(t)
	for i := range 3 {
		rec := s.do("POST", "/login", "192.0.2.1:1", form(url.Values{}), map[string]string{"X-Forwarded-For": "198.51.100." + string(rune('1'+i))})
		if i < 2 && rec.Code != 200 || i == 2 && rec.Code != http.StatusTooManyRequests {
			t.Fatalf("request %d: %d (X-Forwarded-For must not pick the key)", i+1, rec.Code)
		}
	}
	// Behind a trusted proxy it counts: the right-most address that is
	// not a trusted proxy is the client.
	s = newServer(t, netip.MustParsePrefix("192.0.2.0/24"))
	s.do("POST", "/login", "192.0.2.1:1", form(url.Values{}), map[string]string{"X-Forwarded-For": "203.0.113.5, 198.51.100.9, 192.0.2.7"})
	if k := s.limiter.taken(); len(k) != 1 || k[0] != "ip:198.51.100.9:strict:/login" {
		t.Fatalf("keys with a trusted proxy %q", k)
	}
	// From an untrusted peer the header is ignored still.
	s.do("POST", "/login", "203.0.113.1:1", form(url.Values{}), map[string]string{"X-Forwarded-For": "198.51.100.9"})
	if k := s.limiter.taken(); len(k) != 1 || k[0] != "ip:203.0.113.1:strict:/login" {
		t.Fatalf("keys from an untrusted peer %q", k)
	}
}

func TestRateLimitIPv6Per64(t *testing.T) {
	s := newServer(t)
	s.do("POST", "/login", "[2001:db8:1:2:aaaa::1]:1", form(url.Values{}), nil)
	s.do("POST", "/login", "[2001:db8:1:2:bbbb::2]:1", form(url.Values{}), nil)
	if rec := s.do("POST", "/login", "[2001:db8:1:2:cccc::3]:1", form(url.Values{}), nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third address of one /64: %d", rec.Code)
	}
	if k := s.limiter.taken(); k[0] != "ip:2001:db8:1:2::/64:strict:/login" {
		t.Fatalf("key %q", k[0])
	}
}

// TestRateLimitGroupsHaveTheirOwnBudget: routes of one profile do not
// share a bucket (a burst of PAR requests leaves /token alone); GET and
// POST of one path do.
func TestRateLimitGroupsHaveTheirOwnBudget(t *testing.T) {
	s := newServer(t)
	for range 3 {
		s.do("POST", "/par", "192.0.2.1:1", form(url.Values{}), nil)
	}
	if rec := s.do("POST", "/par", "192.0.2.1:1", form(url.Values{}), nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("fourth PAR: %d", rec.Code)
	}
	for i := range 3 {
		method := []string{"POST", "GET", "POST"}[i]
		if rec := s.do(method, "/token", "192.0.2.1:1", form(url.Values{}), nil); rec.Code != 200 {
			t.Fatalf("token %d after PAR's budget ran out: %d", i+1, rec.Code)
		}
	}
	if rec := s.do("GET", "/token", "192.0.2.1:1", nil, nil); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("GET and POST /token do not share a bucket: %d", rec.Code)
	}
}

// TestRateLimitCountsOnlyAuthenticatedClients: a client_id that a request
// merely names is never counted (anyone could exhaust a real client's
// budget for all its users, and make limiter state for any string); once
// the client is authenticated, its own budget applies from any address.
func TestRateLimitCountsOnlyAuthenticatedClients(t *testing.T) {
	s := newServer(t)
	for i := range 10 {
		addr := "192.0.2." + strconv.Itoa(10+i) + ":1"
		rec := s.do("POST", "/token", addr, form(url.Values{"client_id": {"rp"}, "grant_type": {"x"}}), map[string]string{
			"Authorization": "Basic " + basic("rp", "wrong"),
		})
		if rec.Code != 200 || rec.Body.String() != "rp|x" {
			t.Fatalf("claimed client %d: %d %q", i, rec.Code, rec.Body)
		}
	}
	for _, k := range s.limiter.taken() {
		if strings.HasPrefix(k, "client:") {
			t.Fatalf("a claimed client_id was counted: %q", k)
		}
	}
	for i := range 3 {
		rec := s.do("POST", "/token", "192.0.2."+strconv.Itoa(50+i)+":1", form(url.Values{"client_id": {"rp"}, "client_secret": {"right"}}), nil)
		if rec.Code != 200 {
			t.Fatalf("authenticated %d: %d", i+1, rec.Code)
		}
	}
	if k := s.limiter.taken(); len(k) != 6 || k[1] != "client:rp:moderate:/token" {
		t.Fatalf("keys %q", k)
	}
	rec := s.do("POST", "/token", "192.0.2.99:1", form(url.Values{"client_id": {"rp"}, "client_secret": {"right"}}), nil)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Fatalf("authenticated client over its budget from a fresh address: %d %v", rec.Code, rec.Header())
	}
}

func TestRateLimitLimiterDown(t *testing.T) {
	s := newServer(t)
	s.limiter.err = errors.New("actor unavailable")
	// Moderate fails open.
	if rec := s.do("POST", "/token", "192.0.2.1:1", form(url.Values{"client_id": {"rp"}}), nil); rec.Code != 200 {
		t.Fatalf("moderate with the limiter down: %d", rec.Code)
	}
	// Strict (sign-in) fails closed.
	rec := s.do("POST", "/login", "192.0.2.1:1", form(url.Values{}), nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("strict with the limiter down: %d %v", rec.Code, rec.Header())
	}
	if len(s.rejected) != 0 {
		t.Fatalf("Rejected called for an unavailable limiter: %q", s.rejected)
	}
}

type badRoutes []router.Route

func (badRoutes) Name() string             { return "bad" }
func (b badRoutes) Routes() []router.Route { return b }

// TestRouteTableRefusesUndecidedRoutes: a route declared twice, one with
// no rate-limit profile, and one without a handler stop the start.
func TestRouteTableRefusesUndecidedRoutes(t *testing.T) {
	ok := func(echo.Context) error { return nil }
	for _, tt := range []struct {
		name   string
		routes badRoutes
		want   string
	}{
		{"twice", badRoutes{{Method: "GET", Path: "/x", Handler: ok, Limit: router.Lenient}, {Method: "GET", Path: "/x", Handler: ok, Limit: router.Strict}}, "declared by"},
		{"no profile", badRoutes{{Method: "GET", Path: "/x", Handler: ok}}, "rate-limit profile"},
		{"no handler", badRoutes{{Method: "GET", Path: "/x", Limit: router.Lenient}}, "no handler"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := router.NewTable(tt.routes); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
