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
	a.webhooks = &webhookAdmin{w: w, logger: a.logger}
	return a
}

type webhookAdmin struct {
	w      WebhookAdmin
	logger *slog.Logger
}

func (h *webhookAdmin) routes() []router.Route {
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

func (h *webhookAdmin) fail(c echo.Context, err error) error {
	switch {
	case errors.Is(err, webhooks.ErrInvalid):
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription(strings.TrimPrefix(err.Error(), webhooks.ErrInvalid.Error()+": ")))
	case errors.Is(err, webhooks.ErrTooMany):
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription("too many webhook subscriptions"))
	case errors.Is(err, webhooks.ErrNotFound):
		return oauth2.Write(c, h.logger, oauth2.ErrNotFound.WithDescription("no such webhook"))
	}
	return oauth2.Write(c, h.logger, err)
}

func (h *webhookAdmin) create(c echo.Context) error {
	var in webhooks.New
	if err := decodeStrict(c, &in); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	v, err := h.w.Create(c.Request().Context(), in)
	if err != nil {
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: webhook created", "audit", true, "webhook", v.ID, "url", v.URL, "events", strings.Join(v.Events, ","))
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, v)
}

func (h *webhookAdmin) list(c echo.Context) error {
	vs, err := h.w.List(c.Request().Context())
	if err != nil {
		return h.fail(c, err)
	}
	if vs == nil {
		vs = []webhooks.View{}
	}
	return c.JSON(http.StatusOK, WebhooksView{Webhooks: vs})
}

func (h *webhookAdmin) get(c echo.Context) error {
	v, err := h.w.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, v)
}

func (h *webhookAdmin) update(c echo.Context) error {
	var p webhooks.Patch
	if err := decodeStrict(c, &p); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	v, err := h.w.Update(c.Request().Context(), c.Param("id"), p)
	if err != nil {
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: webhook updated", "audit", true, "webhook", v.ID, "url", v.URL,
		"events", strings.Join(v.Events, ","), "enabled", v.Enabled)
	return c.JSON(http.StatusOK, v)
}

func (h *webhookAdmin) remove(c echo.Context) error {
	id := c.Param("id")
	if err := h.w.Delete(c.Request().Context(), id); err != nil {
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: webhook deleted", "audit", true, "webhook", id)
	return c.NoContent(http.StatusNoContent)
}

func (h *webhookAdmin) rotate(c echo.Context) error {
	v, err := h.w.RotateSecret(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: webhook secret rotated", "audit", true, "webhook", v.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, v)
}

func (h *webhookAdmin) deliveries(c echo.Context) error {
	as, err := h.w.Attempts(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, DeliveriesView{Deliveries: as})
}
