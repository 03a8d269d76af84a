package fetch

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func tlsServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	s := httptest.NewTLSServer(h)
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return s, pool
}

func TestLoopbackRefusedUnlessAllowed(t *testing.T) {
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("doc")) })
	_, err := New(Config{RootCAs: pool}).Get(context.Background(), s.URL+"/x")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback with the guard on: %v", err)
	}
	b, err := New(Config{RootCAs: pool, AllowPrivate: true}).Get(context.Background(), s.URL+"/x")
	if err != nil || string(b) != "doc" {
		t.Fatalf("loopback allowed: %q %v", b, err)
	}
}

func TestOnlyHTTPS(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("doc")) }))
	defer s.Close()
	f := New(Config{AllowPrivate: true})
	for _, u := range []string{s.URL, "ftp://example.com/x", "https://user:pw@example.com/x", "/relative", "https://"} {
		if _, err := f.Get(context.Background(), u); !errors.Is(err, ErrFetch) {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestRedirects(t *testing.T) {
	other, _ := tlsServer(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("elsewhere")) })
	var s *httptest.Server
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/doc", http.StatusFound)
		case "/other":
			// Same machine, another host name and port.
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/doc", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			w.Write([]byte("doc"))
		}
	})
	_ = s
	pool.AddCert(other.Certificate())
	f := New(Config{RootCAs: pool, AllowPrivate: true})
	if b, err := f.Get(context.Background(), s.URL+"/same"); err != nil || string(b) != "doc" {
		t.Fatalf("redirect on the same host: %q %v", b, err)
	}
	if _, err := f.Get(context.Background(), s.URL+"/other"); !errors.Is(err, ErrRedirect) {
		t.Fatalf("redirect to another host: %v", err)
	}
	if _, err := f.Get(context.Background(), s.URL+"/loop"); !errors.Is(err, ErrRedirect) {
		t.Fatalf("endless redirects: %v", err)
	}
}

func TestSizeLimitAndTimeout(t *testing.T) {
	abandoned := make(chan struct{})
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Write([]byte(strings.Repeat("a", 2048)))
		case "/chunked":
			w.(http.Flusher).Flush() // no Content-Length
			for range 4 {
				w.Write([]byte(strings.Repeat("a", 512)))
				w.(http.Flusher).Flush()
			}
		case "/slow":
			// Never answers: only the fetcher's own timeout ends it.
			<-r.Context().Done()
			close(abandoned)
		case "/404":
			http.NotFound(w, r)
		}
	})
	f := New(Config{RootCAs: pool, AllowPrivate: true, MaxBytes: 1024, Timeout: 200 * time.Millisecond})
	for _, p := range []string{"/big", "/chunked"} {
		if _, err := f.Get(context.Background(), s.URL+p); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := f.Get(context.Background(), s.URL+"/slow"); !errors.Is(err, ErrFetch) {
		t.Errorf("a server that never answers: %v", err)
	}
	// The fetcher gave up on the request (its timeout), the server saw it.
	<-abandoned
	if _, err := f.Get(context.Background(), s.URL+"/404"); !errors.Is(err, ErrFetch) {
		t.Errorf("404: %v", err)
	}
}

func TestCacheControl(t *testing.T) {
	var hits atomic.Int32
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/cached":
			w.Header().Set("Cache-Control", "public, max-age=60")
		case "/nostore":
			w.Header().Set("Cache-Control", "max-age=60, no-store")
		}
		w.Write([]byte("doc"))
	})
	now := time.Now()
	f := New(Config{RootCAs: pool, AllowPrivate: true, Now: func() time.Time { return now }})
	get := func(p string) {
		if _, err := f.Get(context.Background(), s.URL+p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		path    string
		advance time.Duration
		want    int32 // origin hits after two gets
	}{
		{"/cached", 30 * time.Second, 1},
		{"/cached#again", 0, 0}, // same document: the fragment is not part of it
		{"/nostore", 0, 2},
		{"/plain", 0, 2},
	} {
		hits.Store(0)
		get(tc.path)
		now = now.Add(tc.advance)
		get(tc.path)
		if got := hits.Load(); got != tc.want {
			t.Errorf("%s: %d origin requests, want %d", tc.path, got, tc.want)
		}
	}
	// Past max-age it is fetched again.
	hits.Store(0)
	now = now.Add(time.Minute)
	get("/cached")
	if hits.Load() != 1 {
		t.Error("an expired entry was served")
	}
}

