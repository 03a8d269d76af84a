package management

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// ResourceAdmin is what the admin API asks of the resource servers
// (*directory.Directory satisfies it).
type ResourceAdmin interface {
	CreateResource(ctx context.Context, m directory.ResourceMetadata) (directory.Resource, error)
	ListResources(ctx context.Context) ([]directory.Resource, error)
	Resource(ctx context.Context, id string) (directory.Resource, error)
	UpdateResource(ctx context.Context, id string, change func(directory.ResourceMetadata) (directory.ResourceMetadata, error)) (directory.Resource, error)
	DeleteResource(ctx context.Context, id string) error
}

// ResourceView is a resource server as the admin API shows it: its
// metadata as it applies, and whether it comes from config.yaml.
type ResourceView struct {
	directory.ResourceMetadata
	Created int64 `json:"created_at,omitempty"`
	// Static resources come from config.yaml and cannot be changed here.
	Static bool `json:"static"`
}

// ResourcesView is the body of GET /admin/resources.
type ResourcesView struct {
	Resources []ResourceView `json:"resources"`
}

func resourceView(r directory.Resource) ResourceView {
	v := ResourceView{ResourceMetadata: r.WithDefaults(), Static: r.Static}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if !r.Created.IsZero() {
		v.Created = r.Created.Unix()
	}
	return v
}

// WithResources adds /admin/resources (the resource servers, RFC 8707)
// to what Mount registers.
func (a *Admin) WithResources(r ResourceAdmin) *Admin {
	a.resources = r
	return a
}

// ResourcePath is GET/PATCH/DELETE /admin/resources/{resource}: the
// identifier path-escaped (https:%2F%2Fapi.example.com%2F).
const ResourcePath = "/admin/resources/:id"

func (a *Admin) resourceRoutes() []router.Route {
	d := &DirectoryAdmin{logger: a.logger}
	r := a.resources
	return []router.Route{
		{Method: http.MethodPost, Path: "/admin/resources", Handler: d.createResource(r)},
		{Method: http.MethodGet, Path: "/admin/resources", Handler: d.listResources(r)},
		{Method: http.MethodGet, Path: ResourcePath, Handler: d.getResource(r)},
		{Method: http.MethodPatch, Path: ResourcePath, Handler: d.updateResource(r)},
		{Method: http.MethodDelete, Path: ResourcePath, Handler: d.deleteResource(r)},
	}
}

func (d *DirectoryAdmin) failResource(c echo.Context, err error) error {
	if errors.Is(err, directory.ErrResourceTaken) {
		return oauth2.Write(c, d.logger, oauth2.ErrConflict.WithDescription("a resource server has this identifier"))
	}
	return d.fail(c, err, "resource")
}

// createResource serves POST /admin/resources: the body is the resource
// metadata (directory.ResourceMetadata's JSON names).
func (d *DirectoryAdmin) createResource(r ResourceAdmin) echo.HandlerFunc {
	return func(c echo.Context) error {
		var body directory.ResourceMetadata
		if err := decodeStrict(c, &body); err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		res, err := r.CreateResource(c.Request().Context(), body)
		if err != nil {
			return d.failResource(c, err)
		}
		d.logger.InfoContext(c.Request().Context(), "admin: resource created", "audit", true, "resource", res.Identifier,
			"scopes", strings.Join(res.Scopes, " "), "encrypted", len(res.EncryptionJWK) > 0, "introspection_client", res.IntrospectionClient)
		c.Response().Header().Set(echo.HeaderLocation, "/admin/resources/"+url.PathEscape(res.Identifier))
		return c.JSON(http.StatusCreated, resourceView(res))
	}
}

func (d *DirectoryAdmin) listResources(r ResourceAdmin) echo.HandlerFunc {
	return func(c echo.Context) error {
		list, err := r.ListResources(c.Request().Context())
		if err != nil {
			return d.failResource(c, err)
		}
		v := ResourcesView{Resources: make([]ResourceView, 0, len(list))}
		for _, res := range list {
			v.Resources = append(v.Resources, resourceView(res))
		}
		return c.JSON(http.StatusOK, v)
	}
}

func (d *DirectoryAdmin) getResource(r ResourceAdmin) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		res, err := r.Resource(c.Request().Context(), id)
		if err != nil {
			return d.failResource(c, err)
		}
		return c.JSON(http.StatusOK, resourceView(res))
	}
}

// updateResource serves PATCH /admin/resources/{resource}: members given
// replace the stored ones, null resets one (the top level of a JSON merge
// patch, RFC 7396); the result is checked as a new resource is. The
// identifier cannot change.
func (d *DirectoryAdmin) updateResource(r ResourceAdmin) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		var patch map[string]json.RawMessage
		if err := decodeStrict(c, &patch); err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		if len(patch) == 0 {
			return oauth2.Write(c, d.logger, oauth2.ErrInvalidRequest.WithDescription("nothing to change"))
		}
		res, err := r.UpdateResource(c.Request().Context(), id, func(cur directory.ResourceMetadata) (directory.ResourceMetadata, error) {
			return applyResourcePatch(cur, patch)
		})
		if err != nil {
			return d.failResource(c, err)
		}
		d.logger.InfoContext(c.Request().Context(), "admin: resource updated", "audit", true, "resource", res.Identifier,
			"fields", strings.Join(sortedNames(patch), ","))
		return c.JSON(http.StatusOK, resourceView(res))
	}
}

func (d *DirectoryAdmin) deleteResource(r ResourceAdmin) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		if err := r.DeleteResource(c.Request().Context(), id); err != nil {
			return d.failResource(c, err)
		}
		d.logger.InfoContext(c.Request().Context(), "admin: resource deleted", "audit", true, "resource", id)
		return c.NoContent(http.StatusNoContent)
	}
}

// applyResourcePatch lays patch over cur and decodes the result strictly,
// so a misspelt or ill-typed member is refused as by the create.
func applyResourcePatch(cur directory.ResourceMetadata, patch map[string]json.RawMessage) (directory.ResourceMetadata, error) {
	out, err := mergePatch(cur, patch)
	if err != nil {
		return cur, err
	}
	if out.Identifier != cur.Identifier {
		return cur, oauth2.ErrInvalidRequest.WithDescription("resource cannot change: create another resource server")
	}
	return out, nil
}
