package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"authrim/directory"
	"authrim/persistence"
)

const docID = "https://app.example/oauth/client.json"

func TestCheckClientIDURL(t *testing.T) {
	for _, tc := range []struct {
		name, id, want string
	}{
		{"good", docID, ""},
		{"port and query", "https://app.example:8443/c?v=1", ""},
		{"root path", "https://app.example/", ""},
		{"http", "http://app.example/c", "https scheme"},
		{"no path", "https://app.example", "must contain a path"},
		{"fragment", docID + "#x", "fragment"},
		{"empty fragment", docID + "#", "fragment"},
		{"dot", "https://app.example/./c", ". or .."},
		{"dot dot", "https://app.example/a/../c", ". or .."},
		{"escaped dot dot", "https://app.example/a/%2e%2E/c", ". or .."},
		{"userinfo", "https://u:p@app.example/c", "username or password"},
		{"user only", "https://u@app.example/c", "username or password"},
		{"no host", "https:///c", "no host"},
		{"space", "https://app.example/a b", "printable ASCII"},
		{"control", "https://app.example/a\x00b", "not a URL"},
		{"non-ASCII", "https://app.example/é", "printable ASCII"},
		{"too long", "https://app.example/" + strings.Repeat("a", 3000), "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := directory.CheckClientIDURL(tc.id)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		id    string
		hosts []string
		want  bool
	}{
		{"empty list", docID, nil, true},
		{"listed", docID, []string{"other.example", "APP.example"}, true},
		{"not listed", docID, []string{"other.example"}, false},
		{"suffix is not enough", "https://evilapp.example/c", []string{"app.example"}, false},
		{"port listed", "https://app.example:8443/c", []string{"app.example:8443"}, true},
		{"other port", "https://app.example:8443/c", []string{"app.example:9443"}, false},
		{"any port", "https://app.example:8443/c", []string{"app.example"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := directory.HostAllowed(tc.id, tc.hosts); got != tc.want {
				t.Fatalf("HostAllowed(%q, %v) = %v", tc.id, tc.hosts, got)
			}
		})
	}
}

func TestParseClientDocument(t *testing.T) {
	good := `{"client_id":"` + docID + `","client_name":"App","redirect_uris":["https://app.example/cb"]}`
	c, err := directory.ParseClientDocument(docID, []byte(good), directory.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != docID || c.AuthMethod != "none" || !slices.Equal(c.GrantTypes, []string{"authorization_code"}) ||
		!c.MetadataDocument || c.SkipConsent || c.SecretHash != "" || !c.PKCERequired() {
		t.Fatalf("parsed client: %+v", c)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"other client_id", strings.Replace(good, docID, "https://app.example/other", 1), "not the URL"},
		{"client_id differs in case", strings.Replace(good, "app.example/oauth", "APP.example/oauth", 1), "not the URL"},
		{"no client_id", `{"redirect_uris":["https://app.example/cb"]}`, "no client_id"},
		{"client_id not a string", `{"client_id":1}`, "wrong JSON type"},
		{"not JSON", `<html>`, "not a JSON object"},
		{"two objects", good + good, "one JSON object"},
		{"array", `[]`, "not a JSON object"},
		{"client_secret_basic", strings.Replace(good, `"client_name"`, `"token_endpoint_auth_method":"client_secret_basic","client_name"`, 1), "none or private_key_jwt"},
		{"client_secret_post", strings.Replace(good, `"client_name"`, `"token_endpoint_auth_method":"client_secret_post","client_name"`, 1), "none or private_key_jwt"},
		{"client_secret_jwt", strings.Replace(good, `"client_name"`, `"token_endpoint_auth_method":"client_secret_jwt","client_name"`, 1), "none or private_key_jwt"},
		{"client_secret", strings.Replace(good, `"client_name"`, `"client_secret":"x","client_name"`, 1), "client_secret"},
		{"client_secret null", strings.Replace(good, `"client_name"`, `"client_secret":null,"client_name"`, 1), "client_secret"},
		{"client_secret_expires_at", strings.Replace(good, `"client_name"`, `"client_secret_expires_at":0,"client_name"`, 1), "client_secret"},
		{"client_credentials", strings.Replace(good, `"client_name"`, `"grant_types":["authorization_code","client_credentials"],"client_name"`, 1), "client_credentials"},
		{"private_key_jwt without keys", strings.Replace(good, `"client_name"`, `"token_endpoint_auth_method":"private_key_jwt","client_name"`, 1), "jwks"},
		{"bad redirect", strings.Replace(good, "https://app.example/cb", "javascript:alert(1)", 1), "redirect"},
		{"no redirect", `{"client_id":"` + docID + `"}`, "redirect"},
		{"too large", `{"client_id":"` + docID + `","x":"` + strings.Repeat("a", directory.MaxClientDocument) + `"}`, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := directory.ParseClientDocument(docID, []byte(tc.body), directory.Rules{})
			if err == nil || !errors.Is(err, directory.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an ErrInvalid with %q", err, tc.want)
			}
		})
	}
	t.Run("skip_consent ignored", func(t *testing.T) {
		c, err := directory.ParseClientDocument(docID, []byte(strings.Replace(good, `"client_name"`, `"skip_consent":true,"client_name"`, 1)), directory.Rules{})
		if err != nil || c.SkipConsent {
			t.Fatalf("skip_consent from a document: %v %+v", err, c)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		if _, err := directory.ParseClientDocument("http://app.example/c", []byte(good), directory.Rules{}); !errors.Is(err, directory.ErrInvalid) {
			t.Fatalf("got %v", err)
		}
	})
}

// resolverFunc is a ClientResolver that answers from a function and
// counts its calls.
type resolverFunc struct {
	calls int
	f     func(id string) (directory.Client, error)
}

func (r *resolverFunc) ResolveClient(_ context.Context, id string, _ directory.Rules) (directory.Client, error) {
	r.calls++
	return r.f(id)
}

// TestClientLookupOfURLs: Client hands URL ids to the resolver (never to
// the store), forces the document flags, and without a resolver a URL is
// an unknown client; pushed requests and assertion ids accept URL ids.
func TestClientLookupOfURLs(t *testing.T) {
	ctx := context.Background()
	open := func(r directory.ClientResolver) *directory.Directory {
		d, _ := newDirectory(t, directory.Options{ClientResolver: r})
		return d
	}
	if _, err := open(nil).Client(ctx, docID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("no resolver: %v", err)
	}
	r := &resolverFunc{f: func(id string) (directory.Client, error) {
		return directory.Client{ID: id, ClientMetadata: directory.ClientMetadata{SkipConsent: true, RedirectURIs: []string{"https://app.example/cb"}}, Static: true}, nil
	}}
	d := open(r)
	c, err := d.Client(ctx, docID)
	if err != nil || r.calls != 1 || c.SkipConsent || c.Static || !c.MetadataDocument {
		t.Fatalf("resolved: %v calls %d %+v", err, r.calls, c)
	}
	// The resolver's failure is an unknown client.
	r.f = func(string) (directory.Client, error) { return directory.Client{}, directory.ErrClientDocument }
	if _, err := d.Client(ctx, docID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("failure: %v", err)
	}
	// A registered id never reaches the resolver.
	calls := r.calls
	if _, err := d.Client(ctx, "plain-id"); !errors.Is(err, persistence.ErrNotFound) || r.calls != calls {
		t.Fatalf("plain id: %v, resolver called %d times", err, r.calls-calls)
	}
	if _, err := d.PushRequest(ctx, docID, nil, 60e9); err != nil {
		t.Fatalf("push for a URL client: %v", err)
	}
	if _, err := d.PushRequest(ctx, "http://app.example/c", nil, 60e9); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("push for an http URL: %v", err)
	}
}

