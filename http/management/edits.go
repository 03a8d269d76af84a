package management

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"authrim/directory"
	"authrim/http/oauth2"
	"authrim/http/router"
)

// UserEditor is what the user edit routes ask of the user directory
// (*directory.Directory satisfies it). They are mounted when the
// UserAdmin given to NewDirectoryAdmin implements it too.
type UserEditor interface {
	// UpdateUserClaims and SetUserPassword take a subject or a username.
	UpdateUserClaims(ctx context.Context, ref string, set map[string]any) (directory.User, error)
	SetUserPassword(ctx context.Context, ref, password string) (directory.User, error)
}

// ClientEditor is what the client edit routes ask of the client
// directory (*directory.Directory satisfies it). They are mounted when the
// ClientAdmin given to NewDirectoryAdmin implements it too.
type ClientEditor interface {
	UpdateClient(ctx context.Context, id string, change func(directory.NewClient) (directory.NewClient, error)) (directory.Client, string, error)
	RotateClientSecret(ctx context.Context, id string) (directory.Client, string, error)
}

// Paths of the edit routes.
const (
	// UserPasswordPath is PUT /admin/users/{id}/password.
	UserPasswordPath = "/admin/users/:id/password"
	// ClientRotateSecretPath is POST /admin/clients/{id}/rotate-secret.
	ClientRotateSecretPath = "/admin/clients/:id/rotate-secret"
)

func (d *DirectoryAdmin) userEditRoutes(ed UserEditor) []router.Route {
	return []router.Route{
		{Method: http.MethodPatch, Path: "/admin/users/:id", Handler: d.updateUser(ed)},
		{Method: http.MethodPut, Path: UserPasswordPath, Handler: d.setPassword(ed)},
	}
}

func (d *DirectoryAdmin) clientEditRoutes(ed ClientEditor) []router.Route {
	return []router.Route{
		{Method: http.MethodPatch, Path: "/admin/clients/:id", Handler: d.updateClient(ed)},
		{Method: http.MethodPost, Path: ClientRotateSecretPath, Handler: d.rotateSecret(ed)},
	}
}

// UpdateUserRequest is the body of PATCH /admin/users/{id}: each claim
// given replaces the stored one, null removes it (the top level of a JSON
// merge patch, RFC 7396).
type UpdateUserRequest struct {
	Claims map[string]any `json:"claims"`
}

// SetPasswordRequest is the body of PUT /admin/users/{id}/password.
type SetPasswordRequest struct {
	Password string `json:"password"`
}

func (d *DirectoryAdmin) updateUser(ed UserEditor) echo.HandlerFunc {
	return func(c echo.Context) error {
		ref, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		var body UpdateUserRequest
		if err := decodeStrict(c, &body); err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		before, _ := d.users.FindUser(c.Request().Context(), ref)
		u, err := ed.UpdateUserClaims(c.Request().Context(), ref, body.Claims)
		if err != nil {
			return d.fail(c, err, "user")
		}
		if old, _ := before.Claims["email"].(string); old != u.Claims["email"] {
			d.verifyNew(c.Request().Context(), u)
		}
		// Claim names only: their values are personal data.
		d.logger.InfoContext(c.Request().Context(), "admin: user updated", "audit", true, "sub", u.Subject, "username", u.Username,
			"claims", strings.Join(sortedNames(body.Claims), ","))
		return c.JSON(http.StatusOK, userView(u))
	}
}

// setPassword serves PUT /admin/users/{id}/password. The user's sessions
// and tokens end (directory.SetUserPassword).
func (d *DirectoryAdmin) setPassword(ed UserEditor) echo.HandlerFunc {
	return func(c echo.Context) error {
		ref, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		var body SetPasswordRequest
		if err := decodeStrict(c, &body); err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		u, err := ed.SetUserPassword(c.Request().Context(), ref, body.Password)
		if err != nil {
			return d.fail(c, err, "user")
		}
		d.logger.InfoContext(c.Request().Context(), "admin: user password set", "audit", true, "sub", u.Subject, "username", u.Username)
		return c.JSON(http.StatusOK, userView(u))
	}
}

