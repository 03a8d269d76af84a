package management

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"authrim/actors/messages"
	"authrim/http/oauth2"
)

// KeyDetailView is one key as GET /admin/keys/{kid} shows it: its
// lifecycle and its public JWK (RFC 7517), never the private half.
type KeyDetailView struct {
	KeyView
	PublicJWK json.RawMessage `json:"public_jwk,omitempty"`
}

// showKey serves GET /admin/keys/{kid}: any key the KeyManager still
// holds, whatever its status (a revoked or removed one too).
func (a *Admin) showKey(c echo.Context) error {
	kid, err := pathParam(c, "kid")
	if err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	set, err := a.keys.List(c.Request().Context())
	if err != nil {
		return oauth2.Write(c, a.logger, err)
	}
	for _, k := range set.GetKeys() {
		if k.GetKid() != kid {
			continue
		}
		d := KeyDetailView{KeyView: viewOf(&messages.KeySet{Version: set.GetVersion(), Keys: []*messages.Key{k}}).Keys[0]}
		if json.Valid(k.GetPublicJwk()) {
			d.PublicJWK = k.GetPublicJwk()
		}
		return c.JSON(http.StatusOK, d)
	}
	return oauth2.Write(c, a.logger, oauth2.ErrNotFound.WithDescription("no such key"))
}
