package management

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/audit"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// AuditPath is the admin route of the audit log.
const AuditPath = "/admin/audit"

// AuditLog answers audit queries (the node: package audit over its
// store, every member's events in one order).
type AuditLog interface {
	QueryAudit(ctx context.Context, f audit.Filter) ([]audit.Event, string, error)
}

// WithAudit adds GET /admin/audit.
func (a *Admin) WithAudit(l AuditLog) *Admin {
	a.audit = l
	return a
}

func (a *Admin) auditRoutes() []router.Route {
	return []router.Route{{Method: http.MethodGet, Path: AuditPath, Handler: a.queryAudit}}
}

// AuditPage answers GET /admin/audit: events in log order and the cursor
// to pass as after= for the ones that follow (the same cursor when there
// were none yet: poll with it).
type AuditPage struct {
	Events []audit.Event `json:"events"`
	Next   string        `json:"next"`
}

// queryAudit: ?after=CURSOR&since=TIME&until=TIME&type=T[*]&sub=S&client_id=C&limit=N.
// Without after or since, the latest events.
func (a *Admin) queryAudit(c echo.Context) error {
	f, err := AuditFilter(c.QueryParams())
	if err != nil {
		return oauth2.Write(c, a.logger, oauth2.ErrInvalidRequest.WithDescription(err.Error()))
	}
	events, next, err := a.audit.QueryAudit(c.Request().Context(), f)
	if err != nil {
		return oauth2.Write(c, a.logger, err) // logged; a server_error answered
	}
	if events == nil {
		events = []audit.Event{}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, AuditPage{Events: events, Next: next})
}

// AuditFilter reads an audit query from its parameters (the admin API's
// and the console's): after, since, until (RFC 3339, or
// YYYY-MM-DDTHH:MM[:SS] in UTC as a browser's date-time field sends it),
// type, sub, client_id and limit. Its errors say which parameter is bad.
func AuditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{After: q.Get("after"), Before: q.Get("before"), Type: strings.TrimSpace(q.Get("type")), Subject: strings.TrimSpace(q.Get("sub")),
		ClientID: strings.TrimSpace(q.Get("client_id"))}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := strings.TrimSpace(q.Get(name)); v != "" {
			t, err := parseAuditTime(v)
			if err != nil {
				return audit.Filter{}, errors.New(name + " must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return audit.Filter{}, errors.New("limit must be a positive number")
		}
		f.Limit = n
	}
	if err := f.Check(); err != nil {
		return audit.Filter{}, err
	}
	return f, nil
}

func parseAuditTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time")
}
