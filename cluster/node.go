package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pc "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"authrim/actors/messages"

	"authrim/telemetry"
)

// ErrTimeout: an actor did not answer in time. It is a kind of
// messages.ErrUnavailable: the caller answers 503 and the client retries.
var ErrTimeout = fmt.Errorf("%w: cluster: actor request timed out", messages.ErrUnavailable)

// Config describes this member.
type Config struct {
	// Name is the cluster name; members of one node set share it.
	Name string
	// Listen is host:port of the actor transport (port 0 picks one).
	Listen string
	// RequestTimeout bounds an actor request when the context has no
	// earlier deadline.
	RequestTimeout time.Duration
	Kinds          []*pc.Kind
	Logger         *slog.Logger

	// NodeName is this member's cluster.node_name.
	NodeName string
	// Peers are the other members' actor addresses (cluster.peers).
	Peers []string
	// Dynamic: the other members also come from a registry
	// (SetRegistered), starting with Registered; the node joins a node set
	// even with no Peers. Neither Peers nor Dynamic: alone.
	Dynamic    bool
	Registered []Registered
	// Advertise is the actor address peers dial (host:port), when it is
	// not Listen's (e.g. Listen on 0.0.0.0).
	Advertise         string
	HeartbeatInterval time.Duration
	FailureTimeout    time.Duration
	// ServerTLS and ClientTLS, when set, make actor traffic mutual TLS.
	ServerTLS, ClientTLS *tls.Config
	// LeaseID is this node's store lease, told to the peers.
	LeaseID func() int64
	// OnDropped runs when a peer drops out of the topology (the node
	// revokes its lease).
	OnDropped func(Peer)
}

// Node is one running cluster member.
type Node struct {
	System     *actor.ActorSystem
	Cluster    *pc.Cluster
	timeout    time.Duration
	membership *membership
	lookup     *lookup
	// alone: no peers, no actor transport (see Start).
	alone bool
	name  string
}

// Start joins (today: forms) the cluster. A node without peers runs the
// same grain code with no actor transport at all: nothing listens, so no
// local process can send its actors a message (the Crypto pool signs
// whatever it is asked to). Only a member of a node set opens the actor
// listener, and the node's configuration makes that mutual TLS.
func Start(cfg Config) (*Node, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen port %q: %w", portStr, err)
	}
	alone := len(cfg.Peers) == 0 && !cfg.Dynamic
	if port == 0 && !alone {
		// remote needs the real port up front to advertise it.
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("cluster: pick a port: %w", err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// protoactor logs a lot at info; keep its warnings and errors.
	actorLog := slog.New(levelFloor{Handler: logger.Handler(), min: slog.LevelWarn}).With("component", "protoactor")
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return actorLog }))
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	if cfg.FailureTimeout <= 0 {
		cfg.FailureTimeout = 5 * cfg.HeartbeatInterval
	}
	var ropts []remote.ConfigOption
	if cfg.ServerTLS != nil || cfg.ClientTLS != nil {
		if cfg.ServerTLS == nil || cfg.ClientTLS == nil {
			return nil, errors.New("cluster: TLS needs both the server and the client side")
		}
		ropts = append(ropts,
			remote.WithServerOptions(grpc.Creds(credentials.NewTLS(cfg.ServerTLS))),
			remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(cfg.ClientTLS))))
	}
	mem := newMembership(cfg.NodeName, cfg.Peers, cfg.Dynamic, cfg.HeartbeatInterval, cfg.FailureTimeout, cfg.LeaseID, cfg.OnDropped, logger.With("component", "membership"))
	// A lookup waits for an activation less than a request does, so a
	// dead owner costs one bounded wait before the retry goes elsewhere.
	lk := newLookup(min(cfg.RequestTimeout, 2*time.Second), alone)
	switch {
	case cfg.Advertise != "":
		ropts = append(ropts, remote.WithAdvertisedHost(cfg.Advertise))
	case net.ParseIP(host) == nil:
		// A host name (a StatefulSet pod's stable DNS name): protoactor
		// would take the address it resolved to as this node's own, and
		// drop as not its own every message peers send to the name.
		ropts = append(ropts, remote.WithAdvertisedHost(net.JoinHostPort(host, strconv.Itoa(port))))
	}
	rc := remote.Configure(host, port, ropts...)
	cc := pc.Configure(cfg.Name, mem, lk, rc,
		pc.WithKinds(cfg.Kinds...),
		pc.WithRequestTimeout(cfg.RequestTimeout))
	// Membership is ours (heartbeats); protoactor's gossip only carries
	// its own bookkeeping, so it need not run every 300 ms.
	cc.GossipInterval = time.Second
	c := pc.New(system, cc)
	for _, k := range cfg.Kinds {
		lk.kinds[k.Kind] = k.Build(c)
	}
	n := &Node{System: system, Cluster: c, timeout: cfg.RequestTimeout, membership: mem, lookup: lk, alone: alone, name: cfg.NodeName}
	if alone {
		// pc.New registered the cluster extension the grains' middleware
		// reads; the placement actor is all that activation needs. The
		// remote, the gossip and the provider stay unstarted, and the
		// actor system keeps its process-local address.
		c.IdentityLookup = lk
		lk.Setup(c, nil, false)
		return n, nil
	}
	mem.registered = map[string]string{}
	for _, r := range cfg.Registered {
		if r.Node != cfg.NodeName && r.Address != "" {
			mem.registered[r.Address] = r.Node
		}
	}
	c.StartMember()
	mem.waitForPeers(cfg.FailureTimeout)
	return n, nil
}

