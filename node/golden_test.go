package node_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"authrim/internal/docexample"
	"authrim/node"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite node/testdata/*.golden from what the node serves")

// golden compares got with testdata/name, or rewrites the file under
// -update-golden.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./node -run %s -update-golden)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s changed; if on purpose, run go test ./node -run %s -update-golden and review the diff\ngot:\n%s", path, t.Name(), got)
	}
}

// shape replaces every value that differs between runs (key material,
// kids, ports) by its JSON type, keeping names and fixed values.
func shape(v any, keep func(path string) bool, path string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shape(e, keep, path+"."+k)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = shape(e, keep, path+"[]")
		}
		return out
	case string:
		if keep(path) {
			return x
		}
		return "<string>"
	}
	return v
}

func marshalIndent(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestJWKSShape: the JWKS a node with the default algorithms publishes
// (active and next key of each, in order) has exactly these members per
// key; only key material and kids vary.
func TestJWKSShape(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()), nil)
	resp, err := http.Get(n.URL() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	// Keys in a stable order (by alg), whatever the kids.
	keys := doc["keys"].([]any)
	slices.SortStableFunc(keys, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["alg"].(string), b.(map[string]any)["alg"].(string))
	})
	keep := func(p string) bool {
		return strings.HasSuffix(p, ".alg") || strings.HasSuffix(p, ".use") || strings.HasSuffix(p, ".kty") ||
			strings.HasSuffix(p, ".crv") || strings.HasSuffix(p, ".e")
	}
	golden(t, "jwks_shape.golden", marshalIndent(t, shape(doc, keep, "")))
}

// TestDiscoveryShape: the discovery document of a node with every role
// and registration on is exactly this (issuer and endpoint ports masked).
func TestDiscoveryShape(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
	resp, err := http.Get(o.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	masked := strings.ReplaceAll(string(body), o.issuer, "https://issuer.example")
	var doc map[string]any
	if err := json.Unmarshal([]byte(masked), &doc); err != nil {
		t.Fatal(err)
	}
	golden(t, "discovery.golden", marshalIndent(t, doc))
}

// TestAuthorizationServerMetadataShape: the RFC 8414 document of the same
// node is exactly this, and it is a view of the discovery document: every
// member it has carries the discovery document's value, and it leaves out
// only what OpenID Connect alone defines.
func TestAuthorizationServerMetadataShape(t *testing.T) {
	o := startOPWith(t, func(c *node.Config) { c.Admin.Token = adminToken })
	read := func(path string) map[string]any {
		t.Helper()
		resp, err := http.Get(o.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(string(body), o.issuer, "https://issuer.example")), &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	oauth := read("/.well-known/oauth-authorization-server")
	openid := read("/.well-known/openid-configuration")
	golden(t, "oauth_authorization_server.golden", marshalIndent(t, oauth))
	for k, v := range oauth {
		if !reflect.DeepEqual(openid[k], v) {
			t.Errorf("%s: OAuth view says %v, discovery says %v", k, v, openid[k])
		}
	}
	// RFC 8414 §2: these are required or, for a server with a token
	// endpoint and authorization endpoint, expected.
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported", "grant_types_supported", "code_challenge_methods_supported"} {
		if _, ok := oauth[k]; !ok {
			t.Errorf("OAuth view lacks %s", k)
		}
	}
	for _, k := range []string{"userinfo_endpoint", "id_token_signing_alg_values_supported", "subject_types_supported", "claims_supported"} {
		if _, ok := oauth[k]; ok {
			t.Errorf("OAuth view has the OpenID-only %s", k)
		}
	}
	// The README's example works against this node.
	out := docexample.Run(t, "../README.md", "oauth-metadata", "ISSUER="+o.issuer)
	if !strings.HasPrefix(out, o.issuer+"/token\nauthorization_code\n") {
		t.Fatalf("README example printed %q", out)
	}
}
