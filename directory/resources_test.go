package directory_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"authrim/directory"
)

// TestValidateResource: each rule of a resource server names its field.
func TestValidateResource(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecJWK, _ := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey})
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: ec})
	ok := directory.ResourceMetadata{Identifier: "https://api.example/", Scopes: []string{"read", "write"}}
	rules := directory.ResourceRules{Algorithms: []string{"RS256", "ES256"}, Issuer: "https://op.example"}
	for _, tc := range []struct {
		name  string
		mod   func(*directory.ResourceMetadata)
		field string
	}{
		{"valid", func(*directory.ResourceMetadata) {}, ""},
		{"urn", func(m *directory.ResourceMetadata) { m.Identifier = "urn:example:api" }, ""},
		{"no scopes", func(m *directory.ResourceMetadata) { m.Scopes = nil }, ""},
		{"ec key for ECDH-ES", func(m *directory.ResourceMetadata) { m.EncryptionJWK, m.EncryptionAlg = ecJWK, "ECDH-ES" }, ""},
		{"empty identifier", func(m *directory.ResourceMetadata) { m.Identifier = "" }, "resource"},
		{"relative", func(m *directory.ResourceMetadata) { m.Identifier = "api/v1" }, "resource"},
		{"fragment", func(m *directory.ResourceMetadata) { m.Identifier = "https://api.example/#a" }, "resource"},
		{"space", func(m *directory.ResourceMetadata) { m.Identifier = "https://api.example/a b" }, "resource"},
		{"too long", func(m *directory.ResourceMetadata) { m.Identifier = "https://a.example/" + strings.Repeat("a", 600) }, "resource"},
		{"issuer", func(m *directory.ResourceMetadata) { m.Identifier = "https://op.example/" }, "resource"},
		{"control in name", func(m *directory.ResourceMetadata) { m.Name = "a\nb" }, "name"},
		{"provider scope", func(m *directory.ResourceMetadata) { m.Scopes = []string{"offline_access"} }, "scopes"},
		{"quote in scope", func(m *directory.ResourceMetadata) { m.Scopes = []string{`a"b`} }, "scopes"},
		{"duplicate scope", func(m *directory.ResourceMetadata) { m.Scopes = []string{"a", "a"} }, "scopes"},
		{"short ttl", func(m *directory.ResourceMetadata) { m.AccessTokenTTL = directory.TTL(time.Second) }, "access_token_ttl"},
		{"alg without key", func(m *directory.ResourceMetadata) { m.AccessTokenAlg = "PS256" }, "access_token_signing_alg"},
		{"enc without key", func(m *directory.ResourceMetadata) { m.EncryptionEnc = "A128GCM" }, "access_token_encryption_jwk"},
		{"key without alg", func(m *directory.ResourceMetadata) { m.EncryptionJWK = ecJWK }, "access_token_encryption_alg"},
		{"ec key for RSA-OAEP", func(m *directory.ResourceMetadata) { m.EncryptionJWK, m.EncryptionAlg = ecJWK, "RSA-OAEP" }, "access_token_encryption_jwk"},
		{"private key", func(m *directory.ResourceMetadata) { m.EncryptionJWK, m.EncryptionAlg = privJWK, "ECDH-ES" }, "access_token_encryption_jwk"},
		{"not a key", func(m *directory.ResourceMetadata) {
			m.EncryptionJWK, m.EncryptionAlg = directory.JWKS(`{"kty":1}`), "ECDH-ES"
		}, "access_token_encryption_jwk"},
		{"bad enc", func(m *directory.ResourceMetadata) {
			m.EncryptionJWK, m.EncryptionAlg, m.EncryptionEnc = ecJWK, "ECDH-ES", "A192GCM"
		}, "access_token_encryption_enc"},
		{"introspection client syntax", func(m *directory.ResourceMetadata) { m.IntrospectionClient = "a b" }, "introspection_client"},
		{"service clients", func(m *directory.ResourceMetadata) { m.ServiceClients = []string{"svc", "batch"} }, ""},
		{"service client syntax", func(m *directory.ResourceMetadata) { m.ServiceClients = []string{"a b"} }, "service_clients"},
		{"service client twice", func(m *directory.ResourceMetadata) { m.ServiceClients = []string{"svc", "svc"} }, "service_clients"},
		{"too many service clients", func(m *directory.ResourceMetadata) {
			for i := range 65 {
				m.ServiceClients = append(m.ServiceClients, fmt.Sprint("svc", i))
			}
		}, "service_clients"},
	} {
		m := ok
		m.Scopes = append([]string(nil), ok.Scopes...)
		tc.mod(&m)
		p := directory.ValidateResource(m, rules)
		switch {
		case tc.field == "" && len(p) > 0:
			t.Errorf("%s: refused: %v", tc.name, p)
		case tc.field != "" && (len(p) == 0 || p[0].Field != tc.field):
			t.Errorf("%s: problems %v, want one about %s", tc.name, p, tc.field)
		}
	}
}

