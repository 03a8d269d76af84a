package management

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

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

// NewClientRequest is the body of POST /admin/clients, with RFC 7591 §2
// metadata names. Leave client_id out to have one generated, and
// client_secret out (for client_secret_basic/post) to have a 256-bit one
// generated: the answer carries it, once.
type NewClientRequest struct {
	ClientID                 string          `json:"client_id,omitempty"`
	ClientName               string          `json:"client_name,omitempty"`
	ClientSecret             string          `json:"client_secret,omitempty"`
	RedirectURIs             []string        `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes               []string        `json:"grant_types,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg,omitempty"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	SkipConsent              bool            `json:"skip_consent,omitempty"`
	directory.ClientMetadata
}

// ClientView is a client as the admin API shows it, in the shape of an
// RFC 7591 §3.2.1 registration response. ClientSecret (and
// ClientSecretExpiresAt, 0 = never) are only set in the answer to the
// create that issued the secret; the secret hash is never shown.
type ClientView struct {
	ClientID                 string          `json:"client_id"`
	ClientName               string          `json:"client_name,omitempty"`
	ClientSecret             string          `json:"client_secret,omitempty"`
	ClientSecretExpiresAt    *int64          `json:"client_secret_expires_at,omitempty"`
	ClientIDIssuedAt         int64           `json:"client_id_issued_at,omitempty"`
	RedirectURIs             []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs   []string        `json:"post_logout_redirect_uris,omitempty"`
	TokenEndpointAuthMethod  string          `json:"token_endpoint_auth_method"`
	GrantTypes               []string        `json:"grant_types"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	SkipConsent              bool            `json:"skip_consent"`
	directory.ClientMetadata
	// Static clients come from config.yaml and cannot be deleted here.
	Static bool `json:"static"`
}

// ClientsView is the body of GET /admin/clients.
type ClientsView struct {
	Clients []ClientView `json:"clients"`
}

func clientView(c directory.Client) ClientView {
	v := ClientView{
		ClientID:                 c.ID,
		ClientName:               c.Name,
		RedirectURIs:             slices.Clone(c.RedirectURIs),
		PostLogoutRedirectURIs:   c.PostLogoutRedirectURIs,
		TokenEndpointAuthMethod:  c.AuthMethod,
		GrantTypes:               c.GrantTypes,
		IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg,
		JWKS:                     c.JWKS,
		SkipConsent:              c.SkipConsent,
		ClientMetadata:           c.ClientMetadata,
		Static:                   c.Static,
	}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	// Records stored before require_pkce existed have none: show what
	// applies to them.
	pkce := c.PKCERequired()
	v.RequirePKCE = &pkce
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
	cl, secret, err := d.clients.CreateClient(c.Request().Context(), directory.NewClient{
		ID:                       body.ClientID,
		Name:                     body.ClientName,
		Secret:                   body.ClientSecret,
		RedirectURIs:             body.RedirectURIs,
		PostLogoutRedirectURIs:   body.PostLogoutRedirectURIs,
		AuthMethod:               body.TokenEndpointAuthMethod,
		GrantTypes:               body.GrantTypes,
		IDTokenSignedResponseAlg: body.IDTokenSignedResponseAlg,
		JWKS:                     body.JWKS,
		SkipConsent:              body.SkipConsent,
		ClientMetadata:           body.ClientMetadata,
	})
	if err != nil {
		return d.fail(c, err, "client")
	}
	d.logger.InfoContext(c.Request().Context(), "admin: client created", "audit", true, "client_id", cl.ID, "auth_method", cl.AuthMethod)
	v := clientView(cl)
	if secret != "" {
		never := int64(0)
		v.ClientSecret, v.ClientSecretExpiresAt = secret, &never
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/clients/"+url.PathEscape(cl.ID))
	return c.JSON(http.StatusCreated, v)
}

func (d *DirectoryAdmin) listClients(c echo.Context) error {
	list, err := d.clients.ListClients(c.Request().Context())
	if err != nil {
		return d.fail(c, err, "client")
	}
	v := ClientsView{Clients: make([]ClientView, 0, len(list))}
	for _, cl := range list {
		v.Clients = append(v.Clients, clientView(cl))
	}
	return c.JSON(http.StatusOK, v)
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
	if err := d.clients.DeleteClient(c.Request().Context(), id); err != nil {
		return d.fail(c, err, "client")
	}
	d.logger.InfoContext(c.Request().Context(), "admin: client deleted", "audit", true, "client_id", id)
	return c.NoContent(http.StatusNoContent)
}
