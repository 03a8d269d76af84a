package directory_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"authrim/directory"
)

// UpdateUserClaims merges claims (null removes one), validates the result
// like a create, bumps updated, and stores nothing when refused.
func TestUpdateUserClaims(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	opts := fast
	opts.Now = clk.Now
	d, store := newDirectory(t, opts)
	u := mustCreateUser(t, d, directory.NewUser{Username: "erin", Password: "a long enough password", Claims: map[string]any{
		"email": "erin@example.com", "name": "Erin", "address": map[string]any{"country": "FR"},
	}})
	raw := func() []byte {
		t.Helper()
		b, err := store.Get(ctx, directory.BucketUsers, u.Subject)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	for _, tc := range []struct {
		name string
		set  map[string]any
		want string // part of the InvalidError's reason
	}{
		{"nothing", map[string]any{}, "nothing to change"},
		{"unknown claim", map[string]any{"role": "admin"}, "unknown claim"},
		{"remove an unknown claim", map[string]any{"role": nil}, "unknown claim"},
		{"bad email", map[string]any{"email": "not an address"}, "email"},
		{"wrong type", map[string]any{"email_verified": "yes"}, "boolean"},
		{"empty string", map[string]any{"name": ""}, "must not be empty"},
		{"sub is the directory's", map[string]any{"sub": "someone-else"}, "unknown claim"},
		{"updated_at is the directory's", map[string]any{"updated_at": 1}, "unknown claim"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := raw()
			_, err := d.UpdateUserClaims(ctx, "erin", tc.set)
			var inv *directory.InvalidError
			if !errors.As(err, &inv) || !strings.Contains(inv.Reason, tc.want) {
				t.Fatalf("got %v, want an InvalidError mentioning %q", err, tc.want)
			}
			if !bytes.Equal(before, raw()) {
				t.Fatal("a refused update changed the record")
			}
		})
	}

	clk.Add(time.Minute)
	got, err := d.UpdateUserClaims(ctx, u.Subject, map[string]any{
		"email": "erin@example.org", "email_verified": true, "name": nil, "address": map[string]any{"locality": "Lyon"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"email": "erin@example.org", "email_verified": true, "address": map[string]any{"locality": "Lyon"}}
	if !reflect.DeepEqual(got.Claims, want) || !got.Updated.Equal(clk.Now()) || !got.Created.Equal(u.Created) {
		t.Fatalf("updated %+v", got)
	}
	stored, err := d.User(ctx, u.Subject)
	if err != nil || !reflect.DeepEqual(stored.Claims, want) {
		t.Fatalf("stored %+v %v", stored, err)
	}
	if stored.ClaimValues()["updated_at"] != clk.Now().Unix() {
		t.Errorf("updated_at %v, want %d", stored.ClaimValues()["updated_at"], clk.Now().Unix())
	}
	if _, err := d.Authenticate(ctx, "erin", "a long enough password"); err != nil {
		t.Errorf("the password no longer works after a claims update: %v", err)
	}

	// The same values again change nothing, not even updated.
	before := raw()
	clk.Add(time.Minute)
	if _, err := d.UpdateUserClaims(ctx, "erin", map[string]any{"email": "erin@example.org"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, raw()) {
		t.Error("an update to the same value rewrote the record")
	}
	if _, err := d.UpdateUserClaims(ctx, "nobody", map[string]any{"name": "x"}); !errors.Is(err, directory.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}

// SetUserPassword hashes the new password with argon2id, refuses one
// outside the policy (storing nothing), and ends every earlier sign-in.
func TestSetUserPassword(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	opts := fast
	opts.Now = clk.Now
	d, store := newDirectory(t, opts)
	u := mustCreateUser(t, d, directory.NewUser{Username: "frank", Password: "the old password"})
	signedIn := clk.Now()
	clk.Add(time.Minute)

	before, _ := store.Get(ctx, directory.BucketUsers, u.Subject)
	for _, pw := range []string{"short", strings.Repeat("p", directory.MaxPasswordLen+1)} {
		if _, err := d.SetUserPassword(ctx, "frank", pw); !errors.Is(err, directory.ErrInvalid) {
			t.Fatalf("password of %d bytes: %v, want ErrInvalid", len(pw), err)
		}
	}
	if after, _ := store.Get(ctx, directory.BucketUsers, u.Subject); !bytes.Equal(before, after) {
		t.Fatal("a refused password changed the record")
	}
	if _, err := d.SetUserPassword(ctx, "nobody", "a new password"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}

	got, err := d.SetUserPassword(ctx, "FRANK", "the new password")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.PasswordHash, "$argon2id$") || !got.SessionsNotBefore.Equal(clk.Now()) || !got.Updated.Equal(clk.Now()) {
		t.Fatalf("after set-password: hash %q, sessions_not_before %v, updated %v", got.PasswordHash[:12], got.SessionsNotBefore, got.Updated)
	}
	if _, err := d.Authenticate(ctx, "frank", "the old password"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Errorf("the old password still works: %v", err)
	}
	if _, err := d.Authenticate(ctx, "frank", "the new password"); err != nil {
		t.Errorf("the new password does not work: %v", err)
	}
	// Whoever signed in with the old password is out.
	if ok, err := d.SubjectActive(ctx, u.Subject, signedIn); err != nil || ok {
		t.Errorf("a sign-in from before the reset is active: %v %v", ok, err)
	}
	if ok, err := d.SubjectActive(ctx, u.Subject, clk.Now().Add(time.Second)); err != nil || !ok {
		t.Errorf("a sign-in after the reset is inactive: %v %v", ok, err)
	}
	raw, _ := store.Get(ctx, directory.BucketUsers, u.Subject)
	if bytes.Contains(raw, []byte("the new password")) {
		t.Error("the password is stored in clear")
	}
}

// UpdateClient applies the registration rules to the changed metadata,
// keeps what an update must not touch, and stores nothing when refused.
func TestUpdateClient(t *testing.T) {
	ctx := context.Background()
	static, err := directory.NewStaticClient(directory.NewClient{ID: "static-web", Secret: strings.Repeat("s", 40), ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://web.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	opts := fast
	opts.StaticClients = []directory.Client{static}
	opts.RequireSignedRequestObjects = true
	d, store := newDirectory(t, opts)
	c, secret, err := d.CreateClient(ctx, directory.NewClient{ID: "rp", ClientMetadata: directory.ClientMetadata{Name: "RP", AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	raw := func() []byte {
		b, err := store.Get(ctx, directory.BucketClients, "rp")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		id     string
		change func(directory.NewClient) (directory.NewClient, error)
		is     error
		want   string
	}{
		{"bad redirect URI", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			n.RedirectURIs = []string{"http://rp.example/cb"}
			return n, nil
		}, directory.ErrInvalid, "http only for localhost"},
		{"unknown grant", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			n.GrantTypes = []string{"password"}
			return n, nil
		}, directory.ErrInvalid, "unknown grant type"},
		{"public client without PKCE", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			n.AuthMethod, n.RequirePKCE = "none", new(false)
			return n, nil
		}, directory.ErrInvalid, "require_pkce"},
		{"node policy", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			n.RequestObjectSigningAlg = "none"
			return n, nil
		}, directory.ErrInvalid, "signed request objects"},
		{"id change", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			n.ID = "other"
			return n, nil
		}, directory.ErrInvalid, "client_id cannot change"},
		{"secret set", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			n.Secret = strings.Repeat("x", 40)
			return n, nil
		}, directory.ErrInvalid, "rotate"},
		{"change refuses", "rp", func(n directory.NewClient) (directory.NewClient, error) {
			return n, errors.New("refused by the caller")
		}, nil, "refused by the caller"},
		{"static client", "static-web", func(n directory.NewClient) (directory.NewClient, error) { return n, nil }, directory.ErrInvalid, "config.yaml"},
		{"unknown client", "nope", func(n directory.NewClient) (directory.NewClient, error) { return n, nil }, directory.ErrNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := raw()
			_, _, err := d.UpdateClient(ctx, tc.id, tc.change)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.is, tc.want)
			}
			if !bytes.Equal(before, raw()) {
				t.Fatal("a refused update changed the record")
			}
		})
	}

	got, newSecret, err := d.UpdateClient(ctx, "rp", func(n directory.NewClient) (directory.NewClient, error) {
		n.Name = "Renamed RP"
		n.RedirectURIs = append(n.RedirectURIs, "http://127.0.0.1/cb")
		n.SkipConsent = true
		return n, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if newSecret != "" || got.Name != "Renamed RP" || len(got.RedirectURIs) != 2 || !got.SkipConsent || !got.Created.Equal(c.Created) || got.SecretHash != c.SecretHash {
		t.Fatalf("updated %+v, secret %q", got, newSecret)
	}
	stored, err := d.Client(ctx, "rp")
	if err != nil || stored.Name != "Renamed RP" || directory.VerifyClientSecret(stored, secret) != nil {
		t.Fatalf("stored %+v %v: the secret must keep working", stored, err)
	}

	// To private_key_jwt: the secret goes; back to a secret method: a new
	// one is generated and returned once.
	key := jwks(t, ecKey(t).Public())
	if _, s, err := d.UpdateClient(ctx, "rp", func(n directory.NewClient) (directory.NewClient, error) {
		n.AuthMethod, n.JWKS = "private_key_jwt", key
		return n, nil
	}); err != nil || s != "" {
		t.Fatalf("to private_key_jwt: %q %v", s, err)
	}
	if stored, _ := d.Client(ctx, "rp"); stored.SecretHash != "" || directory.VerifyClientSecret(stored, secret) == nil {
		t.Fatalf("the secret survived a switch to private_key_jwt: %+v", stored)
	}
	_, s, err := d.UpdateClient(ctx, "rp", func(n directory.NewClient) (directory.NewClient, error) {
		n.AuthMethod, n.JWKS = "client_secret_post", nil
		return n, nil
	})
	if err != nil || len(s) != 43 {
		t.Fatalf("back to client_secret_post: %q %v", s, err)
	}
	if stored, _ := d.Client(ctx, "rp"); directory.VerifyClientSecret(stored, s) != nil {
		t.Fatal("the generated secret does not verify")
	}
}

// RotateClientSecret: a new secret that verifies, the old one refused,
// only for stored clients with a secret method.
func TestRotateClientSecret(t *testing.T) {
	ctx := context.Background()
	static, err := directory.NewStaticClient(directory.NewClient{ID: "static-web", Secret: strings.Repeat("s", 40), ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://web.example/cb"}}})
	if err != nil {
		t.Fatal(err)
	}
	opts := fast
	opts.StaticClients = []directory.Client{static}
	d, store := newDirectory(t, opts)
	_, old, err := d.CreateClient(ctx, directory.NewClient{ID: "rp", ClientMetadata: directory.ClientMetadata{AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.CreateClient(ctx, directory.NewClient{ID: "spa", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://spa.example/cb"}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, id string
		is       error
	}{
		{"static", "static-web", directory.ErrInvalid},
		{"public client", "spa", directory.ErrInvalid},
		{"unknown", "nope", directory.ErrNotFound},
		{"malformed id", "a b", directory.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, s, err := d.RotateClientSecret(ctx, tc.id); !errors.Is(err, tc.is) || s != "" {
				t.Fatalf("got %q %v, want %v", s, err, tc.is)
			}
		})
	}
	c, secret, err := d.RotateClientSecret(ctx, "rp")
	if err != nil || len(secret) != 43 || secret == old {
		t.Fatalf("rotate: %q %v", secret, err)
	}
	if directory.VerifyClientSecret(c, secret) != nil {
		t.Fatal("the new secret does not verify")
	}
	stored, _ := d.Client(ctx, "rp")
	if directory.VerifyClientSecret(stored, old) == nil {
		t.Fatal("the old secret still verifies")
	}
	if directory.VerifyClientSecret(stored, secret) != nil {
		t.Fatal("the stored client refuses the new secret")
	}
	raw, _ := store.Get(ctx, directory.BucketClients, "rp")
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the secret is stored in clear")
	}
}

// AsNewClient carries every field a NewClient has (but the secret): a
// field added to both types and forgotten there would be dropped by every
// update.
func TestAsNewClientCarriesEveryField(t *testing.T) {
	var c directory.Client
	cv := reflect.ValueOf(&c).Elem()
	nt := reflect.TypeFor[directory.NewClient]()
	for _, f := range reflect.VisibleFields(nt) {
		if f.Name == "Secret" || f.Anonymous {
			continue
		}
		cf := cv.FieldByName(f.Name)
		if !cf.IsValid() || cf.Type() != f.Type {
			t.Fatalf("Client has no field %s of type %s", f.Name, f.Type)
		}
		cf.Set(nonZero(t, f.Type))
	}
	n := reflect.ValueOf(c.AsNewClient())
	for _, f := range reflect.VisibleFields(nt) {
		if f.Name == "Secret" || f.Anonymous {
			continue
		}
		if got, want := n.FieldByIndex(f.Index).Interface(), cv.FieldByName(f.Name).Interface(); !reflect.DeepEqual(got, want) {
			t.Errorf("AsNewClient drops %s: %v, want %v", f.Name, got, want)
		}
	}
}

// nonZero is a value of t that is not its zero value.
func nonZero(t *testing.T, typ reflect.Type) reflect.Value {
	t.Helper()
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 { // JWKS, raw JSON
			v.SetBytes([]byte(`{"keys":[]}`))
			break
		}
		v.Set(reflect.Append(v, nonZero(t, typ.Elem())))
	case reflect.Pointer:
		v.Set(reflect.New(typ.Elem()))
		v.Elem().Set(nonZero(t, typ.Elem()))
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Struct: // a nested policy (token_exchange)
		for i := range typ.NumField() {
			v.Field(i).Set(nonZero(t, typ.Field(i).Type))
		}
	default:
		t.Fatalf("nonZero: add a case for %s", typ)
	}
	return v
}
