package registry_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"authrim/actors/keymanager"
	"authrim/connectors"
	"authrim/connectors/registry"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

func service(t *testing.T) (*registry.Service, persistence.Backend) {
	t.Helper()
	store, err := bbolt.Open(t.TempDir(), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	kek, err := keymanager.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &registry.Service{Store: store, Sealer: kek, Static: []connectors.Config{
		{ID: "google", Type: "google", ClientID: "g", ClientSecretEnv: "GOOGLE_SECRET"},
	}}, store
}

// TestRegistry: a stored connector is sealed at rest, built once and
// reused until its record changes, rebuilt after a change, and gone
// after its removal; config.yaml's are read-only and their ids taken.
func TestRegistry(t *testing.T) {
	ctx := context.Background()
	s, store := service(t)
	const secret = "partner-secret-value"
	in := connectors.Config{ID: "partner", Type: "oidc", Issuer: "https://sso.partner.example", ClientID: "a", ClientSecret: secret}
	if _, err := s.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	raw, err := store.Get(ctx, registry.Bucket, "partner")
	if err != nil || bytes.Contains(raw, []byte(secret)) {
		t.Fatalf("at rest: %s %v", raw, err)
	}
	first, err := s.Connectors(ctx)
	if err != nil || len(first) != 1 || first[0].ID() != "partner" {
		t.Fatalf("connectors: %v %v", first, err)
	}
	again, _ := s.Connectors(ctx)
	if again[0] != first[0] {
		t.Fatal("an unchanged record was built again")
	}
	if _, err := s.Update(ctx, "partner", []byte(`{"name":"Partner"}`)); err != nil {
		t.Fatal(err)
	}
	changed, _ := s.Connectors(ctx)
	if changed[0] == first[0] || changed[0].Name() != "Partner" {
		t.Fatalf("after a change: %v", changed[0].Name())
	}
	for name, err := range map[string]error{
		"config id":      func() error { c := in; c.ID = "google"; _, err := s.Create(ctx, c); return err }(),
		"patch config":   func() error { _, err := s.Update(ctx, "google", []byte(`{}`)); return err }(),
		"delete config":  s.Delete(ctx, "google"),
		"id change":      func() error { _, err := s.Update(ctx, "partner", []byte(`{"id":"other"}`)); return err }(),
		"secret env":     func() error { _, err := s.Update(ctx, "partner", []byte(`{"client_secret_env":"X"}`)); return err }(),
		"unknown key":    func() error { _, err := s.Update(ctx, "partner", []byte(`{"colour":"red"}`)); return err }(),
		"missing delete": s.Delete(ctx, "nope"),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if v, err := s.Get(ctx, "partner"); err != nil || v.Name != "Partner" || v.ClientSecret != "" || !v.SecretSet {
		t.Fatalf("refusals changed the record, or the view shows a secret: %+v %v", v, err)
	}
	if err := s.Delete(ctx, "partner"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Connectors(ctx); len(list) != 0 {
		t.Fatalf("after delete: %v", list)
	}
	if _, err := s.Get(ctx, "partner"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}
