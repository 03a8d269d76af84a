package management

import (
	"context"
	"net/http"
	"strconv"
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

// queryAudit: ?after=CURSOR&since=RFC3339&until=RFC3339&type=T[*]&sub=S&client_id=C&limit=N.
// Without after or since, the latest events.
func (a *Admin) queryAudit(c echo.Context) error {
	q := c.QueryParams()
	f := audit.Filter{After: q.Get("after"), Type: q.Get("type"), Subject: q.Get("sub"), ClientID: q.Get("client_id")}
	bad := func(msg string) error {
		return oauth2.Write(c, a.logger, oauth2.ErrInvalidRequest.WithDescription(msg))
	}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return bad(name + " must be an RFC 3339 time")
			}
			*dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return bad("limit must be a positive number")
		}
		f.Limit = n
	}
	if err := f.Check(); err != nil {
		return bad(err.Error())
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
