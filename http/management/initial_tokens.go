package management

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"authrim/http/oauth2"
)

// InitialTokenIssuer issues single-use initial access tokens for /register.
type InitialTokenIssuer interface {
	IssueInitialToken(ctx context.Context, ttl time.Duration) (string, time.Time, error)
}

// WithInitialTokens adds POST /admin/registration-tokens: an operator
// hands one registrant a token good for one registration (RFC 7591 §3).
func (a *Admin) WithInitialTokens(issuer InitialTokenIssuer) *Admin {
	a.initialTokens = issuer
	return a
}

// InitialTokenRequest is the optional body: the token's lifetime as a Go
// duration ("24h"); default 24 h.
type InitialTokenRequest struct {
	TTL string `json:"ttl"`
}

// InitialTokenView is the answer; the token is shown only here.
type InitialTokenView struct {
	InitialAccessToken string    `json:"initial_access_token"`
	ExpiresAt          time.Time `json:"expires_at"`
}

func (a *Admin) issueInitialToken(c echo.Context) error {
	var body InitialTokenRequest
	if err := bindOptional(c, &body); err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	ttl := 24 * time.Hour
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil {
			return oauth2.Write(c, a.logger, oauth2.ErrInvalidRequest.WithDescription("ttl must be a duration such as 24h"))
		}
		ttl = d
	}
	ctx := c.Request().Context()
	tok, exp, err := a.initialTokens.IssueInitialToken(ctx, ttl)
	if err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	a.logger.InfoContext(ctx, "admin: initial access token issued", "audit", true, "expires_at", exp)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, InitialTokenView{InitialAccessToken: tok, ExpiresAt: exp.UTC()})
}
