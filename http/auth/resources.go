package auth

import (
	"context"
	"errors"
	"slices"
	"strings"

	"authrim/directory"
	"authrim/http/oauth2"
)

// Resources looks resource servers up (RFC 8707).
type Resources interface {
	Resource(ctx context.Context, id string) (directory.Resource, error)
}

// WithResources lets authorization requests (and pushed ones) name
// registered resource servers with resource= (RFC 8707 §2). Without it a
// resource parameter is refused as invalid_target.
func (h *Handler) WithResources(r Resources) *Handler {
	h.resources = r
	return h
}

// maxResources bounds the resource parameters of one request.
const maxResources = 16

// requestedResources looks up each resource= of a request: every one must
// be an absolute URI without fragment that names a registered resource
// server (else invalid_target, RFC 8707 §2). Duplicates count once.
func (h *Handler) requestedResources(ctx context.Context, ids []string) ([]directory.Resource, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if h.resources == nil {
		return nil, oauth2.ErrInvalidTarget.WithDescription("no resource servers are registered")
	}
	if len(ids) > maxResources {
		return nil, oauth2.ErrInvalidTarget.WithDescription("too many resources")
	}
	var out []directory.Resource
	for _, id := range ids {
		if msg := directory.ResourceIDProblem(id); msg != "" {
			return nil, oauth2.ErrInvalidTarget.WithDescription("resource " + msg)
		}
		if slices.ContainsFunc(out, func(r directory.Resource) bool { return r.Identifier == id }) {
			continue
		}
		r, err := h.resources.Resource(ctx, id)
		if errors.Is(err, directory.ErrNotFound) {
			return nil, oauth2.ErrInvalidTarget.WithDescription("unknown resource")
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// resourceConsentItem is what consent to a resource server records:
// consent for one resource is not consent for another, even when their
// scopes have the same names. A scope of it is item#scope (an identifier
// has no fragment, so the form is unambiguous).
func resourceConsentItem(id string) string { return "resource:" + id }

// resourceScopes are the scopes of req that res defines.
func resourceScopes(res directory.Resource, scopes []string) []string {
	var out []string
	for _, s := range scopes {
		if res.HasScope(s) {
			out = append(out, s)
		}
	}
	return out
}

// resourceView is a resource server on the consent page.
type resourceView struct {
	Name, ID, Scopes string
}

// describeResources says, for the consent page, which APIs the client
// asks to reach and with which scopes. A resource server deleted since
// the request began is shown by its identifier.
func (h *Handler) describeResources(ctx context.Context, ids, scopes []string) []resourceView {
	var out []resourceView
	for _, id := range ids {
		v := resourceView{Name: id, ID: id}
		if h.resources != nil {
			if r, err := h.resources.Resource(ctx, id); err == nil {
				if r.Name != "" {
					v.Name = r.Name
				}
				v.Scopes = strings.Join(resourceScopes(r, scopes), ", ")
			}
		}
		out = append(out, v)
	}
	return out
}
