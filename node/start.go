package node

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/crypto"
	"authrim/actors/device"
	"authrim/actors/keymanager"
	"authrim/actors/messages"
	"authrim/actors/ratelimit"
	"authrim/actors/session"
	"authrim/cluster"
	"authrim/directory"
	"authrim/http/router"
	"authrim/internal/tlsfiles"
	"authrim/persistence/etcd"
	"authrim/telemetry"
)

// The stages of Start, in order. Each registers how to undo what it did
// (onClose) as soon as it did it, so a failure at any point leaves
// nothing behind (close runs the undo steps in reverse).

// onClose registers f to run when the node closes (or its start fails),
// before whatever was registered earlier.
func (n *Node) onClose(f func()) { n.undo = append(n.undo, f) }

// startTLSFiles reads the listeners' certificates and keys: a pair that
// cannot serve stops the start before anything is opened.
func (n *Node) startTLSFiles(context.Context) error {
	if err := n.loadListenerTLS(); err != nil {
		return err
	}
	var err error
	n.clientCAs, err = loadClientCAs(n.cfg.HTTP.MTLS.ClientCAFile)
	return err
}

// startStore opens the KEK and the store (with its telemetry), takes the
// node's lease (etcd) and brings the store's schema up to date.
func (n *Node) startStore(ctx context.Context) error {
	cfg := n.cfg
	kek, err := keymanager.LoadOrCreateKEK(cfg.Keys.KEKFile)
	if err != nil {
		return err
	}
	n.kek = kek
	store, err := n.openStore(ctx)
	if err != nil {
		return err
	}
	n.onClose(func() {
		if err := store.Close(); err != nil {
			n.logger.Warn("closing store", "err", err)
		}
	})
	n.tel, err = telemetry.New(telemetry.Options{
		NodeName: cfg.Cluster.NodeName, OTLPEndpoint: cfg.Tracing.OTLPEndpoint, Insecure: cfg.Tracing.Insecure,
		SampleRatio: cfg.Tracing.SampleRatio, TracerProvider: n.opts.TracerProvider,
	})
	if err != nil {
		return err
	}
	// Every store call below is timed, and traced within a request.
	if !n.opts.NoInstrumentation {
		n.store = n.tel.Store(store)
	}
	if n.owners, err = n.startLease(ctx); err != nil {
		return err
	}
	if n.lease != nil {
		lease := n.lease
		n.onClose(func() {
			// Leaving on purpose: free this node's grains at once.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = lease.Close(ctx)
		})
	}
	if err := n.seedStore(ctx); err != nil {
		return err
	}
	return n.migrateStore(ctx, n.owners)
}

// startDirectory opens users and clients (static clients from config
// included) and the guarded fetcher of clients' URLs, and starts the
// sweeper.
func (n *Node) startDirectory(context.Context) error {
	cfg := n.cfg
	static, err := cfg.StaticClients()
	if err != nil {
		return err
	}
	if cfg.consoleEnabled() {
		// A console the browser could not come back to (an http
		// redirect URI off loopback) stays off rather than stopping a
		// node whose config worked before the console existed.
		if cl, err := cfg.consoleClient(); err != nil {
			n.logger.Warn("admin console off: set admin.console_url to an https origin (or admin.console: false)", "err", err)
		} else {
			static, n.console = append(static, cl), true
		}
	}
	if n.fetcher, err = newFetcher(cfg.Requests.Fetch, n.now); err != nil {
		return err
	}
	policy, err := cfg.Passwords.PasswordPolicy()
	if err != nil {
		return err
	}
	n.dir, err = directory.New(n.store, directory.Options{
		Passwords:  policy,
		Argon2Time: cfg.Passwords.Time, Argon2MemoryKiB: cfg.Passwords.MemoryKiB, Argon2Threads: cfg.Passwords.Threads,
		StaticClients: static, IDTokenAlgs: cfg.Keys.Algorithms, Now: n.now, Sealer: n.kek,
		StaticResources: cfg.StaticResources(), Issuer: cfg.Issuer,
		RequireSignedRequestObjects: cfg.Requests.RequireSigned,
		Profile:                     cfg.Profile,
		// Logout URIs are called through the same guard as fetches.
		AllowPrivateAddresses: cfg.Requests.Fetch.AllowPrivateAddresses,
		ClientResolver:        n.clientResolver(),
	})
	if err != nil {
		return err
	}
	n.startSweeper(n.opts.SweepInterval)
	n.onClose(n.stopSweeper)
	return nil
}

