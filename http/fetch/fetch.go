package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Errors. Each failure wraps ErrFetch; the text after it is safe to show
// to the client that supplied the URI (it names no internal detail beyond
// what the client already knows).
var (
	ErrFetch = errors.New("fetch")
	// ErrForbiddenAddress: the host resolved to an address that is not
	// allowed (private, loopback, link-local, ...).
	ErrForbiddenAddress = fmt.Errorf("%w: address not allowed", ErrFetch)
	// ErrTooLarge: the body exceeded the size limit.
	ErrTooLarge = fmt.Errorf("%w: response too large", ErrFetch)
	// ErrRedirect: a redirect left the host (or went on too long).
	ErrRedirect = fmt.Errorf("%w: redirect not followed", ErrFetch)
)

// Config of a Fetcher.
type Config struct {
	// AllowPrivate allows private, loopback and link-local addresses
	// (tests, and deployments whose clients live on the same network).
	AllowPrivate bool
	// Timeout bounds one fetch (connect, TLS, headers, body). Default 5 s.
	Timeout time.Duration
	// MaxBytes bounds a body. Default 64 KiB.
	MaxBytes int64
	// RootCAs are the trust anchors for https; nil means the system's.
	RootCAs *x509.CertPool
	// MaxAge caps how long an answer is cached, whatever it says.
	// Default 1 h. CacheEntries bounds the cache. Default 1024.
	MaxAge       time.Duration
	CacheEntries int
	// Now is the clock of the cache. Defaults to time.Now.
	Now func() time.Time
}

// Fetcher fetches documents over https. It is safe for concurrent use.
type Fetcher struct {
	cfg    Config
	client *http.Client
	// poster sends callbacks: the same transport (and address checks),
	// no redirects.
	poster *http.Client
	mu     sync.Mutex
	cache  map[string]entry
}

type entry struct {
	body    []byte
	fetched time.Time
	expires time.Time
}

// New returns a Fetcher.
func New(cfg Config) *Fetcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 10
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Hour
	}
	if cfg.CacheEntries <= 0 {
		cfg.CacheEntries = 1024
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Fetcher{cfg: cfg, cache: map[string]entry{}}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: f.control}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		// Never through a proxy from the environment: the address check
		// must see the real destination.
		Proxy: nil,
	}
	f.client = &http.Client{Transport: transport, Timeout: cfg.Timeout, CheckRedirect: checkRedirect}
	f.poster = &http.Client{Transport: transport, Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		// A callback is answered where it was sent: a redirect would
		// resend the message somewhere its owner did not register.
		return http.ErrUseLastResponse
	}}
	return f
}

// control refuses connections to addresses that are not allowed. It runs
// on the resolved address of every connection, redirects included.
func (f *Fetcher) control(_, address string, _ syscall.RawConn) error {
	if f.cfg.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return ErrForbiddenAddress
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !Public(ip) {
		return ErrForbiddenAddress
	}
	return nil
}

// cgnat is RFC 6598 shared address space; benchmark is RFC 2544.
var (
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	benchmark = netip.MustParsePrefix("198.18.0.0/15")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
)

// Public reports whether ip is an ordinary global unicast address: not
// loopback, private (RFC 1918, RFC 4193), link-local, unspecified,
// multicast, shared (RFC 6598) or IPv4-mapped/NAT64 forms of those.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	switch {
	case !ip.IsValid(), ip.IsLoopback(), ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsMulticast(), ip.IsUnspecified(),
		cgnat.Contains(ip), benchmark.Contains(ip):
		return false
	}
	if ip.Is4() && ip.As4()[0] == 0 {
		return false // "this network"
	}
	return ip.IsGlobalUnicast()
}

// checkRedirect follows at most 3 redirects, all on the original host
// and over https.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > 3 {
		return fmt.Errorf("%w: too many redirects", ErrRedirect)
	}
	if req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return fmt.Errorf("%w: redirect to another host", ErrRedirect)
	}
	return nil
}

// Get fetches rawURL (https only) and returns its body, from the cache
// when a previous answer may still be used.
func (f *Fetcher) Get(ctx context.Context, rawURL string) ([]byte, error) {
	return f.get(ctx, rawURL, 0)
}

// Refetch is Get for a cached answer found wanting (a key set without
// the key a token names: its owner rotated keys): the answer is fetched
// again unless the cached one is younger than minAge. A stream of tokens
// naming unknown keys thus costs at most one fetch per minAge and URL.
func (f *Fetcher) Refetch(ctx context.Context, rawURL string, minAge time.Duration) ([]byte, error) {
	return f.get(ctx, rawURL, max(minAge, time.Nanosecond))
}

