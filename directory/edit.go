package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"authrim/persistence"
)

// This file holds the operator's edits of existing records (the admin
// API's PATCH and set-password routes): each is one atomic
// read-modify-write of the record, validated by the same rules as a
// create, so a refused edit stores nothing.

// UpdateUserClaims changes the claims of the user whose subject, or else
// whose username, is ref, and returns the record as stored. Each claim in
// set replaces the stored one; a nil value removes it (the top level of a
// JSON merge patch, RFC 7396: an address is replaced whole). The result
// must pass the rules of CreateUser (OIDC Core §5.1 standard claims only).
// A change bumps Updated, released as updated_at; a patch that changes
// nothing writes nothing. ErrNotFound when there is no such user.
func (d *Directory) UpdateUserClaims(ctx context.Context, ref string, set map[string]any) (User, error) {
	if len(set) == 0 {
		return User{}, invalid("claims: nothing to change")
	}
	return d.editUser(ctx, ref, func(u *User) (bool, error) {
		merged := maps.Clone(u.Claims)
		if merged == nil {
			merged = map[string]any{}
		}
		for name, v := range set {
			if v == nil {
				if _, known := standardClaims[name]; !known {
					return false, invalid("unknown claim %q (allowed: %s)", clip(name), strings.Join(StandardClaims(), ", "))
				}
				delete(merged, name)
				continue
			}
			merged[name] = v
		}
		// A new address is not verified, whatever the old one was,
		// unless the same change says it is.
		if _, set := set["email_verified"]; !set && emailChanged(u.Claims, merged) {
			if _, had := merged["email_verified"]; had {
				merged["email_verified"] = false
			}
		}
		claims, err := checkClaims(merged)
		if err != nil {
			return false, err
		}
		if reflect.DeepEqual(claims, u.Claims) || (len(claims) == 0 && len(u.Claims) == 0) {
			return false, nil
		}
		u.Claims = claims
		return true, nil
	})
}

// SetUserPassword replaces the password of the user whose subject, or
// else whose username, is ref (the policy of CreateUser; hashed with the
// directory's current argon2id parameters) and ends every sign-in they
// made so far, as a disable does (SessionsNotBefore): a password is reset
// because someone else may know the old one, and that someone's sessions
// and tokens must not outlive it. ErrNotFound when there is no such user.
func (d *Directory) SetUserPassword(ctx context.Context, ref, password string) (User, error) {
	// The hash is made before the read-modify-write, which may run more
	// than once and must stay cheap.
	u, err := d.FindUser(ctx, ref)
	if err != nil {
		return User{}, err
	}
	if err := d.passwords.Check(password, u.Username); err != nil {
		return User{}, err
	}
	hash, err := hashPassword(password, d.params)
	if err != nil {
		return User{}, err
	}
	return d.editUser(ctx, ref, func(u *User) (bool, error) {
		u.PasswordHash = hash
		u.SessionsNotBefore = d.now().UTC()
		return true, nil
	})
}

// editUser applies change to the stored record of the user ref names,
// atomically; change reports whether it changed anything (else nothing is
// written). Updated is set on a change.
func (d *Directory) editUser(ctx context.Context, ref string, change func(*User) (bool, error)) (User, error) {
	u, err := d.FindUser(ctx, ref)
	if err != nil {
		return User{}, err
	}
	var out User
	err = d.store.Update(ctx, BucketUsers, u.Subject, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
		}
		var cur User
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, fmt.Errorf("directory: decode user %q: %w", u.Subject, err)
		}
		changed, err := change(&cur)
		if err != nil {
			return nil, err
		}
		out = cur
		if !changed {
			return old, nil
		}
		out.Updated = d.now().UTC()
		return json.Marshal(out)
	})
	if errors.Is(err, persistence.ErrNotFound) && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("%w: user %q", ErrNotFound, clip(ref))
	}
	if err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) || errors.Is(err, ErrNotFound) {
			return User{}, err
		}
		return User{}, fmt.Errorf("directory: update user: %w", err)
	}
	return cloneUser(out), nil
}

// AsNewClient is the input that would build c again: its metadata,
// without a secret (only its hash is kept). UpdateClient hands it to the
// caller's change.
func (c Client) AsNewClient() NewClient {
	c = cloneClient(c)
	return NewClient{ID: c.ID, ClientMetadata: c.ClientMetadata}
}

