package management

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// Paths of dynamic client registration.
const (
	// RegisterPath is the RFC 7591 registration endpoint; a registered
	// client's configuration endpoint (RFC 7592) is RegisterPath/{id}.
	RegisterPath = "/register"
)

// Registrar is what registration asks of the directory.
type Registrar interface {
	// RegisterClient spends initialToken (an initial access token issued
	// through the admin API), when not empty, only if the client is
	// created.
	RegisterClient(ctx context.Context, in directory.NewClient, initialToken string) (directory.Client, string, string, error)
	RegisteredClient(ctx context.Context, id, token string) (directory.Client, error)
	UpdateRegisteredClient(ctx context.Context, id string, in directory.NewClient) (directory.Client, string, error)
	DeleteClient(ctx context.Context, id string) error
}

// RegistrationConfig: who may register.
type RegistrationConfig struct {
	// Issuer is the base of registration_client_uri.
	Issuer string
	// Open lets anyone register. Otherwise an initial access token
	// (RFC 7591 §3) is required: InitialAccessToken, or a single-use one
	// the admin API issued.
	Open bool
	// InitialAccessToken is a standing token from config; empty: only
	// admin-issued tokens work.
	InitialAccessToken string
}

// Registration serves /register and /register/{client_id}.
type Registration struct {
	cfg    RegistrationConfig
	dir    Registrar
	iat    [32]byte
	logger *slog.Logger
}

// NewRegistration returns the registration endpoints.
func NewRegistration(cfg RegistrationConfig, dir Registrar, logger *slog.Logger) *Registration {
	return &Registration{cfg: cfg, dir: dir, iat: sha256.Sum256([]byte(cfg.InitialAccessToken)), logger: logger}
}

// Name is the front end's name in metrics and the route table.
func (r *Registration) Name() string { return "management" }

// Routes are registration (RFC 7591) and client configuration (RFC 7592).
func (r *Registration) Routes() []router.Route {
	return []router.Route{
		{Method: http.MethodPost, Path: RegisterPath, Handler: r.register, Limit: router.Moderate},
		{Method: http.MethodGet, Path: RegisterPath + "/:id", Handler: r.read, Limit: router.Moderate},
		{Method: http.MethodPut, Path: RegisterPath + "/:id", Handler: r.update, Limit: router.Moderate},
		{Method: http.MethodDelete, Path: RegisterPath + "/:id", Handler: r.remove, Limit: router.Moderate},
	}
}

// RegistrationResponse is the answer of RFC 7591 §3.2.1 and RFC 7592
// §3: the client's metadata, and the credentials when they were issued
// by this call.
type RegistrationResponse struct {
	ClientView
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

func (r *Registration) response(c directory.Client, secret, regToken string) RegistrationResponse {
	v := clientView(c)
	v.Static, v.SkipConsent, v.TokenExchange = false, false, directory.TokenExchangePolicy{}
	if secret != "" {
		never := int64(0)
		v.ClientSecret, v.ClientSecretExpiresAt = secret, &never
	}
	return RegistrationResponse{
		ClientView:              v,
		RegistrationAccessToken: regToken,
		RegistrationClientURI:   strings.TrimSuffix(r.cfg.Issuer, "/") + RegisterPath + "/" + url.PathEscape(c.ID),
	}
}

func bearerToken(c echo.Context) string {
	tok, _ := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	return strings.TrimSpace(tok)
}

// fail writes a registration error (RFC 7591 §3.2.2): invalid_redirect_uri
// or invalid_client_metadata with the directory's reason, else the usual
// mapping.
func (r *Registration) fail(c echo.Context, err error) error {
	var re *directory.RedirectURIError
	var ie *directory.InvalidError
	switch {
	case errors.As(err, &re):
		err = oauth2.ErrInvalidRedirectURI.WithDescription(re.Reason)
	case errors.As(err, &ie):
		err = oauth2.ErrInvalidClientMetadata.WithDescription(ie.Reason)
	}
	return oauth2.Write(c, r.logger, err)
}

func (r *Registration) body(c echo.Context) (directory.Registration, error) {
	req := c.Request()
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return directory.Registration{}, oauth2.ErrInvalidClientMetadata.WithDescription("the body must be application/json")
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, directory.MaxRegistrationBody+1))
	if err != nil {
		return directory.Registration{}, oauth2.ErrInvalidRequest.WithDescription("the body could not be read")
	}
	return directory.ParseRegistration(b)
}

