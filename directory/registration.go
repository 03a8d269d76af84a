package directory

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"authrim/persistence"
)

// MaxRegistrationBody bounds a registration request (RFC 7591 §3.1).
const MaxRegistrationBody = 64 << 10

// RedirectURIError is a registration refused for its redirect URIs
// (RFC 7591 §3.2.2 invalid_redirect_uri): at least one of its Problems is
// about redirect_uris or post_logout_redirect_uris. Other refusals are
// plain InvalidErrors (invalid_client_metadata).
type RedirectURIError struct{ InvalidError }

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *RedirectURIError) Unwrap() error { return &e.InvalidError }

// registrationError turns a refusal for redirect URIs into a
// RedirectURIError; other errors are returned as they are.
func registrationError(err error) error {
	var ie *InvalidError
	if !errors.As(err, &ie) {
		return err
	}
	for _, p := range ie.Problems {
		if slices.Contains(redirectFields, p.Field) {
			return &RedirectURIError{*ie}
		}
	}
	return err
}

// registration is the wire form of a registration request (RFC 7591 §2,
// OIDC Dynamic Client Registration §2, RFC 9126 §6): the client metadata
// and, in an update (RFC 7592 §2.2), the client's credentials. Anything
// else in a request is ignored (RFC 7591 §2: unknown metadata is
// ignored).
type registration struct {
	ClientID     *string `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
	ClientMetadata
}

// Registration is a parsed registration or update request.
type Registration struct {
	Client NewClient
	// ClientID and ClientSecret are what the request carried (RFC 7592
	// §2.2: an update names the client it updates).
	ClientID, ClientSecret string
}

// ParseRegistration decodes a client registration request body (RFC 7591
// §3.1): a JSON object. Defaults: token_endpoint_auth_method
// client_secret_basic, grant_types [authorization_code], response_types
// [code]. Unknown members are ignored; members of the wrong JSON type are
// refused, and so is metadata that breaks ValidateClient's rules whatever
// the node's keys (an InvalidError, a RedirectURIError for redirect
// URIs). The rules that depend on the node (the algorithms it has keys
// for) are checked again when the client is created.
func ParseRegistration(body []byte) (Registration, error) {
	if len(body) > MaxRegistrationBody {
		return Registration{}, invalid("registration request is larger than %d bytes", MaxRegistrationBody)
	}
	var r registration
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Registration{}, invalid("%s has the wrong JSON type", clip(te.Field))
		}
		return Registration{}, invalid("the body must be a JSON object of client metadata")
	}
	if dec.More() {
		return Registration{}, invalid("the body must be one JSON object")
	}
	if r.AuthMethod == "" {
		r.AuthMethod = "client_secret_basic"
	}
	if len(r.GrantTypes) == 0 {
		r.GrantTypes = []string{"authorization_code"}
	}
	// The registrant chooses neither its id nor its secret: both are
	// generated, so neither is checked here. Whether private addresses
	// may be named depends on the node: checked on create.
	if err := invalidProblems(ValidateClient("", "", r.ClientMetadata, Rules{AllowPrivateAddresses: true})); err != nil {
		return Registration{}, registrationError(err)
	}
	out := Registration{Client: NewClient{ClientMetadata: r.ClientMetadata}}
	if r.ClientID != nil {
		out.ClientID = *r.ClientID
	}
	if r.ClientSecret != nil {
		out.ClientSecret = *r.ClientSecret
	}
	return out, nil
}

// RegisterClient creates a client from a registration request (RFC 7591
// §3.2.1) with a generated client_id and, for secret methods, a generated
// secret, and issues its registration access token (RFC 7592 §3), of
// which only the hash is kept. Secrets are always generated here: a
// registrant does not choose its own.
//
// initialToken, when not empty, is an initial access token issued by
// IssueInitialToken that the registration spends. It is spent only once
// the metadata passed every check, and put back if the client cannot be
// stored: a refused registration leaves it usable. An unknown, used or
// expired token is ErrInvalidCredentials (and nothing is stored).
func (d *Directory) RegisterClient(ctx context.Context, in NewClient, initialToken string) (c Client, secret, regToken string, err error) {
	in.ID, in.Secret, in.SkipConsent, in.TokenExchange = "", "", false, TokenExchangePolicy{}
	regToken, err = randomToken(32)
	if err != nil {
		return Client{}, "", "", err
	}
	var spend func(context.Context) (func(), error)
	if initialToken != "" {
		spend = func(ctx context.Context) (func(), error) { return d.takeInitialToken(ctx, initialToken) }
	}
	c, secret, err = d.createClient(ctx, in, HashClientSecret(regToken), spend)
	if err != nil {
		return Client{}, "", "", registrationError(err)
	}
	return c, secret, regToken, nil
}

// RegisteredClient returns the dynamically registered client id whose
// registration access token is token; ErrInvalidCredentials for any
// other client, token or id (RFC 7592 §2: the same answer for all).
func (d *Directory) RegisteredClient(ctx context.Context, id, token string) (Client, error) {
	c, err := d.Client(ctx, id)
	got := HashClientSecret(token)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Client{}, ErrInvalidCredentials
		}
		return Client{}, err
	}
	if c.Static || c.RegistrationTokenHash == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.RegistrationTokenHash)) != 1 {
		return Client{}, ErrInvalidCredentials
	}
	return c, nil
}

// UpdateRegisteredClient replaces the metadata of a registered client
// (RFC 7592 §2.2). Its id, secret, registration token and creation time
// stay; a switch to a method without a secret drops the secret, and a
// switch to a secret method generates one (returned, else "").
func (d *Directory) UpdateRegisteredClient(ctx context.Context, id string, in NewClient) (Client, string, error) {
	in.ID, in.SkipConsent, in.TokenExchange = id, false, TokenExchangePolicy{}
	in.Secret = ""
	built, newSecret, err := in.build(d.now(), d.rules)
	if err != nil {
		return Client{}, "", registrationError(err)
	}
	var out Client
	keptSecret := false
	err = d.store.Update(ctx, BucketClients, id, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: client %q", ErrNotFound, id)
		}
		var cur Client
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, fmt.Errorf("directory: decode client %q: %w", id, err)
		}
		if cur.RegistrationTokenHash == "" {
			return nil, invalid("client %q was not registered through /register", id)
		}
		next := built
		next.Created = cur.Created
		next.RegistrationTokenHash = cur.RegistrationTokenHash
		keptSecret = needsSecret(next.AuthMethod) && cur.SecretHash != ""
		if keptSecret {
			next.SecretHash = cur.SecretHash
		}
		out = next
		return json.Marshal(next)
	})
	if errors.Is(err, persistence.ErrNotFound) {
		return Client{}, "", fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	if err != nil {
		return Client{}, "", err
	}
	if keptSecret {
		newSecret = ""
	}
	return out, newSecret, nil
}

// BucketRegistrationTokens holds initial access tokens issued through the
// admin API, keyed by their hash (declared in persistence/schema.go).
const BucketRegistrationTokens = persistence.BucketRegistrationTokens

// MaxInitialTokenTTL bounds an issued initial access token's life.
const MaxInitialTokenTTL = 30 * 24 * time.Hour

type initialTokenRecord struct {
	Exp int64 `json:"exp"`
}

// IssueInitialToken makes an initial access token (RFC 7591 §3) that
// allows one registration within ttl. Only its hash is stored.
func (d *Directory) IssueInitialToken(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 || ttl > MaxInitialTokenTTL {
		return "", time.Time{}, invalid("ttl must be positive and at most %s", MaxInitialTokenTTL)
	}
	tok, err := randomToken(32)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := d.now().Add(ttl)
	rec, _ := json.Marshal(initialTokenRecord{Exp: exp.UnixMilli()})
	if err := d.store.Create(ctx, BucketRegistrationTokens, HashClientSecret(tok), rec); err != nil {
		return "", time.Time{}, fmt.Errorf("directory: store initial access token: %w", err)
	}
	return tok, exp, nil
}

// UseInitialToken spends an issued initial access token: it is deleted,
// so it allows one registration. ErrInvalidCredentials for an unknown,
// used or expired token.
func (d *Directory) UseInitialToken(ctx context.Context, tok string) error {
	_, err := d.takeInitialToken(ctx, tok)
	return err
}

// takeInitialToken is UseInitialToken that also returns how to put the
// token back (the registration it was spent for failed after all).
func (d *Directory) takeInitialToken(ctx context.Context, tok string) (restore func(), err error) {
	if tok == "" || len(tok) > 512 {
		return nil, ErrInvalidCredentials
	}
	now := d.now().UnixMilli()
	key := HashClientSecret(tok)
	live := false
	var rec []byte
	err = d.store.Update(ctx, BucketRegistrationTokens, key, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, ErrInvalidCredentials
		}
		var r initialTokenRecord
		live = json.Unmarshal(old, &r) == nil && r.Exp > now
		rec = bytes.Clone(old)
		return nil, nil
	})
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return nil, ErrInvalidCredentials
	case err != nil:
		return nil, fmt.Errorf("directory: use initial access token: %w", err)
	case !live:
		return nil, ErrInvalidCredentials
	}
	return func() {
		rctx, cancel := rollbackCtx(ctx)
		defer cancel()
		_ = d.store.Create(rctx, BucketRegistrationTokens, key, rec)
	}, nil
}