// updateClient serves PATCH /admin/clients/{id}: the body holds the
// metadata to change, under the names of POST /admin/clients; members
// left out keep their value and null resets one to its default (the top
// level of a JSON merge patch, RFC 7396). The result is checked by the
// same rules as a new client. client_id cannot change, and client_secret
// is not taken (POST .../rotate-secret).
func (d *DirectoryAdmin) updateClient(ed ClientEditor) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		var patch map[string]json.RawMessage
		if err := decodeStrict(c, &patch); err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		if patch == nil {
			return oauth2.Write(c, d.logger, oauth2.ErrInvalidRequest.WithDescription("body must be a JSON object"))
		}
		v, err := d.UpdateClient(c.Request().Context(), id, patch)
		if err != nil {
			return d.fail(c, err, "client")
		}
		return c.JSON(http.StatusOK, v)
	}
}

// rotateSecret serves POST /admin/clients/{id}/rotate-secret: a new
// generated secret, in the answer only.
func (d *DirectoryAdmin) rotateSecret(ed ClientEditor) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathParam(c, "id")
		if err != nil {
			return oauth2.Write(c, d.logger, err)
		}
		v, err := d.RotateClientSecret(c.Request().Context(), id)
		if err != nil {
			return d.fail(c, err, "client")
		}
		return c.JSON(http.StatusOK, v)
	}
}

// withSecret puts a secret issued by this request into the view, as the
// create does (client_secret_expires_at 0: it does not expire).
func withSecret(v ClientView, secret string) ClientView {
	if secret != "" {
		never := int64(0)
		v.ClientSecret, v.ClientSecretExpiresAt = secret, &never
	}
	return v
}

// checkClientPatch refuses what an update cannot carry before anything
// is read: unknown members are caught when the patch is applied.
func checkClientPatch(patch map[string]json.RawMessage) error {
	if len(patch) == 0 {
		return oauth2.ErrInvalidRequest.WithDescription("nothing to change")
	}
	if _, ok := patch["client_secret"]; ok {
		return oauth2.ErrInvalidRequest.WithDescription("client_secret cannot be set by an update: POST /admin/clients/{id}/rotate-secret")
	}
	return nil
}

// applyClientPatch lays patch over cur's metadata in the request shape and
// decodes the result strictly, so a misspelt or ill-typed member is
// refused as it is by POST /admin/clients.
func applyClientPatch(cur directory.NewClient, patch map[string]json.RawMessage) (directory.NewClient, error) {
	for k, v := range patch {
		if isNull(v) && !knownClientField(k) {
			return directory.NewClient{}, oauth2.ErrInvalidRequest.WithDescription("unknown field " + quoteField(k))
		}
	}
	req, err := mergePatch(NewClientRequest{ClientID: cur.ID, ClientMetadata: cur.ClientMetadata}, patch)
	if err != nil {
		return directory.NewClient{}, err
	}
	if req.ClientID != cur.ID {
		return directory.NewClient{}, oauth2.ErrInvalidRequest.WithDescription("client_id cannot change")
	}
	return directory.NewClient{ID: req.ClientID, ClientMetadata: req.ClientMetadata}, nil
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// mergePatch lays patch over cur (the top level of a JSON merge patch,
// RFC 7396: null removes a member) and decodes the result strictly into
// a T, so a misspelt or ill-typed member is refused as by a create.
func mergePatch[T any](cur T, patch map[string]json.RawMessage) (T, error) {
	var out T
	base, err := json.Marshal(cur)
	if err != nil {
		return out, err
	}
	var merged map[string]json.RawMessage
	if err := json.Unmarshal(base, &merged); err != nil {
		return out, err
	}
	for k, v := range patch {
		if isNull(v) {
			delete(merged, k)
			continue
		}
		merged[k] = v
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return out, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return out, oauth2.ErrInvalidRequest.WithDescription("field " + typeErr.Field + " has the wrong type")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return out, oauth2.ErrInvalidRequest.WithDescription(strings.TrimPrefix(err.Error(), "json: "))
		}
		return out, oauth2.ErrInvalidRequest.WithDescription("malformed JSON body")
	}
	return out, nil
}

// knownClientField reports whether name is a member of NewClientRequest.
func knownClientField(name string) bool {
	b, _ := json.Marshal(map[string]any{name: nil})
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(&NewClientRequest{}) == nil
}

func quoteField(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
