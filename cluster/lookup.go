package cluster

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pc "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"
)

// PlacementActorName is the well-known actor of every member that
// activates the grains this member owns.
const PlacementActorName = "authrim-placement"

// lookup is the identity lookup: rendezvous hashing over the current
// topology names the owner member, whose placement actor activates the
// grain. Unlike the shipped disthash it bounds the activation request
// (disthash waits 5 s for a member that may be dead).
type lookup struct {
	c       *pc.Cluster
	timeout time.Duration
	// alone: the node has no peers and no transport; every grain is
	// placed here.
	alone bool
	// kinds are the grain kinds this member activates.
	kinds     map[string]*pc.ActivatedKind
	rdv       *atomic.Pointer[pc.Rendezvous]
	placement *actor.PID
	sub       *eventstream.Subscription
}

var _ pc.IdentityLookup = (*lookup)(nil)

func newLookup(timeout time.Duration, alone bool) *lookup {
	return &lookup{timeout: timeout, alone: alone, kinds: map[string]*pc.ActivatedKind{}, rdv: &atomic.Pointer[pc.Rendezvous]{}}
}

// Setup implements pc.IdentityLookup.
func (l *lookup) Setup(c *pc.Cluster, _ []string, _ bool) {
	l.c = c
	l.rdv.Store(pc.NewRendezvous())
	props := actor.PropsFromProducer(func() actor.Actor {
		return &placement{c: c, owner: l.Owner, kinds: l.kinds, actors: map[string]placed{}, byPID: map[string]string{}}
	})
	pid, err := c.ActorSystem.Root.SpawnNamed(props, PlacementActorName)
	if err != nil {
		panic(err) // the name is ours; taken means a programming error
	}
	l.placement = pid
	l.sub = c.ActorSystem.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*pc.ClusterTopology); ok {
			r := pc.NewRendezvous()
			r.UpdateMembers(t.Members)
			l.rdv.Store(r)
			c.ActorSystem.Root.Send(l.placement, t)
		}
	})
}

// Owner returns the actor address of the member that owns ci now.
func (l *lookup) Owner(ci *pc.ClusterIdentity) string {
	if l.alone {
		return l.c.ActorSystem.Address()
	}
	return l.rdv.Load().GetByClusterIdentity(ci)
}

// Get implements pc.IdentityLookup: ask the owner to activate (or find)
// the grain, waiting at most the lookup timeout.
func (l *lookup) Get(ci *pc.ClusterIdentity) *actor.PID {
	owner := l.Owner(ci)
	if owner == "" {
		return nil
	}
	res, err := l.c.ActorSystem.Root.RequestFuture(actor.NewPID(owner, PlacementActorName),
		&pc.ActivationRequest{ClusterIdentity: ci}, l.timeout).Result()
	if err != nil {
		return nil
	}
	if r, ok := res.(*pc.ActivationResponse); ok && r.Pid != nil && !r.Failed {
		return r.Pid
	}
	return nil
}

// RemovePid implements pc.IdentityLookup.
func (l *lookup) RemovePid(ci *pc.ClusterIdentity, pid *actor.PID) {
	l.c.PidCache.RemoveByValue(ci.Identity, ci.Kind, pid)
}

// Shutdown implements pc.IdentityLookup.
func (l *lookup) Shutdown() {
	if l.sub != nil {
		l.c.ActorSystem.EventStream.Unsubscribe(l.sub)
	}
}

type placed struct {
	ci  *pc.ClusterIdentity
	pid *actor.PID
}

// placement activates grains on this member and stops those the
// topology moved elsewhere (their next activation, on the new owner,
// takes ownership of their state once they let go of it).
type placement struct {
	c      *pc.Cluster
	owner  func(*pc.ClusterIdentity) string // by this member's current view
	kinds  map[string]*pc.ActivatedKind
	actors map[string]placed
	// byPID finds a grain's key from its PID when it terminates: a
	// passivation wave stops thousands at once, and a scan of actors per
	// termination made that quadratic.
	byPID map[string]string
}

func (p *placement) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *pc.ActivationRequest:
		key := m.ClusterIdentity.AsKey()
		if a, ok := p.actors[key]; ok {
			ctx.Respond(&pc.ActivationResponse{Pid: a.pid})
			return
		}
		kind := p.kinds[m.ClusterIdentity.Kind]
		if kind == nil || p.owner(m.ClusterIdentity) != p.c.ActorSystem.Address() {
			// Unknown kind, or the asker's view is stale: by this
			// member's view the grain belongs elsewhere. Activating it
			// here would only make the owner wait for it.
			ctx.Respond(&pc.ActivationResponse{Failed: true})
			return
		}
		pid := ctx.SpawnPrefix(pc.WithClusterIdentity(kind.Props, m.ClusterIdentity), m.ClusterIdentity.Identity)
		kind.Inc()
		p.actors[key] = placed{ci: m.ClusterIdentity, pid: pid}
		p.byPID[pid.Id] = key
		ctx.Respond(&pc.ActivationResponse{Pid: pid})
	case *actor.Terminated:
		key, ok := p.byPID[m.Who.GetId()]
		if !ok {
			return
		}
		delete(p.byPID, m.Who.GetId())
		a := p.actors[key]
		delete(p.actors, key)
		if kind := p.kinds[a.ci.Kind]; kind != nil {
			kind.Dec()
		}
		p.c.PidCache.RemoveByValue(a.ci.Identity, a.ci.Kind, a.pid)
	case *pc.ClusterTopology:
		r := pc.NewRendezvous()
		r.UpdateMembers(m.Members)
		self := p.c.ActorSystem.Address()
		for _, a := range p.actors {
			if r.GetByClusterIdentity(a.ci) != self {
				ctx.Poison(a.pid)
			}
		}
	}
}
