package node

import (
	"authrim/audit"
	"authrim/http/fetch"
	"authrim/webhooks"
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"authrim/actors/crypto"
	"authrim/actors/keymanager"
	"authrim/actors/messages"
	"authrim/cluster"
	"authrim/directory"
	"authrim/http/router"
	"authrim/persistence"
	"authrim/persistence/bbolt"
	"authrim/persistence/etcd"
	"authrim/telemetry"
)

// CodeTTL is the authorization code lifetime (RFC 6749 §4.1.2
// recommends at most 10 minutes; one is plenty for a redirect).
const CodeTTL = 60 * time.Second

// Options are the parts tests and tools may replace.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of the KeyManager (tests inject one).
	Now func() time.Time
	// TracerProvider overrides the tracing exporter (tests record spans).
	TracerProvider trace.TracerProvider
	// NoInstrumentation leaves out metrics, spans and the access log, to
	// measure what they cost (benchmarks only).
	NoInstrumentation bool
	// SweepInterval is how often expired records are swept from the
	// store (see Sweep); 0 means DefaultSweepInterval.
	SweepInterval time.Duration
	// Demo seeds a demo user and client and serves the demo app at /demo
	// (authrim serve --demo; see CheckDemo and Node.Demo). Never for
	// production.
	Demo bool
}

// Node is a running node.
type Node struct {
	cfg    Config
	logger *slog.Logger
	// audit keeps the audit lines logger captures as events.
	audit *audit.Log
	// webhooks sends stored events to the subscriptions that want them.
	webhooks *webhooks.Service
	store    persistence.Backend
	bolt     *bbolt.Store // store, typed: the admin API snapshots it for backups
	etcd     *etcd.Store  // store, typed, on etcd (nil on bbolt)
	member   *etcd.Member // the embedded etcd member, if any
	lease    *etcd.Lease  // this node's lease: grain ownership (etcd only)
	fenced   chan error
	// draining: stopping, /readyz answers 503 (Drain).
	draining atomic.Bool
	// actorsRef is actors for callbacks that may run before Start ends.
	actorsRef atomic.Pointer[cluster.Node]
	dir       *directory.Directory
	actors    *cluster.Node
	cache     *crypto.Cache
	pool      *actor.PID
	server    *http.Server
	listener  net.Listener
	served    chan error
	tel       *telemetry.Telemetry
	// inlineObserve instruments inline crypto like the pool's actors
	// (nil with Options.NoInstrumentation).
	inlineObserve func(ctx context.Context, msg any, work func())
	metrics       *http.Server
	admin         *http.Server // admin.listen
	// self serves the console's calls to the node's own endpoints.
	self selfTransport
	// console: the admin console's client is registered (startDirectory).
	console bool
	tls     listenerTLS // the listeners' certificates (listen_tls.go)
	// clientCAs are http.mtls.client_ca_file's CAs (mtls.go); mtls is
	// the mutual-TLS listener (http.mtls.listen), nil without one.
	clientCAs *x509.CertPool
	mtls      net.Listener
	routes    *router.Table
	now       func() time.Time
	sweeper   *sweeper
	opts      Options
	kek       *keymanager.KEK
	owners    persistence.Owners // grain ownership (nil: one node)
	// fetcher is the guarded client of every URL a client gave us
	// (request_uri, jwks_uri, logout URIs): one, with one cache.
	fetcher *fetch.Fetcher
	// undo are the steps that undo a start, in the order they were
	// done (close runs them backwards).
	undo []func()
	demo *DemoAccount // with Options.Demo
}