func (r *Registration) register(c echo.Context) error {
	ctx := c.Request().Context()
	reg, err := r.body(c)
	if err != nil {
		return r.fail(c, err)
	}
	single := ""
	if !r.cfg.Open {
		tok := bearerToken(c)
		sum := sha256.Sum256([]byte(tok))
		standing := r.cfg.InitialAccessToken != "" && tok != "" && subtle.ConstantTimeCompare(sum[:], r.iat[:]) == 1
		if !standing {
			if tok == "" {
				return r.noToken(c)
			}
			// A single-use token, spent by the directory only if the
			// client is created: a refused registration keeps it.
			single = tok
		}
	}
	cl, secret, regToken, err := r.dir.RegisterClient(ctx, reg.Client, single)
	if errors.Is(err, directory.ErrInvalidCredentials) {
		return r.noToken(c)
	}
	if err != nil {
		return r.fail(c, err)
	}
	r.logger.InfoContext(ctx, "client registered", "audit", true, "client_id", cl.ID, "auth_method", cl.AuthMethod)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, r.response(cl, secret, regToken))
}

// noToken refuses a registration without a usable initial access token
// (RFC 6750 §3).
func (r *Registration) noToken(c echo.Context) error {
	c.Response().Header().Set("WWW-Authenticate", `Bearer realm="authrim", error="invalid_token"`)
	return oauth2.Write(c, r.logger, oauth2.ErrInvalidToken.WithDescription("an initial access token is required to register"))
}

// client authenticates a configuration request (RFC 7592 §2): the
// registration access token of the client named in the path. Any failure
// is 401 invalid_token, so nothing is told about other clients.
func (r *Registration) client(c echo.Context) (directory.Client, error) {
	id := c.Param("id")
	tok := bearerToken(c)
	if tok == "" {
		return directory.Client{}, oauth2.ErrInvalidToken.WithDescription("the registration access token is required")
	}
	cl, err := r.dir.RegisteredClient(c.Request().Context(), id, tok)
	if err != nil {
		if errors.Is(err, directory.ErrInvalidCredentials) {
			return directory.Client{}, oauth2.ErrInvalidToken.WithDescription("invalid registration access token")
		}
		return directory.Client{}, err
	}
	return cl, nil
}

func (r *Registration) read(c echo.Context) error {
	cl, err := r.client(c)
	if err != nil {
		return r.fail(c, err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, r.response(cl, "", ""))
}

func (r *Registration) update(c echo.Context) error {
	cl, err := r.client(c)
	if err != nil {
		return r.fail(c, err)
	}
	reg, err := r.body(c)
	if err != nil {
		return r.fail(c, err)
	}
	// RFC 7592 §2.2: the body names the client; a secret, if sent, must
	// be the current one.
	if reg.ClientID != cl.ID {
		return r.fail(c, oauth2.ErrInvalidRequest.WithDescription("client_id in the body must be the client's"))
	}
	if reg.ClientSecret != "" && directory.VerifyClientSecret(cl, reg.ClientSecret) != nil {
		return r.fail(c, oauth2.ErrInvalidRequest.WithDescription("client_secret does not match"))
	}
	ctx := c.Request().Context()
	next, secret, err := r.dir.UpdateRegisteredClient(ctx, cl.ID, reg.Client)
	if err != nil {
		return r.fail(c, err)
	}
	r.logger.InfoContext(ctx, "client registration updated", "audit", true, "client_id", cl.ID)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, r.response(next, secret, ""))
}

func (r *Registration) remove(c echo.Context) error {
	cl, err := r.client(c)
	if err != nil {
		return r.fail(c, err)
	}
	ctx := c.Request().Context()
	if err := r.dir.DeleteClient(ctx, cl.ID); err != nil {
		return r.fail(c, err)
	}
	r.logger.InfoContext(ctx, "client registration deleted", "audit", true, "client_id", cl.ID)
	return c.NoContent(http.StatusNoContent)
}
