package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"authrim/persistence"
)

// Buckets of upstream links, declared in persistence/schema.go.
const (
	// BucketUpstreamLinks maps issuer NUL subject to a Link (JSON).
	BucketUpstreamLinks = persistence.BucketUpstreamLinks
	// BucketUserLinks maps local subject NUL link key to the same Link.
	BucketUserLinks = persistence.BucketUserLinks
)

// ErrLinkTaken: the upstream identity is already linked to another user.
// It matches ErrConflict.
var ErrLinkTaken error = &sentinel{"directory: upstream identity is linked to another user", ErrConflict}

// Link says that an upstream identity (a connector's issuer and the
// upstream's subject) signs in as a local user. It is keyed by issuer and
// subject, never by email: the upstream account keeps its link whatever
// its address becomes.
type Link struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
	// User is the local subject.
	User string `json:"user"`
	// Connector is the id of the connector that made the link; Email
	// the upstream address when linked (shown on /account).
	Connector string    `json:"connector"`
	Email     string    `json:"email,omitempty"`
	Created   time.Time `json:"created"`
}

// Key is the link's key in BucketUpstreamLinks.
func (l Link) Key() string { return linkKey(l.Issuer, l.Subject) }

func linkKey(issuer, subject string) string { return issuer + "\x00" + subject }

func checkLinkParts(issuer, subject string) error {
	if issuer == "" || subject == "" || len(issuer) > 512 || len(subject) > maxSubjectLen ||
		strings.ContainsRune(issuer, 0) || strings.ContainsRune(subject, 0) {
		return invalid("an upstream link needs an issuer and a subject without NUL bytes")
	}
	return nil
}

// LinkedUser returns the link of an upstream identity, or ErrNotFound.
func (d *Directory) LinkedUser(ctx context.Context, issuer, subject string) (Link, error) {
	if err := checkLinkParts(issuer, subject); err != nil {
		return Link{}, err
	}
	b, err := d.store.Get(ctx, BucketUpstreamLinks, linkKey(issuer, subject))
	if errors.Is(err, persistence.ErrNotFound) {
		return Link{}, fmt.Errorf("%w: upstream link", ErrNotFound)
	}
	if err != nil {
		return Link{}, fmt.Errorf("directory: upstream link: %w", err)
	}
	var l Link
	if err := json.Unmarshal(b, &l); err != nil {
		return Link{}, fmt.Errorf("directory: decode upstream link: %w", err)
	}
	return l, nil
}

// AddLink links an upstream identity to an existing local user. The first
// link of an identity wins atomically; linking it again to the same user
// changes nothing, to another user is ErrLinkTaken.
func (d *Directory) AddLink(ctx context.Context, l Link) (Link, error) {
	if err := checkLinkParts(l.Issuer, l.Subject); err != nil {
		return Link{}, err
	}
	if _, err := d.User(ctx, l.User); err != nil {
		return Link{}, err
	}
	l.Created = d.now().UTC()
	rec, err := json.Marshal(l)
	if err != nil {
		return Link{}, fmt.Errorf("directory: encode upstream link: %w", err)
	}
	if err := d.store.Create(ctx, BucketUpstreamLinks, l.Key(), rec); err != nil {
		if !errors.Is(err, persistence.ErrConflict) {
			return Link{}, fmt.Errorf("directory: add upstream link: %w", err)
		}
		old, gerr := d.LinkedUser(ctx, l.Issuer, l.Subject)
		if gerr != nil {
			return Link{}, gerr
		}
		if old.User != l.User {
			return Link{}, ErrLinkTaken
		}
		l = old
		if rec, err = json.Marshal(l); err != nil {
			return Link{}, fmt.Errorf("directory: encode upstream link: %w", err)
		}
	}
	if err := d.store.Put(ctx, BucketUserLinks, l.User+"\x00"+l.Key(), rec); err != nil {
		return Link{}, fmt.Errorf("directory: index upstream link: %w", err)
	}
	return l, nil
}

// Links lists a user's upstream links.
func (d *Directory) Links(ctx context.Context, user string) ([]Link, error) {
	var out []Link
	err := d.store.List(ctx, BucketUserLinks, user+"\x00", func(_ string, v []byte) error {
		var l Link
		if json.Unmarshal(v, &l) == nil {
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("directory: list upstream links: %w", err)
	}
	return out, nil
}

// RemoveLink removes one of user's links: the identity no longer signs
// in as the user (a later upstream sign-in is a first one again).
// ErrNotFound when the user has no such link.
func (d *Directory) RemoveLink(ctx context.Context, user, issuer, subject string) error {
	if err := checkLinkParts(issuer, subject); err != nil {
		return err
	}
	key := linkKey(issuer, subject)
	err := d.store.Update(ctx, BucketUpstreamLinks, key, func(old []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, nil
		}
		var l Link
		if json.Unmarshal(old, &l) == nil && l.User != user {
			return nil, ErrNotFound
		}
		return nil, nil
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: upstream link", ErrNotFound)
		}
		return fmt.Errorf("directory: remove upstream link: %w", err)
	}
	if err := d.store.Delete(ctx, BucketUserLinks, user+"\x00"+key); err != nil {
		if errors.Is(err, persistence.ErrNotFound) {
			return fmt.Errorf("%w: upstream link", ErrNotFound)
		}
		return fmt.Errorf("directory: remove upstream link: %w", err)
	}
	return nil
}

// dropLinks removes every link of user (the user is being deleted).
func (d *Directory) dropLinks(ctx context.Context, user string) error {
	links, err := d.Links(ctx, user)
	if err != nil {
		return err
	}
	for _, l := range links {
		if err := d.RemoveLink(ctx, user, l.Issuer, l.Subject); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// UserByVerifiedEmail returns the one enabled, confirmed user whose email
// is addr (compared without case) and verified. ErrNotFound when there is
// none, ErrConflict when several users share it (no link can be offered
// then).
func (d *Directory) UserByVerifiedEmail(ctx context.Context, addr string) (User, error) {
	if addr == "" {
		return User{}, fmt.Errorf("%w: no address", ErrNotFound)
	}
	users, err := d.ListUsers(ctx)
	if err != nil {
		return User{}, err
	}
	var found []User
	for _, u := range users {
		e, _ := u.Claims["email"].(string)
		v, _ := u.Claims["email_verified"].(bool)
		if v && !u.Disabled && !u.Pending && strings.EqualFold(e, addr) {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return User{}, fmt.Errorf("%w: no user with this verified address", ErrNotFound)
	case 1:
		return found[0], nil
	}
	return User{}, fmt.Errorf("%w: several users have this address", ErrConflict)
}
