package router

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"authrim/http/oauth2"
)

// FrontEnd is one mountable front end (discovery, management, ...).
type FrontEnd interface {
	Mount(e *echo.Echo)
}

// Config of the router.
type Config struct {
	// Ready reports whether the node can serve (actors and store up).
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// BodyLimit caps request bodies (echo syntax, e.g. "64K").
	BodyLimit string
	// Observe traces, measures and logs each request (see Observe); it
	// wraps everything after the request id, panics included.
	Observe echo.MiddlewareFunc
	// Middleware runs after the shared middleware (request id, recover,
	// body limit) and before the routes, in order (e.g. RateLimit).
	Middleware []echo.MiddlewareFunc
}

// New builds the echo server with the shared middleware, health routes,
// and the given front ends.
func New(cfg Config, frontEnds ...FrontEnd) *echo.Echo {
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "64K"
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.Use(middleware.RequestID())
	if cfg.Observe != nil {
		e.Use(cfg.Observe)
	}
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true}))
	e.Use(middleware.BodyLimit(cfg.BodyLimit))
	e.Use(cfg.Middleware...)
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := cfg.Ready(ctx); err != nil {
			cfg.Logger.Warn("not ready", "err", err)
			return c.String(http.StatusServiceUnavailable, "not ready\n")
		}
		return c.String(http.StatusOK, "ready\n")
	})
	for _, f := range frontEnds {
		f.Mount(e)
	}
	return e
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
