package node

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Duration is a time.Duration written in config as "720h", "90s", ...
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("not a duration (e.g. 90s, 24h): %q", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration back in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is everything a node needs. The yaml tags are the config.yaml
// keys; cmd/authrim fills it from Default(), the file and AUTHRIM_* env.
type Config struct {
	// Issuer is the OP's issuer identifier (https, or http on localhost).
	Issuer  string        `yaml:"issuer"`
	HTTP    HTTPConfig    `yaml:"http"`
	Storage StorageConfig `yaml:"storage"`
	Admin   AdminConfig   `yaml:"admin"`
	Keys    KeysConfig    `yaml:"keys"`
	Cluster ClusterConfig `yaml:"cluster"`
	Log     LogConfig     `yaml:"log"`
	// Roles lists the front ends this node serves.
	Roles []string `yaml:"roles"`
}

// HTTPConfig is the public listener.
type HTTPConfig struct {
	Listen          string   `yaml:"listen"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// StorageConfig selects where state lives.
type StorageConfig struct {
	Backend string `yaml:"backend"`
	Dir     string `yaml:"dir"`
}

// AdminConfig guards the admin API.
type AdminConfig struct {
	// Token is the admin API bearer token; empty disables the admin API.
	Token string `yaml:"token"`
}

// KeysConfig is the signing-key policy the KeyManager follows.
type KeysConfig struct {
	KEKFile        string   `yaml:"kek_file"`
	Algorithms     []string `yaml:"algorithms"`
	RotationPeriod Duration `yaml:"rotation_period"`
	PublishAhead   Duration `yaml:"publish_ahead"`
	RetireAfter    Duration `yaml:"retire_after"`
	JWKSMaxAge     Duration `yaml:"jwks_max_age"`
	CheckInterval  Duration `yaml:"check_interval"`
	CacheTTL       Duration `yaml:"cache_ttl"`
}

// ClusterConfig is the actor system's identity and listener.
type ClusterConfig struct {
	Name           string   `yaml:"name"`
	NodeName       string   `yaml:"node_name"`
	Listen         string   `yaml:"listen"`
	RequestTimeout Duration `yaml:"request_timeout"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// Front-end roles a node can serve.
const (
	RoleDiscovery  = "discovery"
	RoleManagement = "management"
)

// AllRoles lists every role, in the order the router mounts them.
var AllRoles = []string{RoleDiscovery, RoleManagement}

// SigningAlgorithms are the JWS algorithms the KeyManager can keep keys for.
var SigningAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// Default returns the embedded defaults: one node, bbolt under ./data.
func Default() Config {
	return Config{
		Issuer:  "http://localhost:8080",
		HTTP:    HTTPConfig{Listen: "127.0.0.1:8080", ShutdownTimeout: Duration(10 * time.Second)},
		Storage: StorageConfig{Backend: "bbolt", Dir: "./data"},
		Keys: KeysConfig{
			KEKFile:        "./data/kek",
			Algorithms:     []string{"RS256", "ES256"},
			RotationPeriod: Duration(30 * 24 * time.Hour),
			PublishAhead:   Duration(24 * time.Hour),
			RetireAfter:    Duration(48 * time.Hour),
			JWKSMaxAge:     Duration(10 * time.Minute),
			CheckInterval:  Duration(time.Minute),
			CacheTTL:       Duration(5 * time.Minute),
		},
		Cluster: ClusterConfig{
			Name:           "authrim",
			NodeName:       "node1",
			Listen:         "127.0.0.1:0",
			RequestTimeout: Duration(5 * time.Second),
		},
		Log:   LogConfig{Format: "text", Level: "info"},
		Roles: slices.Clone(AllRoles),
	}
}

// Validate reports every problem at once, one per line, keyed by the
// config path. It has no side effects.
func (c Config) Validate() error {
	var p []string
	add := func(key, format string, args ...any) {
		p = append(p, key+": "+fmt.Sprintf(format, args...))
	}
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" {
		add("issuer", "must be an absolute URL, got %q", c.Issuer)
	} else {
		switch {
		case u.RawQuery != "" || u.Fragment != "":
			// OIDC Discovery §3: the issuer has no query or fragment.
			add("issuer", "must not have a query or fragment")
		case u.Scheme == "https":
		case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
		default:
			add("issuer", "must use https (http only for localhost), got %q", c.Issuer)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		add("http.listen", "must be host:port, got %q", c.HTTP.Listen)
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		add("http.shutdown_timeout", "must be positive")
	}
	if c.Storage.Backend != "bbolt" {
		add("storage.backend", "must be bbolt, got %q", c.Storage.Backend)
	}
	if c.Storage.Dir == "" {
		add("storage.dir", "must not be empty")
	}
	if t := c.Admin.Token; t != "" && len(t) < 16 {
		add("admin.token", "must be at least 16 characters (or empty to disable the admin API)")
	}
	if c.Keys.KEKFile == "" {
		add("keys.kek_file", "must not be empty")
	}
	if len(c.Keys.Algorithms) == 0 {
		add("keys.algorithms", "must list at least RS256 (required by OpenID Connect)")
	} else if !slices.Contains(c.Keys.Algorithms, "RS256") {
		add("keys.algorithms", "must include RS256 (OpenID Connect Core §15.1)")
	}
	seen := map[string]bool{}
	for _, a := range c.Keys.Algorithms {
		if !slices.Contains(SigningAlgorithms, a) {
			add("keys.algorithms", "unsupported algorithm %q (supported: %s)", a, strings.Join(SigningAlgorithms, ", "))
		}
		if seen[a] {
			add("keys.algorithms", "%q listed twice", a)
		}
		seen[a] = true
	}
	k := c.Keys
	if k.PublishAhead <= 0 {
		add("keys.publish_ahead", "must be positive")
	}
	if k.RotationPeriod < k.PublishAhead {
		add("keys.rotation_period", "must be at least keys.publish_ahead (%s)", k.PublishAhead.D())
	}
	if k.RetireAfter <= 0 {
		add("keys.retire_after", "must be positive")
	}
	if k.JWKSMaxAge <= 0 || k.JWKSMaxAge > k.PublishAhead {
		add("keys.jwks_max_age", "must be positive and at most keys.publish_ahead (%s)", k.PublishAhead.D())
	}
	if k.CheckInterval <= 0 {
		add("keys.check_interval", "must be positive")
	}
	if k.CacheTTL <= 0 {
		add("keys.cache_ttl", "must be positive")
	}
	if c.Cluster.Name == "" {
		add("cluster.name", "must not be empty")
	}
	if c.Cluster.NodeName == "" {
		add("cluster.node_name", "must not be empty")
	}
	if h, _, err := net.SplitHostPort(c.Cluster.Listen); err != nil {
		add("cluster.listen", "must be host:port, got %q", c.Cluster.Listen)
	} else if h == "" || h == "0.0.0.0" || h == "::" {
		add("cluster.listen", "must name an interface address, not all interfaces")
	}
	if c.Cluster.RequestTimeout <= 0 {
		add("cluster.request_timeout", "must be positive")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if len(c.Roles) == 0 {
		add("roles", "must list at least one of %s", strings.Join(AllRoles, ", "))
	}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			add("roles", "unknown role %q (known: %s)", r, strings.Join(AllRoles, ", "))
		}
	}
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration:\n  %s", strings.Join(p, "\n  "))
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