// UpdateClient changes the metadata of a stored client: change gets its
// current metadata (AsNewClient) and returns the new one, which passes
// the rules of CreateClient (and the node's policy) or is refused with
// nothing stored. The client_id cannot change; a secret cannot be set
// here (RotateClientSecret). The secret hash, registration token and
// creation time stay, except that a switch to a method without a secret
// drops the secret, and a switch to a secret method generates one,
// returned in clear (else ""). Static clients are refused with
// ErrInvalid; ErrNotFound when there is no such client. change may be
// called more than once (the store retries under contention), so it must
// not have side effects.
func (d *Directory) UpdateClient(ctx context.Context, id string, change func(NewClient) (NewClient, error)) (Client, string, error) {
	if _, ok := d.static[id]; ok {
		return Client{}, "", invalid("client %q is static: static clients are managed in config.yaml", id)
	}
	if checkClientID(id) != nil {
		return Client{}, "", fmt.Errorf("%w: client", ErrNotFound)
	}
	// A secret is generated before the read-modify-write so that a retry
	// does not make another; it is used only on a switch to a secret
	// method.
	fresh, err := randomToken(32)
	if err != nil {
		return Client{}, "", err
	}
	var out Client
	var secret string
	err = d.store.Update(ctx, BucketClients, id, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: client %q", ErrNotFound, id)
		}
		var cur Client
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, fmt.Errorf("directory: decode client %q: %w", id, err)
		}
		in, err := change(cur.AsNewClient())
		if err != nil {
			return nil, err
		}
		if in.ID != id {
			return nil, invalid("client_id cannot change")
		}
		if in.Secret != "" {
			return nil, invalid("client_secret cannot be set by an update: rotate it")
		}
		keep := needsSecret(in.AuthMethod) && cur.SecretHash != ""
		if needsSecret(in.AuthMethod) {
			// build wants a secret for these methods: give it the fresh
			// one, and put the kept hash back below.
			in.Secret = fresh
		}
		next, plain, err := in.build(cur.Created, d.rules)
		if err != nil {
			return nil, err
		}
		next.Created = cur.Created
		next.RegistrationTokenHash = cur.RegistrationTokenHash
		secret = ""
		if keep {
			next.SecretHash = cur.SecretHash
		} else {
			secret = plain
		}
		out = next
		return json.Marshal(next)
	})
	if errors.Is(err, persistence.ErrNotFound) && !errors.Is(err, ErrNotFound) {
		return Client{}, "", fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	if err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) || errors.Is(err, ErrNotFound) {
			return Client{}, "", err
		}
		return Client{}, "", fmt.Errorf("directory: update client: %w", err)
	}
	return cloneClient(out), secret, nil
}

// RotateClientSecret gives a stored client_secret_basic or
// client_secret_post client a new generated secret (256 bits), returned
// in clear this once; only its hash is stored, and the old secret stops
// working at once. Tokens already issued to the client stay valid: they
// are not the secret. Static clients and clients of other methods are
// refused with ErrInvalid; ErrNotFound when there is no such client.
func (d *Directory) RotateClientSecret(ctx context.Context, id string) (Client, string, error) {
	if _, ok := d.static[id]; ok {
		return Client{}, "", invalid("client %q is static: its secret is set in config.yaml", id)
	}
	if checkClientID(id) != nil {
		return Client{}, "", fmt.Errorf("%w: client", ErrNotFound)
	}
	secret, err := randomToken(32)
	if err != nil {
		return Client{}, "", err
	}
	var out Client
	err = d.store.Update(ctx, BucketClients, id, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, fmt.Errorf("%w: client %q", ErrNotFound, id)
		}
		var cur Client
		if err := json.Unmarshal(old, &cur); err != nil {
			return nil, fmt.Errorf("directory: decode client %q: %w", id, err)
		}
		if !needsSecret(cur.AuthMethod) {
			return nil, invalid("client %q uses %s, which has no secret to rotate", id, cur.AuthMethod)
		}
		cur.SecretHash = HashClientSecret(secret)
		out = cur
		return json.Marshal(cur)
	})
	if errors.Is(err, persistence.ErrNotFound) && !errors.Is(err, ErrNotFound) {
		return Client{}, "", fmt.Errorf("%w: client %q", ErrNotFound, id)
	}
	if err != nil {
		var inv *InvalidError
		if errors.As(err, &inv) || errors.Is(err, ErrNotFound) {
			return Client{}, "", err
		}
		return Client{}, "", fmt.Errorf("directory: rotate client secret: %w", err)
	}
	return cloneClient(out), secret, nil
}

// emailChanged reports whether the email claim differs (without case)
// between two claim sets.
func emailChanged(old, next map[string]any) bool {
	a, _ := old["email"].(string)
	b, _ := next["email"].(string)
	return !strings.EqualFold(a, b)
}

// ErrEmailChanged: the address a verification link was sent to is no
// longer the user's.
var ErrEmailChanged = errors.New("directory: the email address changed since the link was sent")

// VerifyEmail marks subject's email claim verified, if it still is addr
// (the address the verification link was sent to), else ErrEmailChanged
// and nothing changes.
func (d *Directory) VerifyEmail(ctx context.Context, subject, addr string) (User, error) {
	return d.editUser(ctx, subject, func(u *User) (bool, error) {
		cur, _ := u.Claims["email"].(string)
		if cur == "" || !strings.EqualFold(cur, addr) {
			return false, ErrEmailChanged
		}
		if v, _ := u.Claims["email_verified"].(bool); v && !u.Pending {
			return false, nil
		}
		claims := maps.Clone(u.Claims)
		claims["email_verified"] = true
		u.Claims = claims
		u.Pending = false // a sign-up is complete once its address is
		return true, nil
	})
}
