package node_test

import (
	"strings"
	"testing"
	"time"

	"authrim/directory"
	"authrim/node"
)

// TestRequestsConfigValidation: the keys this feature adds are checked,
// and JWE algorithms in keys.algorithms are encryption keys, never
// signing ones.
func TestRequestsConfigValidation(t *testing.T) {
	checkValidation(t, []validationCase{
		{"defaults", func(*node.Config) {}, ""},
		{"an encryption key", func(c *node.Config) { c.Keys.Algorithms = append(c.Keys.Algorithms, "RSA-OAEP-256", "ECDH-ES") }, ""},
		{"unknown alg", func(c *node.Config) { c.Keys.Algorithms = append(c.Keys.Algorithms, "A128KW") }, "keys.algorithms"},
		{"access tokens with an encryption alg", func(c *node.Config) {
			c.Keys.Algorithms = append(c.Keys.Algorithms, "RSA-OAEP")
			c.Tokens.AccessTokenAlg = "RSA-OAEP"
		}, "tokens.access_token_alg"},
		{"static client ID tokens with an encryption alg", func(c *node.Config) {
			c.Keys.Algorithms = append(c.Keys.Algorithms, "RSA-OAEP")
			c.Clients = []node.ClientConfig{{
				ID: "x",
				ClientMetadata: directory.ClientMetadata{
					AuthMethod:               "none",
					GrantTypes:               []string{"authorization_code"},
					RedirectURIs:             []string{"https://rp.example/cb"},
					IDTokenSignedResponseAlg: "RSA-OAEP",
				},
			}}
		}, "id_token_signed_response_alg"},
		{"pushed TTL zero", func(c *node.Config) { c.Requests.PushedTTL = 0 }, "requests.pushed_request_ttl"},
		{"pushed TTL an hour", func(c *node.Config) { c.Requests.PushedTTL = node.Duration(time.Hour) }, "requests.pushed_request_ttl"},
		{"fetch timeout", func(c *node.Config) { c.Requests.Fetch.Timeout = 0 }, "requests.fetch.timeout"},
		{"fetch size", func(c *node.Config) { c.Requests.Fetch.MaxBytes = 10 }, "requests.fetch.max_bytes"},
		{"short initial access token", func(c *node.Config) { c.Registration.InitialAccessToken = "short" }, "registration.initial_access_token"},
	})
	d := node.Default()
	if d.RegistrationEnabled() || d.Requests.Fetch.AllowPrivateAddresses || d.Requests.RequirePAR {
		t.Error("secure defaults: registration off, fetch guard on")
	}
	d.Keys.Algorithms = []string{"RS256", "RSA-OAEP", "ES256"}
	if s, e := d.Keys.SigningAlgs(), d.Keys.EncryptionAlgs(); strings.Join(s, ",") != "RS256,ES256" || strings.Join(e, ",") != "RSA-OAEP" {
		t.Errorf("split %v %v", s, e)
	}
}
