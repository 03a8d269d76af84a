package management

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// LinkAdmin is what the upstream link routes ask of the user directory
// (*directory.Directory satisfies it). An operator links an upstream
// identity to an existing user (what existing-only connectors need), lists
// a user's links and removes one.
type LinkAdmin interface {
	FindUser(ctx context.Context, ref string) (directory.User, error)
	Links(ctx context.Context, user string) ([]directory.Link, error)
	AddLink(ctx context.Context, l directory.Link) (directory.Link, error)
	RemoveLink(ctx context.Context, user, issuer, subject string) error
}

// LinkView is an upstream link as the admin API shows and takes it.
type LinkView struct {
	// Issuer and Subject are the upstream's issuer (for GitHub its base
	// URL, https://github.com) and its subject (GitHub: the account id).
	Issuer    string    `json:"issuer"`
	Subject   string    `json:"subject"`
	Connector string    `json:"connector"`
	Email     string    `json:"email,omitempty"`
	Created   time.Time `json:"created,omitzero"`
}

// LinksView is the body of GET /admin/users/:id/links.
type LinksView struct {
	Links []LinkView `json:"links"`
}

func (d *DirectoryAdmin) linkRoutes(la LinkAdmin) []router.Route {
	h := &linkHandlers{dir: la, d: d}
	return []router.Route{
		{Method: http.MethodGet, Path: "/admin/users/:id/links", Handler: h.list},
		{Method: http.MethodPost, Path: "/admin/users/:id/links", Handler: h.add},
		{Method: http.MethodDelete, Path: "/admin/users/:id/links", Handler: h.remove},
	}
}

type linkHandlers struct {
	dir LinkAdmin
	d   *DirectoryAdmin
}

func (h *linkHandlers) user(c echo.Context) (directory.User, error) {
	ref, err := pathParam(c, "id")
	if err != nil {
		return directory.User{}, err
	}
	return h.dir.FindUser(c.Request().Context(), ref)
}

func (h *linkHandlers) list(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	v, err := h.d.UserLinks(c.Request().Context(), ref)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	return c.JSON(http.StatusOK, v)
}

// UserLinks lists the upstream identities linked to the user.
func (d *DirectoryAdmin) UserLinks(ctx context.Context, ref string) (LinksView, error) {
	la, ok := d.users.(LinkAdmin)
	if !ok {
		return LinksView{}, oauth2.ErrNotFound.WithDescription("upstream links are not kept here")
	}
	u, err := la.FindUser(ctx, ref)
	if err != nil {
		return LinksView{}, err
	}
	links, err := la.Links(ctx, u.Subject)
	if err != nil {
		return LinksView{}, err
	}
	v := LinksView{Links: make([]LinkView, 0, len(links))}
	for _, l := range links {
		v.Links = append(v.Links, LinkView{Issuer: l.Issuer, Subject: l.Subject, Connector: l.Connector, Email: l.Email, Created: l.Created.UTC()})
	}
	return v, nil
}

// add links an upstream identity to the user: {issuer, subject,
// connector}. 409 when the identity is another user's.
func (h *linkHandlers) add(c echo.Context) error {
	u, err := h.user(c)
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	var in LinkView
	if err := decodeStrict(c, &in); err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	if in.Issuer == "" || in.Subject == "" || in.Connector == "" {
		return oauth2.Write(c, h.d.logger, oauth2.ErrInvalidRequest.WithDescription("issuer, subject and connector are required"))
	}
	l, err := h.dir.AddLink(c.Request().Context(), directory.Link{Issuer: in.Issuer, Subject: in.Subject, User: u.Subject, Connector: in.Connector, Email: in.Email})
	if errors.Is(err, directory.ErrLinkTaken) {
		return oauth2.Write(c, h.d.logger, oauth2.ErrConflict.WithDescription("this upstream identity is linked to another user"))
	}
	if err != nil {
		return h.d.fail(c, err, "user")
	}
	h.d.logger.InfoContext(c.Request().Context(), "admin: upstream identity linked", "audit", true, "sub", u.Subject, "connector", l.Connector, "upstream_issuer", l.Issuer)
	return c.JSON(http.StatusCreated, LinkView{Issuer: l.Issuer, Subject: l.Subject, Connector: l.Connector, Email: l.Email, Created: l.Created.UTC()})
}

// remove removes the link named by the query's issuer and subject.
func (h *linkHandlers) remove(c echo.Context) error {
	ref, err := pathParam(c, "id")
	if err != nil {
		return oauth2.Write(c, h.d.logger, err)
	}
	q := c.QueryParams()
	if err := h.d.RemoveUserLink(c.Request().Context(), ref, q.Get("issuer"), q.Get("subject")); err != nil {
		return h.d.fail(c, err, "link")
	}
	return c.NoContent(http.StatusNoContent)
}

// RemoveUserLink removes the user's link to the upstream identity
// (issuer, subject): they no longer sign in with it.
func (d *DirectoryAdmin) RemoveUserLink(ctx context.Context, ref, issuer, subject string) error {
	la, ok := d.users.(LinkAdmin)
	if !ok {
		return oauth2.ErrNotFound.WithDescription("upstream links are not kept here")
	}
	u, err := la.FindUser(ctx, ref)
	if err != nil {
		return err
	}
	if err := la.RemoveLink(ctx, u.Subject, issuer, subject); err != nil {
		return err
	}
	d.logger.InfoContext(ctx, "admin: upstream link removed", "audit", true, "sub", u.Subject, "upstream_issuer", issuer)
	return nil
}
