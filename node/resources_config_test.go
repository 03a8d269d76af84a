package node_test

import (
	"time"

	"testing"

	"authrim/directory"
	"authrim/node"
)

// TestResourcesConfigValidation: a static resource server in config.yaml
// is checked by the same rules as one created through the admin API, and
// the config's own rules (introspection_client among clients, lifetime
// within keys.retire_after, no identifier twice) hold.
func TestResourcesConfigValidation(t *testing.T) {
	res := func(mod func(*directory.ResourceMetadata)) func(*node.Config) {
		return func(c *node.Config) {
			m := directory.ResourceMetadata{Identifier: "https://api.example/", Scopes: []string{"read"}}
			mod(&m)
			c.Resources = []node.ResourceConfig{{ResourceMetadata: m}}
		}
	}
	checkValidation(t, []validationCase{
		{"a resource", res(func(*directory.ResourceMetadata) {}), ""},
		{"a urn resource", res(func(m *directory.ResourceMetadata) { m.Identifier = "urn:example:api" }), ""},
		{"relative", res(func(m *directory.ResourceMetadata) { m.Identifier = "api" }), "resources[0]: resource: must be an absolute URI"},
		{"fragment", res(func(m *directory.ResourceMetadata) { m.Identifier = "https://api.example/#f" }), "resources[0]: resource: must not contain a fragment"},
		{"the issuer", res(func(m *directory.ResourceMetadata) { m.Identifier = node.Default().Issuer }), "resources[0]: resource: must not be the issuer"},
		{"openid scope", res(func(m *directory.ResourceMetadata) { m.Scopes = []string{"openid"} }), "resources[0]: scopes"},
		{"ttl", res(func(m *directory.ResourceMetadata) { m.AccessTokenTTL = directory.TTL(time.Second) }), "resources[0]: access_token_ttl"},
		{"ttl past retire_after", func(c *node.Config) {
			res(func(m *directory.ResourceMetadata) { m.AccessTokenTTL = directory.TTL(23 * time.Hour) })(c)
			c.Keys.RetireAfter = node.Duration(12 * time.Hour)
		}, "resources[0]: access_token_ttl: must be at most keys.retire_after"},
		{"alg not in keys.algorithms", res(func(m *directory.ResourceMetadata) { m.AccessTokenAlg = "PS256" }), "resources[0]: access_token_signing_alg"},
		{"introspection client unknown", res(func(m *directory.ResourceMetadata) { m.IntrospectionClient = "gw" }), "resources[0]: introspection_client"},
		{"service client unknown", res(func(m *directory.ResourceMetadata) { m.ServiceClients = []string{"batch"} }), "resources[0]: service_clients: \"batch\" is not one of clients"},
		{"service client syntax", res(func(m *directory.ResourceMetadata) { m.ServiceClients = []string{"a b"} }), "resources[0]: service_clients"},
		{"encryption alg without key", res(func(m *directory.ResourceMetadata) { m.EncryptionAlg = "RSA-OAEP" }), "resources[0]: access_token_encryption_jwk"},
		{"twice", func(c *node.Config) {
			m := directory.ResourceMetadata{Identifier: "https://api.example/", Scopes: []string{"read"}}
			c.Resources = []node.ResourceConfig{{ResourceMetadata: m}, {ResourceMetadata: m}}
		}, "resources[1]: resource: \"https://api.example/\" listed twice"},
	})
}