// Members returns the node names of the current topology.
func (n *Node) Members() []string {
	if n.alone {
		return []string{n.name}
	}
	return n.membership.Alive()
}

// SetRegistered hands the node the members the registry lists now.
func (n *Node) SetRegistered(regs []Registered) {
	if !n.alone {
		n.membership.setRegistered(regs)
	}
}

// MemberID is this run's actor system id.
func (n *Node) MemberID() string { return n.System.ID }

// Peers returns what this member knows of the configured peers.
func (n *Node) Peers() []Peer { return n.membership.Peers() }

// IsDead reports whether the run of node holding lease is over (see
// membership.IsDead).
func (n *Node) IsDead(node string, lease int64) bool { return n.membership.IsDead(node, lease) }

// ActiveGrains counts the grains active on this member, by kind.
func (n *Node) ActiveGrains() map[string]int {
	out := map[string]int{}
	for name, k := range n.lookup.kinds {
		out[name] = int(k.Count())
	}
	return out
}

// Shutdown leaves the cluster and stops every actor on this node. Alone,
// there is no one to hand grains over to, so it skips the graceful
// hand-over (and its fixed 2 s wait).
func (n *Node) Shutdown() {
	if n.alone {
		n.lookup.Shutdown()
		n.System.Shutdown()
		return
	}
	_ = n.membership.Shutdown(true)
	n.Cluster.Shutdown(false)
}

// Address is this member's actor transport address; empty when the node
// runs alone (it has no transport).
func (n *Node) Address() string {
	if n.alone {
		return ""
	}
	return n.System.Address()
}

// timeoutFor turns the context's deadline into an actor timeout, the one
// place this conversion happens.
func (n *Node) timeoutFor(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	t := n.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < t {
			t = left
		}
	}
	if t <= 0 {
		return 0, context.DeadlineExceeded
	}
	return t, nil
}

// errAbandoned: the member a request went to left the topology.
var errAbandoned = errors.New("cluster: member left")

// RequestGrain asks the grain kind/identity and waits for its answer. A
// grain that is gone (passivated, or its member died or gave it up) is
// looked up again and asked again, within the same deadline.
func (n *Node) RequestGrain(ctx context.Context, kind, identity string, msg any) (any, error) {
	t, err := n.timeoutFor(ctx)
	if err != nil {
		return nil, err
	}
	// The grain's own work (its store calls) ends with the request.
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	telemetry.Inject(ctx, msg)
	deadline := time.Now().Add(t)
	cache := n.Cluster.PidCache
	// A message that carries a call id is answered once per id by its
	// grain, so asking again cannot apply it twice.
	id, ok := msg.(interface{ GetCallId() string })
	repeatable := ok && id.GetCallId() != ""
	var last error
	for attempt := 0; ; attempt++ {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: %s/%s: %w", ErrTimeout, kind, identity, last)
		}
		if attempt > 0 {
			pause := time.NewTimer(min(time.Duration(attempt)*10*time.Millisecond, 100*time.Millisecond, left))
			select {
			case <-ctx.Done():
				pause.Stop()
				return nil, fmt.Errorf("%w: %s/%s: %w", ErrTimeout, kind, identity, ctx.Err())
			case <-pause.C:
			}
		}
		pid, ok := cache.Get(identity, kind)
		if !ok || pid == nil {
			if pid = n.lookup.Get(pc.NewClusterIdentity(identity, kind)); pid == nil {
				last = errors.New("no activation")
				continue
			}
			cache.Set(identity, kind, pid)
		}
		wait := time.Until(deadline)
		if repeatable {
			// A call the grain answers once (call_id) is asked again when
			// an attempt goes unanswered: an activation that just moved
			// (a member joined or left) may never answer the first.
			wait = min(wait, max(n.timeout/3, time.Second))
		}
		res, err := n.await(n.System.Root.RequestFuture(pid, msg, wait), pid.Address)
		if err == nil {
			if u, ok := res.(*messages.GrainUnavailable); ok {
				cache.RemoveByValue(identity, kind, pid)
				last = errors.New(u.Reason)
				continue
			}
			return res, nil
		}
		last = err
		if errors.Is(err, actor.ErrDeadLetter) || errors.Is(err, remote.ErrDeadLetter) || errors.Is(err, errAbandoned) ||
			repeatable && errors.Is(err, actor.ErrTimeout) && time.Until(deadline) > 0 {
			cache.RemoveByValue(identity, kind, pid)
			continue
		}
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrTimeout, kind, identity, err)
	}
}

// await waits for f, but gives up early when the member at address
// leaves the topology (its answer will never come).
func (n *Node) await(f *actor.Future, address string) (any, error) {
	if address == n.System.Address() {
		return f.Result()
	}
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f.Result()
		done <- result{v, err}
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			return r.v, r.err
		case <-tick.C:
			if !n.membership.isAlive(address) {
				return nil, errAbandoned
			}
		}
	}
}

// RequestLocal asks a node-local actor and waits for its answer.
func (n *Node) RequestLocal(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	t, err := n.timeoutFor(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	telemetry.Inject(ctx, msg)
	res, err := n.System.Root.RequestFuture(pid, msg, t).Result()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTimeout, pid.Id, err)
	}
	return res, nil
}

// levelFloor drops records below min.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{Handler: h.Handler.WithAttrs(a), min: h.min}
}

func (h levelFloor) WithGroup(g string) slog.Handler {
	return levelFloor{Handler: h.Handler.WithGroup(g), min: h.min}
}
