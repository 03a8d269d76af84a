package router

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"authrim/http/oauth2"
	"authrim/telemetry"
)

// Config of the router.
type Config struct {
	// Ready reports whether the node can serve (actors and store up).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// BodyLimit caps request bodies (echo syntax, e.g. "64K").
	BodyLimit string
	// Telemetry, when set, traces, measures and logs each request to
	// AccessLog (see Observe); nil leaves instrumentation out.
	Telemetry *telemetry.Telemetry
	AccessLog *slog.Logger
	// CORSOrigins may call the routes that declare CORS.
	CORSOrigins []string
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// (see ClientIP); empty: none, the client is the connection's peer.
	TrustedProxies []netip.Prefix
	// RateLimit, when set, limits every route by its profile.
	RateLimit *RateLimitConfig
	// SeparateAdmin serves the admin routes on their own server
	// (admin.listen) and not on the public one.
	SeparateAdmin bool
}

// Servers are the echo servers of a node: the public one, and the admin
// one when the admin routes are served apart (nil otherwise).
type Servers struct {
	Public, Admin *echo.Echo
}

// New builds the servers for table: shared middleware (request id,
// instrumentation, panic recovery, body limit, CORS), the health routes,
// and each route with its rate limit.
func New(cfg Config, table *Table) *Servers {
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "64K"
	}
	s := &Servers{Public: cfg.newEcho(table)}
	s.Public.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	s.Public.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := cfg.Ready(ctx); err != nil {
			cfg.Logger.Warn("not ready", "err", err)
			return c.String(http.StatusServiceUnavailable, "not ready\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	if cfg.SeparateAdmin {
		s.Admin = cfg.newEcho(table)
	}
	for _, e := range table.entries {
		target := s.Public
		if e.Admin && s.Admin != nil {
			target = s.Admin
		}
		var mw []echo.MiddlewareFunc
		if cfg.RateLimit != nil {
			if m := cfg.RateLimit.route(e, cfg.Logger); m != nil {
				mw = append(mw, m)
			}
		}
		target.Add(e.Method, e.Path, e.Handler, append(mw, e.Middleware...)...)
	}
	return s
}

// newEcho is an echo server with the shared middleware.
func (cfg Config) newEcho(table *Table) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.IPExtractor = ClientIP(cfg.TrustedProxies)
	e.Use(middleware.RequestID())
	if cfg.Telemetry != nil {
		e.Use(Observe(cfg.Telemetry, cfg.AccessLog, table.frontOf))
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true}))
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(CORS(cfg.CORSOrigins, table.corsPaths()))
	return e
}

// ClientIP is how every part of a node learns a request's client address
// (rate limits, access log, audit): the connection's peer, unless that
// peer is a trusted proxy, in which case X-Forwarded-For is read from the
// right, skipping trusted proxies, and the first other address is the
// client. With no trusted proxies the header is never believed: a client
// could otherwise pick its own address (and its own rate-limit bucket).
func ClientIP(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

func prefixNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// errorHandler answers echo's own errors (404, 405, 413, ...) in the same
// JSON shape as the front ends, with no internals.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		if he, ok := err.(*echo.HTTPError); ok {
			code := "invalid_request"
			switch {
			case he.Code == http.StatusNotFound:
				code = "not_found"
			case he.Code == http.StatusMethodNotAllowed:
				code = "method_not_allowed"
			case he.Code == http.StatusRequestEntityTooLarge:
				code = "request_too_large"
			case he.Code >= 500:
				code = "server_error"
			}
			c.Response().Header().Set("Cache-Control", "no-store")
			_ = c.JSON(he.Code, &oauth2.Error{Code: code})
			return
		}
		_ = oauth2.Write(c, logger, err)
	}
}