// Start brings a node up in stages (start.go): store, directory, actors,
// keys, then the listeners. It returns once the node is ready to serve
// (keys loaded into the cache). A stage that fails undoes every earlier
// one, in reverse order: nothing stays bound, locked or running.
func Start(ctx context.Context, cfg Config, opts Options) (_ *Node, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Lines logged with a request's context name their trace; lines
	// logged with "audit", true are also kept as audit events.
	auditLog := audit.NewLog(cfg.Cluster.NodeName, now)
	logger = slog.New(auditLog.Handler(telemetry.LogHandler(logger.Handler())))
	n := &Node{cfg: cfg, opts: opts, logger: logger, now: now, audit: auditLog, served: make(chan error, 1), fenced: make(chan error, 1)}
	if cfg.Cluster.InsecureLoopback {
		logger.Warn("cluster.insecure_loopback is on: actor and etcd traffic is plaintext and unauthenticated; any local user can sign tokens and rewrite state (local experiments only)")
	}
	if w := cfg.plaintextWarning(); w != "" {
		logger.Warn("public listener is plain http off loopback", "listen", cfg.HTTP.Listen, "why", w)
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	for _, stage := range []func(context.Context) error{
		n.startTLSFiles,  // the listeners' certificates, checked first
		n.startStore,     // KEK, store, telemetry, lease, schema
		n.startAudit,     // audit events stored from here on
		n.startDirectory, // users and clients, the sweeper
		n.startActors,    // grains and the actor system
		n.startKeys,      // Crypto pool and key cache, ready to sign
		n.startDelivery,  // the outbox's grain runs somewhere
		n.startHTTP,      // route table, operator and public listeners
		n.startBackups,   // backup.schedule
	} {
		if err := stage(ctx); err != nil {
			return nil, err
		}
	}
	logger.Info("node started",
		"issuer", cfg.Issuer,
		"listen", n.listener.Addr().String(),
		"actors", cmp.Or(n.actors.Address(), "none (single node: no actor transport)"),
		"roles", strings.Join(cfg.Roles, ","),
		"admin_api", adminWhere(cfg.Admin))
	return n, nil
}

// adminWhere says where the admin API is served, for the start line.
func adminWhere(a AdminConfig) string {
	switch {
	case a.Token == "":
		return "off"
	case a.Listen != "":
		return a.Listen
	}
	return "public listener"
}

// httpServer serves h with the node's limits on slow and large requests.
func (n *Node) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(n.logger.Handler(), slog.LevelWarn),
	}
}

// routeTable is the table of the node's front ends, with the operator's
// moves of routes between rate-limit profiles (rate_limit.*_routes).
func (n *Node) routeTable(fronts []router.FrontEnd) (*router.Table, error) {
	t, err := router.NewTable(fronts...)
	if err != nil {
		return nil, err
	}
	rl := n.cfg.RateLimit
	for _, o := range []struct {
		key, profile string
		paths        []string
	}{
		{"rate_limit.strict_routes", router.Strict, rl.StrictRoutes},
		{"rate_limit.moderate_routes", router.Moderate, rl.ModerateRoutes},
		{"rate_limit.lenient_routes", router.Lenient, rl.LenientRoutes},
	} {
		for _, p := range o.paths {
			if !t.SetLimit(p, o.profile) {
				return nil, fmt.Errorf("node: %s: no route %q on this node (its roles: %s)", o.key, p, strings.Join(n.cfg.Roles, ", "))
			}
		}
	}
	return t, nil
}

func (n *Node) instrument(opts Options, kind string) []actor.PropsOption {
	if opts.NoInstrumentation {
		return nil
	}
	if kind == crypto.PoolName {
		n.inlineObserve = n.tel.Inline(kind)
	}
	return n.tel.PropsOptions(kind)
}

// Routes are the routes this node serves (its route table).
func (n *Node) Routes() []router.Entry { return n.routes.Entries() }

// Directory is the node's users and clients (operators and tests).
func (n *Node) Directory() *directory.Directory { return n.dir }

// localKeys gives the admin API read-your-writes on this node: the set a
// change returns is applied to the local cache before the call answers,
// so a revoked kid is out of this node's JWKS when `keys revoke` returns.
// Other nodes follow with the push (or the cache TTL pull).
type localKeys struct {
	cluster.KeyManager
	cache *crypto.Cache
}

func (l localKeys) apply(set *messages.KeySet, err error) (*messages.KeySet, error) {
	if err != nil {
		return nil, err
	}
	return set, l.cache.Apply(set)
}

func (l localKeys) Rotate(ctx context.Context, alg string) (*messages.KeySet, error) {
	return l.apply(l.KeyManager.Rotate(ctx, alg))
}

func (l localKeys) Revoke(ctx context.Context, kid, reason string) (*messages.KeySet, error) {
	return l.apply(l.KeyManager.Revoke(ctx, kid, reason))
}

