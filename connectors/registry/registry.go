// Package registry keeps the connectors added through the admin API
// (/admin/connectors) in the store, next to the ones config.yaml lists.
// A stored connector's secret (an OAuth client secret, an LDAP bind
// password) is sealed under the KEK; the rest is JSON. The sign-in pages
// read the stored list on each request (Connectors), building a
// connector again only when its record changed, so every member of a
// cluster sees an added, changed or removed connector without a restart.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"authrim/connectors"
	"authrim/directory"
	"authrim/http/fetch"
	"authrim/persistence"
)

// Bucket holds one Record per stored connector.
const Bucket = persistence.BucketConnectors

// Errors the admin API tells apart.
var (
	ErrInvalid  = errors.New("registry: invalid connector")
	ErrNotFound = errors.New("registry: no such connector")
	// ErrReadOnly: the connector is config.yaml's; change it there.
	ErrReadOnly = errors.New("registry: connector is defined in config.yaml")
)

// Record is a stored connector: its config with the secret fields
// empty, and the secret sealed under the KEK (kid "connector:ID").
type Record struct {
	Config       connectors.Config `json:"config"`
	SealedSecret []byte            `json:"sealed_secret"`
	Created      time.Time         `json:"created"`
	Updated      time.Time         `json:"updated"`
}

// View is a connector as the admin API shows it: never a secret (nor a
// secret's file or variable name).
type View struct {
	connectors.Config
	// Source is config (config.yaml, read-only here) or stored.
	Source    string `json:"source"`
	ReadOnly  bool   `json:"read_only"`
	SecretSet bool   `json:"secret_set"`
}

// Service is the registry of one node.
type Service struct {
	Store  persistence.Backend
	Sealer directory.Sealer
	// Static are config.yaml's connectors (validated at start).
	Static  []connectors.Config
	Fetcher *fetch.Fetcher
	Now     func() time.Time

	mu    sync.Mutex
	built map[string]builtConn
}

type builtConn struct {
	updated int64
	conn    connectors.Connector
}

func kid(id string) string { return "connector:" + id }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// secretOf takes the secret out of c (the value only: files and
// environment variables are one node's, not the cluster's).
func secretOf(c *connectors.Config) (string, error) {
	if c.ClientSecretFile != "" || c.ClientSecretEnv != "" || c.LDAP.BindPasswordFile != "" || c.LDAP.BindPasswordEnv != "" {
		return "", invalid("a stored connector takes its secret's value (client_secret, ldap.bind_password), sealed here; files and environment variables are for config.yaml")
	}
	var secret string
	if c.Type == "ldap" {
		secret, c.LDAP.BindPassword = c.LDAP.BindPassword, ""
	} else {
		secret, c.ClientSecret = c.ClientSecret, ""
	}
	return secret, nil
}

// withSecret puts secret back where its type reads it.
func withSecret(c connectors.Config, secret string) connectors.Config {
	if c.Type == "ldap" {
		c.LDAP.BindPassword = secret
	} else {
		c.ClientSecret = secret
	}
	return c
}

