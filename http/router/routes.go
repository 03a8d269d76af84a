package router

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// Rate-limit profiles a route may belong to (their limits are
// configured per node: rate_limit.strict, .moderate, .lenient).
const (
	// Strict: sign-in and ceremonies that guess-prone secrets reach.
	Strict = "strict"
	// Moderate: the protocol endpoints.
	Moderate = "moderate"
	// Lenient: cheap reads (userinfo, discovery, JWKS, page assets).
	Lenient = "lenient"
	// Unlimited: health probes, and the admin API, whose bearer-token
	// check throttles failures per address instead (an operator's
	// authenticated calls must not be counted).
	Unlimited = "none"
)

// Profiles lists the limited profiles in order of strictness.
var Profiles = []string{Strict, Moderate, Lenient}

// Route is one endpoint, declared once by the front end that serves it.
// Mounting, metric labels, CORS and rate limits are all derived from it.
type Route struct {
	Method  string
	Path    string // echo pattern: "/register/:id"
	Handler echo.HandlerFunc
	// Limit is the rate-limit profile (Strict, Moderate, Lenient or
	// Unlimited); it must be set.
	Limit string
	// Group names the rate-limit bucket: routes of one group share it.
	// Empty means the path (GET and POST of a path share one bucket).
	Group string
	// CORS lets the configured browser origins call the route.
	CORS bool
	// Admin marks an operator route: served on admin.listen when one is
	// configured, and then not on the public listener.
	Admin bool
	// Middleware runs around Handler (after the route's rate limit): an
	// admin route's bearer-token check, for example.
	Middleware []echo.MiddlewareFunc
	// Grain names the grain operations the handler calls, for the route
	// table in docs/ARCHITECTURE.md (e.g. "Session.Redeem").
	Grain string
}

// FrontEnd is one front end (discovery, auth, token, ...): a name for
// metric labels and the routes it serves.
type FrontEnd interface {
	Name() string
	Routes() []Route
}

// Entry is a route of the table with the front end that declared it.
type Entry struct {
	Route
	Front string
}

// Handler names the handler function: its package (under the module)
// and its name, for the route table in the docs.
func (e Entry) HandlerName() (pkg, name string) {
	full := runtime.FuncForPC(reflect.ValueOf(e.Handler).Pointer()).Name()
	full = strings.TrimSuffix(full, "-fm") // method values
	// "authrim/http/auth.(*Handler).login" -> "http/auth", "login"
	full = strings.TrimPrefix(full, "authrim/")
	dot := strings.Index(full[strings.LastIndex(full, "/")+1:], ".") + strings.LastIndex(full, "/") + 1
	pkg, name = full[:dot], full[dot+1:]
	if i := strings.LastIndex(name, ")."); i >= 0 {
		name = name[i+2:]
	}
	return pkg, name
}

// group is the route's rate-limit bucket name.
func (e Entry) group() string {
	if e.Group != "" {
		return e.Group
	}
	return e.Path
}

// Table is every route a node serves.
type Table struct {
	entries []Entry
	byPath  map[string]Entry // first entry of each path
}

// NewTable collects the routes of fronts, plus the router's own health
// routes (added by New). It refuses a route declared twice and one
// without a valid profile: an endpoint nobody decided the limit of is a
// bug, found at start.
func NewTable(fronts ...FrontEnd) (*Table, error) {
	t := &Table{byPath: map[string]Entry{}}
	seen := map[string]string{}
	var problems []string
	for _, f := range fronts {
		for _, r := range f.Routes() {
			key := r.Method + " " + r.Path
			if other, dup := seen[key]; dup {
				problems = append(problems, fmt.Sprintf("%s declared by %s and %s", key, other, f.Name()))
				continue
			}
			seen[key] = f.Name()
			if r.Limit != Unlimited && !slices.Contains(Profiles, r.Limit) {
				problems = append(problems, fmt.Sprintf("%s (%s): rate-limit profile %q is not one of %s, %s", key, f.Name(), r.Limit, strings.Join(Profiles, ", "), Unlimited))
			}
			if r.Handler == nil {
				problems = append(problems, fmt.Sprintf("%s (%s): no handler", key, f.Name()))
			}
			e := Entry{Route: r, Front: f.Name()}
			t.entries = append(t.entries, e)
			if _, ok := t.byPath[r.Path]; !ok {
				t.byPath[r.Path] = e
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("router: route table: %s", strings.Join(problems, "; "))
	}
	return t, nil
}

// Entries returns the table's routes in declaration order.
func (t *Table) Entries() []Entry { return slices.Clone(t.entries) }

// HasPath reports whether some route serves path (config names routes
// by path).
func (t *Table) HasPath(path string) bool {
	_, ok := t.byPath[path]
	return ok
}

// SetLimit moves every route of path to profile (an operator's override,
// rate_limit.*_routes). It reports whether path is a route.
func (t *Table) SetLimit(path, profile string) bool {
	found := false
	for i := range t.entries {
		if t.entries[i].Path == path {
			t.entries[i].Limit = profile
			found = true
		}
	}
	if e, ok := t.byPath[path]; ok {
		e.Limit = profile
		t.byPath[path] = e
	}
	return found
}

// frontOf names the front end that serves path, for metric labels;
// "router" for its own routes and for paths no route matched.
func (t *Table) frontOf(path string) string {
	if e, ok := t.byPath[path]; ok {
		return e.Front
	}
	return "router"
}

// corsPaths are the paths browser apps may call cross-origin.
func (t *Table) corsPaths() map[string]bool {
	out := map[string]bool{}
	for _, e := range t.entries {
		if e.CORS {
			out[e.Path] = true
		}
	}
	return out
}

// Mount adds f's routes to e with no middleware of the table's: for
// tests of one front end's handlers.
func Mount(e *echo.Echo, f FrontEnd) {
	for _, r := range f.Routes() {
		e.Add(r.Method, r.Path, r.Handler, r.Middleware...)
	}
}
