package oauth2

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/persistence"
)

// TestErrorTable: domain errors map to their answers in one place; what
// the node could not do in time (a grain, the store or the cluster not
// answering) is 503 temporarily_unavailable with Retry-After, never a
// 500, and no cause reaches the body.
func TestErrorTable(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"actor timeout", fmt.Errorf("%w: cluster: actor request timed out: Session/abc", messages.ErrUnavailable), 503, "temporarily_unavailable", "1"},
		{"deadline", fmt.Errorf("etcd get: %w", context.DeadlineExceeded), 503, "temporarily_unavailable", "1"},
		{"store closed", persistence.ErrClosed, 503, "temporarily_unavailable", "1"},
		{"not found", fmt.Errorf("%w: no such session", messages.ErrNotFound), 404, "not_found", ""},
		{"invalid", messages.ErrInvalid, 400, "invalid_request", ""},
		{"conflict", persistence.ErrConflict, 409, "conflict", ""},
		{"anything else", errors.New("disk on fire at /var/lib/x"), 500, "server_error", ""},
		{"rate limited", ErrRateLimited.WithRetryAfter(1500 * 1e6), 429, "rate_limited", "2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			rec := httptest.NewRecorder()
			c := e.NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
			if err := Write(c, logger, tt.err); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status || rec.Header().Get("Retry-After") != tt.retryAfter || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d Retry-After %q Cache-Control %q, want %d %q", rec.Code, rec.Header().Get("Retry-After"), rec.Header().Get("Cache-Control"), tt.status, tt.retryAfter)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != tt.code {
				t.Fatalf("body %s", rec.Body)
			}
			if strings.Contains(rec.Body.String(), "fire") || strings.Contains(rec.Body.String(), "Session/abc") {
				t.Fatalf("a cause reached the body: %s", rec.Body)
			}
		})
	}
}
