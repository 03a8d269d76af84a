package cluster

import (
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
)

// newMemberGrace: a peer run younger than this is dropped from the
// topology when silent, but its lease is not revoked for it.
const newMemberGrace = 5 * time.Second

// MembershipActorName is the well-known actor of every member that
// answers heartbeats.
const MembershipActorName = "authrim-membership"

// Peer is a member as this node last saw it.
type Peer struct {
	Node     string
	MemberID string
	Address  string
	LeaseID  int64
	LastSeen time.Time
	// FirstSeen is when this run of the peer first answered.
	FirstSeen time.Time
}

// membership is the cluster provider: every member heartbeats the peers
// it knows (the configured ones and those registered in the store, see
// SetRegistered) and counts as alive those that answered within the
// failure timeout. The member list (and so grain placement)
// follows that view; a peer that drops out of it is reported (OnDropped)
// so the node can revoke its lease, which fences whatever it still runs.
type membership struct {
	self      *messages.Heartbeat
	static    []string // cluster.peers
	dynamic   bool     // peers also come from the registry
	interval  time.Duration
	failAfter time.Duration
	leaseID   func() int64
	onDropped func(Peer)
	logger    *slog.Logger
	// now is the clock failure detection reads (tests move it).
	now func() time.Time
	// blocked and topology connect the view to protoactor: the member ids
	// its remote refuses, and where a changed topology goes.
	blocked  func(memberID string) bool
	topology func([]*pc.Member)

	c       *pc.Cluster
	kinds   []string
	started time.Time

	mu   sync.Mutex
	seen map[string]Peer // by address
	// registered are the addresses of the members in the registry (other
	// than this one), with their node names.
	registered map[string]string
	alive      map[string]string // address -> member id of the current topology
	current    []string          // node names in the current topology
	stop       chan struct{}
	done       chan struct{}
}

func newMembership(node string, peers []string, dynamic bool, interval, failAfter time.Duration, leaseID func() int64, onDropped func(Peer), logger *slog.Logger) *membership {
	if leaseID == nil {
		leaseID = func() int64 { return 0 }
	}
	if onDropped == nil {
		onDropped = func(Peer) {}
	}
	return &membership{
		self: &messages.Heartbeat{Node: node}, static: peers, dynamic: dynamic, registered: map[string]string{}, interval: interval, failAfter: failAfter,
		leaseID: leaseID, onDropped: onDropped, logger: logger, now: time.Now,
		blocked: func(string) bool { return false }, topology: func([]*pc.Member) {},
		seen: map[string]Peer{}, alive: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// StartMember implements pc.ClusterProvider: it answers heartbeats,
// publishes the topology of this node alone, then heartbeats the peers.
func (m *membership) StartMember(c *pc.Cluster) error {
	m.c = c
	m.kinds = c.GetClusterKinds()
	m.started = m.now()
	m.blocked = func(id string) bool { return c.GetBlockedMembers().Contains(id) }
	m.topology = func(ms []*pc.Member) { c.MemberList.UpdateClusterTopology(ms) }
	m.self.MemberId = c.ActorSystem.ID
	m.self.Address = c.ActorSystem.Address()
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*messages.Heartbeat); ok {
			ctx.Respond(m.heartbeat())
		}
	})
	if _, err := c.ActorSystem.Root.SpawnNamed(props, MembershipActorName); err != nil {
		return err
	}
	m.publish()
	if len(m.static) > 0 || m.dynamic {
		go m.loop()
	} else {
		close(m.done)
	}
	return nil
}

func (m *membership) heartbeat() *messages.Heartbeat {
	return &messages.Heartbeat{Node: m.self.Node, MemberId: m.self.MemberId, Address: m.self.Address, LeaseId: m.leaseID()}
}

// StartClient implements pc.ClusterProvider (members only here).
func (m *membership) StartClient(*pc.Cluster) error { return nil }

// Shutdown implements pc.ClusterProvider.
func (m *membership) Shutdown(bool) error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	return nil
}

func (m *membership) loop() {
	defer close(m.done)
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.round()
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
	}
}

// round heartbeats every peer (in parallel, each bounded by the
// interval) and updates the topology.
func (m *membership) round() {
	var wg sync.WaitGroup
	for _, addr := range m.targets() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pid := actor.NewPID(addr, MembershipActorName)
			res, err := m.c.ActorSystem.Root.RequestFuture(pid, m.heartbeat(), m.interval).Result()
			if err != nil {
				return
			}
			if hb, ok := res.(*messages.Heartbeat); ok {
				m.answered(addr, hb)
			}
		}()
	}
	wg.Wait()
	m.publish()
}

// answered records a peer's heartbeat answer.
func (m *membership) answered(addr string, hb *messages.Heartbeat) {
	if hb.MemberId == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.targetLocked(addr) {
		return // deregistered while the heartbeat was on its way
	}
	if old, ok := m.seen[addr]; ok && old.MemberID != hb.MemberId && old.LeaseID != hb.LeaseId {
		// The peer restarted: its previous run is gone for good.
		go m.onDropped(old)
	}
	now := m.now()
	first := now
	if old, ok := m.seen[addr]; ok && old.MemberID == hb.MemberId {
		first = old.FirstSeen
	}
	m.seen[addr] = Peer{Node: hb.Node, MemberID: hb.MemberId, Address: hb.Address, LeaseID: hb.LeaseId, LastSeen: now, FirstSeen: first}
}

