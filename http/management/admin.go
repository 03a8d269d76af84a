package management

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/audit"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// KeyAdmin is what the admin API asks of the KeyManager.
type KeyAdmin interface {
	List(ctx context.Context) (*messages.KeySet, error)
	Rotate(ctx context.Context, alg string) (*messages.KeySet, error)
	Revoke(ctx context.Context, kid, reason string) (*messages.KeySet, error)
}

// Throttle counts attempts at the admin token per client address (the
// RateLimiter grains): each is counted before the token is checked, and
// refused while the failures so far call for a delay.
type Throttle interface {
	Attempt(ctx context.Context, key string, b ratelimit.Backoff) (allowed bool, retryAfter time.Duration, err error)
	Succeeded(ctx context.Context, key string) error
}

// AdminBackoff slows guessing of the admin token from one address: five
// failures free (typos), then 1 s doubling to a minute. 60 wrong tokens
// sent at once from one address meet a 429 at the sixth.
var AdminBackoff = ratelimit.Backoff{Free: 5, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}

// Admin serves /admin/*.
type Admin struct {
	tokenSum [32]byte
	keys     KeyAdmin
	logger   *slog.Logger
	// throttle, when set, slows failed authentications (WithThrottle).
	throttle Throttle
	// cluster serves /admin/cluster; nil leaves it unmounted.
	cluster ClusterOps
	// directory serves /admin/users and /admin/clients; nil leaves them
	// unmounted.
	directory *DirectoryAdmin
	// resources serves /admin/resources; nil leaves it unmounted.
	resources ResourceAdmin
	// backup serves GET /admin/backup; nil leaves it unmounted.
	backup Snapshotter
	// initialTokens serves POST /admin/registration-tokens; nil leaves it
	// unmounted.
	initialTokens InitialTokenIssuer
	// audit serves GET /admin/audit; nil leaves it unmounted.
	audit AuditLog
	// webhooks serves /admin/webhooks; nil leaves it unmounted.
	webhooks *WebhookOps
	// connectors, when set, serves /admin/connectors.
	connectors *connectorAdmin
}

// WithDirectory adds the user and client routes (/admin/users,
// /admin/clients) to what Mount registers.
func (a *Admin) WithDirectory(users UserAdmin, clients ClientAdmin) *Admin {
	a.directory = NewDirectoryAdmin(users, clients, a.logger)
	return a
}

// NewAdmin returns the admin API; token must not be empty (an empty token
// means the node does not mount the admin API at all).
func NewAdmin(token string, keys KeyAdmin, logger *slog.Logger) *Admin {
	return &Admin{tokenSum: sha256.Sum256([]byte(token)), keys: keys, logger: logger}
}

// WithThrottle slows failed authentications per client address.
func (a *Admin) WithThrottle(t Throttle) *Admin {
	a.throttle = t
	return a
}

// WithCluster adds the cluster routes (/admin/cluster).
func (a *Admin) WithCluster(ops ClusterOps) *Admin {
	a.cluster = ops
	return a
}

// Name is the front end's name in metrics and the route table.
func (a *Admin) Name() string { return "management" }

// Routes are the operator routes under /admin, each behind the bearer
// token. They are not rate limited (an operator's scripts may call them
// often): failed authentications are throttled per address instead.
func (a *Admin) Routes() []router.Route {
	rs := []router.Route{
		{Method: http.MethodGet, Path: "/admin/keys", Handler: a.listKeys, Grain: "KeyManager.List"},
		{Method: http.MethodGet, Path: "/admin/keys/:kid", Handler: a.showKey, Grain: "KeyManager.List"},
		{Method: http.MethodPost, Path: "/admin/keys/rotate", Handler: a.rotateKeys, Grain: "KeyManager.Rotate"},
		{Method: http.MethodPost, Path: "/admin/keys/:kid/revoke", Handler: a.revokeKey, Grain: "KeyManager.Revoke"},
	}
	if a.directory != nil {
		rs = append(rs, a.directory.routes()...)
	}
	if a.resources != nil {
		rs = append(rs, a.resourceRoutes()...)
	}
	if a.backup != nil {
		rs = append(rs, router.Route{Method: http.MethodGet, Path: "/admin/backup", Handler: a.getBackup})
	}
	if a.initialTokens != nil {
		rs = append(rs, router.Route{Method: http.MethodPost, Path: "/admin/registration-tokens", Handler: a.issueInitialToken})
	}
	if a.audit != nil {
		rs = append(rs, a.auditRoutes()...)
	}
	if a.webhooks != nil {
		rs = append(rs, a.webhooks.routes()...)
	}
	if a.connectors != nil {
		rs = append(rs, a.connectors.routes()...)
	}
	if a.cluster != nil {
		rs = append(rs, clusterRoutes(a.cluster, a.logger)...)
	}
	for i := range rs {
		rs[i].Middleware = append(rs[i].Middleware, a.authenticate)
		rs[i].Limit, rs[i].Admin = router.Unlimited, true
	}
	return rs
}