// startActors starts the actor system with the grain kinds: KeyManager,
// Session, RateLimiter (a member of a node set joins the others).
func (n *Node) startActors(ctx context.Context) error {
	cfg, logger := n.cfg, n.logger
	keys := keymanager.NewKind(keymanager.Config{
		Policy: keymanager.Policy{
			Algorithms:     cfg.Keys.Algorithms,
			RotationPeriod: cfg.Keys.RotationPeriod.D(),
			PublishAhead:   cfg.Keys.PublishAhead.D(),
			RetireAfter:    cfg.Keys.RetireAfter.D(),
		},
		Store:         n.store,
		Owners:        n.owners,
		KEK:           n.kek,
		CheckInterval: cfg.Keys.CheckInterval.D(),
		StoreTimeout:  cfg.Cluster.RequestTimeout.D(),
		Now:           n.opts.Now,
		Logger:        logger.With("actor", keymanager.Kind),
	})
	sessions := session.NewKind(session.Config{
		Store:          n.store,
		Owners:         n.owners,
		Now:            n.now,
		CodeTTL:        CodeTTL,
		PendingTTL:     15 * time.Minute,
		LoginTTL:       cfg.Session.TTL.D(),
		AccessTokenTTL: cfg.Tokens.AccessTokenTTL.D(),
		CeremonyTTL:    5 * time.Minute,
		IdleTimeout:    cfg.Session.IdleTimeout.D(),
		StoreTimeout:   cfg.Cluster.RequestTimeout.D(),
		Subjects:       n.dir,
		Ended:          n.recordEnded,
		Logger:         logger.With("actor", session.Kind),
	})
	devices := device.NewKind(device.Config{
		Store: n.store, Owners: n.owners, Now: n.now,
		IdleTimeout: cfg.Session.IdleTimeout.D(), StoreTimeout: cfg.Cluster.RequestTimeout.D(),
		Logger: logger.With("actor", device.Kind),
	})
	kinds := []*pc.Kind{keys, sessions, devices, n.deliveryKind(), ratelimit.NewKind(ratelimit.Config{Now: n.now, Logger: logger.With("actor", ratelimit.Kind)})}
	for _, k := range kinds {
		if !n.opts.NoInstrumentation {
			k.Props = k.Props.Clone(n.tel.PropsOptions(k.Kind)...)
		}
	}
	serverTLS, clientTLS, err := cfg.clusterTLS()
	if err != nil {
		return err
	}
	// On etcd, the members register themselves (membership.go's peers
	// beyond cluster.peers): a starting member begins with those
	// registered now.
	var registered []cluster.Registered
	if n.lease != nil {
		regs, _, err := n.etcd.Members(ctx)
		if err != nil {
			return fmt.Errorf("node: read the member registry: %w", err)
		}
		registered = registeredOf(slices.Collect(maps.Values(regs)))
	}
	actors, err := cluster.Start(cluster.Config{
		Name:              cfg.Cluster.Name,
		Listen:            cfg.Cluster.Listen,
		RequestTimeout:    cfg.Cluster.RequestTimeout.D(),
		Kinds:             kinds,
		Logger:            logger,
		NodeName:          cfg.Cluster.NodeName,
		Peers:             cfg.Cluster.OtherPeers(),
		Dynamic:           n.lease != nil,
		Registered:        registered,
		Advertise:         cfg.Cluster.Advertise,
		HeartbeatInterval: cfg.Cluster.HeartbeatInterval.D(),
		FailureTimeout:    cfg.Cluster.FailureTimeout.D(),
		ServerTLS:         serverTLS,
		ClientTLS:         clientTLS,
		LeaseID: func() int64 {
			if n.lease == nil {
				return 0
			}
			return n.lease.ID()
		},
		OnDropped: n.onPeerDropped,
	})
	if err != nil {
		return err
	}
	n.actors = actors
	n.actorsRef.Store(actors)
	n.onClose(actors.Shutdown)
	if n.lease != nil {
		return n.joinRegistry(ctx)
	}
	return nil
}

// joinRegistry registers this member (under its lease) and follows the
// registry: members that register later join this node's view without a
// restart, and members whose registration ends (they left, or their
// lease was revoked or lapsed) leave it.
func (n *Node) joinRegistry(ctx context.Context) error {
	if err := n.lease.Register(ctx, n.actors.Address(), n.actors.MemberID()); err != nil {
		return fmt.Errorf("node: register in the member registry: %w", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.etcd.WatchMembers(wctx, func(regs []etcd.Registration) {
			n.actors.SetRegistered(registeredOf(regs))
		})
	}()
	n.onClose(func() {
		cancel()
		<-done
	})
	n.onClose(func() {
		// Leaving on purpose: the others drop this member at once.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := n.lease.Deregister(ctx); err != nil {
			n.logger.Warn("leaving the member registry", "err", err)
		}
	})
	return nil
}

// startKeys starts the Crypto pool and its key cache, and waits until
// the cache holds an active key of every algorithm (the KeyManager makes
// them on the first start).
func (n *Node) startKeys(ctx context.Context) error {
	cfg := n.cfg
	n.cache = crypto.NewCache(n.kek)
	km := n.actors.KeyManager()
	var err error
	n.pool, err = crypto.Spawn(n.actors.System.Root, n.cache, crypto.Options{
		TTL: cfg.Keys.CacheTTL.D(),
		Pull: func() (*messages.KeySet, error) {
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Cluster.RequestTimeout.D())
			defer cancel()
			return km.List(ctx)
		},
		Logger:       n.logger.With("actor", crypto.PoolName),
		PropsOptions: n.instrument(n.opts, crypto.PoolName),
	})
	if err != nil {
		return err
	}
	return n.waitForKeys(ctx)
}

