package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"authrim/persistence"
)

// The client model is in clients_model.go, its rules in
// clients_validation.go, secrets and key sets in clients_keys.go.

// build checks in under r and returns the client it describes with its
// plaintext secret (given or generated, "" when the method takes none).
func (in NewClient) build(now time.Time, r Rules) (Client, string, error) {
	m := in.ClientMetadata.WithDefaults()
	if err := invalidProblems(validate(in.ID, in.Secret, m, r)); err != nil {
		return Client{}, "", err
	}
	c := Client{ID: in.ID, ClientMetadata: m, Created: now.UTC()}
	secret := in.Secret
	if needsSecret(m.AuthMethod) {
		if secret == "" {
			var err error
			if secret, err = randomToken(32); err != nil {
				return Client{}, "", err
			}
		}
		c.SecretHash = HashClientSecret(secret)
	}
	return c, secret, nil
}

// NewStaticClient builds a static client from config values: it applies
// ValidateClient with Rules.Static (the ID must be given, and so must the
// secret for client_secret_* methods), hashes the secret in memory and
// sets Static. idTokenAlgs are the node's keys.algorithms
// (Options.IDTokenAlgs); none given means every algorithm this package
// supports.
func NewStaticClient(in NewClient, idTokenAlgs ...string) (Client, error) {
	// Private addresses depend on the node's fetch guard: New checks
	// the client again under the node's rules.
	c, _, err := in.build(time.Time{}, Rules{Algorithms: idTokenAlgs, Static: true, AllowPrivateAddresses: true})
	if err != nil {
		return Client{}, err
	}
	c.Static = true
	return c, nil
}

// CreateClient registers a client and returns it with its secret in clear:
// the only time the secret is available (only its hash is stored). The
// secret is "" for methods that use none. An error wraps ErrInvalid for
// bad input (ValidateClient's problems under the directory's Rules, in
// InvalidError.Problems) and ErrClientIDTaken when a static or stored
// client has the ID.
func (d *Directory) CreateClient(ctx context.Context, in NewClient) (Client, string, error) {
	return d.createClient(ctx, in, "", nil)
}

// createClient is CreateClient that also records a registration access
// token hash (RFC 7592) when regHash is not empty. spend, when set, runs
// once the client passed every check and before it is stored; its undo
// runs if the client then cannot be stored.
func (d *Directory) createClient(ctx context.Context, in NewClient, regHash string, spend func(context.Context) (undo func(), err error)) (Client, string, error) {
	if in.ID == "" {
		id, err := randomToken(16)
		if err != nil {
			return Client{}, "", err
		}
		in.ID = id
	}
	c, secret, err := in.build(d.now(), d.rules)
	if err != nil {
		return Client{}, "", err
	}
	if _, ok := d.static[c.ID]; ok {
		return Client{}, "", fmt.Errorf("%w: %q (a static client)", ErrClientIDTaken, c.ID)
	}
	c.RegistrationTokenHash = regHash
	rec, err := json.Marshal(c)
	if err != nil {
		return Client{}, "", fmt.Errorf("directory: encode client: %w", err)
	}
	undo := func() {}
	if spend != nil {
		if undo, err = spend(ctx); err != nil {
			return Client{}, "", err
		}
	}
	if err := d.store.Create(ctx, BucketClients, c.ID, rec); err != nil {
		undo()
		if errors.Is(err, persistence.ErrConflict) {
			return Client{}, "", fmt.Errorf("%w: %q", ErrClientIDTaken, c.ID)
		}
		return Client{}, "", fmt.Errorf("directory: create client: %w", err)
	}
	return c, secret, nil
}

// Client returns the client with this id: a static one if config.yaml has
// it, else a stored one, else ErrNotFound. An id that is a URL is
// resolved from its client ID metadata document by the ClientResolver
// (never from the store); without one it is not found. Every endpoint
// looks clients up here, so they all agree on such a client.
// The node's profile (Options.Profile) is applied here, so every
// endpoint holds the client to it.
func (d *Directory) Client(ctx context.Context, id string) (Client, error) {
	c, err := d.client(ctx, id)
	if err == nil && d.rules.Profile != "" {
		c.Profile = d.rules.Profile
	}
	return c, err
}

func (d *Directory) client(ctx context.Context, id string) (Client, error) {
	if c, ok := d.static[id]; ok {
		return cloneClient(c), nil
	}
	if IsClientIDURL(id) {
		return d.resolveClient(ctx, id)
	}
	if checkClientID(id) != nil {
		return Client{}, fmt.Errorf("%w: client", ErrNotFound)
	}
	b, err := d.store.Get(ctx, BucketClients, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return Client{}, fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	if err != nil {
		return Client{}, fmt.Errorf("directory: get client: %w", err)
	}
	c, err := d.clients.get(id, b, func(b []byte) (Client, error) {
		var c Client
		err := json.Unmarshal(b, &c)
		c.Static = false
		return c, err
	}, cloneClient)
	if err != nil {
		return Client{}, fmt.Errorf("directory: decode client %q: %w", id, err)
	}
	return c, nil
}

// ListClients returns static and stored clients, sorted by ID. A stored
// client shadowed by a static one of the same ID is left out, as Client
// would never return it.
func (d *Directory) ListClients(ctx context.Context) ([]Client, error) {
	out := make([]Client, 0, len(d.static))
	for _, c := range d.static {
		out = append(out, cloneClient(c))
	}
	err := d.store.List(ctx, BucketClients, "", func(id string, b []byte) error {
		if _, shadowed := d.static[id]; shadowed {
			return nil
		}
		var c Client
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("directory: decode client %q: %w", id, err)
		}
		c.Static = false
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: list clients: %w", err)
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DeleteClient removes a stored client. Static clients are refused with
// ErrInvalid: they come back from config.yaml on every start.
func (d *Directory) DeleteClient(ctx context.Context, id string) error {
	if _, ok := d.static[id]; ok {
		return invalid("client %q is static: static clients are managed in config.yaml", id)
	}
	if checkClientID(id) != nil {
		return fmt.Errorf("%w: client", ErrNotFound)
	}
	if err := d.store.Delete(ctx, BucketClients, id); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return fmt.Errorf("%w: client %q", ErrNotFound, id)
		}
		return fmt.Errorf("directory: delete client: %w", err)
	}
	return nil
}
