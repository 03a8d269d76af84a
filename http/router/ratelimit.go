package router

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
)

// Limiter takes one request from a key's budget of limit per window. The
// RateLimiter grains (cluster.RateLimits) implement it, cluster-wide.
type Limiter interface {
	Take(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, retryAfter time.Duration, err error)
}

// RateLimitProfile is one class of routes sharing a limit.
type RateLimitProfile struct {
	// Name appears in keys ("ip:<addr>:<name>"), logs and Rejected.
	Name string
	// Limit requests per Window, per client IP and per client_id.
	Limit  int
	Window time.Duration
	// Routes are echo route paths (c.Path()), e.g. "/token".
	Routes []string
	// FailClosed answers 503 when the limiter cannot answer; otherwise
	// the request goes through and a warning is logged. Sign-in routes
	// fail closed: an unavailable limiter must not become an unlimited
	// password oracle. Protocol routes fail open: an RP's token refresh
	// should not break because a limiter grain is briefly unreachable.
	FailClosed bool
}

// RateLimitConfig configures RateLimit.
type RateLimitConfig struct {
	// Profiles in order of precedence: a route listed in two profiles
	// belongs to the first.
	Profiles []RateLimitProfile
	// Rejected, when set, is called with the profile's name for every
	// request answered 429 (a metrics hook).
	Rejected func(profile string)
}

// Keys longer than this are not client-keyed (no client_id is that long;
// the key must stay a reasonable grain identity).
const maxClientIDLen = 256

// maxFormPeek bounds how much of a form body is read to find client_id.
const maxFormPeek = 64 << 10

// RateLimit limits requests to the configured routes. Each request takes
// one from "ip:<client address>:<profile>" and, when it names a client
// (HTTP Basic user name, or client_id in a form body or the query), one
// from "client:<client_id>:<profile>"; either refused answers 429 with
// Retry-After. The client_id is as the caller claims it, before any
// authentication.
//
// The client address is the connection's peer address unless the echo
// instance has an IPExtractor (set one only behind a trusted proxy):
// echo's default would believe any X-Forwarded-For, which would let every
// request pick its own key. An IPv6 address is limited per /64, the
// smallest block a single host usually gets.
//
// A form body read to find client_id is put back unchanged for the
// handler; nothing else is parsed.
func RateLimit(cfg RateLimitConfig, limiter Limiter, logger *slog.Logger) echo.MiddlewareFunc {
	if logger == nil {
		logger = slog.Default()
	}
	routes := map[string]*RateLimitProfile{}
	for i := range cfg.Profiles {
		p := &cfg.Profiles[i]
		for _, r := range p.Routes {
			if _, taken := routes[r]; !taken {
				routes[r] = p
			}
		}
	}
	direct := echo.ExtractIPDirect()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := routes[c.Path()]
			if p == nil {
				return next(c)
			}
			r := c.Request()
			ip := direct(r)
			if c.Echo().IPExtractor != nil {
				ip = c.RealIP()
			}
			keys := []string{"ip:" + addressKey(ip) + ":" + p.Name}
			if id := clientID(r); id != "" {
				keys = append(keys, "client:"+id+":"+p.Name)
			}
			for _, key := range keys {
				ok, retry, err := limiter.Take(r.Context(), key, p.Limit, p.Window)
				if err != nil {
					if p.FailClosed {
						logger.Error("rate limiter unavailable, refusing", "profile", p.Name, "path", c.Path(), "err", err)
						return unavailable(c)
					}
					logger.Warn("rate limiter unavailable, allowing", "profile", p.Name, "path", c.Path(), "err", err)
					continue
				}
				if !ok {
					if cfg.Rejected != nil {
						cfg.Rejected(p.Name)
					}
					kind, _, _ := strings.Cut(key, ":")
					logger.Info("rate limited", "profile", p.Name, "path", c.Path(), "by", kind, "retry_after", retry)
					return tooMany(c, retry)
				}
			}
			return next(c)
		}
	}
}

func tooMany(c echo.Context, retry time.Duration) error {
	secs := int64(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	h := c.Response().Header()
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	h.Set("Cache-Control", "no-store")
	return c.JSON(http.StatusTooManyRequests, &oauth2.Error{
		Code:        "rate_limited",
		Description: "too many requests; retry after " + strconv.FormatInt(secs, 10) + " s",
	})
}

func unavailable(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Retry-After", "1")
	h.Set("Cache-Control", "no-store")
	return c.JSON(http.StatusServiceUnavailable, &oauth2.Error{
		Code:        "temporarily_unavailable",
		Description: "the service is temporarily unavailable; retry shortly",
	})
}

// addressKey is the part of a client address that is limited: the
// address itself, or its /64 for IPv6.
func addressKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil {
		return ip
	}
	if a.To4() != nil {
		return a.String()
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// clientID is the client a request names: the HTTP Basic user name
// (form-decoded, RFC 6749 §2.3.1), else a single client_id in a form
// body, else in the query. Empty when none or when implausible.
func clientID(r *http.Request) string {
	id := ""
	if user, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(user); err == nil {
			id = u
		} else {
			id = user
		}
	} else if v := peekForm(r); len(v["client_id"]) == 1 {
		id = v["client_id"][0]
	} else if q := r.URL.Query(); len(q["client_id"]) == 1 {
		id = q["client_id"][0]
	}
	if len(id) > maxClientIDLen {
		return ""
	}
	return id
}

// peekForm parses a copy of a form body and puts the body back exactly as
// it was (including a read error, such as the body limit's), so the
// handler parses it as if nothing had read it. Bodies that are not forms,
// already parsed, or longer than maxFormPeek are not looked at.
func peekForm(r *http.Request) url.Values {
	if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody || r.PostForm != nil ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil
	}
	body := r.Body
	b, err := io.ReadAll(io.LimitReader(body, maxFormPeek+1))
	var rest io.Reader = body
	if err != nil {
		rest = errReader{err}
	}
	r.Body = readCloser{Reader: io.MultiReader(bytes.NewReader(b), rest), Closer: body}
	if err != nil || len(b) > maxFormPeek {
		return nil
	}
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return nil
	}
	return v
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type readCloser struct {
	io.Reader
	io.Closer
}
