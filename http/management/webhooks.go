package management

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
	"authrim/http/router"
	"authrim/webhooks"
)

// WebhooksPath is the admin route of webhook subscriptions.
const WebhooksPath = "/admin/webhooks"

// WebhookAdmin keeps webhook subscriptions (webhooks.Service).
type WebhookAdmin interface {
	Create(ctx context.Context, in webhooks.New) (webhooks.View, error)
	List(ctx context.Context) ([]webhooks.View, error)
	Get(ctx context.Context, id string) (webhooks.View, error)
	Update(ctx context.Context, id string, p webhooks.Patch) (webhooks.View, error)
	Delete(ctx context.Context, id string) error
	RotateSecret(ctx context.Context, id string) (webhooks.View, error)
	Attempts(ctx context.Context, id string) ([]webhooks.Attempt, error)
}

// WithWebhooks adds /admin/webhooks.
func (a *Admin) WithWebhooks(w WebhookAdmin) *Admin {
	a.webhooks = &WebhookOps{w: w, logger: a.logger}
	return a
}

// Webhooks is the webhook subscriptions' operations (nil without
// WithWebhooks).
func (a *Admin) Webhooks() *WebhookOps { return a.webhooks }

// WebhookOps are the webhook subscriptions' operations: change and
// audit. The admin API's handlers and the console (http/console) both
// call them; the audit lines name the actor the caller put in ctx.
type WebhookOps struct {
	w      WebhookAdmin
	logger *slog.Logger
}

// List returns every subscription (never nil).
func (h *WebhookOps) List(ctx context.Context) ([]webhooks.View, error) {
	vs, err := h.w.List(ctx)
	if vs == nil {
		vs = []webhooks.View{}
	}
	return vs, err
}

// Get returns a subscription.
func (h *WebhookOps) Get(ctx context.Context, id string) (webhooks.View, error) {
	return h.w.Get(ctx, id)
}

// Attempts returns a subscription's delivery history, oldest first.
func (h *WebhookOps) Attempts(ctx context.Context, id string) ([]webhooks.Attempt, error) {
	return h.w.Attempts(ctx, id)
}

// Create stores a subscription; the view carries its secret, once.
func (h *WebhookOps) Create(ctx context.Context, in webhooks.New) (webhooks.View, error) {
	v, err := h.w.Create(ctx, in)
	if err != nil {
		return v, err
	}
	h.logger.InfoContext(ctx, "admin: webhook created", "audit", true, "webhook", v.ID, "url", v.URL, "events", strings.Join(v.Events, ","))
	return v, nil
}

// Update changes a subscription's URL, events, description or state.
func (h *WebhookOps) Update(ctx context.Context, id string, p webhooks.Patch) (webhooks.View, error) {
	v, err := h.w.Update(ctx, id, p)
	if err != nil {
		return v, err
	}
	h.logger.InfoContext(ctx, "admin: webhook updated", "audit", true, "webhook", v.ID, "url", v.URL,
		"events", strings.Join(v.Events, ","), "enabled", v.Enabled)
	return v, nil
}

// Delete removes a subscription and its delivery history.
func (h *WebhookOps) Delete(ctx context.Context, id string) error {
	if err := h.w.Delete(ctx, id); err != nil {
		return err
	}
	h.logger.InfoContext(ctx, "admin: webhook deleted", "audit", true, "webhook", id)
	return nil
}

// RotateSecret gives the subscription a new signing secret, in the
// answer only; the old one signs nothing more.
func (h *WebhookOps) RotateSecret(ctx context.Context, id string) (webhooks.View, error) {
	v, err := h.w.RotateSecret(ctx, id)
	if err != nil {
		return v, err
	}
	h.logger.InfoContext(ctx, "admin: webhook secret rotated", "audit", true, "webhook", v.ID)
	return v, nil
}

func (h *WebhookOps) routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: WebhooksPath, Handler: h.create},
		{Method: http.MethodGet, Path: WebhooksPath, Handler: h.list},
		{Method: http.MethodGet, Path: WebhooksPath + "/:id", Handler: h.get},
		{Method: http.MethodPatch, Path: WebhooksPath + "/:id", Handler: h.update},
		{Method: http.MethodDelete, Path: WebhooksPath + "/:id", Handler: h.remove},
		{Method: http.MethodPost, Path: WebhooksPath + "/:id/rotate-secret", Handler: h.rotate},
		{Method: http.MethodGet, Path: WebhooksPath + "/:id/deliveries", Handler: h.deliveries},
	}
}

// WebhooksView answers GET /admin/webhooks.
type WebhooksView struct {
	Webhooks []webhooks.View `json:"webhooks"`
}

// DeliveriesView answers GET /admin/webhooks/{id}/deliveries.
type DeliveriesView struct {
	Deliveries []webhooks.Attempt `json:"deliveries"`
}

// webhookProblem maps the webhook service's errors to the admin API's
// answers (nil for a server error).
func webhookProblem(err error) *oauth2.Error {
	switch {
	case errors.Is(err, webhooks.ErrInvalid):
		return oauth2.ErrInvalidRequest.WithDescription(strings.TrimPrefix(err.Error(), webhooks.ErrInvalid.Error()+": "))
	case errors.Is(err, webhooks.ErrTooMany):
		return oauth2.ErrInvalidRequest.WithDescription("too many webhook subscriptions")
	case errors.Is(err, webhooks.ErrNotFound):
		return oauth2.ErrNotFound.WithDescription("no such webhook")
	}
	return nil
}

func (h *WebhookOps) fail(c echo.Context, err error) error {
	if p := webhookProblem(err); p != nil {
		return oauth2.Write(c, h.logger, p)
	}
	return oauth2.Write(c, h.logger, err)
}

func (h *WebhookOps) create(c echo.Context) error {
	var in webhooks.New
	if err := decodeStrict(c, &in); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	v, err := h.Create(c.Request().Context(), in)
	if err != nil {
		return h.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, v)
}

func (h *WebhookOps) list(c echo.Context) error {
	vs, err := h.List(c.Request().Context())
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, WebhooksView{Webhooks: vs})
}

func (h *WebhookOps) get(c echo.Context) error {
	v, err := h.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, v)
}

func (h *WebhookOps) update(c echo.Context) error {
	var p webhooks.Patch
	if err := decodeStrict(c, &p); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	v, err := h.Update(c.Request().Context(), c.Param("id"), p)
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, v)
}

func (h *WebhookOps) remove(c echo.Context) error {
	if err := h.Delete(c.Request().Context(), c.Param("id")); err != nil {
		return h.fail(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *WebhookOps) rotate(c echo.Context) error {
	v, err := h.RotateSecret(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}

func (h *WebhookOps) deliveries(c echo.Context) error {
	as, err := h.Attempts(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, DeliveriesView{Deliveries: as})
}
