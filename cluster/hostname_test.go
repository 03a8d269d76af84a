package cluster

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"authrim/actors/messages"
	"authrim/internal/eventually"
	"authrim/internal/freeport"
)

// TestMemberByHostName: a member whose cluster.listen is a host name (a
// StatefulSet pod's DNS name) calls itself by that name and answers a
// heartbeat sent to it, as its peers send them. By the address the name
// resolved to, it would take every message sent to the name for another
// node's and never answer. (One member per process: protoactor's remote
// sets gRPC's global logger as it starts, a race with a second system.)
func TestMemberByHostName(t *testing.T) {
	if ips, err := net.LookupHost("localhost"); err != nil || !slices.Contains(ips, "127.0.0.1") {
		t.Skipf("localhost does not resolve to 127.0.0.1 here (%v %v)", ips, err)
	}
	var addrs []string
	for range 2 {
		p, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, fmt.Sprintf("localhost:%d", p))
	}
	// The peer is never started: only this member's own address matters.
	n, err := Start(Config{
		Name: "hostname-test", NodeName: "n0", Listen: addrs[0], Peers: addrs[1:],
		RequestTimeout: 5 * time.Second, HeartbeatInterval: 100 * time.Millisecond, FailureTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Shutdown)
	if got := n.System.Address(); got != addrs[0] {
		t.Errorf("the member calls itself %q, want %q", got, addrs[0])
	}
	pid := actor.NewPID(addrs[0], MembershipActorName)
	eventually.OK(t, 0, "a heartbeat sent to the member's name is answered", func() error {
		res, err := n.System.Root.RequestFuture(pid, &messages.Heartbeat{Node: "probe"}, time.Second).Result()
		if err != nil {
			return err
		}
		if hb, ok := res.(*messages.Heartbeat); !ok || hb.Node != "n0" {
			return fmt.Errorf("answer %v", res)
		}
		return nil
	})
}
