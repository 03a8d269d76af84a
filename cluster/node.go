package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pc "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"

	"authrim/telemetry"
)

// ErrTimeout: an actor did not answer in time.
var ErrTimeout = errors.New("cluster: actor request timed out")

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
}

// Node is one running cluster member.
type Node struct {
	System  *actor.ActorSystem
	Cluster *pc.Cluster
	timeout time.Duration
}

// Start joins (today: forms) the cluster. A single node uses an in-memory
// membership agent: the same grain code runs alone and in a node set.
func Start(cfg Config) (*Node, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen port %q: %w", portStr, err)
	}
	if port == 0 {
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
	provider := test.NewTestProvider(test.NewInMemAgent())
	lookup := disthash.New()
	rc := remote.Configure(host, port)
	cc := pc.Configure(cfg.Name, provider, lookup, rc,
		pc.WithKinds(cfg.Kinds...),
		pc.WithRequestTimeout(cfg.RequestTimeout))
	c := pc.New(system, cc)
	c.StartMember()
	return &Node{System: system, Cluster: c, timeout: cfg.RequestTimeout}, nil
}

// Shutdown leaves the cluster and stops every actor on this node. Alone,
// there is no one to hand grains over to, so it skips the graceful
// hand-over (and its fixed 2 s wait).
func (n *Node) Shutdown() {
	n.Cluster.Shutdown(len(n.Cluster.MemberList.Members().Members()) > 1)
}

// Address is this member's actor transport address.
func (n *Node) Address() string { return n.System.Address() }

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

// RequestGrain asks the grain kind/identity and waits for its answer.
func (n *Node) RequestGrain(ctx context.Context, kind, identity string, msg any) (any, error) {
	t, err := n.timeoutFor(ctx)
	if err != nil {
		return nil, err
	}
	telemetry.Inject(ctx, msg)
	res, err := n.Cluster.Request(identity, kind, msg, pc.WithTimeout(t))
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%s: %w", ErrTimeout, kind, identity, err)
	}
	return res, nil
}

// RequestLocal asks a node-local actor and waits for its answer.
func (n *Node) RequestLocal(ctx context.Context, pid *actor.PID, msg any) (any, error) {
	t, err := n.timeoutFor(ctx)
	if err != nil {
		return nil, err
	}
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
