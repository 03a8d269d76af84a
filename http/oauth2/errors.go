package oauth2

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/persistence"
)

// Error is an OAuth-style error response. Values are templates: copy them
// with WithDescription, never modify the package-level ones.
type Error struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Status      int    `json:"-"`
}

func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// WithDescription returns a copy of e carrying a human-readable text that
// is safe to show to the client.
func (e *Error) WithDescription(d string) *Error {
	c := *e
	c.Description = d
	return &c
}

// Is matches errors of the same code, so errors.Is(err, ErrInvalidRequest)
// holds for any copy.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Error templates (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1).
var (
	ErrInvalidRequest     = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrUnauthorized       = &Error{Code: "unauthorized", Status: http.StatusUnauthorized}
	ErrNotFound           = &Error{Code: "not_found", Status: http.StatusNotFound}
	ErrServerError        = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	ErrTemporarilyUnavail = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable}
)

// table maps domain sentinels to responses: the one place this happens.
var table = []struct {
	err  error
	resp *Error
}{
	{messages.ErrNotFound, ErrNotFound},
	{persistence.ErrNotFound, ErrNotFound},
	{messages.ErrInvalid, ErrInvalidRequest},
	{messages.ErrUnavailable, ErrTemporarilyUnavail},
	{persistence.ErrConflict, ErrTemporarilyUnavail},
}

// From maps any error to the response to send.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, row := range table {
		if errors.Is(err, row.err) {
			return row.resp
		}
	}
	return ErrServerError
}

// Write sends err as a JSON error body with Cache-Control: no-store. The
// cause is logged; only the mapped code (and a description chosen by the
// handler through WithDescription) reaches the client.
func Write(c echo.Context, logger *slog.Logger, err error) error {
	resp := From(err)
	if resp.Status >= 500 || !isOAuthError(err) {
		logger.Warn("request failed", "path", c.Path(), "code", resp.Code, "err", err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if resp.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="authrim"`)
	}
	return c.JSON(resp.Status, resp)
}

func isOAuthError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
