package directory_test

import (
	"context"
	"errors"
	"testing"

	"authrim/directory"
)

// TestUpstreamLinks: an upstream identity links to one user (keyed by
// issuer and subject), a second user cannot take it, the user lists and
// removes it, and deleting the user drops it.
func TestUpstreamLinks(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, directory.Options{})
	alice := mustCreateUser(t, d, directory.NewUser{Username: "alice", Password: "correct horse battery staple"})
	bob := mustCreateUser(t, d, directory.NewUser{Username: "bob", Password: "correct horse battery staple"})

	if _, err := d.LinkedUser(ctx, "https://up.example", "u1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown identity: %v", err)
	}
	l, err := d.AddLink(ctx, directory.Link{Issuer: "https://up.example", Subject: "u1", User: alice.Subject, Connector: "up", Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.LinkedUser(ctx, "https://up.example", "u1"); err != nil || got.User != alice.Subject || got.Created.IsZero() {
		t.Fatalf("linked user: %+v %v", got, err)
	}
	// Same identity, same user: unchanged.
	if again, err := d.AddLink(ctx, directory.Link{Issuer: "https://up.example", Subject: "u1", User: alice.Subject, Connector: "up"}); err != nil || again.Email != l.Email {
		t.Fatalf("relink: %+v %v", again, err)
	}
	// Someone else cannot take it.
	if _, err := d.AddLink(ctx, directory.Link{Issuer: "https://up.example", Subject: "u1", User: bob.Subject, Connector: "up"}); !errors.Is(err, directory.ErrLinkTaken) {
		t.Fatalf("takeover: %v", err)
	}
	// The same subject at another issuer is another identity.
	if _, err := d.AddLink(ctx, directory.Link{Issuer: "https://other.example", Subject: "u1", User: bob.Subject, Connector: "other"}); err != nil {
		t.Fatal(err)
	}
	if links, err := d.Links(ctx, alice.Subject); err != nil || len(links) != 1 || links[0].Subject != "u1" {
		t.Fatalf("alice's links: %+v %v", links, err)
	}
	// Bob cannot remove alice's link.
	if err := d.RemoveLink(ctx, bob.Subject, "https://up.example", "u1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("bob removes alice's link: %v", err)
	}
	if err := d.RemoveLink(ctx, alice.Subject, "https://up.example", "u1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LinkedUser(ctx, "https://up.example", "u1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("after remove: %v", err)
	}
	if err := d.DeleteUser(ctx, bob.Subject); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LinkedUser(ctx, "https://other.example", "u1"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("after deleting the user: %v", err)
	}
	if _, err := d.AddLink(ctx, directory.Link{Issuer: "https://up.example", Subject: "u2", User: "nobody", Connector: "up"}); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("link to a missing user: %v", err)
	}
}

// TestUserByVerifiedEmail: only a verified address finds a user.
func TestUserByVerifiedEmail(t *testing.T) {
	ctx := context.Background()
	d, _ := newDirectory(t, directory.Options{})
	mustCreateUser(t, d, directory.NewUser{Username: "carol", Password: "correct horse battery staple",
		Claims: map[string]any{"email": "carol@example.com", "email_verified": true}})
	mustCreateUser(t, d, directory.NewUser{Username: "dave", Password: "correct horse battery staple",
		Claims: map[string]any{"email": "dave@example.com", "email_verified": false}})
	if u, err := d.UserByVerifiedEmail(ctx, "Carol@Example.com"); err != nil || u.Username != "carol" {
		t.Fatalf("carol: %+v %v", u, err)
	}
	if _, err := d.UserByVerifiedEmail(ctx, "dave@example.com"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unverified dave: %v", err)
	}
}