// TestRefetch: a cached answer found wanting is fetched again, but not
// more than once per minAge, however many callers ask (a stream of
// tokens naming unknown keys must not become a stream of fetches).
func TestRefetch(t *testing.T) {
	var hits atomic.Int32
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write([]byte{byte('0' + n)})
	})
	now := time.Now()
	f := New(Config{RootCAs: pool, AllowPrivate: true, Now: func() time.Time { return now }})
	ctx := context.Background()
	if b, _ := f.Get(ctx, s.URL); string(b) != "1" {
		t.Fatalf("first get %q", b)
	}
	// Younger than minAge: the cache answers, nothing is fetched.
	now = now.Add(10 * time.Second)
	for range 5 {
		if b, _ := f.Refetch(ctx, s.URL, 30*time.Second); string(b) != "1" || hits.Load() != 1 {
			t.Fatalf("refetch within minAge: %q, %d fetches", b, hits.Load())
		}
	}
	// Older: fetched again once, and the new answer is what Get serves.
	now = now.Add(30 * time.Second)
	for range 5 {
		if b, _ := f.Refetch(ctx, s.URL, 30*time.Second); string(b) != "2" || hits.Load() != 2 {
			t.Fatalf("refetch past minAge: %q, %d fetches", b, hits.Load())
		}
	}
	if b, _ := f.Get(ctx, s.URL); string(b) != "2" {
		t.Fatalf("get after refetch %q", b)
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2001:4860:4860::8888": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fc00::1": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "64:ff9b::a9fe:a9fe": false,
	} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v", addr, got)
		}
	}
}

// Post is for callbacks to registered URLs: the same address guard as
// Get, https only, and a redirect is not followed (it would carry the
// message to a URL nobody registered).
func TestPost(t *testing.T) {
	var got atomic.Value
	var redirected atomic.Bool
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		case "/elsewhere":
			redirected.Store(true)
		default:
			b := make([]byte, 64)
			n, _ := r.Body.Read(b)
			got.Store(r.Method + " " + r.Header.Get("Content-Type") + " " + r.Header.Get("X-Test") + " " + string(b[:n]))
			w.WriteHeader(http.StatusAccepted)
		}
	})
	ctx := context.Background()
	if _, err := New(Config{RootCAs: pool}).Post(ctx, s.URL+"/cb", "text/plain", []byte("x"), nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback with the guard on: %v", err)
	}
	f := New(Config{RootCAs: pool, AllowPrivate: true})
	code, err := f.Post(ctx, s.URL+"/cb#frag", "application/x-www-form-urlencoded", []byte("a=b"), http.Header{"X-Test": {"1"}})
	if err != nil || code != http.StatusAccepted || got.Load() != "POST application/x-www-form-urlencoded 1 a=b" {
		t.Fatalf("post: %d %v %v", code, err, got.Load())
	}
	if code, err := f.Post(ctx, s.URL+"/moved", "text/plain", nil, nil); err != nil || code != http.StatusTemporaryRedirect || redirected.Load() {
		t.Fatalf("redirect followed or hidden: %d %v %v", code, err, redirected.Load())
	}
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	if _, err := f.Post(ctx, plain.URL, "text/plain", nil, nil); !errors.Is(err, ErrFetch) {
		t.Fatalf("plain http: %v", err)
	}
}

