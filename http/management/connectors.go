package management

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/connectors"
	"authrim/connectors/registry"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// ConnectorsPath is the admin route of upstream connectors.
const ConnectorsPath = "/admin/connectors"

// ConnectorAdmin keeps the connectors added through the admin API
// (registry.Service); config.yaml's are listed read-only.
type ConnectorAdmin interface {
	List(ctx context.Context) ([]registry.View, error)
	Get(ctx context.Context, id string) (registry.View, error)
	Create(ctx context.Context, c connectors.Config) (registry.View, error)
	Update(ctx context.Context, id string, patch []byte) (registry.View, error)
	Delete(ctx context.Context, id string) error
}

// WithConnectors adds /admin/connectors.
func (a *Admin) WithConnectors(c ConnectorAdmin) *Admin {
	a.connectors = &connectorAdmin{c: c, logger: a.logger}
	return a
}

type connectorAdmin struct {
	c      ConnectorAdmin
	logger *slog.Logger
}

func (h *connectorAdmin) routes() []router.Route {
	return []router.Route{
		{Method: http.MethodGet, Path: ConnectorsPath, Handler: h.list},
		{Method: http.MethodPost, Path: ConnectorsPath, Handler: h.create},
		{Method: http.MethodGet, Path: ConnectorsPath + "/:id", Handler: h.get},
		{Method: http.MethodPatch, Path: ConnectorsPath + "/:id", Handler: h.update},
		{Method: http.MethodDelete, Path: ConnectorsPath + "/:id", Handler: h.remove},
	}
}

// ConnectorsView answers GET /admin/connectors.
type ConnectorsView struct {
	Connectors []registry.View `json:"connectors"`
}

func (h *connectorAdmin) fail(c echo.Context, err error) error {
	switch {
	case errors.Is(err, registry.ErrInvalid):
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription(strings.TrimPrefix(err.Error(), registry.ErrInvalid.Error()+": ")))
	case errors.Is(err, registry.ErrReadOnly):
		return oauth2.Write(c, h.logger, oauth2.ErrInvalidRequest.WithDescription("this connector is defined in config.yaml: change it there"))
	case errors.Is(err, registry.ErrNotFound):
		return oauth2.Write(c, h.logger, oauth2.ErrNotFound.WithDescription("no such connector"))
	}
	return oauth2.Write(c, h.logger, err)
}

func (h *connectorAdmin) list(c echo.Context) error {
	vs, err := h.c.List(c.Request().Context())
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, ConnectorsView{Connectors: vs})
}

func (h *connectorAdmin) get(c echo.Context) error {
	v, err := h.c.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return h.fail(c, err)
	}
	return c.JSON(http.StatusOK, v)
}

func (h *connectorAdmin) create(c echo.Context) error {
	var in connectors.Config
	if err := decodeStrict(c, &in); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	v, err := h.c.Create(c.Request().Context(), in)
	if err != nil {
		h.logger.InfoContext(c.Request().Context(), "admin: connector refused", "audit", true, "connector", in.ID, "err", err.Error())
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: connector created", "audit", true, "connector", v.ID, "type", v.Type)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, v)
}

func (h *connectorAdmin) update(c echo.Context) error {
	var patch json.RawMessage
	if err := decodeStrict(c, &patch); err != nil {
		return oauth2.Write(c, h.logger, err)
	}
	id := c.Param("id")
	v, err := h.c.Update(c.Request().Context(), id, patch)
	if err != nil {
		h.logger.InfoContext(c.Request().Context(), "admin: connector change refused", "audit", true, "connector", id, "err", err.Error())
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: connector updated", "audit", true, "connector", v.ID, "type", v.Type)
	return c.JSON(http.StatusOK, v)
}

func (h *connectorAdmin) remove(c echo.Context) error {
	id := c.Param("id")
	if err := h.c.Delete(c.Request().Context(), id); err != nil {
		return h.fail(c, err)
	}
	h.logger.InfoContext(c.Request().Context(), "admin: connector deleted", "audit", true, "connector", id)
	return c.NoContent(http.StatusNoContent)
}