// FuzzParseClientDocument: any document is refused with ErrInvalid or
// gives a client that is a document client under the draft's rules: the
// URL as its id, no secret, none or private_key_jwt with keys, no
// client_credentials, no skip_consent, redirect URIs that pass
// CheckRedirectURI.
func FuzzParseClientDocument(f *testing.F) {
	for _, s := range []struct{ id, body string }{
		{docID, `{"client_id":"` + docID + `","redirect_uris":["https://app.example/cb"]}`},
		{docID, `{"client_id":"` + docID + `","redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks"}`},
		{docID, `{"client_id":"` + docID + `","skip_consent":true,"grant_types":["client_credentials"]}`},
		{"https://a.example/./x", `{"client_id":"https://a.example/./x"}`},
		{docID + "#f", `{"client_id":"` + docID + `#f"}`},
		{docID, `{"client_id":"` + docID + `","client_secret":"s"}`},
		{docID, `null`},
	} {
		f.Add(s.id, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, id string, body []byte) {
		c, err := directory.ParseClientDocument(id, body, directory.Rules{})
		if err != nil {
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("error outside ErrInvalid: %v", err)
			}
			return
		}
		if directory.CheckClientIDURL(id) != nil || c.ID != id {
			t.Fatalf("accepted client_id %q as %q", id, c.ID)
		}
		if c.SecretHash != "" || c.SkipConsent || !c.MetadataDocument || slices.Contains(c.GrantTypes, "client_credentials") {
			t.Fatalf("accepted client %+v", c)
		}
		switch c.AuthMethod {
		case "none":
			if !c.PKCERequired() {
				t.Fatal("a public document client without PKCE")
			}
		case "private_key_jwt":
			if len(c.JWKS) == 0 && c.JWKSURI == "" {
				t.Fatal("private_key_jwt without keys")
			}
		default:
			t.Fatalf("accepted token_endpoint_auth_method %q", c.AuthMethod)
		}
		for _, u := range c.RedirectURIs {
			if directory.CheckRedirectURI(u) != nil {
				t.Fatalf("accepted redirect URI %q", u)
			}
		}
	})
}

// TestREADMEClientDocument: the README's example document is accepted
// as it stands.
func TestREADMEClientDocument(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "<!-- client-document-example")
	if !ok {
		t.Fatal("README has no client document example")
	}
	_, after, _ = strings.Cut(after, "```json\n")
	body, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("README's example is not a json block")
	}
	var doc struct {
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	c, err := directory.ParseClientDocument(doc.ClientID, []byte(body), directory.Rules{})
	if err != nil || c.Name != "Example App" {
		t.Fatalf("README's document: %v %+v", err, c)
	}
}
