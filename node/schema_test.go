package node_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"authrim/node"
	"authrim/persistence"
	"authrim/persistence/bbolt"
)

func storedSchemaVersion(t *testing.T, dir string) string {
	t.Helper()
	s, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Get(context.Background(), persistence.BucketMeta, persistence.KeySchemaVersion)
	if err != nil {
		t.Fatalf("schema version record: %v", err)
	}
	return string(v)
}

// A node stamps a fresh store with this binary's schema version, and
// refuses to start on a store that a newer binary wrote, leaving it as it
// was (and unlocked, so the operator can run the right binary at once).
func TestStartChecksTheStoreSchema(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n, err := node.Start(context.Background(), cfg, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	current := strconv.Itoa(persistence.SchemaVersion())
	if got := storedSchemaVersion(t, dir); got != current {
		t.Fatalf("fresh store stamped %q, want %q", got, current)
	}

	newer := strconv.Itoa(persistence.SchemaVersion() + 1)
	s, err := bbolt.Open(dir, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), persistence.BucketMeta, persistence.KeySchemaVersion, []byte(newer)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = node.Start(context.Background(), cfg, node.Options{})
	if err == nil {
		_ = n.Shutdown(context.Background())
		t.Fatal("a node started on a store written by a newer binary")
	}
	if !errors.Is(err, persistence.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version "+newer) {
		t.Errorf("Start = %v, want ErrSchemaTooNew naming version %s", err, newer)
	}
	if got := storedSchemaVersion(t, dir); got != newer {
		t.Errorf("refused start changed the version to %q, want %q", got, newer)
	}
}
