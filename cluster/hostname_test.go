package cluster

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"authrim/internal/eventually"
	"authrim/internal/freeport"
)

// TestMembersByHostName: members whose cluster.listen is a host name (a
// StatefulSet pod's DNS name) see each other. The actor system must call
// itself by that name: by the address it resolved to, it would drop the
// heartbeats its peers send to the name.
func TestMembersByHostName(t *testing.T) {
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
	var nodes []*Node
	for i, addr := range addrs {
		n, err := Start(Config{
			Name: "hostname-test", NodeName: fmt.Sprintf("n%d", i), Listen: addr, Peers: []string{addrs[1-i]},
			RequestTimeout: 5 * time.Second, HeartbeatInterval: 100 * time.Millisecond, FailureTimeout: time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Shutdown)
		nodes = append(nodes, n)
		if got := n.System.Address(); got != addr {
			t.Errorf("node %d calls itself %q, want %q", i, got, addr)
		}
	}
	for i, n := range nodes {
		eventually.True(t, fmt.Sprintf("node %d sees both members", i), func() bool { return len(n.Members()) == 2 })
	}
}
