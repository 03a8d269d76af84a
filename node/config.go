package node

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"authrim/actors/ratelimit"
	"authrim/connectors"
	"authrim/directory"
	"authrim/webhooks"
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
	Issuer string `yaml:"issuer"`
	// Profile is the security profile every client is held to: "" or
	// fapi2 (the FAPI 2.0 Security Profile; fapi2.go). A client can
	// also choose it for itself (its profile).
	Profile string        `yaml:"profile"`
	HTTP    HTTPConfig    `yaml:"http"`
	Storage StorageConfig `yaml:"storage"`
	Admin   AdminConfig   `yaml:"admin"`
	Keys    KeysConfig    `yaml:"keys"`
	Cluster ClusterConfig `yaml:"cluster"`
	Crypto  CryptoConfig  `yaml:"crypto"`
	Log     LogConfig     `yaml:"log"`
	Metrics MetricsConfig `yaml:"metrics"`
	Runtime RuntimeConfig `yaml:"runtime"`
	Tracing TracingConfig `yaml:"tracing"`
	CORS    CORSConfig    `yaml:"cors"`
	// RateLimit protects sign-in, registration and the protocol endpoints.
	RateLimit RateLimitConfig `yaml:"rate_limit"`
	Tokens    TokensConfig    `yaml:"tokens"`
	// DPoP: sender-constrained tokens (RFC 9449).
	DPoP    DPoPConfig    `yaml:"dpop"`
	Session SessionConfig `yaml:"session"`
	// Passwords tunes argon2id for user passwords.
	Passwords PasswordsConfig `yaml:"passwords"`
	WebAuthn  WebAuthnConfig  `yaml:"webauthn"`
	// Requests: request objects, request_uri and pushed requests.
	Requests RequestsConfig `yaml:"requests"`
	// Registration: dynamic client registration (RFC 7591, RFC 7592).
	Registration RegistrationConfig `yaml:"registration"`
	// MFA: second factors at sign-in (README "Two-factor sign-in").
	MFA MFAConfig `yaml:"mfa"`
	// UI dresses the sign-in pages: theme, product name, logo.
	UI UIConfig `yaml:"ui"`
	// ClientAuth: how clients authenticate (private_key_jwt).
	ClientAuth ClientAuthConfig `yaml:"client_auth"`
	// ClientDocuments: client_ids that are URLs of client ID metadata
	// documents (http/clientdoc).
	ClientDocuments ClientDocumentsConfig `yaml:"client_metadata_documents"`
	// Clients are static relying parties, read-only at run time (dynamic
	// ones live in the store, managed through the admin API).
	Clients []ClientConfig `yaml:"clients"`
	// Resources are static resource servers (RFC 8707), read-only at run
	// time (others live in the store, managed through the admin API).
	Resources []ResourceConfig `yaml:"resources"`
	// Roles lists the front ends this node serves.
	Roles []string `yaml:"roles"`
	// Backup: scheduled backups (node/backup.go).
	Backup BackupConfig `yaml:"backup"`
	// Delivery: the outbox that carries back-channel logout (node/delivery.go).
	Delivery DeliveryConfig `yaml:"delivery"`
	// SMTP: where mails (reset and verification links) are submitted
	// (node/accounts.go).
	SMTP SMTPConfig `yaml:"smtp"`
	// Accounts: the self-service account pages (password reset).
	Accounts AccountsConfig `yaml:"accounts"`
	// Audit: the audit log kept as data (node/audit.go).
	Audit AuditConfig `yaml:"audit"`
	// Webhooks: audit events sent to the operator's systems (node/audit.go).
	Webhooks WebhooksConfig `yaml:"webhooks"`
	// TokenExchange: the token exchange grant (node/exchange_config.go).
	TokenExchange TokenExchangeConfig `yaml:"token_exchange"`
	// Connectors: upstream identity providers users may sign in with
	// (connectors package; a button each on the sign-in page).
	Connectors []connectors.Config `yaml:"connectors"`
}

// MetricsConfig is the operator listener for /metrics (Prometheus).
type MetricsConfig struct {
	// Listen is host:port of the metrics listener; empty disables it.
	Listen string `yaml:"listen"`
	// TLS, when set, serves /metrics over https.
	TLS ListenerTLS `yaml:"tls"`
}

// DefaultGCPercent is runtime.gc_percent's default: Go's own. 200 cut
// 10-20 % of the CPU per request in the bench, but let the heap run to
// three times the live set: password sign-ins (64 MiB of argon2id each)
// took the bench node's peak RSS from ~0.7 to 2 GB. Memory a self-hoster
// can predict wins by default; BENCHMARKS.md has both ("Garbage
// collection").
const DefaultGCPercent = 100

// RuntimeConfig tunes the Go runtime of `authrim serve`.
type RuntimeConfig struct {
	// GCPercent is the garbage collector's target (Go's GOGC): a
	// collection starts when the heap has grown by this percentage of
	// what the last one left live. Higher trades memory for CPU: the
	// collector's cost per request falls in proportion (BENCHMARKS.md).
	// The GOGC environment variable, when set, wins.
	GCPercent int `yaml:"gc_percent"`
}

