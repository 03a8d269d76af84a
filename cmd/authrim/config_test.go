package main

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
keys:
  rotation_period: 168h
  algorithms: [RS256, PS256, EdDSA]
log:
  format: json
`,
			want: func(c *node.Config) {
				c.Issuer = "https://id.example.com"
				c.HTTP.Listen = "0.0.0.0:443"
				c.Keys.RotationPeriod = node.Duration(168 * time.Hour)
				c.Keys.Algorithms = []string{"RS256", "PS256", "EdDSA"}
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
			got, err := loadConfig(path, tt.environ)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
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
	const path = "../../config.yaml"
	got, err := loadConfig(path, nil)
	if err != nil {
		t.Fatalf("loadConfig(%s): %v", path, err)
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
	for _, l := range leaves {
		if !hasPath(&doc, l.path) {
			t.Errorf("config.yaml does not set %s", l.path)
		}
		if !strings.Contains(string(data), "Env: "+envName(l.path)) {
			t.Errorf("config.yaml does not name %s for %s", envName(l.path), l.path)
		}
	}
	for _, name := range cliEnv {
		if !strings.Contains(string(data), name) {
			t.Errorf("config.yaml header does not mention %s", name)
		}
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
			_, err := loadConfig(path, tt.environ)
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
			_, err := loadConfig(path, tt.environ)
			if err == nil {
				t.Fatal("loadConfig succeeded, want an error")
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
			var ce *configError
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *configError", err)
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
			_, err := loadConfig(tt.path, []string{"AUTHRIM_NOPE=1"})
			if err == nil {
				t.Fatal("loadConfig succeeded, want an error")
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
	leaves, err := envLeaves(reflect.TypeFor[node.Config]())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"AUTHRIM_ISSUER", "AUTHRIM_HTTP_LISTEN", "AUTHRIM_KEYS_KEK_FILE",
		"AUTHRIM_ADMIN_TOKEN", "AUTHRIM_STORAGE_DIR", "AUTHRIM_ROLES",
		"AUTHRIM_CLUSTER_NODE_NAME", "AUTHRIM_KEYS_ALGORITHMS",
	} {
		if _, ok := leaves[name]; !ok {
			t.Errorf("%s is not a known override", name)
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
	if _, err := envLeaves(reflect.TypeFor[clash]()); err == nil || !strings.Contains(err.Error(), "AUTHRIM_A_B_C") {
		t.Errorf("env name clash not reported: %v", err)
	}
	type unsupported struct {
		M map[string]string `yaml:"m"`
	}
	if _, err := leavesOf(reflect.TypeFor[unsupported]()); err == nil {
		t.Error("map field not reported as unsupported")
	}
}
