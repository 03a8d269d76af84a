package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
// a client_id that is an https URL names a JSON document of the client's
// metadata, which the node fetches instead of looking the client up in
// its store. The fetching and caching live outside this package (a
// ClientResolver, http/clientdoc); the rules of the URL and of the
// document live here, next to the registration rules they reuse.

// ErrClientDocument: a client_id URL could not be resolved to a client
// (the feature is off, the URL or its host is not allowed, the document
// could not be fetched or breaks the rules). It matches ErrNotFound, so
// every endpoint answers as for an unknown client.
var ErrClientDocument error = &sentinel{"directory: client metadata document not usable", ErrNotFound}

// MaxClientIDURLLen bounds a client_id URL, as it bounds registered URIs.
const MaxClientIDURLLen = maxURILen

// ClientResolver resolves client_ids that are client ID metadata document
// URLs (IsClientIDURL). r are the directory's client rules, which the
// document must pass (ParseClientDocument). Its errors should wrap
// ErrClientDocument (or ErrNotFound) for a client that cannot be
// resolved; anything else is taken as the directory failing.
type ClientResolver interface {
	ResolveClient(ctx context.Context, id string, r Rules) (Client, error)
}

// IsClientIDURL tells whether id is meant as a URL: registered client_ids
// never contain ':' (idProblems), so nothing registered is shadowed.
func IsClientIDURL(id string) bool { return strings.Contains(id, "://") }

// CheckClientIDURL applies the draft's rules to a client_id URL (§3): the
// https scheme, a host, a path, no single-dot or double-dot path segment,
// no fragment, no username or password. It also refuses what could not
// be compared exactly with the document's client_id (a URL that does not
// parse back to itself). The error wraps ErrInvalid and names the rule.
func CheckClientIDURL(id string) error {
	if len(id) > MaxClientIDURLLen {
		return invalid("client_id URL is longer than %d bytes", MaxClientIDURLLen)
	}
	u, err := url.Parse(id)
	switch {
	case err != nil:
		return invalid("client_id is not a URL")
	case u.Scheme != "https":
		return invalid("client_id URL must use the https scheme")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return invalid("client_id URL has no host")
	case u.User != nil:
		return invalid("client_id URL must not contain a username or password")
	case strings.Contains(id, "#"):
		return invalid("client_id URL must not contain a fragment")
	case u.Path == "":
		return invalid("client_id URL must contain a path")
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if s, _ := url.PathUnescape(seg); s == "." || s == ".." {
			return invalid("client_id URL must not contain . or .. path segments")
		}
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return invalid("client_id URL must be printable ASCII without spaces")
		}
	}
	return nil
}

// HostAllowed tells whether the host of a client_id URL (checked by
// CheckClientIDURL) is one of hosts, compared case-insensitively; an
// empty list allows every host. An entry may carry a port
// ("apps.example:8443"); without one it allows the host on any port.
func HostAllowed(id string, hosts []string) bool {
	if len(hosts) == 0 {
		return true
	}
	u, err := url.Parse(id)
	if err != nil {
		return false
	}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if strings.EqualFold(u.Host, h) || strings.EqualFold(strings.TrimSuffix(u.Hostname(), "."), h) {
			return true
		}
	}
	return false
}

// clientDocument is the wire form of a metadata document: the client's
// metadata under its RFC 7591 names, the client_id it must repeat, and
// the members the draft forbids (§4.1: no shared secret).
type clientDocument struct {
	ClientID              *string         `json:"client_id"`
	ClientSecret          json.RawMessage `json:"client_secret"`
	ClientSecretExpiresAt json.RawMessage `json:"client_secret_expires_at"`
	ClientMetadata
}

// MaxClientDocument is the largest document ParseClientDocument reads;
// the fetch limit (client_metadata_documents.max_bytes) is usually
// smaller.
const MaxClientDocument = 64 << 10

// ParseClientDocument turns the client ID metadata document body fetched
// from id (a URL that passed CheckClientIDURL) into a client, under the
// registration rules r plus the draft's (§4.1):
//   - the document is one JSON object whose client_id is id, compared as
//     strings (no normalisation);
//   - no client_secret or client_secret_expires_at, and a
//     token_endpoint_auth_method of none (the default here, since the
//     RFC 7591 default client_secret_basic is forbidden) or
//     private_key_jwt with the keys in jwks or jwks_uri;
//   - redirect_uris as for any client (exact match at /authorize);
//   - no client_credentials grant: the document names nobody the node
//     could hold to account for a token without a user;
//   - skip_consent is ignored: the user is always asked.
//
// The error wraps ErrInvalid; its Reason names the rule broken and is
// safe to log (the document holds no secret).
func ParseClientDocument(id string, body []byte, r Rules) (Client, error) {
	if err := CheckClientIDURL(id); err != nil {
		return Client{}, err
	}
	if len(body) > MaxClientDocument {
		return Client{}, invalid("document is larger than %d bytes", MaxClientDocument)
	}
	var doc clientDocument
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Client{}, invalid("document member %s has the wrong JSON type", clip(te.Field))
		}
		return Client{}, invalid("document is not a JSON object of client metadata")
	}
	if dec.More() {
		return Client{}, invalid("document must be one JSON object")
	}
	switch {
	case doc.ClientID == nil:
		return Client{}, invalid("document has no client_id")
	case *doc.ClientID != id:
		return Client{}, invalid("document client_id %q is not the URL it was fetched from", clip(*doc.ClientID))
	case doc.ClientSecret != nil || doc.ClientSecretExpiresAt != nil:
		return Client{}, invalid("document must not contain client_secret or client_secret_expires_at")
	}
	m := doc.ClientMetadata
	if m.AuthMethod == "" {
		m.AuthMethod = "none"
	}
	if m.AuthMethod != "none" && m.AuthMethod != "private_key_jwt" {
		return Client{}, invalid("token_endpoint_auth_method must be none or private_key_jwt, got %q (a metadata document cannot hold a shared secret)", clip(m.AuthMethod))
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{"authorization_code"}
	}
	if slices.Contains(m.GrantTypes, "client_credentials") {
		return Client{}, invalid("grant_types: client_credentials is not for a client identified by a metadata document")
	}
	m.SkipConsent = false
	m = m.WithDefaults()
	if err := invalidProblems(m.problems(r)); err != nil {
		return Client{}, err
	}
	return Client{ID: id, ClientMetadata: m, MetadataDocument: true}, nil
}

// resolveClient is Client for an id that is a URL.
func (d *Directory) resolveClient(ctx context.Context, id string) (Client, error) {
	if d.resolver == nil {
		return Client{}, fmt.Errorf("%w: client", ErrNotFound)
	}
	c, err := d.resolver.ResolveClient(ctx, id, d.rules)
	if err != nil {
		return Client{}, err
	}
	c.Static, c.SkipConsent, c.MetadataDocument = false, false, true
	return cloneClient(c), nil
}

// checkClientKey accepts a registered client_id or a client_id URL: the
// ids under which a client's pushed requests and assertion ids are kept.
func checkClientKey(id string) error {
	if IsClientIDURL(id) {
		return CheckClientIDURL(id)
	}
	return checkClientID(id)
}