// waitForKeys activates the KeyManager (first start generates keys) and
// waits until this node's cache holds an active key of every algorithm.
func (n *Node) waitForKeys(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// While a node set forms, members' views differ for a moment and the
	// KeyManager may be moving: ask again until the deadline.
	set, err := n.actors.KeyManager().List(ctx)
	for err != nil {
		n.logger.Warn("key manager not answering yet", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: key manager: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
		set, err = n.actors.KeyManager().List(ctx)
	}
	// The push may race the pull; applying the answer here is idempotent.
	if err := n.cache.Apply(set); err != nil {
		return err
	}
	for !n.cache.HasSigningKeys(n.cfg.Keys.Algorithms) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: keys not ready: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// Ready reports whether the node can serve: store reachable, keys cached.
func (n *Node) Ready(ctx context.Context) error {
	if n.draining.Load() {
		return errDraining
	}
	if err := n.store.Ping(ctx); err != nil {
		return err
	}
	if !n.cache.HasSigningKeys(n.cfg.Keys.Algorithms) {
		return errors.New("node: signing keys not loaded")
	}
	return nil
}

// errDraining: the node is stopping (Drain).
var errDraining = errors.New("node: draining: stopping")

// Drain makes /readyz answer 503 from now on while everything else is
// served as before: the first step of a graceful stop, so that load
// balancers stop sending requests before the listener closes.
func (n *Node) Drain() {
	if !n.draining.Swap(true) {
		n.logger.Info("draining: not ready from now on", "drain_delay", n.cfg.HTTP.DrainDelay.D())
	}
}

// URL is the base URL the HTTP listener actually serves (useful with port 0).
func (n *Node) URL() string {
	if n.tls.http != nil {
		return "https://" + n.listener.Addr().String()
	}
	return "http://" + n.listener.Addr().String()
}

// KeyManager is the typed client of the node's KeyManager grain.
func (n *Node) KeyManager() cluster.KeyManager { return n.actors.KeyManager() }

// Crypto is the typed client of this node's Crypto pool.
// crypto.mode picks the topology: this node's pool, inline, or another
// member's pool.
func (n *Node) Crypto() cluster.Crypto {
	switch n.cfg.Crypto.Mode {
	case CryptoInline:
		return n.actors.InlineCrypto(n.cache, n.inlineObserve)
	case CryptoRemote:
		return n.actors.Crypto(actor.NewPID(n.cfg.Crypto.Remote, crypto.PoolName))
	}
	return n.actors.Crypto(n.pool)
}

// Done yields the HTTP server's exit error once it stops serving.
func (n *Node) Done() <-chan error { return n.served }

// Shutdown stops accepting, drains in-flight requests (bounded by ctx),
// stops the actors and closes the store, in that order.
func (n *Node) Shutdown(ctx context.Context) error {
	var errs []error
	if n.server != nil {
		if err := n.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: drain http: %w", err))
		}
	}
	for _, s := range []*http.Server{n.admin, n.metrics} {
		if s != nil {
			_ = s.Shutdown(ctx)
		}
	}
	n.close()
	if n.tel != nil {
		if err := n.tel.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: flush traces: %w", err))
		}
	}
	n.logger.Info("node stopped")
	return errors.Join(errs...)
}

func (n *Node) close() {
	for i := len(n.undo) - 1; i >= 0; i-- {
		n.undo[i]()
	}
	n.undo = nil
}

// rateLimits are the limits of rate_limit's profiles (nil when it is
// off). Sign-in routes (strict) fail closed when the limiter cannot
// answer; the others fail open.
func (n *Node) rateLimits() *router.RateLimitConfig {
	rl := n.cfg.RateLimit
	if !rl.Enabled {
		return nil
	}
	return &router.RateLimitConfig{
		Profiles: map[string]router.RateLimitProfile{
			router.Strict:   {Limit: rl.Strict, Window: rl.Window.D(), FailClosed: true},
			router.Moderate: {Limit: rl.Moderate, Window: rl.Window.D()},
			router.Lenient:  {Limit: rl.Lenient, Window: rl.Window.D()},
		},
		Limiter:  n.actors.RateLimits(),
		Rejected: func(profile string) { n.tel.RateLimited.WithLabelValues(profile).Inc() },
	}
}