// TestGetDocument: GetDocument follows no redirect (not even on the same
// host), sends the caller's Accept, bounds the body by the caller's
// limit (never above MaxBytes), caches nothing and keeps the guard.
func TestGetDocument(t *testing.T) {
	var fetches atomic.Int32
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/doc", http.StatusFound)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		default:
			w.Header().Set("Cache-Control", "max-age=600")
			w.Write([]byte(r.Header.Get("Accept")))
		}
	})
	ctx := context.Background()
	if _, err := New(Config{RootCAs: pool}).GetDocument(ctx, s.URL+"/doc", "application/json", 0); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback with the guard on: %v", err)
	}
	f := New(Config{RootCAs: pool, AllowPrivate: true, MaxBytes: 4096})
	d, err := f.GetDocument(ctx, s.URL+"/doc", "application/json", 100)
	if err != nil || string(d.Body) != "application/json" || d.Header.Get("Cache-Control") != "max-age=600" {
		t.Fatalf("doc: %q %v %v", d.Body, d.Header, err)
	}
	before := fetches.Load()
	f.GetDocument(ctx, s.URL+"/doc", "application/json", 100)
	if fetches.Load() != before+1 {
		t.Fatal("GetDocument answered from a cache")
	}
	if _, err := f.GetDocument(ctx, s.URL+"/same", "application/json", 100); !errors.Is(err, ErrRedirect) {
		t.Fatalf("redirect on the same host: %v", err)
	}
	if _, err := f.GetDocument(ctx, s.URL+"/big", "application/json", 1024); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the caller's limit: %v", err)
	}
	if _, err := New(Config{RootCAs: pool, AllowPrivate: true, MaxBytes: 1024}).GetDocument(ctx, s.URL+"/big", "application/json", 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over MaxBytes: %v", err)
	}
	for _, u := range []string{"http://localhost/x", s.URL + "/doc#f", "https://u@localhost/x"} {
		if _, err := f.GetDocument(ctx, u, "application/json", 0); !errors.Is(err, ErrFetch) {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestKeySet: a set that has the kid a token names is served from the
// cache; one that lacks it is fetched again past KeyRefetchInterval
// only, and a set that still lacks it is what the caller gets (the
// token then fails to verify).
func TestKeySet(t *testing.T) {
	var hits atomic.Int32
	var doc atomic.Value
	doc.Store(`{"keys":[{"kty":"oct","kid":"a"}]}`)
	s, pool := tlsServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write([]byte(doc.Load().(string)))
	})
	now := time.Now()
	f := New(Config{RootCAs: pool, AllowPrivate: true, Now: func() time.Time { return now }})
	ctx := context.Background()
	get := func(kid string) string {
		t.Helper()
		b, err := f.KeySet(ctx, s.URL, kid)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	get("a")
	get("a")
	get("")
	if hits.Load() != 1 {
		t.Fatalf("%d fetches for a known kid, want 1", hits.Load())
	}
	doc.Store(`{"keys":[{"kty":"oct","kid":"b"}]}`)
	for range 3 {
		if !strings.Contains(get("b"), `"a"`) || hits.Load() != 1 {
			t.Fatalf("refetched within the interval: %d fetches", hits.Load())
		}
	}
	now = now.Add(KeyRefetchInterval + time.Second)
	for range 3 {
		if !strings.Contains(get("b"), `"b"`) || hits.Load() != 2 {
			t.Fatalf("rotated set not fetched once: %d fetches", hits.Load())
		}
	}
	now = now.Add(KeyRefetchInterval + time.Second)
	for range 3 {
		if !strings.Contains(get("made-up"), `"b"`) || hits.Load() != 3 {
			t.Fatalf("unknown kid: %d fetches, want 3", hits.Load())
		}
	}
}

// TestDo: a protocol exchange (a token request) reads error answers too,
// follows no redirect, and keeps the guard: https only, no loopback
// unless allowed, bounded bodies.
func TestDo(t *testing.T) {
	s, pool := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
		case "/moved":
			http.Redirect(w, r, "/token", http.StatusFound)
		case "/big":
			w.Write(make([]byte, 2048))
		}
	}))
	ctx := context.Background()
	req := func(path string) *http.Request {
		r, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader("grant_type=x"))
		return r
	}
	if _, err := New(Config{RootCAs: pool}).Do(ctx, req("/token")); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("loopback without the allowance: %v", err)
	}
	f := New(Config{RootCAs: pool, AllowPrivate: true, MaxBytes: 1024})
	resp, err := f.Do(ctx, req("/token"))
	if err != nil || resp.Status != http.StatusBadRequest || string(resp.Body) != `{"error":"invalid_grant"}` {
		t.Fatalf("error answer: %+v %v", resp, err)
	}
	if resp, err := f.Do(ctx, req("/moved")); err != nil || resp.Status != http.StatusFound {
		t.Fatalf("redirect followed: %+v %v", resp, err)
	}
	if _, err := f.Do(ctx, req("/big")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("large body: %v", err)
	}
	plain, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.Replace(s.URL, "https://", "http://", 1), nil)
	if _, err := f.Do(ctx, plain); !errors.Is(err, ErrFetch) {
		t.Fatalf("http URL: %v", err)
	}
}
