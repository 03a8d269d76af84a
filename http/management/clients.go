package management

import (
	"context"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"authrim/directory"
)

// ClientAdmin is what the admin API asks of the client directory.
type ClientAdmin interface {
	// CreateClient returns the client and its secret in clear ("" for
	// methods without one).
	CreateClient(ctx context.Context, in directory.NewClient) (directory.Client, string, error)
	ListClients(ctx context.Context) ([]directory.Client, error)
	Client(ctx context.Context, id string) (directory.Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// NewClientRequest is the body of POST /admin/clients: the client's
// credentials and its metadata under the RFC 7591 §2 names (the same
// metadata /register and config.yaml take, checked by the same rules:
// directory.ValidateClient). Leave client_id out to have one generated,
// and client_secret out (for client_secret_basic/post) to have a 256-bit
// one generated: the answer carries it, once.
type NewClientRequest struct {
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	directory.ClientMetadata
}

// ClientView is a client as the admin API shows it, in the shape of an
// RFC 7591 §3.2.1 registration response: its metadata as it applies
// (defaults filled in). ClientSecret (and ClientSecretExpiresAt, 0 =
// never) are only set in the answer to the create that issued the
// secret; the secret hash is never shown.
type ClientView struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at,omitempty"`
	directory.ClientMetadata
	// Static clients come from config.yaml and cannot be deleted here.
	Static bool `json:"static"`
}

// ClientsView is the body of GET /admin/clients.
type ClientsView struct {
	Clients []ClientView `json:"clients"`
}

func clientView(c directory.Client) ClientView {
	// Records stored before a member existed (require_pkce,
	// response_types) show what applies to them.
	v := ClientView{ClientID: c.ID, ClientMetadata: c.WithDefaults(), Static: c.Static}
	if !c.Created.IsZero() {
		v.ClientIDIssuedAt = c.Created.Unix()
	}
	return v
}

func (d *DirectoryAdmin) createClient(c echo.Context) error {
	var body NewClientRequest
	if err := decodeStrict(c, &body); err != nil {
		return d.fail(c, err, "client")
	}
	v, err := d.CreateClient(c.Request().Context(), body)
	if err != nil {
		return d.fail(c, err, "client")
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/clients/"+url.PathEscape(v.ClientID))
	return c.JSON(http.StatusCreated, v)
}

func (d *DirectoryAdmin) listClients(c echo.Context) error {
	list, err := d.Clients(c.Request().Context())
	if err != nil {
		return d.fail(c, err, "client")
	}
	return c.JSON(http.StatusOK, ClientsView{Clients: list})
}

func (d *DirectoryAdmin) getClient(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return d.fail(c, err, "client")
	}
	cl, err := d.clients.Client(c.Request().Context(), id)
	if err != nil {
		return d.fail(c, err, "client")
	}
	return c.JSON(http.StatusOK, clientView(cl))
}

func (d *DirectoryAdmin) deleteClient(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return d.fail(c, err, "client")
	}
	if err := d.DeleteClient(c.Request().Context(), id); err != nil {
		return d.fail(c, err, "client")
	}
	return c.NoContent(http.StatusNoContent)
}