// get serves from the cache while an answer may be used and, when
// minAge > 0, only while it is younger than minAge.
func (f *Fetcher) get(ctx context.Context, rawURL string, minAge time.Duration) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%w: not an https URL", ErrFetch)
	}
	// The fragment is not sent (OIDC Core §6.2 uses it to vary a URI).
	u.Fragment, u.RawFragment = "", ""
	key := u.String()
	now := f.cfg.Now()
	f.mu.Lock()
	e, ok := f.cache[key]
	f.mu.Unlock()
	if ok && now.Before(e.expires) && (minAge == 0 || now.Sub(e.fetched) < minAge) {
		return e.body, nil
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, key, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: bad URL", ErrFetch)
	}
	req.Header.Set("Accept", "application/oauth-authz-req+jwt, application/jwt, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, ErrForbiddenAddress):
			return nil, ErrForbiddenAddress
		case errors.Is(err, ErrRedirect):
			return nil, ErrRedirect
		}
		return nil, fmt.Errorf("%w: could not be retrieved", ErrFetch)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: status %d", ErrFetch, resp.StatusCode)
	}
	if resp.ContentLength > f.cfg.MaxBytes {
		return nil, ErrTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: could not be read", ErrFetch)
	}
	if int64(len(body)) > f.cfg.MaxBytes {
		return nil, ErrTooLarge
	}
	if ttl := cacheFor(resp.Header, f.cfg.MaxAge); ttl > 0 {
		f.mu.Lock()
		if len(f.cache) >= f.cfg.CacheEntries {
			for k, old := range f.cache {
				if !now.Before(old.expires) {
					delete(f.cache, k)
				}
			}
			if len(f.cache) >= f.cfg.CacheEntries {
				clear(f.cache)
			}
		}
		f.cache[key] = entry{body: body, fetched: now, expires: now.Add(ttl)}
		f.mu.Unlock()
	}
	return body, nil
}

// Post sends body to rawURL (https only) with the same address checks
// as Get, follows no redirect, and returns the answer's status (its body
// is read up to MaxBytes and dropped). It is for callbacks to URLs a
// client registered: back-channel logout, webhooks.
func (f *Fetcher) Post(ctx context.Context, rawURL, contentType string, body []byte, header http.Header) (int, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return 0, fmt.Errorf("%w: not an https URL", ErrFetch)
	}
	u.Fragment, u.RawFragment = "", ""
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: bad URL", ErrFetch)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := f.poster.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return 0, ErrForbiddenAddress
		}
		return 0, fmt.Errorf("%w: could not be sent", ErrFetch)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, f.cfg.MaxBytes))
	return resp.StatusCode, nil
}

// cacheFor is how long an answer may be reused: its Cache-Control max-age
// (capped), nothing with no-store, no-cache, private... or no max-age
// (RFC 9111 §5.2.2). Expires and heuristics are not used: a document the
// client did not mark cacheable is fetched again.
func cacheFor(h http.Header, limit time.Duration) time.Duration {
	var maxAge time.Duration
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || n <= 0 {
					return 0
				}
				maxAge = time.Duration(min(n, int64(limit/time.Second))) * time.Second
			}
		}
	}
	return min(maxAge, limit)
}

// Document is what GetDocument returns: the body and the answer's
// headers (for its caching rules), never cached by the Fetcher.
type Document struct {
	Body   []byte
	Header http.Header
}

// GetDocument fetches rawURL (https only) with the same address checks
// as Get, but follows no redirect (a 3xx is an error: the document must
// be served at the URL that names it), bounds the body to maxBytes
// (the Fetcher's MaxBytes when 0 or larger), sends accept as the Accept
// header and caches nothing: the caller applies its own caching rules to
// the returned headers.
func (f *Fetcher) GetDocument(ctx context.Context, rawURL, accept string, maxBytes int64) (Document, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return Document{}, fmt.Errorf("%w: not an https URL", ErrFetch)
	}
	if maxBytes <= 0 || maxBytes > f.cfg.MaxBytes {
		maxBytes = f.cfg.MaxBytes
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Document{}, fmt.Errorf("%w: bad URL", ErrFetch)
	}
	req.Header.Set("Accept", accept)
	resp, err := f.poster.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return Document{}, ErrForbiddenAddress
		}
		return Document{}, fmt.Errorf("%w: could not be retrieved", ErrFetch)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return Document{}, fmt.Errorf("%w: status %d", ErrRedirect, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return Document{}, fmt.Errorf("%w: status %d", ErrFetch, resp.StatusCode)
	}
	if resp.ContentLength > maxBytes {
		return Document{}, ErrTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return Document{}, fmt.Errorf("%w: could not be read", ErrFetch)
	}
	if int64(len(body)) > maxBytes {
		return Document{}, ErrTooLarge
	}
	return Document{Body: body, Header: resp.Header}, nil
}

// Response is what Do returns: the status, the headers and the body (at
// most the Fetcher's MaxBytes).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req (https only) with the same address checks as Get, follows
// no redirect, caches nothing, and returns the answer whatever its status.
// It is for protocol exchanges the node makes as a client of an upstream
// provider (token requests, userinfo, REST APIs), whose answers must be
// read even when they are errors.
func (f *Fetcher) Do(ctx context.Context, req *http.Request) (Response, error) {
	u := req.URL
	if u == nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return Response{}, fmt.Errorf("%w: not an https URL", ErrFetch)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()
	resp, err := f.poster.Do(req.WithContext(ctx))
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			return Response{}, ErrForbiddenAddress
		}
		return Response{}, fmt.Errorf("%w: could not be sent", ErrFetch)
	}
	defer resp.Body.Close()
	if resp.ContentLength > f.cfg.MaxBytes {
		return Response{}, ErrTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBytes+1))
	if err != nil {
		return Response{}, fmt.Errorf("%w: could not be read", ErrFetch)
	}
	if int64(len(body)) > f.cfg.MaxBytes {
		return Response{}, ErrTooLarge
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}