// startHTTP builds the front ends and their route table and opens the
// listeners: metrics and admin (operators), then the public one.
func (n *Node) startHTTP(ctx context.Context) error {
	cfg := n.cfg
	fronts, err := n.frontEnds(n.now)
	if err != nil {
		return err
	}
	if n.opts.Demo {
		d, err := n.startDemo(ctx)
		if err != nil {
			return err
		}
		fronts = append(fronts, d)
	}
	table, err := n.routeTable(fronts)
	if err != nil {
		return err
	}
	n.routes = table
	rc := router.Config{
		Ready: n.Ready, Logger: n.logger,
		CORSOrigins: cfg.CORS.AllowedOrigins, TrustedProxies: cfg.HTTP.TrustedProxyPrefixes(),
		RateLimit: n.rateLimits(), SeparateAdmin: cfg.Admin.Listen != "",
	}
	if !n.opts.NoInstrumentation {
		rc.Telemetry, rc.AccessLog = n.tel, n.logger.With("log", "access")
	}
	servers := router.New(rc, table)
	n.self.set(servers.Public)

	n.tel.KeysCollector(n.cache.KeySet, n.now)
	if n.bolt != nil {
		n.tel.StoreSize(func() float64 {
			st, err := os.Stat(n.bolt.Path())
			if err != nil {
				return 0
			}
			return float64(st.Size())
		})
	}
	if cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", n.tel.Handler())
		if n.metrics, err = n.serve("metrics", cfg.Metrics.Listen, mux, n.tls.metrics); err != nil {
			return err
		}
	}
	if servers.Admin != nil {
		if n.admin, err = n.serve("admin", cfg.Admin.Listen, servers.Admin, n.tls.admin); err != nil {
			return err
		}
	}
	if cfg.HTTP.MTLS.Listen != "" {
		if err := n.serveMTLS(cfg.HTTP.MTLS.Listen, servers.Public); err != nil {
			return err
		}
	}
	l, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("node: listen %s: %w", cfg.HTTP.Listen, err)
	}
	n.listener, n.server = l, n.httpServer(servers.Public)
	n.onClose(func() { _ = n.server.Close(); _ = l.Close() })
	n.watchTLS("http", n.tls.http)
	if n.tls.http != nil {
		n.server.TLSConfig, n.server.ErrorLog = tlsConfig(n.tls.http), n.tlsErrorLog("http")
	}
	go func() { n.served <- serveOn(n.server, l) }()
	return nil
}

// serve starts an operator listener (metrics, admin) on addr. Closing
// the node closes the listener itself too: a server closed before its
// Serve goroutine ran would not.
func (n *Node) serve(name, addr string, h http.Handler, pair *tlsfiles.Pair) (*http.Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: %s listen %s: %w", name, addr, err)
	}
	srv := n.httpServer(h)
	n.onClose(func() { _ = srv.Close(); _ = l.Close() })
	n.watchTLS(name, pair)
	if pair != nil {
		srv.TLSConfig, srv.ErrorLog = tlsConfig(pair), n.tlsErrorLog(name)
	}
	go func() { _ = serveOn(srv, l) }()
	n.logger.Info(name+" listener started", "listen", l.Addr().String())
	return srv, nil
}

// serveMTLS starts the mutual-TLS listener (http.mtls.listen): the
// public routes, http.tls's certificate, client certificates requested.
func (n *Node) serveMTLS(addr string, h http.Handler) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("node: mtls listen %s: %w", addr, err)
	}
	srv := n.httpServer(h)
	n.onClose(func() { _ = srv.Close(); _ = l.Close() })
	srv.TLSConfig, srv.ErrorLog = mtlsServerConfig(tlsConfig(n.tls.http)), n.tlsErrorLog("mtls")
	n.mtls = l
	go func() { _ = serveOn(srv, l) }()
	n.logger.Info("mtls listener started", "listen", l.Addr().String())
	return nil
}

// MTLSAddr is the mutual-TLS listener's address ("" without one).
func (n *Node) MTLSAddr() string {
	if n.mtls == nil {
		return ""
	}
	return n.mtls.Addr().String()
}

// serveOn serves srv on l: https when srv has a TLS configuration (the
// certificate comes from its GetCertificate; HTTP/2 is offered through
// ALPN), plain http otherwise.
func serveOn(srv *http.Server, l net.Listener) error {
	if srv.TLSConfig == nil {
		return srv.Serve(l)
	}
	return srv.ServeTLS(l, "", "")
}

// watchTLS exports the expiry of the certificate a listener serves.
func (n *Node) watchTLS(name string, pair *tlsfiles.Pair) {
	if pair != nil {
		n.tel.TLSCertificate(name, func() time.Time { return pair.Certificate().Leaf.NotAfter })
	}
}

// registeredOf is what the membership needs of the registry's entries.
func registeredOf(regs []etcd.Registration) []cluster.Registered {
	out := make([]cluster.Registered, 0, len(regs))
	for _, r := range regs {
		out = append(out, cluster.Registered{Node: r.Node, Address: r.Address})
	}
	return out
}