// TestResourcesStore: stored resources come back as created, a static
// one cannot be shadowed, changed or deleted, and an introspection
// client must exist.
func TestResourcesStore(t *testing.T) {
	ctx := context.Background()
	_, store := newDirectory(t, fast)
	static := directory.ResourceMetadata{Identifier: "https://static.example/", Scopes: []string{"s"}}
	d2, err := directory.New(store, directory.Options{Argon2Time: 1, Argon2MemoryKiB: 8 * 1024, Argon2Threads: 1,
		StaticResources: []directory.ResourceMetadata{static}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := d2.CreateResource(ctx, directory.ResourceMetadata{Identifier: "https://api.example/", Scopes: []string{"read"}})
	if err != nil || r.Created.IsZero() {
		t.Fatalf("create: %+v %v", r, err)
	}
	if _, err := d2.CreateResource(ctx, directory.ResourceMetadata{Identifier: "https://api.example/"}); !errors.Is(err, directory.ErrResourceTaken) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := d2.CreateResource(ctx, static); !errors.Is(err, directory.ErrConflict) {
		t.Errorf("static identifier: %v", err)
	}
	if _, err := d2.CreateResource(ctx, directory.ResourceMetadata{Identifier: "https://b.example/", IntrospectionClient: "ghost"}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("unknown introspection client: %v", err)
	}
	if _, err := d2.CreateResource(ctx, directory.ResourceMetadata{Identifier: "https://b.example/", ServiceClients: []string{"ghost"}}); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("unknown service client: %v", err)
	}
	if _, err := d2.UpdateResource(ctx, static.Identifier, func(m directory.ResourceMetadata) (directory.ResourceMetadata, error) { return m, nil }); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("update static: %v", err)
	}
	if err := d2.DeleteResource(ctx, static.Identifier); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("delete static: %v", err)
	}
	list, err := d2.ListResources(ctx)
	if err != nil || len(list) != 2 || !list[1].Static {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := d2.Resource(ctx, "https://nope.example/"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	if err := d2.DeleteResource(ctx, "https://api.example/"); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Resource(ctx, "https://api.example/"); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
}

// FuzzResourceIDProblem: resource= comes from anyone. Whatever is
// accepted is an absolute URI without fragment, space or control
// character, within the length bound; nothing panics.
func FuzzResourceIDProblem(f *testing.F) {
	for _, s := range []string{"https://api.example/", "urn:x:y", "/rel", "https://a/#f", "http://[::1", "a:", "", "https://a b/", "mailto:a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if directory.ResourceIDProblem(s) != "" {
			return
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" || u.Fragment != "" || strings.ContainsAny(s, "# \t\r\n") || len(s) > directory.MaxResourceIDLen {
			t.Fatalf("accepted %q", s)
		}
	})
}
