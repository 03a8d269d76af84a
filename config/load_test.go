package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"authrim/directory"
	"authrim/node"
)

// writeConfig writes body to a config file in a fresh temp dir.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		file    string // config file body; "" means no file (path "")
		environ []string
		want    func(*node.Config) // edits node.Default() into the expected config
	}{
		{
			name: "no file, no env gives the defaults",
		},
		{
			name: "empty file gives the defaults",
			file: "# nothing but a comment\n",
		},
		{
			name: "section with every key commented out keeps defaults",
			file: "keys:\n  # rotation_period: 1h\n",
		},
		{
			name: "file sets a few keys",
			file: `
issuer: https://id.example.com
http:
  listen: 0.0.0.0:443
  tls:
    cert_file: /etc/authrim/tls.crt
    key_file: /etc/authrim/tls.key
keys:
  rotation_period: 168h
  algorithms: [RS256, PS256, ES256, EdDSA]
log:
  format: json
`,
			want: func(c *node.Config) {
				c.Issuer = "https://id.example.com"
				c.HTTP.Listen = "0.0.0.0:443"
				c.HTTP.TLS = node.ListenerTLS{CertFile: "/etc/authrim/tls.crt", KeyFile: "/etc/authrim/tls.key"}
				c.Keys.RotationPeriod = node.Duration(168 * time.Hour)
				c.Keys.Algorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}
				c.Log.Format = "json"
			},
		},
		{
			name: "file list replaces the default list",
			file: "roles:\n  - discovery\n",
			want: func(c *node.Config) { c.Roles = []string{"discovery"} },
		},
		{
			name: "quoted values and a numeric-looking token are kept as text",
			file: "admin:\n  token: 12345678901234567890\nhttp:\n  shutdown_timeout: \"1m30s\"\n",
			want: func(c *node.Config) {
				c.Admin.Token = "12345678901234567890"
				c.HTTP.ShutdownTimeout = node.Duration(90 * time.Second)
			},
		},
		{
			name: "anchors and aliases are followed",
			file: "keys:\n  publish_ahead: &day 24h\n  retire_after: *day\n",
			want: func(c *node.Config) { c.Keys.RetireAfter = node.Duration(24 * time.Hour) },
		},
		{
			name: "env overrides",
			environ: []string{
				"AUTHRIM_ISSUER=https://login.example.org",
				"AUTHRIM_HTTP_LISTEN=:9090",
				"AUTHRIM_HTTP_TRUSTED_PROXIES=10.0.0.0/8",
				"AUTHRIM_STORAGE_DIR=/var/lib/authrim",
				"AUTHRIM_KEYS_KEK_FILE=/etc/authrim/kek",
				"AUTHRIM_ADMIN_TOKEN=0123456789abcdef0123",
				"AUTHRIM_CLUSTER_NODE_NAME=node7",
				"AUTHRIM_KEYS_JWKS_MAX_AGE=2m",
				"AUTHRIM_KEYS_ALGORITHMS= RS256 , ES256,EdDSA ",
				"AUTHRIM_ROLES=discovery",
				"PATH=/usr/bin",
				"NOT_AUTHRIM_THING=x",
			},
			want: func(c *node.Config) {
				c.Issuer = "https://login.example.org"
				c.HTTP.Listen = ":9090"
				c.HTTP.TrustedProxies = []string{"10.0.0.0/8"}
				c.Storage.Dir = "/var/lib/authrim"
				c.Keys.KEKFile = "/etc/authrim/kek"
				c.Admin.Token = "0123456789abcdef0123"
				c.Cluster.NodeName = "node7"
				c.Keys.JWKSMaxAge = node.Duration(2 * time.Minute)
				c.Keys.Algorithms = []string{"RS256", "ES256", "EdDSA"}
				c.Roles = []string{"discovery"}
			},
		},
		{
			name:    "CLI variables are neither applied nor unknown",
			environ: []string{"AUTHRIM_SERVER=http://127.0.0.1:8080", "AUTHRIM_CONFIG=/etc/authrim.yaml"},
		},
		{
			name:    "env beats file",
			file:    "log:\n  level: debug\n  format: json\nroles: [discovery]\n",
			environ: []string{"AUTHRIM_LOG_LEVEL=warn", "AUTHRIM_ROLES=management,discovery"},
			want: func(c *node.Config) {
				c.Log.Level = "warn"
				c.Log.Format = "json"
				c.Roles = []string{"management", "discovery"}
			},
		},
		{
			name: "clients: two entries with nested lists, no defaults per element",
			file: `
clients:
  - id: web
    client_name: Web App
    secret: 0123456789abcdef0123456789abcdef
    redirect_uris:
      - https://app.example.com/cb
      - https://app.example.com/cb2
    post_logout_redirect_uris: [https://app.example.com/]
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token]
    id_token_signed_response_alg: ES256
    skip_consent: true
  - id: cli
    token_endpoint_auth_method: none
    redirect_uris: [com.example.cli:/cb, "http://127.0.0.1/cb"]
    grant_types: [authorization_code]
`,
			want: func(c *node.Config) {
				c.Clients = []node.ClientConfig{
					{
						ID:     "web",
						Secret: "0123456789abcdef0123456789abcdef",
						ClientMetadata: directory.ClientMetadata{
							Name:                     "Web App",
							RedirectURIs:             []string{"https://app.example.com/cb", "https://app.example.com/cb2"},
							PostLogoutRedirectURIs:   []string{"https://app.example.com/"},
							AuthMethod:               "client_secret_basic",
							GrantTypes:               []string{"authorization_code", "refresh_token"},
							IDTokenSignedResponseAlg: "ES256",
							SkipConsent:              true,
						},
					},
					{
						ID: "cli",
						ClientMetadata: directory.ClientMetadata{
							AuthMethod:   "none",
							RedirectURIs: []string{"com.example.cli:/cb", "http://127.0.0.1/cb"},
							GrantTypes:   []string{"authorization_code"},
						},
					},
				}
			},
		},
		{
			name: "clients: anchors and aliases inside elements are followed",
			file: `
clients:
  - id: a
    token_endpoint_auth_method: none
    grant_types: &grants [authorization_code]
    redirect_uris: &uris [https://a.example/cb]
  - id: b
    token_endpoint_auth_method: none
    grant_types: *grants
    redirect_uris: *uris
`,
			want: func(c *node.Config) {
				c.Clients = []node.ClientConfig{
					{ID: "a", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"}}},
					{ID: "b", ClientMetadata: directory.ClientMetadata{AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://a.example/cb"}}},
				}
			},
		},
		{
			name: "clients: optional and JSON-valued metadata (require_pkce, jwks)",
			file: `
clients:
  - id: legacy
    secret: 0123456789abcdef0123456789abcdef
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code]
    redirect_uris: [https://legacy.example/cb]
    require_pkce: false
  - id: svc
    token_endpoint_auth_method: private_key_jwt
    grant_types: [client_credentials]
    jwks: '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}'
    token_endpoint_auth_signing_alg: EdDSA
  - id: default-pkce
    token_endpoint_auth_method: none
    grant_types: [authorization_code]
    redirect_uris: [https://spa.example/cb]
    require_pkce:
`,
			want: func(c *node.Config) {
				c.Clients = []node.ClientConfig{
					{ID: "legacy", Secret: "0123456789abcdef0123456789abcdef", ClientMetadata: directory.ClientMetadata{
						AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
						RedirectURIs: []string{"https://legacy.example/cb"}, RequirePKCE: new(false)}},
					{ID: "svc", ClientMetadata: directory.ClientMetadata{
						AuthMethod: "private_key_jwt", GrantTypes: []string{"client_credentials"},
						JWKS:                        directory.JWKS(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
						TokenEndpointAuthSigningAlg: "EdDSA"}},
					{ID: "default-pkce", ClientMetadata: directory.ClientMetadata{
						AuthMethod: "none", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://spa.example/cb"}}},
				}
			},
		},
		{
			name: "clients: empty sequence gives the default empty list",
			file: "clients: []\n",
		},
		{
			name: "clients: null gives the default empty list",
			file: "clients:\n",
		},
		{
			name: "new sections: tokens, session, passwords",
			file: `
tokens:
  access_token_ttl: 5m
  access_token_alg: RS256
session:
  cookie_name: sid
passwords:
  memory_kib: 19456
  threads: 4
`,
			environ: []string{"AUTHRIM_PASSWORDS_TIME=2", "AUTHRIM_SESSION_TTL=8h"},
			want: func(c *node.Config) {
				c.Tokens.AccessTokenTTL = node.Duration(5 * time.Minute)
				c.Tokens.AccessTokenAlg = "RS256"
				c.Session.CookieName = "sid"
				c.Session.TTL = node.Duration(8 * time.Hour)
				c.Passwords = node.PasswordsConfig{Time: 2, MemoryKiB: 19456, Threads: 4, MinLength: 8}
			},
		},
		{
			name:    "first of duplicate env entries wins, as with os.Getenv",
			environ: []string{"AUTHRIM_LOG_LEVEL=error", "AUTHRIM_LOG_LEVEL=debug"},
			want:    func(c *node.Config) { c.Log.Level = "error" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			got, err := Load(path, tt.environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := node.Default()
			if tt.want != nil {
				tt.want(&want)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config mismatch\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
}

// The shipped config.yaml documents every key with its default value.
func TestShippedConfigIsDefault(t *testing.T) {
	const path = "../config.yaml"
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if want := node.Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("config.yaml differs from node.Default()\n got: %+v\nwant: %+v", got, want)
	}

	// Every leaf key is written out explicitly (not just defaulted) and
	// its env override is named in a comment.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	leaves, err := leavesOf(reflect.TypeFor[node.Config]())
	if err != nil {
		t.Fatal(err)
	}
	fileOnly := 0
	for _, l := range leaves {
		if !hasPath(&doc, l.path) {
			t.Errorf("config.yaml does not set %s", l.path)
		}
		if l.fileOnly {
			// A list of mappings has no variable; the file says so.
			fileOnly++
			if strings.Contains(string(data), "Env: "+envName(l.path)) {
				t.Errorf("config.yaml names %s, but %s cannot be set from the environment", envName(l.path), l.path)
			}
			if !strings.Contains(string(data), "Env: none ("+l.path+" ") {
				t.Errorf("config.yaml does not say that %s has no variable (want an \"Env: none (%s ...\" line)", l.path, l.path)
			}
			continue
		}
		if !strings.Contains(string(data), "Env: "+envName(l.path)) {
			t.Errorf("config.yaml does not name %s for %s", envName(l.path), l.path)
		}
	}
	if fileOnly == 0 {
		t.Error("no list-of-mappings leaf found; expected clients")
	}
	for _, name := range cliEnv {
		if !strings.Contains(string(data), name) {
			t.Errorf("config.yaml header does not mention %s", name)
		}
	}
}

// The commented-out example client in config.yaml is valid once
// uncommented and shows every ClientConfig key.
func TestShippedConfigClientExample(t *testing.T) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	start := slices.Index(lines, "# clients:")
	if start < 0 {
		t.Fatal(`config.yaml has no commented-out example starting "# clients:"`)
	}
	var example []string
	for _, l := range lines[start:] {
		if !strings.HasPrefix(l, "#") {
			break
		}
		example = append(example, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
	}
	body := strings.Join(example, "\n") + "\n"
	t.Logf("uncommented example:\n%s", body)

	// Every key is shown.
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("example is not YAML: %v", err)
	}
	list := doc.Content[0].Content[1]
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		t.Fatalf("example clients is not a non-empty list")
	}
	el := list.Content[0]
	for _, f := range keysOf(reflect.TypeFor[node.ClientConfig]()) {
		found := false
		for i := 0; i+1 < len(el.Content); i += 2 {
			found = found || el.Content[i].Value == f.key
		}
		if !found {
			t.Errorf("example client does not show %s", f.key)
		}
	}

	// It loads and validates in place of `clients: []`.
	full := strings.Replace(string(data), "\nclients: []\n", "\n"+body, 1)
	if full == string(data) {
		t.Fatal("config.yaml has no `clients: []` line")
	}
	cfg, err := Load(writeConfig(t, full), nil)
	if err != nil {
		t.Fatalf("config.yaml with the example uncommented: %v", err)
	}
	if len(cfg.Clients) != 1 || cfg.Clients[0].ID == "" {
		t.Fatalf("clients = %+v, want the one example client", cfg.Clients)
	}
}

// hasPath reports whether the dotted path is a key in the YAML document.
func hasPath(doc *yaml.Node, path string) bool {
	n := doc.Content[0]
	for key := range strings.SplitSeq(path, ".") {
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				n, found = n.Content[i+1], true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestLoadConfigEmptyList(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
	}{
		{name: "file empty sequence", file: "roles: []\n"},
		{name: "env empty value", environ: []string{"AUTHRIM_ROLES="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			_, err := Load(path, tt.environ)
			// An empty role list is set (not defaulted), so Validate rejects it.
			if err == nil || !strings.Contains(err.Error(), "roles: must list at least one") {
				t.Fatalf("want the empty roles list to reach Validate, got %v", err)
			}
		})
	}

	// Directly: the empty list replaces the default and is not nil.
	cfg := node.Default()
	d := fileDecoder{file: "x"}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("keys:\n  algorithms: []\n"), &doc); err != nil {
		t.Fatal(err)
	}
	d.document(&doc, reflect.ValueOf(&cfg).Elem())
	if len(d.problems) != 0 || cfg.Keys.Algorithms == nil || len(cfg.Keys.Algorithms) != 0 {
		t.Fatalf("algorithms = %#v, problems %v; want empty non-nil list", cfg.Keys.Algorithms, d.problems)
	}
}

func TestLoadConfigProblems(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    []string // substrings, each expected in the error text
		lines   int      // expected number of problem lines
	}{
		{
			name: "all problems from file, env and validation in one list",
			file: `
issuer: http://localhost:8080
colour: blue
keys:
  rotation_perod: 720h
  publish_ahead: soon
`,
			environ: []string{
				"AUTHRIM_HTTP_SHUTDOWN_TIMEOUT=forever",
				"AUTHRIM_KEYS_ROTATON_PERIOD=1h",
			},
			want: []string{
				"colour: unknown key",
				"keys.rotation_perod: unknown key (did you mean rotation_period?)",
				`keys.publish_ahead: not a duration (e.g. 90s, 24h): "soon"`,
				`http.shutdown_timeout (from AUTHRIM_HTTP_SHUTDOWN_TIMEOUT): not a duration`,
				"AUTHRIM_KEYS_ROTATON_PERIOD: unknown environment variable (no such config key) (did you mean AUTHRIM_KEYS_ROTATION_PERIOD?)",
			},
			lines: 5,
		},
		{
			name: "ill-typed values: list, mapping, scalar, bool",
			file: `
roles: discovery
http: 8080
keys:
  algorithms:
    - RS256
    - {name: ES256}
  kek_file: [a, b]
log:
  level:
    verbose: true
`,
			want: []string{
				`roles: must be a list, got "discovery"`,
				`http: must be a mapping of keys, got "8080"`,
				`keys.algorithms[1]: must be a string, got a mapping`,
				`keys.kek_file: must be a string, got a list`,
				`log.level: must be a string, got a mapping`,
			},
			lines: 5,
		},
		{
			// No credentials or links in the clear across a network.
			name: "smtp in the clear to a remote host, and other smtp problems",
			file: "smtp:\n  host: smtp.example.com\n  tls: none\n  from: accounts@example.com\n  password: x\n  password_file: /nonexistent\naccounts:\n  reset_link_ttl: 1m\n",
			want: []string{
				"smtp.tls: none is only allowed for a loopback host",
				"smtp.password_file: set either password or password_file, not both",
				"smtp.password_file: cannot read",
				"smtp.username: username and password go together",
				"accounts.reset_link_ttl: must be between 5m and 24h",
			},
			lines: 5,
		},
		{
			name:  "top level must be a mapping",
			file:  "- issuer\n- roles\n",
			want:  []string{"(top level): must be a mapping of keys, got a list"},
			lines: 1,
		},
		{
			name: "a number is not a duration",
			file: "keys:\n  check_interval: 30\n",
			want: []string{`keys.check_interval: not a duration (e.g. 90s, 24h): "30"`},
		},
		{
			name: "duplicate keys and merge keys",
			file: "log:\n  level: info\n  level: debug\nkeys:\n  <<: {cache_ttl: 1m}\n",
			want: []string{
				"log.level: duplicate key (first set on line 2)",
				"keys.<<: YAML merge keys are not supported",
			},
		},
		{
			name:    "Validate problems join the same list",
			file:    "issuer: ftp://example.com\nkeys:\n  jwks_max_age: 48h\n  typo: 1\n",
			environ: []string{"AUTHRIM_LOG_LEVEL=loud", "AUTHRIM_ROLES=discovery,admin"},
			want: []string{
				"keys.typo: unknown key",
				`issuer: must use https (http only for localhost), got "ftp://example.com"`,
				"keys.jwks_max_age: must be positive and at most keys.publish_ahead",
				`log.level: must be debug, info, warn or error, got "loud"`,
				`roles: unknown role "admin"`,
			},
			lines: 5,
		},
		{
			name: "clients: problems inside an element name its index and key",
			file: `
clients:
  - id: ok
    secret: short
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code]
    redirect_uris: [https://ok.example/cb]
  - id: bad
    token_endpoint_auth_method: none
    grant_types: [authorization_code]
    redirect_uri: https://bad.example/cb
    skip_consent: maybe
    post_logout_redirect_uris: https://bad.example/
`,
			want: []string{
				"clients[1].redirect_uri: unknown key (did you mean redirect_uris?)",
				`clients[1].skip_consent: must be true or false, got "maybe"`,
				`clients[1].post_logout_redirect_uris: must be a list, got "https://bad.example/"`,
				// Validate still checks the elements that decoded...
				"clients[0]: secret: must be 32..512 characters",
				// ...but not this one, whose redirect URI is missing only
				// because of the misspelt key.
			},
			lines: 4,
		},
		{
			name: "clients: keys renamed to their RFC 7591 names are named",
			file: `
clients:
  - id: web
    name: Web App
    auth_method: none
    grant_types: [authorization_code]
    redirect_uris: [https://web.example/cb]
    require_pkce: sometimes
`,
			want: []string{
				"clients[0].name: unknown key (renamed to client_name)",
				"clients[0].auth_method: unknown key (renamed to token_endpoint_auth_method)",
				`clients[0].require_pkce: must be true or false, got "sometimes"`,
			},
			lines: 3,
		},
		{
			name: "clients: wrong shapes",
			file: "clients:\n  - just-a-name\n  -\n  - [a, b]\n",
			want: []string{
				`clients[0]: must be a mapping of keys, got "just-a-name"`,
				"clients[1]: must be a mapping of keys, got an empty entry",
				"clients[2]: must be a mapping of keys, got a list",
			},
			lines: 3, // no Validate echoes ("id must not be empty") for them
		},
		{
			name: "clients: not a list",
			file: "clients:\n  id: web\n",
			want: []string{"clients: must be a list of mappings, got a mapping"},
		},
		{
			name: "clients: Validate problems join the same list",
			file: `
clients:
  - id: web
    secret: too-short
    token_endpoint_auth_method: client_secret_post
    grant_types: [client_credentials]
  - id: web
    token_endpoint_auth_method: none
    grant_types: [implicit]
    id_token_signed_response_alg: HS256
log:
  levle: info
`,
			want: []string{
				"log.levle: unknown key (did you mean level?)",
				"clients[0]: secret: must be 32..512 characters",
				`clients[1]: grant_types: unknown grant type "implicit"`,
				`clients[1]: id_token_signed_response_alg: must be one of RS256, ES256 (the algorithms this node signs with), got "HS256"`,
				`clients[1]: id: "web" listed twice`,
			},
			lines: 5,
		},
		{
			name:    "clients cannot be set from the environment",
			environ: []string{"AUTHRIM_CLIENTS=web", "AUTHRIM_CLIENTS_0_ID=web"},
			want: []string{
				"AUTHRIM_CLIENTS: clients is a list of mappings and can only be set in the config file",
				"AUTHRIM_CLIENTS_0_ID: clients is a list of mappings and can only be set in the config file",
			},
			lines: 2,
		},
		{
			name:    "admin token too short",
			environ: []string{"AUTHRIM_ADMIN_TOKEN=short"},
			want:    []string{"admin.token: must be at least 16 characters"},
			lines:   1,
		},
		{
			name:    "section variable is unknown",
			environ: []string{"AUTHRIM_KEYS=x"},
			want:    []string{"AUTHRIM_KEYS: unknown environment variable"},
			lines:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
			}
			_, err := Load(path, tt.environ)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			msg := err.Error()
			t.Log(msg)
			if strings.Count(msg, "invalid configuration:") != 1 || !strings.HasPrefix(msg, "invalid configuration:\n  ") {
				t.Errorf("want exactly one leading header, got:\n%s", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not mention %q:\n%s", w, msg)
				}
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *ConfigError", err)
			}
			if got := len(strings.Split(msg, "\n")) - 1; got != len(ce.Problems) {
				t.Errorf("%d lines for %d problems:\n%s", got, len(ce.Problems), msg)
			}
			if tt.lines > 0 && len(ce.Problems) != tt.lines {
				t.Errorf("got %d problems, want %d:\n%s", len(ce.Problems), tt.lines, msg)
			}
			if path != "" && strings.Contains(msg, "unknown key") && !strings.Contains(msg, path+" line ") {
				t.Errorf("file problems do not name the file and line:\n%s", msg)
			}
		})
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		body string // written to path when not empty
		want []string
	}{
		{
			name: "missing file",
			path: filepath.Join(dir, "nope.yaml"),
			want: []string{filepath.Join(dir, "nope.yaml"), "no such file"},
		},
		{
			name: "not YAML",
			path: filepath.Join(dir, "bad.yaml"),
			body: "keys:\n  algorithms: [RS256\n",
			want: []string{filepath.Join(dir, "bad.yaml"), "yaml:"},
		},
		{
			name: "two documents",
			path: filepath.Join(dir, "two.yaml"),
			body: "issuer: https://a.example\n---\nissuer: https://b.example\n",
			want: []string{filepath.Join(dir, "two.yaml"), "more than one YAML document"},
		},
		{
			name: "directory",
			path: dir,
			want: []string{dir},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.body != "" {
				if err := os.WriteFile(tt.path, []byte(tt.body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(tt.path, []string{"AUTHRIM_NOPE=1"})
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Every field of node.Config must be fillable, and the env names must be
// unambiguous and clear of the CLI's own variables.
func TestConfigShapeSupported(t *testing.T) {
	leaves, fileOnly, err := envLeaves(reflect.TypeFor[node.Config]())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"AUTHRIM_ISSUER", "AUTHRIM_HTTP_LISTEN", "AUTHRIM_KEYS_KEK_FILE",
		"AUTHRIM_ADMIN_TOKEN", "AUTHRIM_STORAGE_DIR", "AUTHRIM_ROLES",
		"AUTHRIM_CLUSTER_NODE_NAME", "AUTHRIM_KEYS_ALGORITHMS",
		"AUTHRIM_TOKENS_ACCESS_TOKEN_TTL", "AUTHRIM_SESSION_COOKIE_NAME",
		"AUTHRIM_PASSWORDS_MEMORY_KIB",
	} {
		if _, ok := leaves[name]; !ok {
			t.Errorf("%s is not a known override", name)
		}
	}
	// The static clients are file-only: no override, not even per field.
	if _, ok := fileOnly["AUTHRIM_CLIENTS"]; !ok {
		t.Error("clients is not a file-only key")
	}
	for name := range leaves {
		if strings.HasPrefix(name, "AUTHRIM_CLIENTS") {
			t.Errorf("%s is an override inside the clients list", name)
		}
	}
	for _, name := range cliEnv {
		if _, ok := leaves[name]; ok {
			t.Errorf("%s is both a CLI variable and a config key", name)
		}
	}
}

// The walker is generic: other scalar kinds and nested sections work with
// no loader change.
func TestGenericWalker(t *testing.T) {
	type inner struct {
		Count   int           `yaml:"count"`
		Ratio   float64       `yaml:"ratio"`
		Enabled bool          `yaml:"enabled"`
		Wait    time.Duration `yaml:"wait"`
		Ports   []int         `yaml:"ports"`
		Hidden  string        `yaml:"-"`
	}
	type outer struct {
		Name  string `yaml:"name"`
		Inner inner  `yaml:"inner"`
		Plain string // untagged: key "plain"
	}
	tests := []struct {
		name     string
		file     string
		environ  []string
		want     outer
		problems []string
	}{
		{
			name: "file",
			file: "name: x\nplain: p\ninner:\n  count: 3\n  ratio: 0.5\n  enabled: yes\n  wait: 2s\n  ports: [80, 443]\n",
			want: outer{Name: "x", Plain: "p", Inner: inner{Count: 3, Ratio: 0.5, Enabled: true, Wait: 2 * time.Second, Ports: []int{80, 443}}},
		},
		{
			name:    "env",
			environ: []string{"AUTHRIM_INNER_COUNT=7", "AUTHRIM_INNER_ENABLED=true", "AUTHRIM_INNER_WAIT=1m", "AUTHRIM_INNER_PORTS=1, 2", "AUTHRIM_PLAIN=q"},
			want:    outer{Plain: "q", Inner: inner{Count: 7, Enabled: true, Wait: time.Minute, Ports: []int{1, 2}}},
		},
		{
			name:     "bad values everywhere",
			file:     "inner:\n  count: many\n  enabled: maybe\n  ports: [1, x]\n  hidden: h\n",
			environ:  []string{"AUTHRIM_INNER_RATIO=half", "AUTHRIM_INNER_PORTS=1,y"},
			problems: []string{"inner.count: must be an integer", "inner.enabled: must be true or false", "inner.ports[1]: must be an integer", "inner.hidden: unknown key", "inner.ratio (from AUTHRIM_INNER_RATIO): must be a number", `inner.ports (from AUTHRIM_INNER_PORTS): item "y": must be an integer`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got outer
			root := reflect.ValueOf(&got).Elem()
			var problems []string
			if tt.file != "" {
				var doc yaml.Node
				if err := yaml.Unmarshal([]byte(tt.file), &doc); err != nil {
					t.Fatal(err)
				}
				d := fileDecoder{file: "f"}
				d.document(&doc, root)
				problems = append(problems, d.problems...)
			}
			envProblems, err := applyEnv(root, tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			problems = append(problems, envProblems...)
			if len(problems) != len(tt.problems) {
				t.Errorf("problems = %q, want %d", problems, len(tt.problems))
			}
			for _, w := range tt.problems {
				if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, w) }) {
					t.Errorf("no problem mentions %q in %q", w, problems)
				}
			}
			if tt.problems == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}

	type clash struct {
		A struct {
			BC string `yaml:"b_c"`
		} `yaml:"a"`
		AB struct {
			C string `yaml:"c"`
		} `yaml:"a_b"`
	}
	if _, _, err := envLeaves(reflect.TypeFor[clash]()); err == nil || !strings.Contains(err.Error(), "AUTHRIM_A_B_C") {
		t.Errorf("env name clash not reported: %v", err)
	}
	type unsupported struct {
		M map[string]string `yaml:"m"`
	}
	if _, err := leavesOf(reflect.TypeFor[unsupported]()); err == nil {
		t.Error("map field not reported as unsupported")
	}
	type unsupportedInList struct {
		L []struct {
			M map[string]int `yaml:"m"`
		} `yaml:"l"`
	}
	if _, err := leavesOf(reflect.TypeFor[unsupportedInList]()); err == nil || !strings.Contains(err.Error(), "l[].m") {
		t.Errorf("map field inside a list element not reported as l[].m: %v", err)
	}
}

// Lists of sections are generic too: element sections, nested lists of
// sections and every scalar kind inside elements, with no env override.
func TestGenericStructList(t *testing.T) {
	type port struct {
		Number int  `yaml:"number"`
		TLS    bool `yaml:"tls"`
	}
	type svc struct {
		Name  string `yaml:"name"`
		Limit struct {
			Rate  float64       `yaml:"rate"`
			Burst time.Duration `yaml:"burst"`
		} `yaml:"limit"`
		Ports []port   `yaml:"ports"`
		Tags  []string `yaml:"tags"`
	}
	type root struct {
		Services []svc `yaml:"services"`
		Other    int   `yaml:"other"`
	}
	decode := func(t *testing.T, file string, environ []string) (root, []string) {
		t.Helper()
		var got root
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(file), &doc); err != nil {
			t.Fatal(err)
		}
		d := fileDecoder{file: "f"}
		v := reflect.ValueOf(&got).Elem()
		d.document(&doc, v)
		envProblems, err := applyEnv(v, environ)
		if err != nil {
			t.Fatal(err)
		}
		return got, append(d.problems, envProblems...)
	}

	got, problems := decode(t, `
services:
  - name: a
    limit: {rate: 1.5, burst: 2s}
    ports: [{number: 80}, {number: 443, tls: true}]
    tags: [x]
  - name: b
`, []string{"AUTHRIM_OTHER=3"})
	if len(problems) != 0 {
		t.Fatalf("problems: %q", problems)
	}
	want := root{Other: 3, Services: []svc{{Name: "a", Ports: []port{{Number: 80}, {Number: 443, TLS: true}}, Tags: []string{"x"}}, {Name: "b"}}}
	want.Services[0].Limit.Rate = 1.5
	want.Services[0].Limit.Burst = 2 * time.Second
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}

	_, problems = decode(t, `
services:
  - name: a
    ports: [{number: 80, tls: sometimes}, {numbr: 1}]
    limit: {rate: fast}
`, []string{"AUTHRIM_SERVICES_0_NAME=x", "AUTHRIM_SERVICES_PORTS=1"})
	for _, w := range []string{
		`services[0].ports[0].tls: must be true or false, got "sometimes"`,
		"services[0].ports[1].numbr: unknown key (did you mean number?)",
		`services[0].limit.rate: must be a number, got "fast"`,
		"AUTHRIM_SERVICES_0_NAME: services is a list of mappings and can only be set in the config file",
		"AUTHRIM_SERVICES_PORTS: services is a list of mappings",
	} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem mentions %q in %q", w, problems)
		}
	}
	if len(problems) != 5 {
		t.Errorf("got %d problems, want 5: %q", len(problems), problems)
	}

	leaves, err := leavesOf(reflect.TypeFor[root]())
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, l := range leaves {
		paths = append(paths, l.path)
	}
	if !slices.Equal(paths, []string{"services", "other"}) || !leaves[0].fileOnly || leaves[1].fileOnly {
		t.Errorf("leaves = %+v, want file-only services and other", leaves)
	}
}

func TestAboutBroken(t *testing.T) {
	broken := []string{"clients[1]"}
	for p, want := range map[string]bool{
		"clients[1]: id must not be empty":  true,
		"clients[1].secret: x":              true,
		"clients[10]: id must not be empty": false,
		"clients[0]: id must not be empty":  false,
		"clients: x":                        false,
		"roles: x":                          false,
	} {
		if got := aboutBroken(p, broken); got != want {
			t.Errorf("aboutBroken(%q) = %v, want %v", p, got, want)
		}
	}
}
