package cluster

import (
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	pc "github.com/asynkron/protoactor-go/cluster"

	"authrim/actors/messages"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// viewTest is node1's membership with peers node2 (a:1) and node3 (b:1),
// on a fake clock, with what it publishes and reports recorded.
type viewTest struct {
	m       *membership
	clk     *fakeClock
	dropped chan Peer
	last    []*pc.Member
}

func newViewTest(t *testing.T) *viewTest {
	v := &viewTest{clk: &fakeClock{t: time.Unix(1000, 0)}, dropped: make(chan Peer, 10)}
	v.m = newMembership("node1", []string{"a:1", "b:1"}, false, 200*time.Millisecond, time.Second,
		func() int64 { return 11 }, func(p Peer) { v.dropped <- p }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	v.m.now = v.clk.Now
	v.m.started = v.clk.Now()
	v.m.self.Address, v.m.self.MemberId = "self:1", "m1"
	v.m.topology = func(ms []*pc.Member) { v.last = ms }
	return v
}

// beat is one heartbeat round in which the listed peers answered.
func (v *viewTest) beat(answered ...string) {
	hbs := map[string]*messages.Heartbeat{
		"a:1": {Node: "node2", MemberId: "m2", Address: "a:1", LeaseId: 22},
		"b:1": {Node: "node3", MemberId: "m3", Address: "b:1", LeaseId: 33},
	}
	for _, a := range answered {
		v.m.answered(a, hbs[a])
	}
	v.m.publish()
}

// run beats every interval for d, the listed peers answering.
func (v *viewTest) run(d time.Duration, answered ...string) {
	for end := v.clk.Now().Add(d); v.clk.Now().Before(end); v.clk.Advance(v.m.interval) {
		v.beat(answered...)
	}
}

func (v *viewTest) noDrop(t *testing.T) {
	t.Helper()
	select {
	case p := <-v.dropped:
		t.Fatalf("%s reported dropped", p.Node)
	default:
	}
}

// TestFailureDetection: a peer silent for longer than the failure timeout
// leaves the view and is reported (its lease is then revoked); a silence
// shorter than that changes nothing. No real time passes.
func TestFailureDetection(t *testing.T) {
	v := newViewTest(t)
	v.run(time.Second, "a:1", "b:1")
	if v.m.IsDead("node4", 44) {
		t.Fatal("a node never heard from was judged in this member's first seconds")
	}
	v.run(5*time.Second, "a:1", "b:1") // both past their first seconds
	if got := v.m.Alive(); !slices.Equal(got, []string{"node1", "node2", "node3"}) || len(v.last) != 3 {
		t.Fatalf("alive %v, topology %d members", got, len(v.last))
	}
	// node3 silent for 0.8 s: still in.
	v.run(800*time.Millisecond, "a:1")
	if got := v.m.Alive(); len(got) != 3 {
		t.Fatalf("a silence under the failure timeout dropped a peer: %v", got)
	}
	v.noDrop(t)
	// Past the timeout: out, reported once, and judged dead under its lease.
	v.run(400*time.Millisecond, "a:1")
	if got := v.m.Alive(); !slices.Equal(got, []string{"node1", "node2"}) || len(v.last) != 2 {
		t.Fatalf("after the failure timeout: alive %v, topology %d", got, len(v.last))
	}
	if p := <-v.dropped; p.Node != "node3" || p.LeaseID != 33 {
		t.Fatalf("reported %+v", p)
	}
	v.run(time.Second, "a:1")
	v.noDrop(t)
	// node4 never answered in this member's run (its lease lingers from
	// before): its run is over too.
	if !v.m.IsDead("node3", 33) || v.m.IsDead("node2", 22) || !v.m.IsDead("node4", 44) {
		t.Fatal("IsDead disagrees with the view")
	}
	// It comes back as a new run: in again.
	v.run(time.Second, "a:1", "b:1")
	if got := v.m.Alive(); len(got) != 3 {
		t.Fatalf("the peer that answered again is not back: %v", got)
	}
}

// TestMinorityJudgesNobody: a member that hears from nobody (it may be
// the one cut off, or just resumed from a pause) drops its peers from its
// own view but reports none of them, so it revokes no lease.
func TestMinorityJudgesNobody(t *testing.T) {
	v := newViewTest(t)
	v.run(6*time.Second, "a:1", "b:1")
	v.run(2 * time.Second) // silence all round
	if got := v.m.Alive(); !slices.Equal(got, []string{"node1"}) {
		t.Fatalf("alive %v", got)
	}
	v.noDrop(t)
	if v.m.IsDead("node2", 22) {
		t.Fatal("a minority judged a peer dead")
	}
}

// TestNewRunsAreNotFencedForAShortSilence: a peer that only just started
// and goes quiet leaves the view but is not reported (its first seconds
// are busy); a peer that restarts reports its previous run.
func TestNewRunsAreNotFencedForAShortSilence(t *testing.T) {
	v := newViewTest(t)
	v.run(time.Second, "a:1", "b:1")
	v.run(2*time.Second, "a:1")
	if got := v.m.Alive(); len(got) != 2 {
		t.Fatalf("alive %v", got)
	}
	v.noDrop(t)
	v.run(6*time.Second, "a:1", "b:1")
	v.m.answered("b:1", &messages.Heartbeat{Node: "node3", MemberId: "m3-new", Address: "b:1", LeaseId: 34})
	if p := <-v.dropped; p.MemberID != "m3" || p.LeaseID != 33 {
		t.Fatalf("the restarted peer's old run reported as %+v", p)
	}
}
