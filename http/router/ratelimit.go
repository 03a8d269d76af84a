package router

import (
	"context"
	"log/slog"
	"math"
	"net"
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

// RateLimitProfile is the limit of one profile (Strict, Moderate,
// Lenient).
type RateLimitProfile struct {
	// Limit requests per Window, per client address and per
	// authenticated client, in each route group.
	Limit  int
	Window time.Duration
	// FailClosed answers 503 when the limiter cannot answer; otherwise
	// the request goes through and a warning is logged. Sign-in routes
	// fail closed: an unavailable limiter must not become an unlimited
	// password oracle. Protocol routes fail open: an RP's token refresh
	// should not break because a limiter grain is briefly unreachable.
	FailClosed bool
}

// RateLimitConfig configures the routes' limits.
type RateLimitConfig struct {
	// Profiles by name; a route whose profile is missing here is not
	// limited.
	Profiles map[string]RateLimitProfile
	Limiter  Limiter
	// Rejected, when set, is called with the profile's name for every
	// request answered 429 (a metrics hook).
	Rejected func(profile string)
}

// limited is one route's limit.
type limited struct {
	cfg     *RateLimitConfig
	profile string
	group   string
	RateLimitProfile
	logger *slog.Logger
}

type limitKey struct{}

// route is the rate-limit middleware of one route: each request takes
// one from "ip:<client address>:<profile>:<group>", so each route group
// has its own budget. The client address is ClientIP's (the connection's
// peer unless it is a trusted proxy). An IPv6 address is limited per /64,
// the smallest block a single host usually gets.
//
// Clients are counted only once authenticated (TakeClient): a client_id
// as the request claims it is anybody's to name, and counting it would
// let one address exhaust a real client's budget for all its users (and
// create limiter state for any string).
func (cfg *RateLimitConfig) route(e Entry, logger *slog.Logger) echo.MiddlewareFunc {
	p, ok := cfg.Profiles[e.Limit]
	if !ok || e.Limit == Unlimited {
		return nil
	}
	if logger == nil {
		logger = slog.Default()
	}
	l := &limited{cfg: cfg, profile: e.Limit, group: e.group(), RateLimitProfile: p, logger: logger}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if err := l.take(r.Context(), "ip:"+AddressKey(c.RealIP())); err != nil {
				return writeLimited(c, err)
			}
			c.SetRequest(r.WithContext(context.WithValue(r.Context(), limitKey{}, l)))
			return next(c)
		}
	}
}

// TakeClient counts one request of the authenticated client clientID in
// the current route's group, when the route is limited. It returns nil,
// or an *oauth2.Error to answer (429 rate_limited with its Retry-After,
// or 503 when a fail-closed limiter cannot answer).
func TakeClient(ctx context.Context, clientID string) error {
	l, ok := ctx.Value(limitKey{}).(*limited)
	if !ok || clientID == "" {
		return nil
	}
	return l.take(ctx, "client:"+clientID)
}

// take takes one from who's bucket of the route's group.
func (l *limited) take(ctx context.Context, who string) error {
	ok, retry, err := l.cfg.Limiter.Take(ctx, who+":"+l.profile+":"+l.group, l.Limit, l.Window)
	if err != nil {
		if l.FailClosed {
			l.logger.Error("rate limiter unavailable, refusing", "profile", l.profile, "group", l.group, "err", err)
			return oauth2.ErrTemporarilyUnavail.WithDescription("the service is temporarily unavailable; retry shortly").WithRetryAfter(time.Second)
		}
		l.logger.Warn("rate limiter unavailable, allowing", "profile", l.profile, "group", l.group, "err", err)
		return nil
	}
	if ok {
		return nil
	}
	if l.cfg.Rejected != nil {
		l.cfg.Rejected(l.profile)
	}
	kind, _, _ := strings.Cut(who, ":")
	l.logger.Info("rate limited", "profile", l.profile, "group", l.group, "by", kind, "retry_after", retry)
	return RateLimited(retry)
}

// RateLimited is the answer to a request over its limit: 429 with
// Retry-After, rounded up to whole seconds (at least one).
func RateLimited(retry time.Duration) *oauth2.Error {
	secs := int64(math.Ceil(retry.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return oauth2.ErrRateLimited.WithDescription("too many requests; retry after " + strconv.FormatInt(secs, 10) + " s").WithRetryAfter(time.Duration(secs) * time.Second)
}

// writeLimited answers a refused request (no-store, Retry-After).
func writeLimited(c echo.Context, err error) error {
	e := oauth2.From(err)
	oauth2.Note(c, e.Code)
	oauth2.SetRetryAfter(c, e)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(e.Status, e)
}

// AddressKey is the part of a client address that is limited: the
// address itself, or its /64 for IPv6.
func AddressKey(ip string) string {
	a := net.ParseIP(ip)
	if a == nil {
		return ip
	}
	if a.To4() != nil {
		return a.String()
	}
	return a.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