// authenticate checks the bearer token. Both sides are hashed first so
// the comparison takes the same time whatever the presented length. A
// wrong or missing token is audited with the client address, and the
// address's failures slow its next attempts (counted before the check,
// so that parallel guesses are counted too).
func (a *Admin) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, ip := c.Request().Context(), c.RealIP()
		key := "admin-token:" + router.AddressKey(ip)
		if a.throttle != nil {
			ok, retry, err := a.throttle.Attempt(ctx, key, AdminBackoff)
			if err != nil {
				// Fail closed: an uncounted check would be a free oracle.
				return oauth2.Write(c, a.logger, oauth2.ErrTemporarilyUnavail.WithDescription("admin authentication is unavailable; retry shortly").WithRetryAfter(time.Second))
			}
			if !ok {
				a.logger.WarnContext(ctx, "admin authentication throttled", "audit", true, "client_ip", ip, "retry_after", retry.Round(time.Millisecond))
				return oauth2.Write(c, a.logger, router.RateLimited(retry))
			}
		}
		h := c.Request().Header.Get("Authorization")
		tok, ok := strings.CutPrefix(h, "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], a.tokenSum[:]) != 1 {
			a.logger.WarnContext(ctx, "admin authentication failed", "audit", true, "client_ip", ip, "method", c.Request().Method, "route", c.Path())
			return oauth2.Write(c, a.logger, oauth2.ErrUnauthorized.WithDescription("admin bearer token required"))
		}
		if a.throttle != nil {
			if err := a.throttle.Succeeded(ctx, key); err != nil {
				a.logger.WarnContext(ctx, "admin throttle: reset failed", "err", err)
			}
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		// The audit lines of the request name the bearer token as actor.
		c.SetRequest(c.Request().WithContext(audit.WithActor(ctx, "admin-token")))
		return next(c)
	}
}

// KeyView is a key as the admin API shows it: lifecycle and public data,
// never the private half.
type KeyView struct {
	Kid          string     `json:"kid"`
	Alg          string     `json:"alg"`
	Use          string     `json:"use"`
	Status       string     `json:"status"`
	Created      *time.Time `json:"created,omitempty"`
	ActivateAt   *time.Time `json:"activate_at,omitempty"`
	Activated    *time.Time `json:"activated,omitempty"`
	Retired      *time.Time `json:"retired,omitempty"`
	RemoveAt     *time.Time `json:"remove_at,omitempty"`
	Removed      *time.Time `json:"removed,omitempty"`
	Revoked      *time.Time `json:"revoked,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
}

// KeysView is the body of every /admin/keys answer.
type KeysView struct {
	Version uint64    `json:"version"`
	Keys    []KeyView `json:"keys"`
}

func at(ms int64) *time.Time {
	if ms == 0 {
		return nil
	}
	t := time.UnixMilli(ms).UTC()
	return &t
}

func viewOf(set *messages.KeySet) KeysView {
	v := KeysView{Version: set.GetVersion(), Keys: []KeyView{}}
	for _, k := range set.GetKeys() {
		v.Keys = append(v.Keys, KeyView{
			Kid: k.Kid, Alg: k.Alg, Use: k.Use, Status: k.Status,
			Created: at(k.CreatedMs), ActivateAt: at(k.ActivateAtMs), Activated: at(k.ActivatedMs),
			Retired: at(k.RetiredMs), RemoveAt: at(k.RemoveAtMs), Removed: at(k.RemovedMs),
			Revoked: at(k.RevokedMs), RevokeReason: k.RevokeReason,
		})
	}
	return v
}

func (a *Admin) answer(c echo.Context, v KeysView, err error) error {
	if err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	return c.JSON(http.StatusOK, v)
}

func (a *Admin) listKeys(c echo.Context) error {
	v, err := a.Keys(c.Request().Context())
	return a.answer(c, v, err)
}

func (a *Admin) rotateKeys(c echo.Context) error {
	var body struct {
		Alg string `json:"alg"`
	}
	if err := bindOptional(c, &body); err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	v, err := a.RotateKeys(c.Request().Context(), body.Alg)
	return a.answer(c, v, err)
}

func (a *Admin) revokeKey(c echo.Context) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if err := bindOptional(c, &body); err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	v, err := a.RevokeKey(c.Request().Context(), c.Param("kid"), body.Reason)
	return a.answer(c, v, err)
}

// bindOptional decodes a JSON body when one is sent.
func bindOptional(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	if ct := c.Request().Header.Get("Content-Type"); !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return oauth2.ErrInvalidRequest.WithDescription("body must be application/json")
	}
	if err := (&echo.DefaultBinder{}).BindBody(c, v); err != nil {
		return oauth2.ErrInvalidRequest.WithDescription("malformed JSON body")
	}
	return nil
}
