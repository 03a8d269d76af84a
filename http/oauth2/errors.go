package oauth2

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

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
	// RetryAfter, when set, is sent as Retry-After (RFC 9110 §10.2.3)
	// with a 429 or 503 answer.
	RetryAfter time.Duration `json:"-"`
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

// WithRetryAfter returns a copy of e that tells the client when to retry.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// SetRetryAfter sets the Retry-After header of e's answer, if it has one
// (whole seconds, at least one).
func SetRetryAfter(c echo.Context, e *Error) {
	if e.RetryAfter <= 0 {
		return
	}
	secs := int64((e.RetryAfter + time.Second - 1) / time.Second)
	c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// Is matches errors of the same code, so errors.Is(err, ErrInvalidRequest)
// holds for any copy.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Error templates (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; OIDC Core
// §3.1.2.6; RFC 7009 §2.2.1).
var (
	ErrInvalidRequest     = &Error{Code: "invalid_request", Status: http.StatusBadRequest}
	ErrUnauthorized       = &Error{Code: "unauthorized", Status: http.StatusUnauthorized}
	ErrNotFound           = &Error{Code: "not_found", Status: http.StatusNotFound}
	ErrConflict           = &Error{Code: "conflict", Status: http.StatusConflict}
	ErrServerError        = &Error{Code: "server_error", Status: http.StatusInternalServerError}
	ErrTemporarilyUnavail = &Error{Code: "temporarily_unavailable", Status: http.StatusServiceUnavailable}
	// ErrRateLimited: too many requests (RFC 6585 §4); no OAuth code
	// exists for it.
	ErrRateLimited = &Error{Code: "rate_limited", Status: http.StatusTooManyRequests}

	ErrInvalidClient        = &Error{Code: "invalid_client", Status: http.StatusUnauthorized}
	ErrInvalidGrant         = &Error{Code: "invalid_grant", Status: http.StatusBadRequest}
	ErrUnauthorizedClient   = &Error{Code: "unauthorized_client", Status: http.StatusBadRequest}
	ErrUnsupportedGrantType = &Error{Code: "unsupported_grant_type", Status: http.StatusBadRequest}
	ErrInvalidScope         = &Error{Code: "invalid_scope", Status: http.StatusBadRequest}
	ErrInvalidToken         = &Error{Code: "invalid_token", Status: http.StatusUnauthorized}
	ErrUnsupportedTokenType = &Error{Code: "unsupported_token_type", Status: http.StatusBadRequest}
	// ErrInvalidTarget: a resource (RFC 8707 §2) that is unknown, not
	// an absolute URI, or not covered by the request or grant.
	ErrInvalidTarget = &Error{Code: "invalid_target", Status: http.StatusBadRequest}
	// DPoP (RFC 9449 §5, §8): a missing, malformed or mismatched proof,
	// and a proof without the current server nonce. At a resource they
	// are 401s with a DPoP challenge (the resource sets it).
	ErrInvalidDPoPProof = &Error{Code: "invalid_dpop_proof", Status: http.StatusBadRequest}
	ErrUseDPoPNonce     = &Error{Code: "use_dpop_nonce", Status: http.StatusBadRequest}

	// Authorization endpoint errors travel in the redirect, not a status.
	ErrAccessDenied            = &Error{Code: "access_denied", Status: http.StatusBadRequest}
	ErrUnsupportedResponseType = &Error{Code: "unsupported_response_type", Status: http.StatusBadRequest}
	ErrLoginRequired           = &Error{Code: "login_required", Status: http.StatusBadRequest}
	ErrInteractionRequired     = &Error{Code: "interaction_required", Status: http.StatusBadRequest}
	ErrConsentRequired         = &Error{Code: "consent_required", Status: http.StatusBadRequest}
	ErrAccountSelectionReq     = &Error{Code: "account_selection_required", Status: http.StatusBadRequest}
	ErrRequestNotSupported     = &Error{Code: "request_not_supported", Status: http.StatusBadRequest}
	ErrRequestURINotSupported  = &Error{Code: "request_uri_not_supported", Status: http.StatusBadRequest}
	// OIDC Core §6.4, RFC 9101 §7.
	ErrInvalidRequestURI    = &Error{Code: "invalid_request_uri", Status: http.StatusBadRequest}
	ErrInvalidRequestObject = &Error{Code: "invalid_request_object", Status: http.StatusBadRequest}

	// Device authorization grant polling (RFC 8628 §3.5). access_denied
	// is ErrAccessDenied.
	ErrAuthorizationPending = &Error{Code: "authorization_pending", Status: http.StatusBadRequest}
	ErrSlowDown             = &Error{Code: "slow_down", Status: http.StatusBadRequest}
	ErrExpiredToken         = &Error{Code: "expired_token", Status: http.StatusBadRequest}

	// Client registration (RFC 7591 §3.2.2).
	ErrInvalidRedirectURI    = &Error{Code: "invalid_redirect_uri", Status: http.StatusBadRequest}
	ErrInvalidClientMetadata = &Error{Code: "invalid_client_metadata", Status: http.StatusBadRequest}
)

// retryable is the answer to a request the node could not complete in
// time: 503, retry after a second.
var retryable = ErrTemporarilyUnavail.WithDescription("the service is temporarily unavailable; retry shortly").WithRetryAfter(time.Second)

// table maps domain sentinels to responses: the one place this happens.
var table = []struct {
	err  error
	resp *Error
}{
	{messages.ErrNotFound, ErrNotFound},
	{persistence.ErrNotFound, ErrNotFound},
	{messages.ErrInvalidTarget, ErrInvalidTarget},
	{messages.ErrInvalid, ErrInvalidRequest},
	// A grain, the store or the cluster could not answer in time: the
	// request may well succeed a moment later (RFC 6749 §4.1.2.1,
	// RFC 9110 §15.6.4).
	{messages.ErrUnavailable, retryable},
	{context.DeadlineExceeded, retryable},
	{persistence.ErrClosed, retryable},
	{persistence.ErrConflict, ErrConflict},
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

// ErrorKey is the echo context key under which the error code of an
// answer is left for the access log and metrics.
const ErrorKey = "oauth2.error"

// Note records the error code of the current answer for observability.
func Note(c echo.Context, code string) { c.Set(ErrorKey, code) }

// Write sends err as a JSON error body with Cache-Control: no-store. The
// cause is logged; only the mapped code (and a description chosen by the
// handler through WithDescription) reaches the client.
func Write(c echo.Context, logger *slog.Logger, err error) error {
	resp := From(err)
	Note(c, resp.Code)
	if resp.Status >= 500 || !isOAuthError(err) {
		logger.Warn("request failed", "path", c.Path(), "code", resp.Code, "err", err)
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	SetRetryAfter(c, resp)
	if resp.Status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		if resp.Code == ErrInvalidClient.Code {
			// RFC 6749 §5.2: the challenge of client authentication.
			h.Set("WWW-Authenticate", `Basic realm="authrim"`)
		} else {
			h.Set("WWW-Authenticate", `Bearer realm="authrim", error="`+resp.Code+`"`)
		}
	}
	return c.JSON(resp.Status, resp)
}

func isOAuthError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
