package router

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"authrim/http/oauth2"
	"authrim/telemetry"
)

// Observe traces, measures and logs every request: a span continuing any
// incoming trace context, the per-route metrics, and one access-log line.
// The line carries the route pattern, never the query or the body, so no
// code, token, password or secret can reach the log.
//
// frontOf names the front end of a route pattern (the route table's).
func Observe(t *telemetry.Telemetry, logger *slog.Logger, frontOf func(route string) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			req := c.Request()
			ctx := telemetry.Propagator.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
			route := c.Path()
			ctx, span := t.Tracer.Start(ctx, req.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer))
			c.SetRequest(req.WithContext(ctx))
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			status := c.Response().Status
			front := frontOf(route)
			elapsed := time.Since(start)
			t.HTTPRequests.WithLabelValues(front, route, req.Method, strconv.Itoa(status)).Inc()
			t.HTTPDuration.WithLabelValues(front, route).Observe(elapsed.Seconds())
			code, _ := c.Get(oauth2.ErrorKey).(string)
			if code == "" && status >= 400 {
				code = strconv.Itoa(status)
			}
			if code != "" {
				t.HTTPErrors.WithLabelValues(front, route, code).Inc()
				span.SetAttributes(attribute.String("oauth.error", code))
			}
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, code)
			}
			span.End()
			if !logger.Enabled(ctx, slog.LevelInfo) {
				// No access log at this level: skip building the line.
				return nil
			}
			attrs := []any{
				"method", req.Method, "route", route, "status", status,
				"duration_ms", float64(elapsed.Microseconds()) / 1000, "bytes", c.Response().Size,
				"remote_ip", c.RealIP(), "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			}
			if sc := span.SpanContext(); sc.IsValid() {
				attrs = append(attrs, "trace_id", sc.TraceID().String())
			}
			if code != "" {
				attrs = append(attrs, "error", code)
			}
			logger.Info("http request", attrs...)
			return nil
		}
	}
}