// TracingConfig selects an OpenTelemetry exporter.
type TracingConfig struct {
	// OTLPEndpoint is host:port of an OTLP/HTTP collector; empty exports
	// nothing (spans are still created when a test installs a provider).
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Insecure sends OTLP over plain HTTP (a collector on loopback).
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the share of traces kept, 0..1.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// CORSConfig lists the browser origins allowed to call the token,
// userinfo, revocation, introspection, JWKS and discovery endpoints.
type CORSConfig struct {
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// RateLimitConfig: requests per window per client address and per
// authenticated client in each route group, by the route's profile
// (declared in the route table: docs/ARCHITECTURE.md), and how password
// sign-ins are slowed.
type RateLimitConfig struct {
	Enabled  bool     `yaml:"enabled"`
	Window   Duration `yaml:"window"`
	Strict   int      `yaml:"strict"`
	Moderate int      `yaml:"moderate"`
	Lenient  int      `yaml:"lenient"`
	// Routes moved to a profile other than the one their front end
	// declares (echo paths, e.g. "/authorize"); a path no route serves is
	// an error at start.
	StrictRoutes   []string `yaml:"strict_routes"`
	ModerateRoutes []string `yaml:"moderate_routes"`
	LenientRoutes  []string `yaml:"lenient_routes"`
	// SignIn slows password guessing; it applies whether or not Enabled.
	SignIn SignInConfig `yaml:"signin"`
}

// SignInConfig slows password sign-ins (NIST SP 800-63B §5.2.2): one
// address guessing one username, and all addresses on one username.
type SignInConfig struct {
	PerAddress  BackoffConfig `yaml:"per_address"`
	PerUsername BackoffConfig `yaml:"per_username"`
}

// BackoffConfig: Free consecutive failures cost nothing; then each next
// attempt waits BaseDelay, doubling per further failure, at most MaxDelay.
// Failures are forgotten Window after the last one, or at a success.
type BackoffConfig struct {
	Free      int      `yaml:"free"`
	BaseDelay Duration `yaml:"base_delay"`
	MaxDelay  Duration `yaml:"max_delay"`
	Window    Duration `yaml:"window"`
}

// Backoff is b as the RateLimiter grains take it.
func (b BackoffConfig) Backoff() ratelimit.Backoff {
	return ratelimit.Backoff{Free: b.Free, Base: b.BaseDelay.D(), Max: b.MaxDelay.D(), Window: b.Window.D()}
}

// TokensConfig sets lifetimes and formats of what /token issues.
type TokensConfig struct {
	AccessTokenTTL  Duration `yaml:"access_token_ttl"`
	IDTokenTTL      Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl"`
	// RefreshTokenIdleTTL ends a refresh-token family unused this long
	// (never past RefreshTokenTTL from the code's redemption); 0: off.
	RefreshTokenIdleTTL Duration `yaml:"refresh_token_idle_ttl"`
	// AccessTokenAlg signs RFC 9068 access tokens.
	AccessTokenAlg string `yaml:"access_token_alg"`
	// DeviceCodeTTL is how long a device code and its user code live
	// (RFC 8628 §3.2 expires_in).
	DeviceCodeTTL Duration `yaml:"device_code_ttl"`
	// DevicePollInterval is the interval devices are told to poll at
	// (RFC 8628 §3.2 interval); each slow_down adds 5 s.
	DevicePollInterval Duration `yaml:"device_poll_interval"`
}

// DPoPConfig tunes DPoP proof checks (RFC 9449).
type DPoPConfig struct {
	// ProofLifetime is how old (by its iat) a proof may be; its jti is
	// remembered cluster-wide that long.
	ProofLifetime Duration `yaml:"proof_lifetime"`
	// RequireNonce makes every proof carry a server nonce (RFC 9449 §8),
	// handed out in DPoP-Nonce and rotated every NoncePeriod.
	RequireNonce bool     `yaml:"require_nonce"`
	NoncePeriod  Duration `yaml:"nonce_period"`
}

// SessionConfig is the browser session.
type SessionConfig struct {
	TTL        Duration `yaml:"ttl"`
	CookieName string   `yaml:"cookie_name"`
	// IdleTimeout passivates a Session grain that got no message for this
	// long (its state is on disk; memory follows the active set).
	IdleTimeout Duration `yaml:"idle_timeout"`
	// IdleTTL ends a sign-in no browser request used this long (never
	// later than TTL after it); 0: off.
	IdleTTL Duration `yaml:"idle_ttl"`
}

// RequestsConfig is about authorization requests that come as request
// objects (RFC 9101), by reference or pushed (RFC 9126).
type RequestsConfig struct {
	// RequirePAR accepts only pushed authorization requests, from every
	// client (a client may also require it for itself).
	RequirePAR bool `yaml:"require_pushed_authorization_requests"`
	// PushedTTL is how long a pushed request's request_uri is valid.
	PushedTTL Duration `yaml:"pushed_request_ttl"`
	// RequireSigned refuses unsigned (alg none) request objects from
	// every client and stops advertising none (RFC 9101 §10.5).
	RequireSigned bool `yaml:"require_signed_request_object"`
	// Fetch governs what the node downloads for clients (request_uri,
	// jwks_uri).
	Fetch FetchConfig `yaml:"fetch"`
}

// FetchConfig is the guard on URLs the node fetches on a client's behalf.
type FetchConfig struct {
	// AllowPrivateAddresses lets fetches reach private, loopback and
	// link-local addresses (off: a client cannot make the node probe its
	// own network).
	AllowPrivateAddresses bool     `yaml:"allow_private_addresses"`
	Timeout               Duration `yaml:"timeout"`
	MaxBytes              int      `yaml:"max_bytes"`
	// CAFile is a PEM file of extra trust anchors for https fetches.
	CAFile string `yaml:"ca_file"`
}

// RegistrationConfig governs /register.
type RegistrationConfig struct {
	// Open lets anyone register a client without a token.
	Open bool `yaml:"open"`
	// InitialAccessToken, when set, lets holders of it register
	// (Authorization: Bearer). With the admin API on, operators can also
	// issue single-use tokens (POST /admin/registration-tokens).
	InitialAccessToken string `yaml:"initial_access_token"`
	// Users says who may open a user account: closed (operators create
	// them) or invite (operators also invite people by email).
	Users string `yaml:"users"`
}

// MFAConfig is the node's second-factor policy.
type MFAConfig struct {
	// Policy is none, optional (users who enrolled an authenticator app
	// are asked for a code) or required (users without one enrol at
	// their next password sign-in). A client's mfa_policy can make it
	// stricter for that client, never weaker.
	Policy string `yaml:"policy"`
}

// UIConfig is the pages' theme (README "Languages and themes"). The
// templates, with the theme's overrides, are parsed and tried at start:
// a broken override stops the start.
type UIConfig struct {
	// ThemeDir holds template overrides (an *.html named like a built-in
	// template replaces it), style sheets (*.css, added after the
	// built-in one) and images, served under /assets/theme/.
	ThemeDir string `yaml:"theme_dir"`
	// ProductName is shown in the pages' titles and header.
	ProductName string `yaml:"product_name"`
	// Logo is an image file in ThemeDir shown in the header.
	Logo string `yaml:"logo"`
}

func (u UIConfig) problems(add func(key, format string, args ...any)) {
	if len(u.ProductName) > 64 || strings.ContainsFunc(u.ProductName, unicode.IsControl) {
		add("ui.product_name", "must be at most 64 bytes with no control characters")
	}
	switch {
	case u.Logo == "":
	case u.ThemeDir == "":
		add("ui.logo", "needs ui.theme_dir (the logo is a file there)")
	case strings.ContainsAny(u.Logo, `/\`) || u.Logo == "." || u.Logo == "..":
		add("ui.logo", "must be a file name in ui.theme_dir, got %q", u.Logo)
	}
}

// RegistrationEnabled reports whether /register is served: open, with a
// configured initial access token, or with the admin API on (which
// issues tokens). Otherwise nobody could register, so it is not mounted.
func (c Config) RegistrationEnabled() bool {
	return c.Registration.Open || c.Registration.InitialAccessToken != "" || c.Admin.Token != ""
}

// ClientAuthConfig is about client authentication at /token, /par,
// /revoke and /introspect.
type ClientAuthConfig struct {
	// AcceptTokenEndpointAudience also accepts private_key_jwt
	// assertions whose aud is the token endpoint URL (a single string),
	// as older clients send. Off: aud must be the issuer.
	AcceptTokenEndpointAudience bool `yaml:"accept_token_endpoint_audience"`
}

// ClientDocumentsConfig governs client ID metadata documents
// (draft-ietf-oauth-client-id-metadata-document): a client_id that is an
// https URL whose document holds the client's metadata.
type ClientDocumentsConfig struct {
	// Enabled resolves such client_ids; off, they are unknown clients.
	Enabled bool `yaml:"enabled"`
	// Hosts, when not empty, are the only hosts (host or host:port)
	// whose documents are fetched.
	Hosts []string `yaml:"hosts"`
	// MaxBytes bounds a document (requests.fetch.max_bytes too, if
	// smaller).
	MaxBytes int `yaml:"max_bytes"`
	// MinCache and MaxCache bound the time a document is reused,
	// whatever its Cache-Control max-age says (no-store is honoured).
	MinCache Duration `yaml:"min_cache"`
	MaxCache Duration `yaml:"max_cache"`
	// FailureCache is how long a failed resolution is remembered.
	FailureCache Duration `yaml:"failure_cache"`
}

// problems checks client_metadata_documents. max_bytes is not compared
// with requests.fetch.max_bytes: the smaller of the two applies.
func (d ClientDocumentsConfig) problems() []string {
	var p []string
	if d.MaxBytes < 256 || d.MaxBytes > 1<<20 {
		p = append(p, "client_metadata_documents.max_bytes: must be between 256 and 1048576")
	}
	if d.MinCache < Duration(time.Second) || d.MaxCache < d.MinCache || d.MaxCache > Duration(7*24*time.Hour) {
		p = append(p, "client_metadata_documents: min_cache must be at least 1s, and max_cache between min_cache and 168h")
	}
	if d.FailureCache < Duration(time.Second) || d.FailureCache > Duration(time.Hour) {
		p = append(p, "client_metadata_documents.failure_cache: must be between 1s and 1h")
	}
	for _, h := range d.Hosts {
		if h == "" || strings.ContainsAny(h, "/@?# ") {
			p = append(p, fmt.Sprintf("client_metadata_documents.hosts: %q must be a host name (with an optional :port), not a URL", h))
		}
	}
	return p
}

// The least argon2id cost Validate accepts: OWASP's minimum (Password
// Storage Cheat Sheet: m=19 MiB, t=2, p=1).
const (
	MinArgon2Time      = 2
	MinArgon2MemoryKiB = 19 * 1024
)

// PasswordsConfig holds argon2id parameters (RFC 9106) and the password
// policy (NIST SP 800-63B: a minimum length and a list of refused
// passwords; no composition rules).
type PasswordsConfig struct {
	Time      int `yaml:"time"`
	MemoryKiB int `yaml:"memory_kib"`
	Threads   int `yaml:"threads"`
	// MinLength is the minimum password length in characters.
	MinLength int `yaml:"min_length"`
	// BlocklistFile names a file of further refused passwords (one per
	// line, # comments), added to the shipped list.
	BlocklistFile string `yaml:"blocklist_file"`
}

// PasswordPolicy reads the password policy (the blocklist file, if any).
func (c PasswordsConfig) PasswordPolicy() (directory.PasswordPolicy, error) {
	p := directory.PasswordPolicy{MinLength: c.MinLength}
	if c.BlocklistFile == "" {
		return p, nil
	}
	f, err := os.Open(c.BlocklistFile)
	if err != nil {
		return p, fmt.Errorf("passwords.blocklist_file: %w", err)
	}
	defer f.Close()
	if p.Blocklist, err = directory.ReadPasswordList(f); err != nil {
		return p, fmt.Errorf("passwords.blocklist_file %s: %w", c.BlocklistFile, err)
	}
	return p, nil
}

// WebAuthnConfig is the passkey relying party. Empty values derive from
// the issuer: RP ID = its host name, origin = its scheme://host[:port].
type WebAuthnConfig struct {
	RPID    string   `yaml:"rp_id"`
	RPName  string   `yaml:"rp_name"`
	Origins []string `yaml:"origins"`
}

// RPID is the configured RP ID or the issuer's host name.
func (c Config) RPID() string {
	if c.WebAuthn.RPID != "" {
		return c.WebAuthn.RPID
	}
	u, _ := url.Parse(c.Issuer)
	return u.Hostname()
}

// RPOrigins are the configured origins or the issuer's origin.
func (c Config) RPOrigins() []string {
	if len(c.WebAuthn.Origins) > 0 {
		return c.WebAuthn.Origins
	}
	u, _ := url.Parse(c.Issuer)
	return []string{u.Scheme + "://" + u.Host}
}

// ClientConfig is a static client: its id and secret, and its metadata
// under the RFC 7591 §2 names, the names the admin API and /register use
// (directory.ClientMetadata, one shape for every entry point, checked by
// directory.ValidateClient).
type ClientConfig struct {
	// ID is the client_id.
	ID string `yaml:"id"`
	// Secret is the shared secret for client_secret_basic/post
	// (directory.MinSecretLen..MaxSecretLen characters); it is hashed in
	// memory.
	Secret                   string `yaml:"secret"`
	directory.ClientMetadata `yaml:",inline"`
}

// ResourceConfig is a static resource server in config.yaml: the
// directory's resource metadata (one shape for config, admin API and the
// record, checked by directory.ValidateResource).
type ResourceConfig struct {
	directory.ResourceMetadata `yaml:",inline"`
}

// ResourceRules are the resource rules under this config.
func (c Config) ResourceRules() directory.ResourceRules {
	return directory.ResourceRules{Algorithms: c.Keys.Algorithms, Issuer: c.Issuer}
}

// StaticResources are the directory's static resource servers.
func (c Config) StaticResources() []directory.ResourceMetadata {
	out := make([]directory.ResourceMetadata, 0, len(c.Resources))
	for _, r := range c.Resources {
		out = append(out, r.ResourceMetadata)
	}
	return out
}

// RenamedKeys are the keys of a static client that earlier releases read
// under another name (old -> new): the config loader names the new one.
func (ClientConfig) RenamedKeys() map[string]string {
	return map[string]string{"name": "client_name", "auth_method": "token_endpoint_auth_method"}
}

// ClientRules are the client rules under this config: the algorithms of
// keys.algorithms, requests.require_signed_request_object, and those of
// a static client.
func (c Config) ClientRules() directory.Rules {
	return directory.Rules{Algorithms: c.Keys.Algorithms, RequireSignedRequestObjects: c.Requests.RequireSigned, Static: true,
		AllowPrivateAddresses: c.Requests.Fetch.AllowPrivateAddresses, Profile: c.Profile}
}

// StaticClients builds the directory's static clients from clients
// (Validate has checked them with the same rules).
func (c Config) StaticClients() ([]directory.Client, error) {
	out := make([]directory.Client, 0, len(c.Clients))
	for i, cc := range c.Clients {
		cl, err := directory.NewStaticClient(directory.NewClient{ID: cc.ID, Secret: cc.Secret, ClientMetadata: cc.ClientMetadata}, c.Keys.Algorithms...)
		if err != nil {
			return nil, fmt.Errorf("node: clients[%d] (%s): %w", i, cc.ID, err)
		}
		out = append(out, cl)
	}
	return out, nil
}

// configKey is the config key of a client problem's field: the
// credentials are id and secret in config.yaml, the metadata keeps its
// RFC 7591 name.
func configKey(field string) string {
	switch field {
	case "client_id":
		return "id"
	case "client_secret":
		return "secret"
	}
	return field
}

// HTTPConfig is the public listener.
type HTTPConfig struct {
	Listen          string   `yaml:"listen"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// DrainDelay is how long a stopping node keeps serving while /readyz
	// answers 503, so a load balancer's health checks take it out of
	// rotation before its listener closes.
	DrainDelay Duration `yaml:"drain_delay"`
	// TrustedProxies are the addresses (CIDR or single IP) of the
	// reverse proxies in front of the node: only from them is
	// X-Forwarded-For believed, for rate limits, logs and audit. Empty:
	// the client is the connection's peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TLS, when set, serves https on Listen (listen_tls.go).
	TLS ListenerTLS `yaml:"tls"`
	// InsecurePlaintext allows plain http on a non-loopback Listen with
	// neither TLS nor TrustedProxies (listen_tls.go).
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// ClientCertHeader, when set, is the header in which a proxy listed
	// in TrustedProxies passes the client certificate it received, as
	// URL-encoded PEM (nginx's $ssl_client_escaped_cert), for mutual TLS
	// (RFC 8705). From any other peer the header is ignored (mtls.go).
	ClientCertHeader string `yaml:"client_cert_header"`
	// MTLS: the node's own mutual-TLS listener and the client CAs
	// (mtls.go).
	MTLS MTLSConfig `yaml:"mtls"`
}

// TrustedProxyPrefixes parses http.trusted_proxies (Validate has checked
// them).
func (h HTTPConfig) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range h.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads a CIDR, or a single address as its /32 or /128.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// StorageConfig selects where state lives.
type StorageConfig struct {
	Backend string     `yaml:"backend"`
	Dir     string     `yaml:"dir"`
	Etcd    EtcdConfig `yaml:"etcd"`
}

// AdminConfig guards the admin API.
type AdminConfig struct {
	// Token is the admin API bearer token; empty disables the admin API.
	Token string `yaml:"token"`
	// Listen, when set, is a separate operator listener (host:port, on
	// loopback unless TLS is set: the token travels in it) serving the admin API
	// and backups, which the public listener then does not serve.
	Listen string `yaml:"listen"`
	// TLS, when set, serves the admin listener over https, which may
	// then listen on a non-loopback address.
	TLS ListenerTLS `yaml:"tls"`
	// Console serves the admin console (/admin/) beside the admin API,
	// for users with the admin role (http/console).
	Console bool `yaml:"console"`
	// ConsoleURL is where browsers reach the console's listener (scheme
	// and host): its redirect URI is derived from it. Empty: the issuer
	// when the console is on http.listen, else http(s)://admin.listen.
	ConsoleURL string `yaml:"console_url"`
}

// consoleURL is the console's origin (see AdminConfig.ConsoleURL).
func (c Config) consoleURL() string {
	switch {
	case c.Admin.ConsoleURL != "":
		return strings.TrimSuffix(c.Admin.ConsoleURL, "/")
	case c.Admin.Listen == "":
		return strings.TrimSuffix(c.Issuer, "/")
	case c.Admin.TLS.Enabled():
		return "https://" + c.Admin.Listen
	}
	return "http://" + c.Admin.Listen
}

// consoleEnabled: the console needs the admin API (its operations) and
// the node's own endpoints to sign in through.
func (c Config) consoleEnabled() bool {
	return c.Admin.Console && c.Admin.Token != ""
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
	// Advertise is the actor address (host:port) the other members dial,
	// when it is not Listen's (Listen on 0.0.0.0, or behind NAT).
	Advertise string `yaml:"advertise"`
	// Peers are the actor addresses (host:port) of the other members.
	// Optional on etcd storage: members register themselves there.
	Peers             []string  `yaml:"peers"`
	HeartbeatInterval Duration  `yaml:"heartbeat_interval"`
	FailureTimeout    Duration  `yaml:"failure_timeout"`
	LeaseTTL          Duration  `yaml:"lease_ttl"`
	TLS               TLSConfig `yaml:"tls"`
	// InsecureLoopback lets a node set or etcd storage run without
	// cluster.tls when every cluster and etcd address is loopback: a
	// local experiment only, since any local user can then reach the
	// actor and etcd ports (and so sign tokens and rewrite state).
	InsecureLoopback bool `yaml:"insecure_loopback"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// Front-end roles a node can serve.
const (
	RoleDiscovery  = "discovery"
	RoleAuth       = "auth"
	RoleToken      = "token"
	RoleUserinfo   = "userinfo"
	RoleManagement = "management"
)

// AllRoles lists every role, in the order the router mounts them.
var AllRoles = []string{RoleDiscovery, RoleAuth, RoleToken, RoleUserinfo, RoleManagement}

// SigningAlgorithms are the JWS algorithms the KeyManager can keep keys for.
var SigningAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// EncryptionAlgorithms are the JWE key algorithms it can keep keys for:
// listed in keys.algorithms, they publish "use":"enc" keys clients can
// encrypt request objects to.
var EncryptionAlgorithms = directory.EncryptionAlgs

// SigningAlgs are the JWS algorithms among keys.algorithms.
func (k KeysConfig) SigningAlgs() []string {
	var out []string
	for _, a := range k.Algorithms {
		if !slices.Contains(EncryptionAlgorithms, a) {
			out = append(out, a)
		}
	}
	return out
}

// EncryptionAlgs are the JWE key algorithms among keys.algorithms.
func (k KeysConfig) EncryptionAlgs() []string {
	var out []string
	for _, a := range k.Algorithms {
		if slices.Contains(EncryptionAlgorithms, a) {
			out = append(out, a)
		}
	}
	return out
}

// Default returns the embedded defaults: one node, bbolt under ./data.
func Default() Config {
	return Config{
		Issuer: "http://localhost:8080",
		HTTP:   HTTPConfig{Listen: "127.0.0.1:8080", ShutdownTimeout: Duration(10 * time.Second), DrainDelay: Duration(2 * time.Second), TrustedProxies: []string{}},
		Storage: StorageConfig{Backend: "bbolt", Dir: "./data", Etcd: EtcdConfig{
			Embed: true, PeerListen: "127.0.0.1:2380", ClientListen: "127.0.0.1:2379", LogLevel: "error",
			State: "new", Endpoints: []string{}, DialTimeout: Duration(5 * time.Second),
		}},
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
			Name:              "authrim",
			NodeName:          "node1",
			Listen:            "127.0.0.1:0",
			RequestTimeout:    Duration(5 * time.Second),
			Peers:             []string{},
			HeartbeatInterval: Duration(200 * time.Millisecond),
			FailureTimeout:    Duration(time.Second),
			LeaseTTL:          Duration(5 * time.Second),
		},
		Crypto:       CryptoConfig{Mode: CryptoInline},
		Backup:       BackupConfig{Keep: 7},
		Audit:        AuditConfig{Retention: Duration(30 * 24 * time.Hour)},
		Admin:        AdminConfig{Console: true},
		Registration: RegistrationConfig{Users: UsersClosed},
		Webhooks:     WebhooksConfig{DisableAfter: webhooks.DefaultDisable},
		Delivery: DeliveryConfig{
			RetryInitial: Duration(2 * time.Second), RetryMax: Duration(10 * time.Minute), GiveUpAfter: Duration(24 * time.Hour),
			Concurrency: 8, AttemptTimeout: Duration(15 * time.Second), ScanInterval: Duration(10 * time.Second),
		},
		SMTP: SMTPConfig{TLS: "starttls"},
		Accounts: AccountsConfig{ResetLinkTTL: Duration(30 * time.Minute), ResetMailsPerHour: 3, VerifyLinkTTL: Duration(24 * time.Hour),
			InviteLinkTTL: Duration(72 * time.Hour)},
		Log:     LogConfig{Format: "text", Level: "info"},
		Metrics: MetricsConfig{Listen: ""},
		Runtime: RuntimeConfig{GCPercent: DefaultGCPercent},
		Tracing: TracingConfig{SampleRatio: 1},
		CORS:    CORSConfig{AllowedOrigins: []string{}},
		RateLimit: RateLimitConfig{
			Enabled: true, Window: Duration(time.Minute), Strict: 10, Moderate: 60, Lenient: 300,
			StrictRoutes: []string{}, ModerateRoutes: []string{}, LenientRoutes: []string{},
			SignIn: SignInConfig{
				// One address on one username: five tries, then 1 s
				// doubling to 15 minutes.
				PerAddress: BackoffConfig{Free: 5, BaseDelay: Duration(time.Second), MaxDelay: Duration(15 * time.Minute), Window: Duration(time.Hour)},
				// Every address on one username: ten tries, then 1 s
				// doubling to 5 minutes (the longest the owner waits).
				PerUsername: BackoffConfig{Free: 10, BaseDelay: Duration(time.Second), MaxDelay: Duration(5 * time.Minute), Window: Duration(time.Hour)},
			},
		},
		Tokens: TokensConfig{
			AccessTokenTTL:     Duration(10 * time.Minute),
			IDTokenTTL:         Duration(time.Hour),
			RefreshTokenTTL:    Duration(30 * 24 * time.Hour),
			AccessTokenAlg:     "ES256",
			DeviceCodeTTL:      Duration(10 * time.Minute),
			DevicePollInterval: Duration(5 * time.Second),
		},
		DPoP: DPoPConfig{ProofLifetime: Duration(time.Minute), NoncePeriod: Duration(5 * time.Minute)},
		Session: SessionConfig{
			TTL:         Duration(24 * time.Hour),
			CookieName:  "authrim_session",
			IdleTimeout: Duration(2 * time.Minute),
		},
		// RFC 9106 §7.4's second recommended option scaled to a small
		// node: 64 MiB, 3 passes.
		Passwords: PasswordsConfig{Time: 3, MemoryKiB: 64 * 1024, Threads: 2, MinLength: directory.DefaultPasswordMinLength},
		WebAuthn:  WebAuthnConfig{RPName: "Authrim", Origins: []string{}},
		MFA:       MFAConfig{Policy: directory.MFAOptional},
		UI:        UIConfig{ProductName: "Authrim"},
		Requests: RequestsConfig{
			PushedTTL: Duration(60 * time.Second),
			Fetch:     FetchConfig{Timeout: Duration(5 * time.Second), MaxBytes: 64 << 10},
		},
		ClientDocuments: ClientDocumentsConfig{
			Hosts: []string{}, MaxBytes: 5 << 10, MinCache: Duration(time.Minute), MaxCache: Duration(24 * time.Hour),
			FailureCache: Duration(30 * time.Second),
		},
		Clients:       []ClientConfig{},
		Resources:     []ResourceConfig{},
		TokenExchange: TokenExchangeConfig{TrustedIssuers: []TrustedIssuerConfig{}},
		Connectors:    []connectors.Config{},
		Roles:         slices.Clone(AllRoles),
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
	if c.HTTP.DrainDelay < 0 {
		add("http.drain_delay", "must not be negative")
	}
	c.clusterProblems(add)
	c.backupProblems(add)
	c.deliveryProblems(add)
	c.accountsProblems(add)
	c.auditProblems(add)
	c.webhooksProblems(add)
	c.exchangeProblems(add)
	if c.Storage.Dir == "" {
		add("storage.dir", "must not be empty")
	}
	if t := c.Admin.Token; t != "" && len(t) < 16 {
		add("admin.token", "must be at least 16 characters (or empty to disable the admin API)")
	}
	if u := c.Admin.ConsoleURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || (p.Path != "" && p.Path != "/") || p.RawQuery != "" || p.Fragment != "" {
			add("admin.console_url", "must be an http(s) origin such as https://admin.example.com, got %q", u)
		}
	}
	if l := c.Admin.Listen; l != "" {
		switch h, _, err := net.SplitHostPort(l); {
		case err != nil:
			add("admin.listen", "must be host:port or empty, got %q", l)
		case !isLoopbackHost(h) && !c.Admin.TLS.Enabled():
			// The bearer token would cross the network in plaintext.
			add("admin.listen", "must be a loopback address unless admin.tls is set (or reach it through SSH or a TLS proxy on the host), got %q", l)
		case l == c.HTTP.Listen || l == c.Metrics.Listen:
			add("admin.listen", "must differ from http.listen and metrics.listen")
		case c.Admin.Token == "":
			add("admin.listen", "needs admin.token (the admin API is off without one)")
		}
	}
	c.listenerTLSProblems(add)
	c.mtlsProblems(add)
	c.profileProblems(add)
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			add("http.trusted_proxies", "%q must be an address or a CIDR (e.g. 10.0.0.0/8)", p)
		}
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
		if !slices.Contains(SigningAlgorithms, a) && !slices.Contains(EncryptionAlgorithms, a) {
			add("keys.algorithms", "unsupported algorithm %q (supported: %s; for encryption keys %s)", a,
				strings.Join(SigningAlgorithms, ", "), strings.Join(EncryptionAlgorithms, ", "))
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
	} else if (h == "" || h == "0.0.0.0" || h == "::") && c.Cluster.Advertise == "" {
		add("cluster.listen", "must name an interface address, not all interfaces (or set cluster.advertise to the address the other members dial)")
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
	if c.Runtime.GCPercent < 25 || c.Runtime.GCPercent > 1000 {
		add("runtime.gc_percent", "must be 25..1000, got %d", c.Runtime.GCPercent)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			add("metrics.listen", "must be host:port or empty, got %q", c.Metrics.Listen)
		} else if c.Metrics.Listen == c.HTTP.Listen {
			add("metrics.listen", "must differ from http.listen")
		}
	}
	// Each problem already names its connectors[i].key.
	p = append(p, connectors.Validate(c.Connectors)...)
	if len(c.Connectors) > 0 && !slices.Contains(c.Roles, RoleAuth) {
		add("connectors", "need the auth role (the sign-in pages) on this node")
	}
	if c.Tracing.SampleRatio < 0 || c.Tracing.SampleRatio > 1 {
		add("tracing.sample_ratio", "must be between 0 and 1")
	}
	for _, o := range c.CORS.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || o == "*" {
			add("cors.allowed_origins", "%q must be an origin like https://app.example.com (no wildcard, no path)", o)
		}
	}
	if rl := c.RateLimit; rl.Enabled {
		if rl.Window <= 0 || rl.Strict < 1 || rl.Moderate < 1 || rl.Lenient < 1 {
			add("rate_limit", "window must be positive and strict, moderate, lenient at least 1")
		}
	}
	for key, b := range map[string]BackoffConfig{
		"rate_limit.signin.per_address": c.RateLimit.SignIn.PerAddress, "rate_limit.signin.per_username": c.RateLimit.SignIn.PerUsername,
	} {
		if err := b.Backoff().Check(); err != nil {
			add(key, "%s", strings.TrimPrefix(err.Error(), "ratelimit: "))
		}
	}
	if c.Tokens.AccessTokenTTL <= 0 || c.Tokens.IDTokenTTL <= 0 || c.Tokens.RefreshTokenTTL <= 0 {
		add("tokens", "access_token_ttl, id_token_ttl and refresh_token_ttl must be positive")
	}
	if c.Tokens.IDTokenTTL > c.Keys.RetireAfter || c.Tokens.AccessTokenTTL > c.Keys.RetireAfter {
		// A retired key must stay published while what it signed is valid.
		add("keys.retire_after", "must be at least the longest token lifetime (tokens.id_token_ttl, tokens.access_token_ttl)")
	}
	if !slices.Contains(c.Keys.SigningAlgs(), c.Tokens.AccessTokenAlg) {
		add("tokens.access_token_alg", "%q is not one of the signing algorithms of keys.algorithms", c.Tokens.AccessTokenAlg)
	}
	if r := c.Requests; r.PushedTTL < Duration(time.Second) || r.PushedTTL > Duration(10*time.Minute) {
		// RFC 9126 §2.2: short-lived; 5 to 600 seconds is its example range.
		add("requests.pushed_request_ttl", "must be between 1s and 10m")
	}
	if f := c.Requests.Fetch; f.Timeout <= 0 || f.Timeout > Duration(time.Minute) {
		add("requests.fetch.timeout", "must be positive and at most 1m")
	}
	if f := c.Requests.Fetch; f.MaxBytes < 1024 || f.MaxBytes > 1<<20 {
		add("requests.fetch.max_bytes", "must be between 1024 and 1048576")
	}
	p = append(p, c.ClientDocuments.problems()...)
	switch c.MFA.Policy {
	case directory.MFANone, directory.MFAOptional, directory.MFARequired:
	default:
		add("mfa.policy", "must be none, optional or required")
	}
	c.UI.problems(add)
	if t := c.Registration.InitialAccessToken; t != "" && len(t) < 16 {
		add("registration.initial_access_token", "must be at least 16 characters (or empty)")
	}
	if c.Session.TTL <= 0 || c.Session.IdleTimeout <= 0 {
		add("session", "ttl and idle_timeout must be positive")
	}
	// An idle limit shorter than a minute would end sign-ins between two
	// pages; one past the absolute lifetime would never apply.
	if d := c.Session.IdleTTL; d != 0 && (d < Duration(time.Minute) || d > c.Session.TTL) {
		add("session.idle_ttl", "must be 0 (off) or between 1m and session.ttl")
	}
	if d := c.Tokens.RefreshTokenIdleTTL; d != 0 && (d < Duration(time.Minute) || d > c.Tokens.RefreshTokenTTL) {
		add("tokens.refresh_token_idle_ttl", "must be 0 (off) or between 1m and tokens.refresh_token_ttl")
	}
	// Long enough to walk to another screen and sign in; short enough
	// that a guessed or shoulder-surfed user code soon means nothing.
	if d := c.Tokens.DeviceCodeTTL; d < Duration(time.Minute) || d > Duration(time.Hour) {
		add("tokens.device_code_ttl", "must be between 1m and 1h")
	}
	if d := c.DPoP.ProofLifetime; d < Duration(10*time.Second) || d > Duration(10*time.Minute) {
		add("dpop.proof_lifetime", "must be between 10s and 10m")
	}
	if d := c.DPoP.NoncePeriod; d < Duration(30*time.Second) || d > Duration(time.Hour) {
		add("dpop.nonce_period", "must be between 30s and 1h")
	}
	// Whole seconds: the interval is told in seconds (RFC 8628 §3.2).
	if d := c.Tokens.DevicePollInterval; d < Duration(time.Second) || d > Duration(time.Minute) || d.D()%time.Second != 0 {
		add("tokens.device_poll_interval", "must be whole seconds between 1s and 1m")
	}
	if c.Session.CookieName == "" || strings.ContainsAny(c.Session.CookieName, " ;,=\t") {
		add("session.cookie_name", "must be a plain token, got %q", c.Session.CookieName)
	}
	if n := strings.ToLower(c.Session.CookieName); strings.HasPrefix(n, "__host-") || strings.HasPrefix(n, "__secure-") {
		// The node adds __Host- itself when the issuer is https; over
		// http a browser would drop a prefixed cookie.
		add("session.cookie_name", "must not start with __Host- or __Secure- (the node adds __Host- under an https issuer), got %q", c.Session.CookieName)
	}
	if pw := c.Passwords; pw.Time < MinArgon2Time || pw.MemoryKiB < MinArgon2MemoryKiB || pw.Threads < 1 || pw.Threads > 255 {
		// OWASP Password Storage Cheat Sheet: argon2id needs at least
		// 19 MiB, 2 passes, 1 lane; less makes stolen hashes cheap to guess.
		add("passwords", "argon2id needs time >= %d, memory_kib >= %d (19 MiB) and 1..255 threads (OWASP minimum), got time %d, memory_kib %d, threads %d",
			MinArgon2Time, MinArgon2MemoryKiB, pw.Time, pw.MemoryKiB, pw.Threads)
	}
	if n := c.Passwords.MinLength; n != 0 && (n < directory.MinPasswordMinLength || n > directory.MaxPasswordMinLength) {
		add("passwords.min_length", "must be %d..%d characters (NIST SP 800-63B: 15 when a password is the only factor), got %d",
			directory.MinPasswordMinLength, directory.MaxPasswordMinLength, n)
	}
	if f := c.Passwords.BlocklistFile; f != "" {
		if _, err := c.Passwords.PasswordPolicy(); err != nil {
			add("passwords.blocklist_file", "%v", err)
		}
	}
	if ip := net.ParseIP(c.RPID()); ip != nil {
		add("webauthn.rp_id", "must be a domain name, not an IP address (WebAuthn refuses IPs); use localhost for local use")
	}
	for _, o := range c.WebAuthn.Origins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) || u.Path != "" {
			add("webauthn.origins", "%q must be an https origin (http only for localhost), without a path", o)
		}
	}
	ids := map[string]bool{}
	rules := c.ClientRules()
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		for _, prob := range directory.ValidateClient(cl.ID, cl.Secret, cl.ClientMetadata, rules) {
			add(key, "%s: %s", configKey(prob.Field), prob.Message)
		}
		if ids[cl.ID] {
			add(key, "id: %q listed twice", cl.ID)
		}
		ids[cl.ID] = true
	}
	resIDs := map[string]bool{}
	for i, r := range c.Resources {
		key := fmt.Sprintf("resources[%d]", i)
		for _, prob := range directory.ValidateResource(r.ResourceMetadata, c.ResourceRules()) {
			add(key, "%s: %s", prob.Field, prob.Message)
		}
		if ic := r.IntrospectionClient; ic != "" && !slices.ContainsFunc(c.Clients, func(cl ClientConfig) bool { return cl.ID == ic }) {
			add(key, "introspection_client: %q is not one of clients", ic)
		}
		for _, sc := range r.ServiceClients {
			if !slices.ContainsFunc(c.Clients, func(cl ClientConfig) bool { return cl.ID == sc }) {
				add(key, "service_clients: %q is not one of clients", sc)
			}
		}
		if t := r.AccessTokenTTL.D(); t > c.Keys.RetireAfter.D() {
			add(key, "access_token_ttl: must be at most keys.retire_after")
		}
		if resIDs[r.Identifier] {
			add(key, "resource: %q listed twice", r.Identifier)
		}
		resIDs[r.Identifier] = true
	}
	if len(c.Roles) == 0 {
		add("roles", "must list at least one of %s", strings.Join(AllRoles, ", "))
	}
	seenRole := map[string]bool{}
	for _, r := range c.Roles {
		if !slices.Contains(AllRoles, r) {
			add("roles", "unknown role %q (known: %s)", r, strings.Join(AllRoles, ", "))
		}
		if seenRole[r] {
			add("roles", "%q listed twice", r)
		}
		seenRole[r] = true
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