// check validates c (secret included) among the static connectors and
// the other stored ones.
func (s *Service) check(ctx context.Context, c connectors.Config) error {
	probe := c // secretOf empties the secret fields
	if _, err := secretOf(&probe); err != nil {
		return err
	}
	recs, err := s.records(ctx)
	if err != nil {
		return err
	}
	list := slices.Clone(s.Static)
	for _, r := range recs {
		if r.Config.ID != c.ID {
			list = append(list, withSecret(r.Config, "x"))
		}
	}
	list = append(list, c)
	at := fmt.Sprintf("connectors[%d].", len(list)-1)
	var problems []string
	for _, p := range connectors.Validate(list) {
		if strings.HasPrefix(p, at) {
			problems = append(problems, strings.TrimPrefix(p, "connectors["+fmt.Sprint(len(list)-1)+"]."))
		}
	}
	if len(problems) > 0 {
		return invalid("%s", strings.Join(problems, "; "))
	}
	// Build reads the CA file and checks what Validate cannot (a
	// bind password file is refused above).
	if _, err := connectors.Build([]connectors.Config{c}, s.Fetcher); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func (s *Service) isStatic(id string) bool {
	return slices.ContainsFunc(s.Static, func(c connectors.Config) bool { return c.ID == id })
}

func (s *Service) records(ctx context.Context) ([]Record, error) {
	var out []Record
	err := s.Store.List(ctx, Bucket, "", func(_ string, v []byte) error {
		var r Record
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

func (s *Service) get(ctx context.Context, id string) (Record, error) {
	b, err := s.Store.Get(ctx, Bucket, id)
	if errors.Is(err, persistence.ErrNotFound) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, err
	}
	var r Record
	return r, json.Unmarshal(b, &r)
}

// Create stores a new connector.
func (s *Service) Create(ctx context.Context, c connectors.Config) (View, error) {
	if s.isStatic(c.ID) {
		return View{}, invalid("id %q is used by a connector of config.yaml", c.ID)
	}
	if err := s.check(ctx, c); err != nil {
		return View{}, err
	}
	secret, err := secretOf(&c)
	if err != nil {
		return View{}, err
	}
	sealed, err := s.Sealer.Wrap(kid(c.ID), []byte(secret))
	if err != nil {
		return View{}, err
	}
	now := s.now().UTC()
	r := Record{Config: c, SealedSecret: sealed, Created: now, Updated: now}
	b, _ := json.Marshal(r)
	if err := s.Store.Create(ctx, Bucket, c.ID, b); err != nil {
		if errors.Is(err, persistence.ErrConflict) {
			return View{}, invalid("id %q is used twice", c.ID)
		}
		return View{}, err
	}
	return stored(r), nil
}

// Update replaces a stored connector's settings with patch applied (a
// JSON merge of the given keys onto the current ones); the secret stays
// when the patch gives none.
func (s *Service) Update(ctx context.Context, id string, patch []byte) (View, error) {
	if s.isStatic(id) {
		return View{}, ErrReadOnly
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return View{}, err
	}
	secret, err := s.Sealer.Unwrap(kid(id), r.SealedSecret)
	if err != nil {
		return View{}, err
	}
	c := withSecret(r.Config, string(secret))
	dec := json.NewDecoder(strings.NewReader(string(patch)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return View{}, invalid("%v", err)
	}
	if c.ID != id {
		return View{}, invalid("the id cannot change")
	}
	if err := s.check(ctx, c); err != nil {
		return View{}, err
	}
	newSecret, err := secretOf(&c)
	if err != nil {
		return View{}, err
	}
	sealed, err := s.Sealer.Wrap(kid(id), []byte(newSecret))
	if err != nil {
		return View{}, err
	}
	// Updated always moves on: it is what tells Connectors to rebuild.
	prev := r.Updated
	r.Config, r.SealedSecret, r.Updated = c, sealed, s.now().UTC()
	if !r.Updated.After(prev) {
		r.Updated = prev.Add(time.Nanosecond)
	}
	b, _ := json.Marshal(r)
	// Only over the record read above: a change made meanwhile (by
	// another admin, on another member) is not lost silently.
	err = s.Store.Update(ctx, Bucket, id, func(old []byte, exists bool) ([]byte, error) {
		var cur Record
		if !exists {
			return nil, ErrNotFound
		}
		if err := json.Unmarshal(old, &cur); err != nil || !cur.Updated.Equal(prev) {
			return nil, invalid("the connector changed meanwhile; read it again")
		}
		return b, nil
	})
	if err != nil {
		return View{}, err
	}
	return stored(r), nil
}

// Delete removes a stored connector. Its users' links stay (a connector
// added again with the same id and upstream finds them).
func (s *Service) Delete(ctx context.Context, id string) error {
	if s.isStatic(id) {
		return ErrReadOnly
	}
	if _, err := s.get(ctx, id); err != nil {
		return err
	}
	return s.Store.Delete(ctx, Bucket, id)
}

func stored(r Record) View {
	return View{Config: r.Config, Source: "stored", SecretSet: len(r.SealedSecret) > 0}
}

func static(c connectors.Config) View {
	set := c.ClientSecret != "" || c.ClientSecretFile != "" || c.ClientSecretEnv != "" ||
		c.LDAP.BindPassword != "" || c.LDAP.BindPasswordFile != "" || c.LDAP.BindPasswordEnv != ""
	c.ClientSecret, c.ClientSecretFile, c.ClientSecretEnv = "", "", ""
	c.LDAP.BindPassword, c.LDAP.BindPasswordFile, c.LDAP.BindPasswordEnv = "", "", ""
	return View{Config: c, Source: "config", ReadOnly: true, SecretSet: set}
}

// List is every connector: config.yaml's first, then the stored ones.
func (s *Service) List(ctx context.Context) ([]View, error) {
	out := []View{}
	for _, c := range s.Static {
		out = append(out, static(c))
	}
	recs, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		out = append(out, stored(r))
	}
	return out, nil
}

// Get is one connector.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	for _, c := range s.Static {
		if c.ID == id {
			return static(c), nil
		}
	}
	r, err := s.get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return stored(r), nil
}

// Connectors builds the stored connectors as the store holds them now,
// reusing the ones whose record did not change. A record that no longer
// builds (a CA file gone) is skipped and reported in the error, with
// the others returned.
func (s *Service) Connectors(ctx context.Context) ([]connectors.Connector, error) {
	recs, err := s.records(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.built == nil {
		s.built = map[string]builtConn{}
	}
	var out []connectors.Connector
	var errs []error
	seen := map[string]bool{}
	for _, r := range recs {
		id := r.Config.ID
		seen[id] = true
		if b, ok := s.built[id]; ok && b.updated == r.Updated.UnixNano() {
			out = append(out, b.conn)
			continue
		}
		secret, err := s.Sealer.Unwrap(kid(id), r.SealedSecret)
		if err != nil {
			errs = append(errs, fmt.Errorf("connector %s: %w", id, err))
			continue
		}
		list, err := connectors.Build([]connectors.Config{withSecret(r.Config, string(secret))}, s.Fetcher)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.built[id] = builtConn{updated: r.Updated.UnixNano(), conn: list[0]}
		out = append(out, list[0])
	}
	for id := range s.built {
		if !seen[id] {
			delete(s.built, id)
		}
	}
	return out, errors.Join(errs...)
}