// publish computes the live set and hands a changed topology to the
// member list. Dropped peers are reported once.
func (m *membership) publish() {
	now := m.now()
	m.mu.Lock()
	alive := map[string]string{m.self.Address: m.self.MemberId}
	names := []string{m.self.Node}
	members := []*pc.Member{m.member(m.self.Address, m.self.MemberId)}
	var dropped, judge []Peer
	for addr, p := range m.seen {
		if now.Sub(p.LastSeen) <= m.failAfter && !m.blocked(p.MemberID) {
			alive[addr] = p.MemberID
			names = append(names, p.Node)
			members = append(members, m.member(p.Address, p.MemberID))
			continue
		}
		if m.alive[addr] != p.MemberID {
			continue
		}
		dropped = append(dropped, p)
		// A run that only just started (its first seconds are busy:
		// etcd catching up, caches filling) is not fenced for a short
		// silence; if it is really gone, the first grain that needs
		// moving off it revokes its lease (IsDead), or etcd's backstop
		// expires it. Judging it later on its silence alone is not safe:
		// two members that cannot reach each other just after one of
		// them restarted would revoke each other.
		if p.LastSeen.Sub(p.FirstSeen) >= newMemberGrace {
			judge = append(judge, p)
		}
	}
	changed := len(alive) != len(m.alive)
	for a, id := range alive {
		changed = changed || m.alive[a] != id
	}
	m.alive = alive
	slices.Sort(names)
	m.current = names
	quorum := m.quorumLocked()
	if !quorum {
		// This member sees too few others to judge them: it may be the
		// one cut off (or just resumed from a pause). Dropping peers in
		// its own view is fine; revoking their leases is not.
		judge = nil
	}
	m.mu.Unlock()
	for _, p := range dropped {
		m.logger.Warn("cluster member dropped", "node", p.Node, "address", p.Address, "silent_for", now.Sub(p.LastSeen).Round(time.Millisecond))
	}
	for _, p := range judge {
		go m.onDropped(p) // may wait for an etcd election; the topology must not
	}
	if changed {
		m.logger.Info("cluster topology", "members", names)
		m.topology(members)
	}
}

func (m *membership) member(address, id string) *pc.Member {
	host, portStr, _ := net.SplitHostPort(address)
	port, _ := strconv.Atoi(portStr)
	return &pc.Member{Host: host, Port: int32(port), Id: id, Kinds: m.kinds}
}

// isAlive reports whether address is in the current topology.
func (m *membership) isAlive(address string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.alive[address]
	return ok
}

// IsDead reports whether the run of node that holds lease is over: the
// topology dropped node, or node runs again under another lease (it
// restarted), or it never answered since this member started (past its
// first seconds). A member that does not see a majority judges nobody.
func (m *membership) IsDead(node string, lease int64) bool {
	if node == m.self.Node {
		return lease != m.leaseID()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.quorumLocked() {
		return false // see publish: a minority judges nobody
	}
	for addr, p := range m.seen {
		if p.Node != node {
			continue
		}
		if _, alive := m.alive[addr]; alive && m.alive[addr] == p.MemberID {
			return p.LeaseID != lease
		}
		return true // seen, then dropped
	}
	// Never heard from in this member's run: a node that went down while
	// this one was down too (its lease lingers until etcd's backstop), or
	// one that cannot be reached. Judged only after this member's own
	// first seconds, when it had time to hear from every live peer.
	return m.now().Sub(m.started) >= newMemberGrace
}

// quorumLocked reports whether this member sees a majority of the node
// set it knows (configured and registered members, itself included).
// m.mu is held.
func (m *membership) quorumLocked() bool {
	return 2*len(m.alive) > len(m.targetsLocked())+1
}

// targets are the addresses this member heartbeats: the configured peers
// and the registered members.
func (m *membership) targets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.targetsLocked()
}

func (m *membership) targetsLocked() []string {
	out := slices.Clone(m.static)
	for addr := range m.registered {
		if !slices.Contains(out, addr) {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return out
}

func (m *membership) targetLocked(addr string) bool {
	_, ok := m.registered[addr]
	return ok || slices.Contains(m.static, addr)
}

// Registered is a member as the registry lists it.
type Registered struct {
	Node    string
	Address string
}

// setRegistered replaces the registered members. A member that left the
// registry (it left on purpose, or its lease ended: revoked by the
// others or lapsed) leaves this view at once, without being judged: its
// lease is gone already.
func (m *membership) setRegistered(regs []Registered) {
	m.mu.Lock()
	next := map[string]string{}
	for _, r := range regs {
		if r.Node == m.self.Node || r.Address == m.self.Address || r.Address == "" {
			continue // this node (or an earlier run of it)
		}
		next[r.Address] = r.Node
	}
	var gone []string
	for addr := range m.registered {
		if _, ok := next[addr]; !ok && !slices.Contains(m.static, addr) {
			gone = append(gone, addr)
			delete(m.seen, addr)
		}
	}
	m.registered = next
	m.mu.Unlock()
	for _, addr := range gone {
		m.logger.Info("cluster member left the registry", "address", addr)
	}
	if m.c != nil {
		m.publish()
	}
}

// Peers returns what this member knows of the others.
func (m *membership) Peers() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Peer, 0, len(m.seen))
	for _, p := range m.seen {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return compareStrings(a.Node, b.Node) })
	return out
}

// Alive returns the node names of the current topology.
func (m *membership) Alive() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.current)
}

// waitForPeers blocks until every peer answered once or timeout passed,
// so a starting node places grains with the others in view.
func (m *membership) waitForPeers(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		n, want := len(m.seen), len(m.targetsLocked())
		m.mu.Unlock()
		if n >= want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
