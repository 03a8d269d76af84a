package messages

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Error codes carried in Error.Code.
const (
	CodeNotFound    = "not_found"
	CodeInvalid     = "invalid"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
	// CodeInvalidScope: a scope wider than what was granted.
	CodeInvalidScope = "invalid_scope"
	// CodeInvalidTarget: a resource (RFC 8707) the request or grant
	// does not cover.
	CodeInvalidTarget = "invalid_target"
)

// Sentinels that Err maps codes to; callers compare with errors.Is.
var (
	ErrNotFound    = errors.New("actor: not found")
	ErrInvalid     = errors.New("actor: invalid request")
	ErrUnavailable = errors.New("actor: unavailable")
	ErrInternal    = errors.New("actor: internal error")
	// ErrInvalidScope also matches ErrInvalid.
	ErrInvalidScope = fmt.Errorf("%w: scope", ErrInvalid)
	// ErrInvalidTarget also matches ErrInvalid.
	ErrInvalidTarget = fmt.Errorf("%w: target", ErrInvalid)
)

var codeErrors = map[string]error{
	CodeNotFound:      ErrNotFound,
	CodeInvalid:       ErrInvalid,
	CodeUnavailable:   ErrUnavailable,
	CodeInternal:      ErrInternal,
	CodeInvalidScope:  ErrInvalidScope,
	CodeInvalidTarget: ErrInvalidTarget,
}

// errorCodes is the order ErrorOf looks for sentinels in: the most
// specific first (ErrInvalidScope is also ErrInvalid).
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrNotFound, CodeNotFound},
	{ErrInvalidScope, CodeInvalidScope},
	{ErrInvalidTarget, CodeInvalidTarget},
	{ErrInvalid, CodeInvalid},
	{ErrUnavailable, CodeUnavailable},
	// The work ran out of time (its caller's deadline): not a fault of
	// the request, which may succeed when retried.
	{context.DeadlineExceeded, CodeUnavailable},
	{context.Canceled, CodeUnavailable},
}

// ErrorOf is the Error field of a reply for err: the code of the first
// sentinel err wraps, CodeInternal for anything else, nil for nil. It is
// the one place where an actor's Go error becomes a wire code (Err is
// the way back).
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return NewError(c.code, "%s", err)
		}
	}
	return NewError(CodeInternal, "%s", err)
}

// NewError builds an Error field for a reply.
func NewError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Err turns the Error field of a reply into a Go error wrapping the
// sentinel of its code, or nil when e is nil.
func (e *Error) Err() error {
	if e == nil {
		return nil
	}
	sentinel, ok := codeErrors[e.Code]
	if !ok {
		sentinel = ErrInternal
	}
	// The sender usually wrapped the same sentinel already; say it once.
	return fmt.Errorf("%w: %s", sentinel, strings.TrimPrefix(e.Message, sentinel.Error()+": "))
}
