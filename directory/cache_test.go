package directory_test

import (
	"context"
	"encoding/json"
	"testing"

	"authrim/directory"
)

// Records are decoded once and reused while their stored bytes stay the
// same: a change written by anyone else (another node, a restore) is seen
// on the next read, and what a caller does to a returned record does not
// reach the next caller.
func TestDecodedRecordsFollowTheStore(t *testing.T) {
	ctx := context.Background()
	d, store := newDirectory(t, fast)
	u := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse battery", Claims: map[string]any{"name": "Bob"}})

	first, err := d.User(ctx, u.Subject)
	if err != nil || first.Claims["name"] != "Bob" {
		t.Fatalf("%v %v", first, err)
	}
	first.Claims["name"] = "Mallory"
	if again, _ := d.User(ctx, u.Subject); again.Claims["name"] != "Bob" {
		t.Fatalf("a caller's change reached the cache: %v", again.Claims)
	}

	// Written behind the directory's back, as another node would.
	changed := first
	changed.Claims = map[string]any{"name": "Robert"}
	b, _ := json.Marshal(changed)
	if err := store.Put(ctx, directory.BucketUsers, u.Subject, b); err != nil {
		t.Fatal(err)
	}
	if now, _ := d.User(ctx, u.Subject); now.Claims["name"] != "Robert" {
		t.Fatalf("stale user after the store changed: %v", now.Claims)
	}

	c, _, err := d.CreateClient(ctx, directory.NewClient{ClientMetadata: directory.ClientMetadata{Name: "rp", AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Client(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.RedirectURIs[0] = "https://evil.example/cb"
	got.Name = "renamed"
	b, _ = json.Marshal(got)
	if again, _ := d.Client(ctx, c.ID); again.RedirectURIs[0] != "https://rp.example/cb" {
		t.Fatalf("a caller's change reached the cache: %v", again.RedirectURIs)
	}
	if err := store.Put(ctx, directory.BucketClients, c.ID, b); err != nil {
		t.Fatal(err)
	}
	if now, _ := d.Client(ctx, c.ID); now.Name != "renamed" {
		t.Fatalf("stale client after the store changed: %q", now.Name)
	}
	if err := store.Delete(ctx, directory.BucketClients, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Client(ctx, c.ID); err == nil {
		t.Fatal("a deleted client is still returned")
	}
}
